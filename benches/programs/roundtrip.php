<?php
$items = [];
for ($i = 0; $i < $N; $i++) {
    $items[] = ["id" => $i, "name" => "item" . $i, "tags" => ["a", "b", (string) ($i % 7)], "score" => $i * 0.5, "ok" => $i % 2 == 0];
}
$back = json_decode(json_encode($items), true);
$ids = 0; $score = 0.0; $oks = 0; $tags = 0;
foreach ($back as $it) {
    $ids += $it["id"]; $score += $it["score"]; if ($it["ok"]) $oks++; $tags += count($it["tags"]);
}
echo "roundtrip " . $N . ": " . count($back) . " " . $ids . " " . sprintf("%.1f", $score) . " " . $oks . " " . $tags . "\n";
