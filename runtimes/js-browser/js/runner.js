// polyrun's JavaScript runner on the page's own engine: the source of the Worker a run happens
// in (after common.js, the output and helpers both page runners share; followed by the Boa
// backend's prelude.js, which builds `polyrun` on `__polyrun_host`).
// Its frame (frame.js) sends it `{ port, sab }` once, the port's other end going to the page
// (host.js): runs, output, stdin requests and results then go through that port only, which
// the guest's code cannot reach. Output is formatted by runtimes/quickjs/js/format.js (which
// scripts/web puts before this file), exactly as the Boa backend formats it; limits come
// resolved from the engine.
'use strict';
(() => {
  const { host: answerHelper, newRun, stdinViews, readLine: nextLine } = polyrunPage;
  // The intrinsics used here, before the guest's code can replace them.
  const { defineProperty } = Object;
  const globalEval = eval;
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

  // ---- formatting: js/format.js, shared with the QuickJS backend ----
  const { inspect, formatArgs } = polyrunFormat((stack) => userStack(stack));

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
