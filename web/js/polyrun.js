// polyrun in the browser: the page-side API. Every run happens in a Web Worker (worker.js), never
// on the page's thread; a run still going at its deadline (plus a grace period), or cancelled,
// is ended by terminating the worker, which is then replaced.
//
//   const pr = await Polyrun.load({ baseUrl });
//   pr.languages();                       // [{ language, backend, default, aliases, ... }]
//   const outcome = await pr.run('js', code, { stdin, timeoutMs, onEvent });
//   await pr.run('js', code, { backend: 'boa' }); // a backend of the language (default: its default)
//   pr.cancel();                          // ends the current run (outcome: cancelled)
//   await pr.run('py', code, { input: { n: 1 }, namespace: 'demo' }); // the polyrun helpers:
//   outcome.output                        // what polyrun.output(value) published
//   pr.variables('demo')                  // { name: value } kept by the page (docs/helpers.md)
//
// JavaScript's default backend in the browser, `browser`, is the page's own engine, and Python's,
// `pyodide`, is Pyodide: the worker hands their runs back (`page-run`) and js-browser/host.js
// runs them in a sandboxed frame each.
//
// Outcomes are the engine's: { status: 'completed', value } | { status: 'error', diagnostic }
// | { status: 'limit_exceeded', limit } | { status: 'cancelled' } | { status: 'crashed', reason }.

import { JAVASCRIPT, PYTHON, PYTHON_PACKAGES, PageEngine } from './js-browser/host.js';
import { newStdinBuffer, writeStdinLine } from './js-browser/frame.js';

/** Where `persistVariables` keeps the helpers' variables. */
const VARIABLES_KEY = 'polyrun.variables';

/** How long a run may overrun its time limit before its worker is terminated. */
export const GRACE_MS = 250;

export class Polyrun {
  /**
   * Loads polyrun: starts its worker and waits until the engine is ready.
   * @param {{ baseUrl?: string, onProgress?: (event: object) => void,
   *           persistVariables?: boolean, preload?: string[],
   *           pythonPackages?: { pyodideIndex?: string|null, pypiIndex?: string|null },
   *           pythonSnapshot?: boolean }} [options]
   *           `persistVariables`: keep the helpers' variables in localStorage (else they live
   *           as long as this object). `pythonPackages`: where Python's `import` of a package
   *           it lacks installs it from (Pyodide's builds; pure-Python wheels from a PEP 691
   *           index): by default Pyodide's CDN and PyPI; `null` turns one off. `preload:
   *           ['python']` starts Python's interpreter (Pyodide, 6.4 MB gzipped) loading at
   *           once, next to the bundle, instead of on the first Python run.
   *           `pythonSnapshot: false`: no memory snapshot of Pyodide just started is kept in
   *           this origin's IndexedDB (~31 MB; with it, later page loads start Python in
   *           ~0.2 s instead of ~2.4 s).
   */
  static async load(options = {}) {
    const pr = new Polyrun(options);
    // What the page asks for starts loading now, next to the bundle.
    for (const language of options.preload ?? []) pr.preload(language);
    if (!pr.#sab && options.serviceWorker !== false) await pr.#registerServiceWorker();
    pr.#ready = pr.#spawn();
    await pr.#ready;
    return pr;
  }

  #baseUrl;
  #worker = null;
  #languages = [];
  #defaults = {}; // the engine's default limits (Limits as JSON)
  #current = null; // { id, resolve, timer, onEvent }
  #nextId = 1;
  #queue = Promise.resolve();
  #ready = null; // the current worker's start
  #starting = null; // a run waiting for its worker: { cancelled }
  #sab = null;
  #sw = null; // the stdin service worker controlling this page, when there is one
  #stdinKey = null; // the pending service-worker stdin request
  #onProgress;
  #variables = {}; // namespace → { name: { value, version } }
  #persist = false;
  #pageEngines = {}; // backend → its PageEngine (`browser`, `pyodide`), made on its first run
  #pythonPackages; // where Pyodide finds the packages a run imports (PYTHON_PACKAGES by default)
  #pythonSnapshot = true; // keep a memory snapshot of Pyodide just started (host.js: SNAPSHOTS)

  constructor({ baseUrl, onProgress, persistVariables, pythonPackages, pythonSnapshot } = {}) {
    this.#pythonPackages = { ...PYTHON_PACKAGES, ...(pythonPackages ?? {}) };
    this.#pythonSnapshot = pythonSnapshot !== false;
    this.#persist = Boolean(persistVariables) && typeof localStorage !== 'undefined';
    if (this.#persist) {
      try {
        this.#variables = JSON.parse(localStorage.getItem(VARIABLES_KEY) ?? '{}') ?? {};
      } catch {
        this.#variables = {};
      }
    }
    this.#baseUrl = new URL(baseUrl ?? '.', baseUrl ? location.href : import.meta.url).href;
    if (!this.#baseUrl.endsWith('/')) this.#baseUrl += '/';
    this.#onProgress = onProgress ?? (() => {});
    if (globalThis.crossOriginIsolated && typeof SharedArrayBuffer === 'function') {
      this.#sab = newStdinBuffer();
    }
  }

  /**
   * How a running program reads stdin: `atomics` (it asks for each line while it runs, the
   * page answers with `provideInput`; needs a cross-origin isolated page), `service-worker`
   * (the same, through polyrun's stdin service worker: any static host) or `buffered` (the
   * `stdin` text given to `run`, then end of input).
   */
  get stdinMechanism() {
    if (this.#sab) return 'atomics';
    return this.#sw ? 'service-worker' : 'buffered';
  }

  /** The helpers' variables of `namespace` (default `default`), as `{ name: value }`. */
  variables(namespace = 'default') {
    const vars = this.#variables[namespace] ?? {};
    return Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v.value]));
  }

  /**
   * Starts loading what `language`'s default backend needs ahead of its first run (Python:
   * Pyodide, 6.4 MB gzipped, in its frame); a playground calls it when Python is picked.
   * Other languages load fast enough on their first run: nothing to do.
   */
  preload(language) {
    if (['python', 'py', 'python3'].includes(String(language).toLowerCase())) this.#pageEngine('pyodide').warm();
  }

  /**
   * How the backends on the page's own engines (`browser`, `pyodide`) served their runs:
   * `{ backend: { workersStarted, runs, runsOnUsedWorker } }` (those that have run).
   */
  stats() {
    return Object.fromEntries(Object.entries(this.#pageEngines).map(([backend, engine]) => [backend, engine.stats()]));
  }

  /** The backends of the bundle, one entry each (`default: true` for a language's default). */
  languages() {
    return this.#languages.map((l) => ({ ...l }));
  }

  /**
   * Runs `code`. Runs are queued: one at a time.
   * @param {string} language id or alias
   * @param {string} code
   * @param {{ stdin?: string, interactive?: boolean, timeoutMs?: number, memoryBytes?: number,
   *           maxOutputBytes?: number, filename?: string, session?: string, backend?: string,
   *           input?: any, namespace?: string, metadata?: object,
   *           onEvent?: (event: object) => void }} [options] `input` is what
   *           `polyrun.input()` returns; the outcome carries `output` when the program
   *           published one with `polyrun.output(value)`.
   */
  run(language, code, options = {}) {
    const go = () => this.#run(language, code, options);
    const result = this.#queue.then(go, go);
    this.#queue = result.catch(() => {});
    return result;
  }

  /** Stops the current run by force (its outcome is `cancelled`), even one still waiting for
   * its worker to start. */
  cancel() {
    if (this.#current?.page) this.#current.page.cancel();
    else if (this.#current) this.#abort({ status: 'cancelled' });
    else if (this.#starting) this.#starting.cancelled = true;
  }

  /** Answers a `stdin_request` event with a line (`null` ends the input). */
  provideInput(line) {
    if (this.#current?.page) {
      this.#current.page.provideInput(line);
      return;
    }
    if (!this.#sab && this.#sw) {
      this.#sw.postMessage({ type: 'polyrun-stdin', id: this.#stdinKey, line: line ?? null });
      return;
    }
    if (!this.#sab) throw new Error('interactive stdin needs a cross-origin isolated page or the stdin service worker');
    writeStdinLine(this.#sab, line);
  }

  /** Forgets a session's state. */
  endSession(name) {
    this.#worker?.postMessage({ type: 'end-session', name });
    for (const engine of Object.values(this.#pageEngines)) engine.endSession(name);
  }

  async #run(language, code, options) {
    const starting = { cancelled: false };
    this.#starting = starting;
    await this.#ready;
    this.#starting = null;
    if (starting.cancelled) return { status: 'cancelled' };
    // Limits left out take the engine's defaults (one source: polyrun-engine's `Limits`);
    // 0 means no limit.
    const timeoutMs = options.timeoutMs ?? this.#defaults.wall_time_ms ?? 0;
    const limits = {};
    const set = (key, v) => {
      if (v !== undefined && v !== null) limits[key] = v > 0 ? v : null;
    };
    set('wall_time_ms', options.timeoutMs);
    set('memory_bytes', options.memoryBytes);
    set('output_bytes', options.maxOutputBytes);
    const request = { language, code, limits };
    if (options.backend) request.backend = options.backend;
    if (options.filename) request.filename = options.filename;
    if (options.session) request.session = options.session;
    const namespace = options.namespace ?? 'default';
    const helpers = {
      input: options.input ?? null,
      context: {
        run_id: `run-${Date.now().toString(16)}-${Math.random().toString(16).slice(2, 10)}`,
        pipeline: null,
        step: null,
        trigger: 'browser',
        started_at: new Date().toISOString(),
        metadata: options.metadata ?? {},
      },
      variables: this.#variables[namespace] ?? {},
    };
    return new Promise((resolve) => {
      const id = this.#nextId++;
      const onEvent = options.onEvent ?? (() => {});
      const stdin = splitLines(options.stdin ?? '');
      const interactive = Boolean(options.interactive) && this.stdinMechanism !== 'buffered';
      this.#current = { id, resolve, onEvent, timer: null, timeoutMs, namespace, stdin, interactive, helpers, page: null };
      if (timeoutMs > 0) {
        // The hard stop: the engine could not stop the guest in time.
        this.#current.timer = setTimeout(
          () => this.#abort({ status: 'limit_exceeded', limit: 'time' }),
          timeoutMs + GRACE_MS,
        );
      }
      this.#worker.postMessage({
        type: 'run',
        id,
        request,
        stdin,
        interactive,
        helpers,
      });
    });
  }

  /** Registers (or finds) polyrun's stdin service worker and waits until it controls the page. */
  async #registerServiceWorker() {
    if (!('serviceWorker' in navigator) || !isSecureContext) return;
    try {
      await navigator.serviceWorker.register(new URL('stdin-sw.js', this.#baseUrl), { scope: this.#baseUrl });
      if (!navigator.serviceWorker.controller) {
        await new Promise((resolve) => {
          navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true });
          setTimeout(resolve, 3000);
        });
      }
      this.#sw = navigator.serviceWorker.controller;
    } catch {
      this.#sw = null; // buffered stdin still works
    }
  }

  #finish(outcome) {
    const cur = this.#current;
    if (!cur) return;
    clearTimeout(cur.timer);
    this.#current = null;
    cur.resolve(outcome);
  }

  /** The host of a backend on the page's own engines (`browser`, `pyodide`), made once. */
  #pageEngine(backend) {
    const kind = backend === 'pyodide' ? PYTHON : JAVASCRIPT;
    return (this.#pageEngines[backend] ??= new PageEngine(this.#baseUrl, kind, kind === PYTHON ? { ...this.#pythonPackages, snapshots: this.#pythonSnapshot } : {}));
  }

  /** Runs a job the worker handed back on the page's own engines (JavaScript's, Pyodide). */
  async #pageRun(cur, job) {
    const engine = this.#pageEngine(job.backend);
    cur.page = engine;
    // The hard stop counts from the code's start (onStart below), not through a first run's
    // loading or a run's package installation.
    clearTimeout(cur.timer);
    let reply;
    try {
      const interactive = cur.interactive && (await engine.interactive());
      reply = await engine.run(cur.id, job, {
        stdin: cur.stdin,
        interactive,
        helpers: cur.helpers,
        onEvent: (event) => {
          if (event.type === 'progress') this.#onProgress(event);
          cur.onEvent(event);
        },
        onStdinRequest: () => cur.onEvent({ type: 'stdin_request' }),
        // The hard stop counts from the run's start (not from a first run's loading).
        onStart: () => {
          if (cur.timeoutMs <= 0 || this.#current !== cur) return;
          clearTimeout(cur.timer);
          cur.timer = setTimeout(() => this.#abort({ status: 'limit_exceeded', limit: 'time' }), cur.timeoutMs + 2 * GRACE_MS);
        },
      });
    } catch (e) {
      reply = { error: { kind: 'load', language: engine.name.toLowerCase(), message: `the page's ${engine.name} engine: ${e.message ?? e}` } };
    }
    if (this.#current === cur) this.#complete(reply);
  }

  /** A run's reply (`{ outcome, output?, variables? }`, `{ error }`, or `fatal`). */
  #complete(m) {
    if (m.variables) {
      this.#variables[this.#current.namespace] = m.variables;
      if (this.#persist) {
        try {
          localStorage.setItem(VARIABLES_KEY, JSON.stringify(this.#variables));
        } catch {
          // Storage full or denied: the variables stay in memory.
        }
      }
    }
    if (m.output !== undefined && m.outcome) m.outcome = { ...m.outcome, output: m.output };
    if (m.fatal) {
      this.#abort(m.outcome);
    } else if (m.error) {
      // A host error (unknown language or backend, a backend that cannot load): the
      // engine's error, whole, next to a diagnostic a playground can show as is.
      const diagnostic = { kind: 'PolyrunError', message: m.error.message ?? String(m.error), line: null, column: null, frames: [] };
      this.#finish({ status: 'error', diagnostic, error: m.error });
    } else {
      this.#finish(m.outcome);
    }
  }

  #abort(outcome) {
    if (this.#current?.page) {
      // The page's engine ran it: its frame (or worker) goes, the bundle's worker stays.
      this.#current.page.abort(outcome);
      return;
    }
    this.#worker.terminate();
    this.#worker = null;
    this.#finish(outcome);
    // The next run waits for the replacement worker.
    this.#ready = this.#spawn();
  }

  #spawn() {
    return new Promise((resolve, reject) => {
      const worker = new Worker(new URL('worker.js', this.#baseUrl), { type: 'module' });
      worker.onerror = (e) => reject(new Error(`polyrun worker failed: ${e.message}`));
      worker.onmessage = (e) => {
        const m = e.data;
        if (m.type === 'ready') {
          this.#worker = worker;
          this.#languages = m.languages;
          this.#defaults = m.defaults ?? {};
          worker.onerror = (err) => this.#finish({ status: 'crashed', reason: String(err.message) });
          resolve();
        } else if (m.type === 'event') {
          if (m.event.type === 'progress') this.#onProgress(m.event);
          if (this.#current?.id === m.id) this.#current.onEvent(m.event);
        } else if (m.type === 'stdin-request') {
          this.#stdinKey = m.key ?? null;
          if (this.#current?.id === m.id) this.#current.onEvent({ type: 'stdin_request' });
        } else if (m.type === 'page-run') {
          if (this.#current?.id === m.id) this.#pageRun(this.#current, m.job);
        } else if (m.type === 'done') {
          if (this.#current?.id === m.id) this.#complete(m);
        }
      };
      worker.postMessage({ type: 'init', baseUrl: this.#baseUrl, sab: this.#sab });
    });
  }
}

/** stdin text as lines (a last empty line and `\r` line ends dropped). */
function splitLines(text) {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}
