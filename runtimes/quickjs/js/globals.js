// polyrun's globals on QuickJS: `console`, `prompt()` and `readline()` over the two host
// functions the backend passes in (runtimes/quickjs/src/lib.rs), formatted by format.js; the
// Boa backend's prelude.js then builds `polyrun` on `__polyrun_host`. Evaluated once per fresh
// context, before any guest code; it returns `inspect`, which the backend keeps to show a run's
// value.
(function (polyrunFormat, write, read) {
  'use strict';
  // An error's stack as the user wrote it: QuickJS's `at f (main.js:3:5)` lines, without the
  // host's (`native`) and polyrun's own (`polyrun-*.js`) frames.
  const userStack = (stack) => String(stack)
    .split('\n')
    .filter((l) => /^\s*at .*:\d+(:\d+)?\)?$/.test(l) && !/polyrun-[\w-]*\.js:/.test(l))
    .join('\n');
  const { inspect, formatArgs } = polyrunFormat(userStack);
  const stdout = (...args) => write(0, `${formatArgs(args)}\n`);
  const stderr = (...args) => write(1, `${formatArgs(args)}\n`);
  globalThis.console = { log: stdout, info: stdout, debug: stdout, warn: stderr, error: stderr };
  globalThis.prompt = function prompt(message) {
    if (message !== undefined) write(0, String(message));
    return read();
  };
  globalThis.readline = function readline() {
    return read();
  };
  return inspect;
})
