<?php
$d = [];
for ($i = 0; $i < $N; $i++) $d["k" . $i] = $i;
$hits = 0; $sum = 0;
for ($i = 0; $i < 2 * $N; $i++) {
    $k = "k" . $i;
    if (isset($d[$k])) { $hits++; $sum += $d[$k]; }
}
for ($i = 0; $i < $N; $i += 3) unset($d["k" . $i]);
echo "dict " . $N . ": " . $hits . " " . $sum . " " . count($d) . "\n";
