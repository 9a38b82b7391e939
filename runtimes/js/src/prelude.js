// polyrun's JavaScript prelude: the `polyrun` helpers over one host function,
// `__polyrun_host(request JSON) -> reply JSON` (see docs/helpers.md for the value rules).
(function (host) {
  'use strict';
  const refuse = (v) => {
    const t = typeof v;
    if (t === 'function' || t === 'symbol' || t === 'bigint') return `cannot convert a ${t} to JSON`;
    if (t === 'number' && !Number.isFinite(v)) return `cannot convert ${v} to JSON (not a finite number)`;
    return null;
  };
  const call = (helper, request) => {
    let text;
    try {
      text = JSON.stringify(request, function (key, v) {
        const why = refuse(v);
        if (why !== null) throw new TypeError(why);
        return v;
      });
    } catch (e) {
      const why = e instanceof RangeError ? 'cannot convert to JSON: nested too deeply (a cycle?)' : e.message;
      throw new TypeError(`polyrun.${helper}: ${why.replace(/^Converting circular structure.*/s, 'cannot convert a cyclic value to JSON')}`);
    }
    const reply = JSON.parse(host(text));
    if ('error' in reply) throw new Error(`polyrun.${helper}: ${reply.error}`);
    return reply.ok;
  };
  const name = (helper, n) => {
    if (typeof n !== 'string') throw new TypeError(`polyrun.${helper}: the variable name must be a string`);
    return n;
  };
  const value = (v) => (v === undefined ? null : v);
  const polyrun = {
    input: () => call('input', { op: 'input' }),
    event: () => call('event', { op: 'event' }),
    output: (v) => { call('output', { op: 'output', value: value(v) }); },
    getVariable: (n) => call('getVariable', { op: 'get_variable', name: name('getVariable', n) }),
    setVariable: (n, v) => { call('setVariable', { op: 'set_variable', name: name('setVariable', n), value: value(v) }); },
    updateVariable: (n, f) => {
      name('updateVariable', n);
      for (;;) {
        const { value: current, version } = call('updateVariable', { op: 'read_variable', name: n });
        const next = value(f(current));
        if (call('updateVariable', { op: 'swap_variable', name: n, version, value: next })) return next;
      }
    },
  };
  Object.defineProperty(globalThis, 'polyrun', { value: Object.freeze(polyrun), writable: false, enumerable: false, configurable: false });
})(__polyrun_host);
delete globalThis.__polyrun_host;
