// polyrun's Web Worker: owns the wasm engine and runs one request at a time. The page talks to
// it through polyrun.js; a run that must be stopped by force is ended by terminating the worker.
import init, { Engine } from './pkg/polyrun_web.js';
import { runPhp } from './php.js';
import { RubyVm } from './ruby.js';

let engine = null;
let runId = 0;
let stdinLines = [];
let stdinOpen = false; // interactive stdin: more lines may come from the page
let shared = null; // { flag: Int32Array, data: Uint8Array } over a SharedArrayBuffer
let base = '';
// Languages that run as WASI modules on the browser's own engine, from the site's artifacts.json:
// { info, file, sha256, module (compiled on first use), prelude }.
let wasiLanguages = [];

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
    engine = new Engine();
    if (m.sab) {
      shared = { flag: new Int32Array(m.sab, 0, 2), data: new Uint8Array(m.sab, 8) };
    }
    const manifest = await fetch(new URL('artifacts.json', base)).then((r) => (r.ok ? r.json() : { artifacts: [] }));
    wasiLanguages = manifest.artifacts.filter((a) => ['php', 'ruby'].includes(a.info.language));
    const languages = JSON.parse(engine.languages()).concat(wasiLanguages.map((a) => a.info));
    postMessage({ type: 'ready', languages });
  } else if (m.type === 'run') {
    runId = m.id;
    stdinLines = m.stdin === undefined || m.stdin === null ? [] : splitLines(m.stdin);
    stdinOpen = Boolean(m.interactive);
    const wasi = findWasi(m.request.language);
    let reply;
    if (wasi) {
      try {
        reply = { outcome: await runWasi(wasi, m.request) };
      } catch (e) {
        reply = { error: String(e) };
      }
    } else {
      reply = JSON.parse(engine.run(JSON.stringify(m.request)));
    }
    postMessage({ type: 'done', id: m.id, ...reply });
  } else if (m.type === 'end-session') {
    engine.end_session(m.name);
    rubySessions.delete(m.name);
  }
};

function findWasi(name) {
  const n = String(name).toLowerCase();
  return wasiLanguages.find((a) => a.info.language === n || a.info.name.toLowerCase() === n
    || a.info.aliases.includes(n));
}

async function runWasi(artifact, request) {
  const emit = (event) => postMessage({ type: 'event', id: runId, event });
  if (!artifact.module) {
    emit({ type: 'progress', stage: `loading ${artifact.info.name}`, done: 0, total: artifact.size });
    artifact.module = await WebAssembly.compileStreaming(fetch(new URL(artifact.file, base)));
    artifact.prelude = await fetch(new URL(artifact.prelude_file, base)).then((r) => r.text());
  }
  const io = { emit, readLine: globalThis.polyrunReadLine };
  if (artifact.info.language === 'php') return runPhp(artifact.module, artifact.prelude, request, io);
  // Ruby: a VM per session, a fresh one for a run without a session.
  let vm = request.session ? rubySessions.get(request.session) : null;
  if (!vm) {
    vm = spareRuby ?? new RubyVm(artifact.module, artifact.prelude, io);
    spareRuby = null;
    if (request.session) rubySessions.set(request.session, vm);
  }
  vm.io = io;
  const outcome = vm.run(request);
  if (outcome.status === 'crashed' && request.session) rubySessions.delete(request.session);
  // Boot the next fresh VM now, between runs, so that the next run does not wait for it.
  setTimeout(() => {
    spareRuby ??= new RubyVm(artifact.module, artifact.prelude, { emit: () => {}, readLine: () => undefined });
  }, 0);
  return outcome;
}

const rubySessions = new Map();
let spareRuby = null;

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

function splitLines(text) {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}
