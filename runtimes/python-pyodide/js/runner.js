// polyrun's Python runner on Pyodide: the source of the Worker (after js-browser/common.js)
// that the sandboxed frame (js-browser/frame.js) makes for the `pyodide` backend. The frame
// sends it `{ port, sab, interrupt }` once; the page (js-browser/host.js) then sends, on that
// port, `boot` (Pyodide's files and polyrun's two Python files: the frame has no network),
// `run` and `end-session`. One interpreter serves run after run: py/runner.py gives each run a
// fresh `__main__` (a session keeps its own) and reports its outcome as the engine's Outcome;
// py/outcomes.py is the RustPython backend's own (one source of results, errors and the
// `polyrun` helpers for both Python backends).
'use strict';
(() => {
  /** Where Pyodide believes its files are: never fetched (the fetch below answers). */
  const INDEX = 'https://pyodide.polyrun.invalid/';
  const { host: answerHelper, newRun, stdinViews, readLine } = polyrunPage;
  const decoder = new TextDecoder();

  let port = null;
  let shared = null; // { flag, data }: interactive stdin over the frame's SharedArrayBuffer
  let interrupt = null; // Int32Array the frame sets to 2 (SIGINT) to stop the guest
  let runPython = null; // runner.py's `_run`
  let endSession = null;
  let missingImports = null; // runner.py's `_missing`
  let py = null;
  let config = { pyodideIndex: null, pypiIndex: null, wheels: {} };
  let micropip = null; // loaded on the first run that needs a package from PyPI
  let snapshot = null; // a memory snapshot of Pyodide just started, for the page (after a run)
  let fromSnapshot = false; // this interpreter started from the page's snapshot
  let run = null; // the current run's state
  const fetches = new Map(); // id → { resolve, reject }: fetches the page makes for this worker
  let fetchIds = 0;

  /** Fetches `url` through the page (the frame has no network; the page allows only the
   * package indexes and the site's artifacts). */
  function relayFetch(url, init) {
    return new Promise((resolve, reject) => {
      const id = ++fetchIds;
      fetches.set(id, { resolve, reject });
      const headers = init?.headers ? Object.fromEntries(new Headers(init.headers)) : undefined;
      port.postMessage({ type: 'fetch', id, url: String(url instanceof Request ? url.url : url), init: headers ? { headers } : undefined });
    });
  }

  function onFetched(m) {
    const pending = fetches.get(m.id);
    if (!pending) return;
    fetches.delete(m.id);
    if (m.error) {
      pending.reject(new TypeError(`fetch failed: ${m.error}`));
      return;
    }
    const response = new Response(m.body, { status: m.status, statusText: m.statusText, headers: m.headers });
    Object.defineProperty(response, 'url', { value: m.url });
    pending.resolve(response);
  }

  function blobUrl(bytes, type) {
    return URL.createObjectURL(new Blob([bytes], { type }));
  }

  async function boot(files, bootConfig) {
    config = { ...config, ...(bootConfig ?? {}) };
    const { loadPyodide } = await import(blobUrl(files['pyodide.mjs'], 'text/javascript'));
    const createPyodideModule = (await import(blobUrl(files['pyodide.asm.mjs'], 'text/javascript'))).default;
    const served = {
      [`${INDEX}pyodide.asm.wasm`]: [files['pyodide.asm.wasm'], 'application/wasm'],
      [`${INDEX}python_stdlib.zip`]: [files['python_stdlib.zip'], 'application/zip'],
    };
    self.fetch = (url, init) => {
      const file = served[String(url)];
      if (file) return Promise.resolve(new Response(file[0], { headers: { 'content-type': file[1] } }));
      return relayFetch(url, init);
    };
    const options = {
      indexURL: INDEX,
      createPyodideModule,
      lockFileContents: JSON.parse(decoder.decode(files['pyodide-lock.json'])),
      stdLibURL: `${INDEX}python_stdlib.zip`,
      // Pyodide's own packages (numpy & co.), fetched through the page when a run imports one.
      packageBaseUrl: config.pyodideIndex ?? INDEX,
      env: { HOME: '/home/pyodide' },
    };
    // From the page's memory snapshot when it has one (host.js: SNAPSHOTS); one it rejects
    // goes, and Pyodide starts the long way.
    py = null;
    if (files.snapshot) {
      try {
        py = await loadPyodide({ ...options, _loadSnapshot: files.snapshot });
        fromSnapshot = true;
      } catch (e) {
        port.postMessage({ type: 'snapshot-rejected', message: String(e?.message ?? e) });
      }
    }
    if (!py) {
      py = await loadPyodide({ ...options, _makeSnapshot: Boolean(config.makeSnapshot) });
      if (config.makeSnapshot) {
        try {
          snapshot = py.makeMemorySnapshot();
        } catch {
          snapshot = null; // the next page load starts the long way too
        }
      }
    }
    py.setStdout({ write: (bytes) => write('stdout', bytes) });
    py.setStderr({ write: (bytes) => write('stderr', bytes) });
    // Each line ends the read that asked for it (`autoEOF`: a short read, not the end of
    // input), so a program gets a typed line as soon as it is typed; `null` is the end.
    py.setStdin({ stdin: stdinLine, autoEOF: true });
    if (interrupt) py.setInterruptBuffer(interrupt);
    // runner.py's private module: outcomes.py (with the helpers' host function), then runner.py.
    py.registerJsModule('_polyrun_page', {
      host: (request) => (run ? answerHelper(run, request) : '{"error":"no run"}'),
      display: (bundle) => {
        if (run && !run.ended && !run.out.display(JSON.parse(bundle))) overLimit();
      },
    });
    const scope = py.runPython(`import sys, types
m = types.ModuleType("_polyrun")
sys.modules["_polyrun"] = m
from _polyrun_page import host as _host, display as _display
m._host, m._display = _host, _display
del sys.modules["_polyrun_page"], _host, _display
m.__dict__`);
    py.unregisterJsModule('_polyrun_page');
    py.runPython(decoder.decode(files['outcomes.py']) + decoder.decode(files['runner.py']), { globals: scope });
    runPython = scope.get('_run');
    endSession = scope.get('_end_session');
    missingImports = scope.get('_missing');
  }

  /** A `log` event of the run. */
  function log(level, message) {
    port.postMessage({ type: 'event', event: { type: 'log', level, message } });
  }

  /**
   * Installs what `code` imports and the interpreter lacks, before it runs: Pyodide's own
   * packages from its index, then the rest from the Python package index with micropip (an
   * import's name taken as its project's). What cannot be installed is left to the run (its
   * `import` fails as it would anywhere); why goes out as a `log` event.
   */
  async function install(code) {
    let missing = JSON.parse(missingImports(code));
    if (missing.length === 0) return;
    if (config.pyodideIndex) {
      await py.loadPackagesFromImports(code, {
        messageCallback: (m) => log('info', m),
        errorCallback: (m) => log('warning', m),
      });
      missing = JSON.parse(missingImports(code));
    }
    const micropipWheel = Object.entries(config.wheels).find(([name]) => name.startsWith('micropip-'))?.[1];
    if (missing.length === 0 || !config.pypiIndex || !micropipWheel) return;
    try {
      if (!micropip) {
        await py.loadPackage(micropipWheel, { messageCallback: () => {}, errorCallback: (m) => log('warning', m) });
        micropip = py.pyimport('micropip');
        missing = JSON.parse(missingImports(code));
        if (missing.length === 0) return;
      }
      log('info', `installing ${missing.join(', ')} from ${config.pypiIndex}`);
      const names = py.toPy(missing);
      try {
        await micropip.install.callKwargs(names, { index_urls: config.pypiIndex });
      } finally {
        names.destroy();
      }
    } catch (e) {
      const why = String(e?.message ?? e).trim().split('\n');
      log('warning', `could not install ${missing.join(', ')}: ${why[why.length - 1]}`);
    }
  }

  /** Pyodide's stdout/stderr callback: the run's output (bytes), within its limit. */
  function write(stream, bytes) {
    if (!run || run.ended) return bytes.length;
    if (!run.out.write(stream, bytes)) overLimit();
    return bytes.length;
  }

  /** The output limit was crossed: the run's outcome, and the guest is stopped as a time limit
   * would stop it (KeyboardInterrupt; the page ends this worker if it goes on). */
  function overLimit() {
    finish({ status: 'limit_exceeded', limit: 'output' }, false);
    if (interrupt) Atomics.store(interrupt, 0, 2);
  }

  /** Pyodide's stdin callback: a line with its end of line, or `null` (end of input). */
  function stdinLine() {
    if (!run || run.ended) return null;
    const line = readLine(run, shared, port);
    return line === null ? null : `${line}\n`;
  }

  /** Reports the run's outcome (once); `idle`: the interpreter has returned. */
  function finish(outcome, idle) {
    if (run.ended) return;
    run.out.flush();
    run.ended = true;
    const reply = { type: 'done', outcome, idle };
    if (run.output !== undefined) reply.output = run.output;
    if (run.changed) reply.variables = run.variables;
    port.postMessage(reply);
  }

  async function execute(m) {
    run = newRun(m, port);
    if (interrupt) Atomics.store(interrupt, 0, 0);
    let outcome;
    try {
      await install(m.job.code);
    } catch (e) {
      log('warning', `installing packages failed: ${e?.message ?? e}`);
    }
    if (run.ended) {
      // Stopped while installing.
      port.postMessage({ type: 'idle' });
      run = null;
      return;
    }
    port.postMessage({ type: 'started' });
    try {
      // No session is `undefined` (Python's None; JavaScript's null would be Pyodide's jsnull).
      let report = runPython(m.job.code, m.job.filename, m.job.session ?? undefined);
      if (typeof report !== 'string') {
        // Top-level await: a coroutine, run on Pyodide's event loop.
        const coroutine = report;
        report = await coroutine;
        coroutine.destroy();
      }
      outcome = JSON.parse(report);
    } catch (e) {
      // Pyodide itself failed (a fatal error): this interpreter is not used again.
      finish({ status: 'crashed', reason: `Pyodide stopped: ${e?.message ?? e}; its worker was replaced` }, false);
      run = null;
      runPython = null;
      return;
    }
    const wasEnded = run.ended;
    finish(outcome, true);
    if (wasEnded) port.postMessage({ type: 'idle' });
    run = null;
    handOverSnapshot();
  }

  /** The snapshot made at boot goes to the page once a run has had its result (it is big). */
  function handOverSnapshot() {
    if (!snapshot) return;
    const bytes = snapshot;
    snapshot = null;
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const buffer = whole ? bytes.buffer : bytes.slice().buffer;
    port.postMessage({ type: 'snapshot', bytes: buffer }, [buffer]);
  }

  // Pyodide's fatal errors (a JavaScript stack overflow in deep recursion, a bug) end the
  // interpreter: the run crashed, and the page replaces this worker (no `idle` follows).
  const fatal = (why) => {
    runPython = null;
    if (run && !run.ended) finish({ status: 'crashed', reason: `Pyodide stopped: ${why}; its worker was replaced` }, false);
  };
  self.addEventListener('error', (ev) => {
    ev.preventDefault();
    fatal(ev.message);
  });
  self.addEventListener('unhandledrejection', (ev) => {
    ev.preventDefault();
    fatal(String(ev.reason?.message ?? ev.reason));
  });

  self.addEventListener('message', (first) => {
    if (port || !first.data?.port) return;
    port = first.data.port;
    shared = stdinViews(first.data.sab);
    if (first.data.interrupt) interrupt = new Int32Array(first.data.interrupt);
    port.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'fetched') {
        onFetched(m);
      } else if (m.type === 'boot') {
        boot(m.files, m.config).then(
          () => port.postMessage({ type: 'booted', fromSnapshot }),
          (err) => port.postMessage({ type: 'boot-failed', message: String(err?.message ?? err) }),
        );
      } else if (m.type === 'run' && runPython && !run) {
        execute(m);
      } else if (m.type === 'end-session' && endSession) {
        endSession(m.name);
      }
    };
    port.postMessage({ type: 'ready', interruptible: interrupt !== null });
  });
})();
