// polyrun's console formatting for the JavaScript backends that format in JavaScript — QuickJS
// natively (runtimes/quickjs) and the page's own engine in the browser (runtimes/js-browser's
// runner.js) — by the rules of the Boa backend's runtimes/js/src/inspect.rs, which the
// conformance cases hold all three to: `{ a: 1, b: [ 1, 2 ] }`, `Map(1) { 'k' => 1 }`,
// `[Function: f]`, `[Circular]`, printf-style `%s %d %i %f %o %O %j %c %%`.
//
// `polyrunFormat(userStack)` returns `{ inspect, formatArgs }`; `userStack(stack)` keeps the
// lines of an error's stack that belong to the user's code. The intrinsics it uses are taken
// when it is called, before any guest code runs.
function polyrunFormat(userStack) {
  'use strict';
  const MAX_DEPTH = 2;
  const MAX_ITEMS = 100;
  const { keys } = Object;
  const { isArray } = Array;
  const arrayFrom = Array.from;
  const stringify = JSON.stringify;
  const NativeError = Error;
  const quote = (s) => `'${s.replace(/[\\'\n\t\r]/g, (c) => ({ '\\': '\\\\', "'": "\\'", '\n': '\\n', '\t': '\\t', '\r': '\\r' })[c])}'`;
  const isIdentifier = (s) => /^[\p{L}_$][\p{L}\p{N}_$]*$/u.test(s);
  const ctorName = (o) => {
    try {
      const n = o.constructor?.name;
      return typeof n === 'string' && n !== '' ? n : null;
    } catch {
      return null;
    }
  };

  function render(v, depth, seen, top) {
    if (typeof v === 'string') return top ? v : quote(v);
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'symbol') return v.toString();
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return String(v);
    if (seen.includes(v)) return '[Circular]';
    if (typeof v === 'function') return v.name ? `[Function: ${v.name}]` : '[Function (anonymous)]';
    if (v instanceof NativeError) {
      const name = typeof v.name === 'string' ? v.name : 'Error';
      const msg = typeof v.message === 'string' ? v.message : '';
      const head = msg ? `${name}: ${msg}` : name;
      const stack = typeof v.stack === 'string' ? userStack(v.stack) : '';
      return stack ? `${head}\n${stack}` : head;
    }
    const ctor = ctorName(v);
    if (ctor === 'Date') {
      try {
        return v.toISOString();
      } catch {
        return 'Invalid Date';
      }
    }
    if (ctor === 'RegExp' && typeof v.toString === 'function') return String(v.toString());
    if (ctor === 'Promise') return 'Promise { ... }';
    if (depth > MAX_DEPTH) return isArray(v) ? '[Array]' : '[Object]';
    seen.push(v);
    try {
      return container(v, ctor, depth, seen);
    } finally {
      seen.pop();
    }
  }

  function container(v, ctor, depth, seen) {
    if (isArray(v)) {
      const len = v.length;
      if (len === 0) return '[]';
      const parts = [];
      for (let i = 0; i < len; i++) {
        if (i === MAX_ITEMS) {
          parts.push(`... ${len - MAX_ITEMS} more items`);
          break;
        }
        parts.push(render(v[i], depth + 1, seen, false));
      }
      return `[ ${parts.join(', ')} ]`;
    }
    if (ctor === 'Map' || ctor === 'Set') {
      const items = arrayFrom(v);
      const parts = items.slice(0, MAX_ITEMS).map((item) => (ctor === 'Map'
        ? `${render(item[0], depth + 1, seen, false)} => ${render(item[1], depth + 1, seen, false)}`
        : render(item, depth + 1, seen, false)));
      return parts.length === 0 ? `${ctor}(0) {}` : `${ctor}(${items.length}) { ${parts.join(', ')} }`;
    }
    const parts = [];
    const ks = keys(v);
    for (let i = 0; i < ks.length; i++) {
      if (i === MAX_ITEMS) {
        parts.push('...');
        break;
      }
      const k = ks[i];
      parts.push(`${isIdentifier(k) ? k : quote(k)}: ${render(v[k], depth + 1, seen, false)}`);
    }
    const prefix = ctor === 'Object' || ctor === null ? '' : `${ctor} `;
    return parts.length === 0 ? `${prefix}{}` : `${prefix}{ ${parts.join(', ')} }`;
  }

  const inspect = (v) => render(v, 0, [], false);

  /** `console.log`'s arguments: printf-style `%s %d %i %f %o %O %j %c %%` in a leading string. */
  function formatArgs(args) {
    let out = '';
    let rest = args;
    if (typeof args[0] === 'string') {
      const fmt = args[0];
      rest = args.slice(1);
      for (let i = 0; i < fmt.length; i++) {
        const c = fmt[i];
        if (c !== '%') {
          out += c;
          continue;
        }
        const spec = fmt[i + 1];
        if (spec === undefined) {
          out += '%';
          break;
        }
        if (spec === '%') {
          out += '%';
          i++;
          continue;
        }
        if (!'sdifoOjc'.includes(spec) || rest.length === 0) {
          out += '%';
          continue;
        }
        i++;
        const arg = rest[0];
        rest = rest.slice(1);
        if (spec === 's') {
          out += arg !== null && typeof arg === 'object' ? inspect(arg) : render(arg, 0, [], true);
        } else if (spec === 'd' || spec === 'i' || spec === 'f') {
          const n = Number(arg);
          out += String(spec === 'i' ? Math.trunc(n) : n);
        } else if (spec === 'j') {
          out += String(stringify(arg));
        } else if (spec !== 'c') {
          out += inspect(arg);
        }
      }
    } else if (args.length > 0) {
      out += render(args[0], 0, [], true);
      rest = args.slice(1);
    }
    for (const arg of rest) out += ` ${render(arg, 0, [], true)}`;
    return out;
  }
  return { inspect, formatArgs };
}
