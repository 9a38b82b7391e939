<?php
$input = polyrun::input();
$runs = polyrun::updateVariable('runs', fn($n) => ($n ?? 0) + 1);
$event = polyrun::event();
echo "php: run {$runs} of {$event['pipeline']}\n";
polyrun::output([
    'summary' => sprintf(
        '%d words, %d distinct; top: %s',
        $input['total'],
        $input['distinct'],
        implode(', ', $input['lines'])
    ),
    'runs' => $runs,
]);
