// The helper check: the same steps in every language (see docs/helpers.md).
const input = polyrun.input();
polyrun.setVariable('greeting', `hello ${input.name}`);
const greeting = polyrun.getVariable('greeting');
const runs = polyrun.updateVariable('runs', (n) => (n ?? 0) + 1);
const ev = polyrun.event();
const total = input.numbers.reduce((a, b) => a + b, 0);
let refused = false;
try {
  polyrun.output(console.log);
} catch (e) {
  refused = e instanceof TypeError;
}
polyrun.output({
  greeting,
  total,
  doubled: input.numbers.map((x) => x * 2),
  runs,
  flags: input.flags,
  step: ev.step,
  trigger: ev.trigger,
  has_run_id: typeof ev.run_id === 'string' && ev.run_id.length > 0,
  missing_is_null: polyrun.getVariable('never-set') === null,
  refused,
});
console.log(`checked ${greeting}`);
