// polyrun's backends on the page's own engines, the page's side: JavaScript on the page's
// engine (`browser`) and Python on Pyodide (`pyodide`). Each has one hidden sandboxed iframe
// (frame.js inside; `sandbox="allow-scripts"` without `allow-same-origin` gives it an opaque
// origin, which Chromium runs in a process of its own: a program that exhausts memory crashes
// that frame, not the page; no network, no storage of the site). A frame that stops answering
// is replaced before the next run. The frame makes the runs' workers; each run then talks to
// its worker directly, on a port the frame handed over. polyrun.js hands it the runs the
// bundle's worker resolves to these backends.
//
// JavaScript's runs each get a fresh global state: a new worker, or the last run's, once its
// realm has been put back as it was (realm.js; a run that touched what a reset cannot undo
// leaves its worker to end). A session keeps its worker; a run at its deadline is ended with
// it. Python's worker holds a Pyodide interpreter that serves run after run
// (its runner gives each a fresh `__main__`; sessions keep theirs): at the deadline or on cancel
// it is interrupted (KeyboardInterrupt, where the page is cross-origin isolated) and ended only
// if it does not stop within KILL_MS; its files come from the site once, through the page.

/** How often the page asks a running frame whether it is alive, and how long it waits. */
const PING_MS = 250;
const DEAD_MS = 2000;
/** How long an interrupted or over-limit worker that serves many runs may take to stop. */
const KILL_MS = 250;

/** The frame's policy: no network, no plugins; its own inline script, workers from blob: URLs. */
const CSP = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' blob:; worker-src blob:";

/**
 * Where Python's `import` of a package the interpreter lacks finds it (the defaults; a
 * deployment passes its own to `Polyrun.load({ pythonPackages })`, `null` turns one off):
 * Pyodide's own builds (numpy, pandas, matplotlib, ...: the index of this Pyodide version's
 * packages, `pyodide-lock.json`'s files) and pure-Python wheels from a PEP 691 "simple" index
 * (installed by micropip, whose wheel the site holds).
 */
export const PYTHON_PACKAGES = {
  pyodideIndex: 'https://cdn.jsdelivr.net/pyodide/v314.0.7/full/',
  pypiIndex: 'https://pypi.org/simple/',
};

/**
 * JavaScript on the page's engine: a worker per run, one kept started ahead; a worker whose run
 * ended cleanly and touched nothing a reset cannot undo serves the next run once its realm is
 * put back (`resets`: realm.js), so repeated runs find it started and their code compiled.
 * A worker sets up its resets (tens of milliseconds) once started; the frame starts two: the
 * first run takes the first at once, without them, and the second is set up for the next runs.
 */
export const JAVASCRIPT = { name: 'JavaScript', runner: 'js-browser/runner.js', spares: 1, initial: 2, reuse: false, resets: true, files: null };

/**
 * Python on Pyodide: one worker serves the runs; its files (the `pyodide` entry of the site's
 * artifacts.json, which web/tools/artifacts.mjs writes) are fetched once, with progress.
 */
export const PYTHON = {
  name: 'Python', runner: 'python-pyodide/runner.js', spares: 1, reuse: true, files: 'pyodide',
  packages: PYTHON_PACKAGES, announcesStart: true, snapshots: true,
};

/**
 * Pyodide started from a memory snapshot of itself just started takes ~0.2 s instead of ~2.4 s
 * here. A worker that boots without one makes one (before any other code runs in it) and hands
 * it to the page after its first run; the page keeps it in this origin's IndexedDB (~31 MB, one
 * entry: the newest), keyed by what it was made from, and the next page load boots from it. A
 * snapshot Pyodide rejects is deleted and the worker boots without it. Pyodide's snapshot API
 * is its own private one (`_makeSnapshot`, `_loadSnapshot`): pinned with Pyodide's version.
 */
const SNAPSHOTS = { db: 'polyrun', store: 'pyodide-snapshots', format: 1 };

/** Runs `f(store)` in a transaction of the snapshots' store; resolves with its request's result. */
function snapshotStore(mode, f) {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') {
      reject(new Error('no IndexedDB'));
      return;
    }
    const open = indexedDB.open(SNAPSHOTS.db, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(SNAPSHOTS.store);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(SNAPSHOTS.store, mode);
      const request = f(tx.objectStore(SNAPSHOTS.store));
      tx.oncomplete = () => {
        db.close();
        resolve(request?.result);
      };
      tx.onerror = tx.onabort = () => {
        db.close();
        reject(tx.error);
      };
    };
  });
}

export class PageEngine {
  #base;
  #kind;
  #sources = null; // { frame, runner }: the texts, fetched once from the site
  #files = null; // Promise of what a new worker loads (kind.files), fetched once
  #frame = null; // { iframe, ready: Promise, interactive, spares, sessions, ports }
  #current = null; // { id, resolve, onEvent, onStdinRequest, frame, worker, lastPong, ticker, deadline, stopping }
  #pings = 0;
  #keys = 0;

  #options;
  #allowed = []; // URL prefixes a worker may fetch through the page (its packages)
  #snapshotSaved = false; // a worker's snapshot is in IndexedDB (no other worker need make one)
  #snapshotKey = null; // what the kept snapshot was made from (see #load)
  #progress = null; // the files' last progress event
  #waiting = null; // the onEvent of a run waiting for the frame (it sees the files' progress)
  #booted = false; // a worker of this kind has booted (its files were loaded)
  #stats = { workersStarted: 0, runs: 0, runsOnUsedWorker: 0, snapshotBoots: 0, snapshotsSaved: 0, snapshotsRejected: 0 };

  /**
   * @param {string} baseUrl the site's base (where js-browser/ is)
   * @param {object} kind JAVASCRIPT or PYTHON
   * @param {{ pyodideIndex?: string|null, pypiIndex?: string|null, snapshots?: boolean }} [options]
   *   PYTHON's package indexes (see `PYTHON_PACKAGES`): the only places besides the site's own
   *   artifacts its worker may fetch from (the frame itself has no network); `snapshots: false`:
   *   no memory snapshot is kept (see SNAPSHOTS).
   */
  constructor(baseUrl, kind, options = {}) {
    this.#base = baseUrl;
    this.#kind = kind;
    this.#options = { ...(kind.packages ?? {}), ...options };
    if (kind.packages) {
      const { pyodideIndex, pypiIndex } = this.#options;
      this.#allowed = [new URL('artifacts/', baseUrl).href];
      if (pyodideIndex) this.#allowed.push(new URL(pyodideIndex).href);
      if (pypiIndex) {
        this.#allowed.push(new URL(pypiIndex).href);
        // PyPI's files live on their own host.
        if (new URL(pypiIndex).host === 'pypi.org') this.#allowed.push('https://files.pythonhosted.org/');
      }
    }
    addEventListener('message', (e) => this.#onFrameMessage(e));
  }

  /**
   * Workers started, runs, runs on a worker that had served one before, and memory snapshots
   * (SNAPSHOTS) booted from, saved and rejected.
   */
  stats() {
    return { ...this.#stats };
  }

  /** The language it runs (`JavaScript`, `Python`). */
  get name() {
    return this.#kind.name;
  }

  /** Starts the frame and its first workers (and their files loading) ahead of a first run. */
  warm() {
    this.#ready().catch(() => {});
  }

  /** `true` when a running program can ask for stdin lines one by one. */
  async interactive() {
    return (await this.#ready()).interactive;
  }

  /**
   * Runs `job` (the engine's, from `Engine.page_job`). Resolves with the bundle's reply shape:
   * `{ outcome, output?, variables? }`.
   */
  async run(id, job, { stdin = [], interactive = false, helpers = null, onEvent, onStdinRequest, onStart }) {
    // The files' progress goes to this run while it waits for them (they may have started
    // loading before it, with the frame: it sees where they are now).
    this.#waiting = onEvent;
    if (this.#progress && !this.#booted) onEvent?.(this.#progress);
    const frame = await this.#ready();
    this.#waiting = null;
    const session = job.session ?? null;
    let worker = session && !this.#kind.reuse ? frame.sessions.get(session) : undefined;
    if (this.#kind.reuse) {
      // The worker that serves the runs (a new one, the first time and after it was ended).
      this.#topUp(frame);
      worker = frame.spares[0];
    } else if (!worker) {
      worker = frame.spares.shift() ?? this.#spawn(frame);
      worker.claimed = true;
      if (session) frame.sessions.set(session, worker);
    }
    return new Promise((resolve) => {
      const cur = { id, resolve, onEvent, onStdinRequest, onStart, frame, worker, session, lastPong: performance.now(), ticker: null, deadline: null, stopping: null };
      this.#current = cur;
      cur.ticker = setInterval(() => {
        if (performance.now() - cur.lastPong > DEAD_MS) {
          this.#discard();
          this.#done({ outcome: { status: 'crashed', reason: `the ${this.#kind.name} frame stopped answering (out of memory?); it was replaced` } });
          return;
        }
        frame.iframe.contentWindow?.postMessage({ type: 'ping', n: ++this.#pings }, '*');
      }, PING_MS);
      if (this.#kind.files && !worker.booted) onEvent?.({ type: 'progress', stage: `starting ${this.#kind.name}`, done: 0, total: null });
      this.#begin(cur, job, stdin, interactive, helpers);
    });
  }

  /**
   * Starts `cur` once its worker is ready and idle: a worker that serves many runs, or one put
   * back after a run, finishes with the last one first (see #onWorkerMessage). A worker ended
   * meanwhile hands the run to another.
   */
  async #begin(cur, job, stdin, interactive, helpers) {
    const frame = cur.frame;
    for (;;) {
      try {
        await cur.worker.ready;
      } catch (e) {
        this.#failed(cur, e);
        return;
      }
      await cur.worker.idle;
      if (this.#current !== cur) return;
      if (!cur.worker.dead && !(this.#kind.reuse && cur.worker !== frame.spares[0])) break;
      if (this.#kind.reuse) {
        this.#topUp(frame);
        cur.worker = frame.spares[0];
      } else {
        cur.worker = frame.spares.shift() ?? this.#spawn(frame);
        cur.worker.claimed = true;
        if (cur.session) frame.sessions.set(cur.session, cur.worker);
      }
    }
    this.#start(cur, job, stdin, interactive, helpers);
  }

  #start(cur, job, stdin, interactive, helpers) {
    if (this.#current !== cur) return;
    this.#stats.runs++;
    if (cur.worker.served++ > 0) this.#stats.runsOnUsedWorker++;
    cur.wall = job.limits.wall_time_ms;
    cur.worker.port.postMessage({ type: 'run', job, stdin, interactive: interactive && cur.frame.interactive, helpers });
    // A runner that first installs what the code imports says when the code starts.
    if (!this.#kind.announcesStart) this.#started(cur);
  }

  /** The run's code starts: its time limit counts from now. */
  #started(cur) {
    if (this.#current !== cur || cur.deadline) return;
    if (cur.wall) cur.deadline = setTimeout(() => this.#halt({ status: 'limit_exceeded', limit: 'time' }), cur.wall);
    cur.onStart?.();
  }

  /** Fetches `url` for a worker (its packages), if it is under one of the allowed prefixes. */
  async #relay(port, { id, url, init }) {
    let reply;
    try {
      const href = new URL(url).href;
      if (!this.#allowed.some((prefix) => href.startsWith(prefix))) {
        throw new Error(`not an allowed package source: ${href} (allowed: ${this.#allowed.join(', ')})`);
      }
      const headers = init?.headers && typeof init.headers === 'object' ? init.headers : undefined;
      const r = await fetch(href, { method: 'GET', headers, credentials: 'omit', redirect: 'follow' });
      const body = await r.arrayBuffer();
      reply = { type: 'fetched', id, status: r.status, statusText: r.statusText, headers: [...r.headers], url: r.url, body };
      port.postMessage(reply, [body]);
    } catch (e) {
      port.postMessage({ type: 'fetched', id, error: String(e?.message ?? e) });
    }
  }

  /** A worker that could not start: the run's reply is the engine's load error. */
  #failed(cur, e) {
    if (this.#current !== cur) return;
    this.#retire(cur);
    this.#done({ error: { kind: 'load', language: this.#kind.name.toLowerCase(), message: `${this.#kind.name} could not start: ${e?.message ?? e}` } });
  }

  /**
   * Stops the current run with `outcome`: a worker that serves many runs and can be interrupted
   * is (its run's report then ends the run, the worker kept) and ended only if it does not stop
   * within KILL_MS; any other is ended now.
   */
  #halt(outcome) {
    const cur = this.#current;
    if (!cur) return;
    if (!this.#kind.reuse || !cur.worker.interruptible || cur.stopping) {
      this.#stop(outcome);
      return;
    }
    cur.stopping = outcome;
    cur.frame.iframe.contentWindow?.postMessage({ type: 'interrupt', key: cur.worker.key }, '*');
    setTimeout(() => {
      if (this.#current === cur) this.#stop(outcome);
    }, KILL_MS);
  }

  /** A line for the program waiting for one (`null`: end of input). */
  provideInput(line) {
    this.#post({ type: 'stdin', line: line ?? null });
  }

  /** Ends the current run (its outcome: cancelled). */
  cancel() {
    this.#halt({ status: 'cancelled' });
  }

  /**
   * Ends the current run by force, whatever the frame does: the frame is replaced (for a kind
   * whose worker serves many runs, only that worker, while the frame still answers).
   */
  abort(outcome) {
    const cur = this.#current;
    if (!cur) return;
    if (this.#kind.reuse && performance.now() - cur.lastPong < DEAD_MS) {
      this.#stop(outcome);
      return;
    }
    this.#discard();
    this.#done({ outcome });
  }

  /** Forgets a session's state (its worker ends, or forgets it). */
  endSession(name) {
    const frame = this.#frame;
    if (this.#kind.reuse) {
      frame?.spares[0]?.port?.postMessage({ type: 'end-session', name });
      return;
    }
    const worker = frame?.sessions.get(name);
    if (!worker || this.#current?.worker === worker) return;
    frame.sessions.delete(name);
    this.#kill(frame, worker);
  }

  #post(m) {
    this.#frame?.iframe?.contentWindow?.postMessage(m, '*');
  }

  /**
   * A new worker in `frame`: `ready` resolves with its port once the runner listens (and has
   * loaded its files, for a kind that has some); `idle` once it has no run left to finish.
   */
  #spawn(frame) {
    const worker = { key: ++this.#keys, frame, port: null, booted: false, interruptible: false, idle: Promise.resolve(), settle: null, dead: false, claimed: false, first: false, served: 0 };
    worker.ready = new Promise((resolve, reject) => {
      worker.started = resolve;
      worker.broken = reject;
    });
    worker.ready.catch(() => {});
    this.#stats.workersStarted++;
    frame.ports.set(worker.key, worker);
    frame.iframe.contentWindow.postMessage({ type: 'spawn', key: worker.key }, '*');
    return worker;
  }

  #kill(frame, worker) {
    worker.dead = true;
    const i = frame.spares.indexOf(worker);
    if (i >= 0) frame.spares.splice(i, 1);
    worker.settle?.();
    frame.ports.delete(worker.key);
    worker.port?.close();
    frame.iframe.contentWindow?.postMessage({ type: 'kill', key: worker.key }, '*');
  }

  /** Ends the current run with `outcome`: its worker ends (a session's too, its state lost). */
  #stop(outcome) {
    const cur = this.#current;
    if (!cur) return;
    this.#retire(cur);
    this.#done({ outcome });
  }

  #retire(cur) {
    if (cur.session) cur.frame.sessions.delete(cur.session);
    this.#kill(cur.frame, cur.worker);
  }

  #done(reply) {
    const cur = this.#current;
    if (!cur) return;
    clearInterval(cur.ticker);
    clearTimeout(cur.deadline);
    this.#current = null;
    cur.resolve(reply);
    // The next runs' workers start now, while the page takes this result.
    if (this.#frame === cur.frame) this.#topUp(cur.frame);
  }

  #topUp(frame) {
    while (frame.spares.length < this.#kind.spares) frame.spares.push(this.#spawn(frame));
  }

  #discard() {
    this.#frame?.iframe?.remove();
    this.#frame = null;
  }

  #onWorkerMessage(worker, r) {
    if (r.type === 'idle') {
      worker.settle?.();
      return;
    }
    if (r.type === 'reset') {
      // A worker put back after a run (resets): its realm is as it was, or it cannot serve again.
      if (r.ok) worker.settle?.();
      else this.#kill(worker.frame, worker);
      return;
    }
    if (r.type === 'fetch' && this.#kind.packages) {
      this.#relay(worker.port, r);
      return;
    }
    if (r.type === 'snapshot' || r.type === 'snapshot-rejected') {
      this.#keepSnapshot(r);
      return;
    }
    const cur = this.#current;
    if (!cur || cur.worker !== worker) return;
    if (r.type === 'started') this.#started(cur);
    else if (r.type === 'event') cur.onEvent?.(r.event);
    else if (r.type === 'stdin-request') cur.onStdinRequest?.();
    else if (r.type === 'done') {
      // A limit stops the guest where it is: its worker may still be running.
      const outcome = cur.stopping ?? r.outcome;
      const over = outcome.status !== 'completed' && outcome.status !== 'error';
      if (this.#kind.reuse) {
        // The guest still runs (past its output limit): the next run waits for it, a while.
        if (!r.idle) this.#drain(cur.frame, worker);
      } else if (!over && !cur.session && this.#kind.resets && r.reusable) {
        // The next run may have it once its realm is put back (its `reset`).
        cur.frame.spares.unshift(worker);
        this.#drain(cur.frame, worker);
      } else if (over || !cur.session) {
        this.#retire(cur);
      }
      const reply = { outcome };
      if (r.output !== undefined) reply.output = r.output;
      if (r.variables !== undefined) reply.variables = r.variables;
      this.#done(reply);
    }
  }

  /**
   * Waits up to KILL_MS for `worker` to be idle (its guest stopped, or its realm put back: its
   * `idle` or `reset`), then ends the worker.
   */
  #drain(frame, worker) {
    worker.idle = new Promise((resolve) => {
      worker.settle = () => {
        worker.settle = null;
        resolve();
      };
    });
    setTimeout(() => {
      if (worker.settle) this.#kill(frame, worker);
    }, KILL_MS);
  }

  #onFrameMessage(e) {
    const frame = this.#frame;
    // Every PageEngine hears every frame's messages (and this one's frame may still be loading).
    if (!frame?.iframe || e.source !== frame.iframe.contentWindow) return;
    const m = e.data;
    if (m.type === 'loaded') frame.loaded();
    else if (m.type === 'ready') frame.started(m);
    else if (m.type === 'pong' && this.#current?.frame === frame) this.#current.lastPong = performance.now();
    else if (m.type === 'worker') {
      const worker = frame.ports.get(m.key);
      if (!worker) {
        m.port.close();
        return;
      }
      worker.port = m.port;
      m.port.onmessage = (ev) => {
        const r = ev.data;
        if (r?.type === 'ready') {
          worker.interruptible = Boolean(r.interruptible);
          // It sets up its resets, unless it is the frame's first and a run waits for it (the
          // first run's output comes sooner without them; a later run would rather wait once
          // than start every worker after it without them too).
          if (this.#kind.resets && !(worker.first && worker.claimed)) m.port.postMessage({ type: 'prepare' });
          if (!this.#kind.files) {
            worker.booted = true;
            worker.started(m.port);
            return;
          }
          this.#load().then(({ files, config }) => {
            // A snapshot to boot from, or one to make (unless a worker already saved one).
            const makeSnapshot = this.#snapshots() && !files.snapshot && !this.#snapshotSaved;
            m.port.postMessage({ type: 'boot', files, config: { ...config, makeSnapshot } });
          }, (err) => worker.broken(err));
        } else if (r?.type === 'booted') {
          this.#booted = true;
          if (r.fromSnapshot) this.#stats.snapshotBoots++;
          worker.booted = true;
          worker.started(m.port);
        } else if (r?.type === 'boot-failed') {
          worker.broken(new Error(r.message));
        } else {
          this.#onWorkerMessage(worker, r);
        }
      };
    }
  }

  async #texts() {
    this.#sources ??= Promise.all(['js-browser/frame.js', this.#kind.runner].map(async (f) => {
      const r = await fetch(new URL(f, this.#base));
      if (!r.ok) throw new Error(`${f}: HTTP ${r.status}`);
      return r.text();
    })).then(([frame, runner]) => ({ frame, runner }));
    this.#sources.catch(() => { this.#sources = null; });
    return this.#sources;
  }

  /** Whether this kind keeps memory snapshots (SNAPSHOTS) here. */
  #snapshots() {
    return Boolean(this.#kind.snapshots) && this.#options.snapshots !== false && typeof indexedDB !== 'undefined';
  }

  /**
   * The files a new worker of this kind loads (`{ name: ArrayBuffer }`), fetched once from the
   * site (the entry `kind.files` of artifacts.json), each checked against its size and sha256;
   * the current run sees the progress. With them, the memory snapshot kept for exactly these
   * files, if there is one (`snapshot`).
   */
  #load() {
    this.#files ??= (async () => {
      const manifest = await fetch(new URL('artifacts.json', this.#base)).then((r) => r.json());
      const entry = manifest[this.#kind.files];
      if (!entry) throw new Error(`this site has no ${this.#kind.files} (artifacts.json)`);
      const { pyodideIndex = null, pypiIndex = null } = this.#options;
      // What a snapshot depends on: the files, and what Pyodide is started with.
      this.#snapshotKey = JSON.stringify([SNAPSHOTS.format, entry.version, entry.files.map((f) => f.sha256), pyodideIndex]);
      const kept = this.#snapshots()
        ? snapshotStore('readonly', (store) => store.get(this.#snapshotKey)).catch(() => undefined)
        : Promise.resolve(undefined);
      const total = entry.files.reduce((n, f) => n + f.size, 0);
      const stage = `loading ${this.#kind.name} (${entry.version})`;
      const progress = (done) => {
        this.#progress = { type: 'progress', stage, done, total };
        (this.#current?.onEvent ?? this.#waiting)?.(this.#progress);
      };
      let done = 0;
      progress(0);
      const files = {};
      await Promise.all(entry.files.map(async (f) => {
        const r = await fetch(new URL(f.path, this.#base));
        if (!r.ok) throw new Error(`${f.path}: HTTP ${r.status}`);
        const bytes = await r.arrayBuffer();
        const sha = [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
        if (bytes.byteLength !== f.size || sha !== f.sha256) throw new Error(`${f.path}: not the pinned file (sha256 ${sha})`);
        files[f.name] = bytes;
        done += f.size;
        progress(done);
      }));
      const snapshot = await kept;
      if (snapshot instanceof ArrayBuffer) files.snapshot = snapshot;
      // What the worker needs to install packages: the indexes, and the site's wheels (micropip).
      const wheels = Object.fromEntries((entry.wheels ?? []).map((w) => [w.name, new URL(w.path, this.#base).href]));
      return { files, config: { pyodideIndex, pypiIndex, wheels } };
    })();
    this.#files.catch(() => { this.#files = null; });
    return this.#files;
  }

  /**
   * A worker's `snapshot` (kept in IndexedDB, replacing any older one) or `snapshot-rejected`
   * (the kept one goes, and later workers boot without it).
   */
  async #keepSnapshot(r) {
    if (!this.#snapshotKey) return;
    const key = this.#snapshotKey;
    try {
      if (r.type === 'snapshot') {
        this.#snapshotSaved = true;
        await snapshotStore('readwrite', (store) => {
          store.clear();
          return store.put(r.bytes, key);
        });
        this.#stats.snapshotsSaved++;
      } else {
        this.#stats.snapshotsRejected++;
        const loaded = await this.#files?.catch(() => null);
        if (loaded) delete loaded.files.snapshot;
        await snapshotStore('readwrite', (store) => store.delete(key));
      }
    } catch {
      // Storage full or denied: later page loads start Pyodide the long way.
    }
  }

  /** The live frame, made (and its first workers started) when there is none. */
  #ready() {
    if (this.#frame) return this.#frame.ready;
    // The files (and a kept snapshot) load while the frame and its first worker start.
    if (this.#kind.files) this.#load().catch(() => {});
    const frame = { spares: [], sessions: new Map(), ports: new Map() };
    this.#frame = frame;
    frame.ready = (async () => {
      const { frame: frameJs, runner } = await this.#texts();
      const iframe = document.createElement('iframe');
      iframe.sandbox = 'allow-scripts';
      // Shared memory for stdin when the page is cross-origin isolated.
      iframe.allow = 'cross-origin-isolated';
      iframe.style.display = 'none';
      iframe.title = `polyrun ${this.#kind.name} sandbox`;
      const script = `${frameJs}\nstartFrame();`.replace(/<\/script/gi, '<\\/script');
      iframe.srcdoc = `<!doctype html><meta http-equiv="Content-Security-Policy" content="${CSP}"><script type="module">${script}</script>`;
      frame.iframe = iframe;
      const loaded = new Promise((resolve) => { frame.loaded = resolve; });
      const started = new Promise((resolve) => { frame.started = resolve; });
      document.body.append(iframe);
      await loaded;
      iframe.contentWindow.postMessage({ type: 'init', source: runner }, '*');
      const { interactive } = await started;
      frame.interactive = interactive;
      while (frame.spares.length < (this.#kind.initial ?? this.#kind.spares)) frame.spares.push(this.#spawn(frame));
      frame.spares[0].first = true;
      return frame;
    })();
    frame.ready.catch(() => { if (this.#frame === frame) this.#frame = null; });
    return frame.ready;
  }
}
