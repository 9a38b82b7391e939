// polyrun's Web Worker: owns the wasm engine and runs one request at a time. The page talks to
// it through polyrun.js; a run that must be stopped by force is ended by terminating the worker.
import init, * as bundle from './pkg/polyrun_web.js';
import { hasWasiModule, installWasiHost, registerWasiModule } from './wasi.js';

let engine = null;
let runId = 0;
let stdinLines = [];
let stdinOpen = false; // interactive stdin: more lines may come from the page
let shared = null; // { flag: Int32Array, data: Uint8Array } over a SharedArrayBuffer
let base = '';
// The WASI modules the bundle's Ruby and PHP backends run on, from the site's artifacts.json:
// { name, file, sha256, size }; compiled on the page's engine on first use.
let wasiArtifacts = [];
// Languages in a second polyrun-web bundle (Python), loaded on their first run:
// { info, js, wasm, size, engine (once loaded) }.
let lazyModules = [];
globalThis.polyrunEmit = (json) => {
  postMessage({ type: 'event', id: runId, event: JSON.parse(json) });
};

/** The next stdin line: buffered lines first, then (when interactive) one asked of the page. */
globalThis.polyrunReadLine = () => {
  if (stdinLines.length > 0) return stdinLines.shift();
  if (!stdinOpen) return undefined;
  if (shared === null) return readThroughServiceWorker();
  // flag: 0 = waiting, 1 = a line is in data, 2 = end of input.
  Atomics.store(shared.flag, 0, 0);
  postMessage({ type: 'stdin-request', id: runId });
  Atomics.wait(shared.flag, 0, 0);
  if (Atomics.load(shared.flag, 0) === 2) {
    stdinOpen = false;
    return undefined;
  }
  const len = Atomics.load(shared.flag, 1);
  // TextDecoder refuses views of shared memory: copy first.
  return new TextDecoder().decode(shared.data.slice(0, len));
};

onmessage = async (e) => {
  const m = e.data;
  if (m.type === 'init') {
    base = m.baseUrl;
    await init({ module_or_path: new URL('pkg/polyrun_web_bg.wasm', base) });
    installWasiHost(bundle);
    engine = new bundle.Engine();
    if (m.sab) {
      shared = { flag: new Int32Array(m.sab, 0, 2), data: new Uint8Array(m.sab, 8) };
    }
    const manifest = await fetch(new URL('artifacts.json', base)).then((r) => (r.ok ? r.json() : { artifacts: [] }));
    wasiArtifacts = manifest.artifacts ?? [];
    lazyModules = manifest.modules ?? [];
    const main = JSON.parse(engine.languages());
    // A language the main bundle has a default for (Python: Pyodide) keeps it; the lazy
    // bundle's backend (RustPython) is then one to choose.
    const lazy = lazyModules.map((l) => ({ ...l.info, default: !main.some((m) => m.language === l.info.language && m.default) }));
    const languages = main.concat(lazy);
    postMessage({ type: 'ready', languages, defaults: JSON.parse(engine.default_limits()) });
  } else if (m.type === 'run') {
    runId = m.id;
    stdinLines = m.stdin ?? [];
    stdinOpen = Boolean(m.interactive);
    const request = JSON.stringify(m.request);
    // A backend on the page's own engines (JavaScript's `browser`, Python's `pyodide`): the page
    // runs it (unless it reads interactive stdin and only this worker can wait for a line:
    // Engine.page_job).
    const job = engine.page_job(request, !stdinOpen || shared !== null);
    if (job) {
      postMessage({ type: 'page-run', id: m.id, job: JSON.parse(job) });
      return;
    }
    const helpers = JSON.stringify(m.helpers ?? null);
    // Python's bundle answers for the languages it holds; the main bundle for the rest.
    const lazy = find(lazyModules, m.request.language);
    let reply;
    if (lazy) {
      try {
        const lazyEngine = await loadModule(lazy);
        reply = JSON.parse(lazyEngine.run(request, helpers));
      } catch (e) {
        reply = trapped(lazy.info.name, e);
      }
    } else {
      // The WASI module a Ruby or PHP run needs, fetched and compiled on its first use.
      const wasi = engine.wasi_module(request);
      try {
        if (wasi && !hasWasiModule(wasi)) await loadWasiModule(wasi);
      } catch (e) {
        reply = { error: { kind: 'load', message: `loading ${wasi}: ${e}`, language: m.request.language } };
      }
      try {
        reply ??= JSON.parse(engine.run(request, helpers));
      } catch (e) {
        reply = trapped(m.request.language, e);
      }
    }
    postMessage({ type: 'done', id: m.id, ...reply });
    // Fresh state for the next run, now that this one's result is out.
    if (!reply.fatal) {
      setTimeout(() => {
        engine.settle();
        for (const l of lazyModules) l.engine?.settle();
      }, 0);
    }
  } else if (m.type === 'end-session') {
    engine.end_session(m.name);
    for (const l of lazyModules) l.engine?.end_session(m.name);
  }
};

/**
 * A module that trapped (a Rust panic or abort, a WebAssembly trap) cannot be trusted again: the
 * run crashed, and the page replaces this worker (`fatal`) before the next run.
 */
function trapped(name, e) {
  return { outcome: { status: 'crashed', reason: `the ${name} module stopped (${e}); the worker was restarted` }, fatal: true };
}

/** The entry of `list` whose language is `name` (id, name or alias). */
function find(list, name) {
  const n = String(name).toLowerCase();
  return list.find((a) => a.info.language === n || a.info.name.toLowerCase() === n
    || a.info.aliases.includes(n));
}

/** Loads (once) a second polyrun-web bundle and returns its engine. */
async function loadModule(lazy) {
  if (!lazy.engine) {
    const emit = (event) => postMessage({ type: 'event', id: runId, event });
    const stage = `loading ${lazy.info.name}`;
    emit({ type: 'progress', stage, done: 0, total: lazy.size });
    const glue = await import(new URL(lazy.js, base).href);
    await glue.default({ module_or_path: new URL(lazy.wasm, base) });
    lazy.engine = new glue.Engine();
    emit({ type: 'progress', stage, done: lazy.size, total: lazy.size });
  }
  return lazy.engine;
}

/** Fetches and compiles the WASI module `name` (ruby.wasm, php.wasm) for the bundle. */
async function loadWasiModule(name) {
  const artifact = wasiArtifacts.find((a) => a.name === name);
  if (!artifact) throw new Error(`this site has no ${name} module (artifacts.json)`);
  const emit = (event) => postMessage({ type: 'event', id: runId, event });
  const stage = `loading ${artifact.info?.name ?? name}`;
  emit({ type: 'progress', stage, done: 0, total: artifact.size });
  registerWasiModule(name, await WebAssembly.compileStreaming(fetch(new URL(artifact.file, base))));
  emit({ type: 'progress', stage, done: artifact.size, total: artifact.size });
}

/** Interactive stdin without shared memory: a synchronous request the service worker holds. */
let stdinRequests = 0;
function readThroughServiceWorker() {
  const id = `${runId}-${++stdinRequests}`;
  postMessage({ type: 'stdin-request', id: runId, key: id });
  const xhr = new XMLHttpRequest();
  xhr.open('GET', new URL(`polyrun-stdin?id=${encodeURIComponent(id)}`, base), false);
  xhr.send();
  const { line } = JSON.parse(xhr.responseText);
  if (line === null) stdinOpen = false;
  return line ?? undefined;
}
