<?php
function make($d) {
    return $d === 0 ? [null, null] : [make($d - 1), make($d - 1)];
}
function check($t) {
    return $t[0] === null ? 1 : 1 + check($t[0]) + check($t[1]);
}
$minDepth = 4;
$maxDepth = max($minDepth + 2, $N);
echo "stretch tree of depth " . ($maxDepth + 1) . "\t check: " . check(make($maxDepth + 1)) . "\n";
$longLived = make($maxDepth);
for ($d = $minDepth; $d <= $maxDepth; $d += 2) {
    $iterations = 2 ** ($maxDepth - $d + $minDepth);
    $sum = 0;
    for ($i = 0; $i < $iterations; $i++) $sum += check(make($d));
    echo $iterations . "\t trees of depth " . $d . "\t check: " . $sum . "\n";
}
echo "long lived tree of depth " . $maxDepth . "\t check: " . check($longLived) . "\n";
