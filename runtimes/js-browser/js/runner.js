// polyrun's JavaScript runner on the page's own engine: the source of the Worker a run happens
// in (after common.js, the output and helpers both page runners share; followed by the Boa
// backend's prelude.js, which builds `polyrun` on `__polyrun_host`).
// Its frame (frame.js) sends it `{ port, sab }` once, the port's other end going to the page
// (host.js): runs, output, stdin requests and results then go through that port only, which
// the guest's code cannot reach. Output is formatted exactly as the Boa
// backend formats it (runtimes/js/src/inspect.rs); limits come resolved from the engine.
'use strict';
(() => {
  const MAX_DEPTH = 2;
  const MAX_ITEMS = 100;
  const { host: answerHelper, newRun, stdinViews, readLine: nextLine } = polyrunPage;
  // The intrinsics used here, before the guest's code can replace them.
  const { keys, defineProperty } = Object;
  const globalEval = eval;
  const { isArray } = Array;
  const arrayFrom = Array.from;
  const stringify = JSON.stringify;
  const NativeSyntaxError = SyntaxError;
  const NativeError = Error;
  const now = () => performance.now();
  const nativeSetTimeout = setTimeout;
  const nativeClearTimeout = clearTimeout;
  const nativeSetInterval = setInterval;
  const nativeClearInterval = clearInterval;
  const createObjectURL = URL.createObjectURL;

  let port = null;
  let shared = null; // { flag, data }: interactive stdin over the frame's SharedArrayBuffer
  let run = null; // the current run's state

  /** Thrown into the guest once its run has ended (a limit): its worker is about to end. */
  class Stopped extends NativeError {}

  // ---- formatting (the Boa backend's rules) ----
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

  // ---- the run's output, limits and stdin ----
  function live() {
    if (!run || run.ended) throw new Stopped('polyrun: this run has ended');
    const wall = run.job.limits.wall_time_ms;
    if (wall && now() - run.started > wall) {
      end({ status: 'limit_exceeded', limit: 'time' });
      throw new Stopped('polyrun: the time limit was reached');
    }
  }


  function write(stream, text) {
    live();
    if (text === '') return;
    if (!run.out.write(stream, text)) {
      end({ status: 'limit_exceeded', limit: 'output' });
      throw new Stopped('polyrun: the output limit was reached');
    }
  }

  function readLine() {
    live();
    const line = nextLine(run, shared, port);
    live();
    return line;
  }

  // ---- the polyrun helpers (common.js answers them) ----
  function host(request) {
    live();
    return answerHelper(run, request);
  }

  // ---- the guest's globals ----
  const stdout = (...args) => write('stdout', `${formatArgs(args)}\n`);
  const stderr = (...args) => write('stderr', `${formatArgs(args)}\n`);
  const consoleObject = { log: stdout, info: stdout, debug: stdout, warn: stderr, error: stderr };
  defineProperty(globalThis, 'console', { value: consoleObject, writable: true, configurable: true });
  globalThis.prompt = (message) => {
    if (message !== undefined) write('stdout', String(message));
    return readLine();
  };
  globalThis.readline = () => readLine();
  // Timers keep a run going until they have fired (or been cleared), as in Node.
  const timers = new Set();
  globalThis.setTimeout = (f, ms, ...args) => {
    const id = nativeSetTimeout(() => {
      timers.delete(id);
      guard(() => (typeof f === 'function' ? f(...args) : globalEval(String(f))));
    }, ms);
    timers.add(id);
    return id;
  };
  globalThis.clearTimeout = (id) => {
    timers.delete(id);
    nativeClearTimeout(id);
    settle();
  };
  globalThis.setInterval = (f, ms, ...args) => {
    const id = nativeSetInterval(() => guard(() => f(...args)), ms);
    timers.add(id);
    return id;
  };
  globalThis.clearInterval = (id) => {
    timers.delete(id);
    nativeClearInterval(id);
    settle();
  };
  globalThis.__polyrun_host = host;
  /** Runs a timer's callback: an error it throws ends the run as the script's would. */
  function guard(f) {
    if (!run || run.ended) return;
    try {
      f();
    } catch (e) {
      fail(e);
      return;
    }
    settle();
  }

  // ---- errors: the user's kind, message, line and column ----
  /** `at f (main.js:3:5)` frames of the user's file, innermost first. */
  function frames(stack) {
    const out = [];
    for (const raw of String(stack).split('\n')) {
      const m = /^\s*at (?:(.*?) \()?(.*):(\d+):(\d+)\)?$/.exec(raw);
      if (!m || !isUserFile(m[2])) continue;
      const fn = m[1] && m[1] !== 'eval' && !m[1].startsWith('eval at ') ? m[1] : null;
      out.push({ function: fn, line: Number(m[3]), column: Number(m[4]) });
    }
    return out;
  }
  const isUserFile = (file) => run && (file === run.job.filename || file === run.moduleUrl);
  const userStack = (stack) => String(stack).split('\n')
    .filter((l) => /^\s*at /.test(l) && frames(l).length > 0)
    .map((l) => (run.moduleUrl ? l.split(run.moduleUrl).join(run.job.filename) : l))
    .join('\n');

  function diagnose(e) {
    if (e === null || (typeof e !== 'object' && typeof e !== 'function')) {
      return { kind: 'Uncaught', message: inspect(e), line: null, column: null };
    }
    let kind = 'Error';
    let message = '';
    let stack = '';
    try {
      kind = e.name === undefined || e.name === null ? 'Error' : String(e.name);
      message = e.message === undefined || e.message === null ? inspect(e) : String(e.message);
      stack = typeof e.stack === 'string' ? e.stack : '';
    } catch {
      // a hostile getter: what was read so far
    }
    const fs = frames(stack);
    const d = { kind, message, line: fs[0]?.line ?? null, column: fs[0]?.column ?? null };
    if (fs.length > 0) d.frames = fs;
    return d;
  }

  /** A parse error has no frame in the user's file (eval reports no position for it). */
  const isParseError = (e) => e instanceof NativeSyntaxError && frames(e.stack ?? '').length === 0;

  /** Where a parse error is: a worker that only parses the code reports its line and column. */
  function locate(code, module) {
    return new Promise((resolve) => {
      const url = createObjectURL(new Blob([code], { type: 'text/javascript' }));
      let probe;
      try {
        probe = new Worker(url, { type: module ? 'module' : 'classic' });
      } catch {
        resolve({ line: null, column: null });
        return;
      }
      const done = (pos) => {
        probe.terminate();
        URL.revokeObjectURL(url);
        resolve(pos);
      };
      probe.onerror = (ev) => {
        ev.preventDefault();
        done({ line: ev.lineno || null, column: ev.colno || null });
      };
      nativeSetTimeout(() => done({ line: null, column: null }), 2000);
    });
  }

  // ---- one run ----
  function end(outcome) {
    if (!run || run.ended) return;
    run.out.flush();
    run.ended = true;
    const reply = { type: 'done', outcome };
    if (run.output !== undefined) reply.output = run.output;
    if (run.changed) reply.variables = run.variables;
    port.postMessage(reply);
  }
  function fail(e) {
    if (e instanceof Stopped || !run || run.ended) return;
    end({ status: 'error', diagnostic: diagnose(e) });
  }
  /** Ends the run once its code has returned and no timer is left. */
  function settle() {
    if (!run || run.ended || !run.evaluated || timers.size > 0) return;
    const value = run.value;
    // Two turns of the event loop: a promise rejected and left unhandled is reported first.
    const later = (f) => nativeSetTimeout(() => nativeSetTimeout(f, 0), 0);
    later(() => {
      if (!run || run.ended || timers.size > 0) return;
      let shown = null;
      if (value !== undefined) {
        try {
          shown = { 'text/plain': inspect(value) };
        } catch (e) {
          shown = { 'text/plain': `<uninspectable: ${e}>` };
        }
      }
      end({ status: 'completed', value: shown });
    });
  }

  async function execute(job) {
    const source = `${job.code}\n//# sourceURL=${job.filename}`;
    try {
      run.value = globalEval(source);
    } catch (e) {
      if (!isParseError(e)) return fail(e);
      if (/\bawait\b|import statement|\bexport\b/.test(e.message)) return executeModule(job);
      const { line, column } = await locate(job.code, false);
      return end({ status: 'error', diagnostic: { kind: 'SyntaxError', message: e.message, line, column } });
    }
    run.evaluated = true;
    settle();
  }

  /** Top-level `await`: the code runs as a module (no completion value). */
  async function executeModule(job) {
    const url = createObjectURL(new Blob([job.code], { type: 'text/javascript' }));
    run.moduleUrl = url;
    try {
      await import(url);
    } catch (e) {
      if (e instanceof NativeSyntaxError && frames(e.stack ?? '').length === 0) {
        const { line, column } = await locate(job.code, true);
        return end({ status: 'error', diagnostic: { kind: 'SyntaxError', message: e.message, line, column } });
      }
      return fail(e);
    }
    run.evaluated = true;
    settle();
  }

  self.addEventListener('error', (ev) => {
    ev.preventDefault();
    fail(ev.error ?? new NativeError(ev.message));
  });
  self.addEventListener('unhandledrejection', (ev) => {
    ev.preventDefault();
    fail(ev.reason);
  });

  self.addEventListener('message', (first) => {
    if (port || !first.data?.port) return;
    port = first.data.port;
    shared = stdinViews(first.data.sab);
    port.onmessage = (e) => {
      const m = e.data;
      if (m.type !== 'run') return;
      run = { ...newRun(m, port), started: now(), evaluated: false, value: undefined, moduleUrl: null };
      execute(m.job);
    };
    port.postMessage({ type: 'ready' });
  });
})();
