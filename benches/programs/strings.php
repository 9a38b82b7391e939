<?php
$s = "";
for ($i = 0; $i < $N; $i++) $s .= "item" . $i . ";";
echo "strings " . $N . ": " . strlen($s) . " " . substr_count($s, "7;") . " " . strpos(strtoupper($s), "ITEM" . ($N - 1)) . "\n";
