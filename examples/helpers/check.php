<?php
// The helper check: the same steps in every language (see docs/helpers.md).
$input = polyrun::input();
polyrun::setVariable('greeting', 'hello ' . $input['name']);
$greeting = polyrun::getVariable('greeting');
$runs = polyrun::updateVariable('runs', fn($n) => ($n ?? 0) + 1);
$ev = polyrun::event();
try {
    polyrun::output(fn() => 1);
    $refused = false;
} catch (TypeError $e) {
    $refused = true;
}
polyrun::output([
    'greeting' => $greeting,
    'total' => array_sum($input['numbers']),
    'doubled' => array_map(fn($x) => $x * 2, $input['numbers']),
    'runs' => $runs,
    'flags' => $input['flags'],
    'step' => $ev['step'],
    'trigger' => $ev['trigger'],
    'has_run_id' => is_string($ev['run_id']) && $ev['run_id'] !== '',
    'missing_is_null' => polyrun::getVariable('never-set') === null,
    'refused' => $refused,
]);
echo "checked $greeting\n";
