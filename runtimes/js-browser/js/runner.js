// polyrun's JavaScript runner on the page's own engine: the source of the Worker a run happens
// in (after common.js, the output and helpers both page runners share, and realm.js, which puts
// the worker's global state back after a run so that the worker can serve the next one;
// followed by the Boa backend's prelude.js, which builds `polyrun` on `__polyrun_host`).
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
  const perf = performance;
  const now = () => perf.now();
  const nativeSetTimeout = setTimeout;
  const nativeClearTimeout = clearTimeout;
  const nativeSetInterval = setInterval;
  const nativeClearInterval = clearInterval;
  const createObjectURL = URL.createObjectURL;
  const revokeObjectURL = URL.revokeObjectURL;
  const NativeBlob = Blob;
  const NativeWorker = Worker;
  /** The guest's globals set up here (realm.js guards the worker's other non-ECMAScript ones). */
  const OWN_GLOBALS = ['console', 'prompt', 'readline', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'polyrun'];

  let port = null;
  let shared = null; // { flag, data }: interactive stdin over the frame's SharedArrayBuffer
  let run = null; // the current run's state
  // What a reset puts back after a run (polyrunRealm.snapshot), or null: this worker serves
  // one run only.
  let records = null;
  let resets = 'pending'; // `set` once setUpResets ran, or once a run came first

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
  // The pending ones, in a dictionary the guest cannot reach or change through a prototype.
  const timers = { __proto__: null, count: 0, ids: { __proto__: null } };
  const addTimer = (id) => {
    if (!(id in timers.ids)) timers.count++;
    timers.ids[id] = true;
  };
  const dropTimer = (id) => {
    if (id in timers.ids) timers.count--;
    delete timers.ids[id];
  };
  globalThis.setTimeout = (f, ms, ...args) => {
    const id = nativeSetTimeout(() => {
      dropTimer(id);
      guard(() => (typeof f === 'function' ? f(...args) : globalEval(String(f))));
    }, ms);
    addTimer(id);
    return id;
  };
  globalThis.clearTimeout = (id) => {
    dropTimer(id);
    nativeClearTimeout(id);
    settle();
  };
  globalThis.setInterval = (f, ms, ...args) => {
    const id = nativeSetInterval(() => guard(() => f(...args)), ms);
    addTimer(id);
    return id;
  };
  globalThis.clearInterval = (id) => {
    dropTimer(id);
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
      const url = createObjectURL(new NativeBlob([code], { type: 'text/javascript' }));
      let probe;
      try {
        probe = new NativeWorker(url, { type: module ? 'module' : 'classic' });
      } catch {
        resolve({ line: null, column: null });
        return;
      }
      const done = (pos) => {
        probe.terminate();
        revokeObjectURL(url);
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
    // The worker may serve another run when the guest has stopped (no limit cut it short), left
    // no timer, and touched nothing a reset cannot put back; a session's keeps its state.
    const reusable = records !== null && !run.job.session && (outcome.status === 'completed' || outcome.status === 'error')
      && timers.count === 0 && !polyrunRealm.touched;
    const reply = { type: 'done', outcome, reusable };
    if (run.output !== undefined) reply.output = run.output;
    if (run.changed) reply.variables = run.variables;
    port.postMessage(reply);
    if (reusable) {
      // After the reply: the page has the result while the realm is put back.
      run = null;
      const ok = polyrunRealm.restore(records);
      if (!ok) records = null;
      port.postMessage({ type: 'reset', ok });
    }
  }
  function fail(e) {
    if (e instanceof Stopped || !run || run.ended) return;
    end({ status: 'error', diagnostic: diagnose(e) });
  }
  /** Ends the run once its code has returned and no timer is left. */
  function settle() {
    if (!run || run.ended || !run.evaluated || timers.count > 0) return;
    const value = run.value;
    // Two turns of the event loop: a promise rejected and left unhandled is reported first.
    const later = (f) => nativeSetTimeout(() => nativeSetTimeout(f, 0), 0);
    later(() => {
      if (!run || run.ended || timers.count > 0) return;
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
    const url = createObjectURL(new NativeBlob([job.code], { type: 'text/javascript' }));
    run.moduleUrl = url;
    // A module stays in the worker's module map: this worker serves no other run.
    polyrunRealm.touch();
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
      if (m.type === 'prepare') {
        setUpResets();
        return;
      }
      if (m.type !== 'run') return;
      resets = 'set';
      run = { ...newRun(m, port), started: now(), evaluated: false, value: undefined, moduleUrl: null };
      execute(m.job);
    };
    port.postMessage({ type: 'ready' });
  });

  /**
   * Sets up resets (the page asks a worker that waits for a run, `prepare`; a run that comes
   * first has the worker to itself), before any guest code (realm.js): the worker's other
   * globals are guarded, its realm is recorded, then restored WARM_RESTORES times (that checks
   * the record, and gets the engine to compile the code that restores, which cold takes
   * several times longer: a run waits for the last run's restore). From then on a run that
   * ends cleanly leaves a worker that can serve the next. Tens of milliseconds, once.
   */
  const WARM_RESTORES = 3;
  function setUpResets() {
    if (resets !== 'pending') return;
    resets = 'set';
    if (!polyrunRealm.guard(OWN_GLOBALS)) return;
    const recorded = polyrunRealm.snapshot();
    for (let i = 0; i < WARM_RESTORES; i++) {
      if (!polyrunRealm.restore(recorded)) return;
    }
    records = recorded;
  }
})();
