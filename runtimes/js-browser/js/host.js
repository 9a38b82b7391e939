// polyrun's JavaScript on the page's own engine, the page's side: one hidden sandboxed iframe
// (frame.js inside; `sandbox="allow-scripts"` without `allow-same-origin` gives it an opaque
// origin, which Chromium runs in a process of its own: a program that exhausts memory crashes
// that frame, not the page). A frame that stops answering is replaced before the next run.
// The frame makes the runs' workers; each run then talks to its worker directly, on a port the
// frame handed over. polyrun.js hands it the runs the bundle's worker resolves to the `browser`
// backend.

/** How often the page asks a running frame whether it is alive, and how long it waits. */
const PING_MS = 250;
const DEAD_MS = 2000;
/** Workers kept started ahead of the next runs (a run's worker starts before it is asked for). */
const SPARES = 2;

/** The frame's policy: no network, no plugins; its own inline script, workers from blob: URLs. */
const CSP = "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' blob:; worker-src blob:";

export class BrowserJs {
  #base;
  #sources = null; // { frame, runner }: the texts, fetched once from the site
  #frame = null; // { iframe, ready: Promise, interactive, spares, sessions, ports }
  #current = null; // { id, resolve, onEvent, onStdinRequest, frame, worker, lastPong, ticker, deadline }
  #pings = 0;
  #keys = 0;

  /** @param {string} baseUrl the site's base (where js-browser/ is) */
  constructor(baseUrl) {
    this.#base = baseUrl;
    addEventListener('message', (e) => this.#onFrameMessage(e));
  }

  /** `true` when a running program can ask for stdin lines one by one. */
  async interactive() {
    return (await this.#ready()).interactive;
  }

  /**
   * Runs `job` (the engine's, from `Engine.page_job`). Resolves with the bundle's reply shape:
   * `{ outcome, output?, variables? }`.
   */
  async run(id, job, { stdin = [], interactive = false, helpers = null, onEvent, onStdinRequest }) {
    const frame = await this.#ready();
    const session = job.session ?? null;
    let worker = session ? frame.sessions.get(session) : undefined;
    if (!worker) {
      worker = frame.spares.shift() ?? this.#spawn(frame);
      if (session) frame.sessions.set(session, worker);
    }
    return new Promise((resolve) => {
      const cur = { id, resolve, onEvent, onStdinRequest, frame, worker, session, lastPong: performance.now(), ticker: null, deadline: null };
      this.#current = cur;
      cur.ticker = setInterval(() => {
        if (performance.now() - cur.lastPong > DEAD_MS) {
          this.#discard();
          this.#done({ outcome: { status: 'crashed', reason: 'the JavaScript frame stopped answering (out of memory?); it was replaced' } });
          return;
        }
        frame.iframe.contentWindow?.postMessage({ type: 'ping', n: ++this.#pings }, '*');
      }, PING_MS);
      worker.ready.then((port) => {
        if (this.#current !== cur) return;
        const wall = job.limits.wall_time_ms;
        if (wall) cur.deadline = setTimeout(() => this.#stop({ status: 'limit_exceeded', limit: 'time' }), wall);
        port.postMessage({ type: 'run', job, stdin, interactive: interactive && frame.interactive, helpers });
      });
    });
  }

  /** A line for the program waiting for one (`null`: end of input). */
  provideInput(line) {
    this.#post({ type: 'stdin', line: line ?? null });
  }

  /** Ends the current run (its outcome: cancelled). */
  cancel() {
    this.#stop({ status: 'cancelled' });
  }

  /** Ends the current run by force, whatever the frame does: the frame is replaced. */
  abort(outcome) {
    if (!this.#current) return;
    this.#discard();
    this.#done({ outcome });
  }

  /** Forgets a session's state (its worker ends). */
  endSession(name) {
    const frame = this.#frame;
    const worker = frame?.sessions.get(name);
    if (!worker || this.#current?.worker === worker) return;
    frame.sessions.delete(name);
    this.#kill(frame, worker);
  }

  #post(m) {
    this.#frame?.iframe?.contentWindow?.postMessage(m, '*');
  }

  /** A new worker in `frame`: `ready` resolves with its port once the runner listens. */
  #spawn(frame) {
    const worker = { key: ++this.#keys, port: null };
    worker.ready = new Promise((resolve) => { worker.started = resolve; });
    frame.ports.set(worker.key, worker);
    frame.iframe.contentWindow.postMessage({ type: 'spawn', key: worker.key }, '*');
    return worker;
  }

  #kill(frame, worker) {
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
    while (frame.spares.length < SPARES) frame.spares.push(this.#spawn(frame));
  }

  #discard() {
    this.#frame?.iframe.remove();
    this.#frame = null;
  }

  #onWorkerMessage(worker, r) {
    const cur = this.#current;
    if (!cur || cur.worker !== worker) return;
    if (r.type === 'event') cur.onEvent?.(r.event);
    else if (r.type === 'stdin-request') cur.onStdinRequest?.();
    else if (r.type === 'done') {
      // A limit stops the guest where it is: its worker may still be running.
      const over = r.outcome.status !== 'completed' && r.outcome.status !== 'error';
      if (over || !cur.session) this.#retire(cur);
      const reply = { outcome: r.outcome };
      if (r.output !== undefined) reply.output = r.output;
      if (r.variables !== undefined) reply.variables = r.variables;
      this.#done(reply);
    }
  }

  #onFrameMessage(e) {
    const frame = this.#frame;
    if (!frame || e.source !== frame.iframe.contentWindow) return;
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
        if (ev.data?.type === 'ready') worker.started(m.port);
        else this.#onWorkerMessage(worker, ev.data);
      };
    }
  }

  async #texts() {
    this.#sources ??= Promise.all(['frame.js', 'runner.js'].map(async (f) => {
      const r = await fetch(new URL(`js-browser/${f}`, this.#base));
      if (!r.ok) throw new Error(`js-browser/${f}: HTTP ${r.status}`);
      return r.text();
    })).then(([frame, runner]) => ({ frame, runner }));
    return this.#sources;
  }

  /** The live frame, made (and its first workers started) when there is none. */
  #ready() {
    if (this.#frame) return this.#frame.ready;
    const frame = { spares: [], sessions: new Map(), ports: new Map() };
    this.#frame = frame;
    frame.ready = (async () => {
      const { frame: frameJs, runner } = await this.#texts();
      const iframe = document.createElement('iframe');
      iframe.sandbox = 'allow-scripts';
      // Shared memory for stdin when the page is cross-origin isolated.
      iframe.allow = 'cross-origin-isolated';
      iframe.style.display = 'none';
      iframe.title = 'polyrun JavaScript sandbox';
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
      this.#topUp(frame);
      return frame;
    })();
    frame.ready.catch(() => { if (this.#frame === frame) this.#frame = null; });
    return frame.ready;
  }
}
