// polyrun's Web Worker: owns the wasm engine and runs one request at a time. The page talks to
// it through polyrun.js; a run that must be stopped by force is ended by terminating the worker.
import init, { Engine } from './pkg/polyrun_web.js';
import { runPhp } from './php.js';
import { RubyVm } from './ruby.js';
import { RunHelpers } from './helpers.js';
import { Budget, WasiStop } from './wasi.js';

let engine = null;
let runId = 0;
let stdinLines = [];
let stdinOpen = false; // interactive stdin: more lines may come from the page
let shared = null; // { flag: Int32Array, data: Uint8Array } over a SharedArrayBuffer
let base = '';
// Languages that run as WASI modules on the browser's own engine, from the site's artifacts.json:
// { info, file, sha256, module (compiled on first use), prelude }.
let wasiLanguages = [];
// Languages in a second polyrun-web bundle (Python), loaded on their first run:
// { info, js, wasm, size, engine (once loaded) }.
let lazyModules = [];
// The engine's default limits: what a request's missing limits are.
let defaults = {};

// The `polyrun` helpers of the current run (input, output, variables, event).
let helpers = new RunHelpers();
globalThis.polyrunHostCall = (json) => helpers.answer(json);

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
    lazyModules = manifest.modules ?? [];
    const languages = JSON.parse(engine.languages())
      .concat(lazyModules.map((l) => l.info), wasiLanguages.map((a) => a.info));
    defaults = JSON.parse(engine.default_limits());
    postMessage({ type: 'ready', languages, defaults });
  } else if (m.type === 'run') {
    runId = m.id;
    stdinLines = m.stdin === undefined || m.stdin === null ? [] : splitLines(m.stdin);
    stdinOpen = Boolean(m.interactive);
    helpers = new RunHelpers(m.helpers ?? {});
    const wasi = find(wasiLanguages, m.request.language);
    const lazy = find(lazyModules, m.request.language);
    const other = wasi ?? lazy;
    let reply;
    if (other && m.request.backend && m.request.backend.toLowerCase() !== other.info.backend) {
      // The engine's error, as the main bundle's registry would write it.
      const { language, backend } = other.info;
      reply = { error: { kind: 'unknown_backend', message: `${language} has no backend \`${m.request.backend}\` (available: ${backend})`, language, name: m.request.backend, available: [backend] } };
    } else if (lazy) {
      try {
        const lazyEngine = await loadModule(lazy);
        reply = JSON.parse(lazyEngine.run(JSON.stringify(m.request)));
      } catch (e) {
        reply = trapped(lazy.info.name, e);
      }
    } else if (wasi) {
      try {
        reply = { outcome: withNulls(await runWasi(wasi, m.request)) };
      } catch (e) {
        reply = e instanceof WebAssembly.RuntimeError ? trapped(wasi.info.name, e) : { error: String(e) };
      }
    } else {
      try {
        reply = JSON.parse(engine.run(JSON.stringify(m.request)));
      } catch (e) {
        reply = trapped(m.request.language, e);
      }
    }
    const result = { output: helpers.output, variables: helpers.changed ? helpers.variables : undefined };
    postMessage({ type: 'done', id: m.id, ...reply, ...result });
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
    rubySessions.delete(m.name);
  }
};

/**
 * A module that trapped (a Rust panic or abort, a WebAssembly trap) cannot be trusted again: the
 * run crashed, and the page replaces this worker (`fatal`) before the next run.
 */
function trapped(name, e) {
  return { outcome: { status: 'crashed', reason: `the ${name} module stopped (${e}); the worker was restarted` }, fatal: true };
}

/** An outcome reported by a prelude, with the fields serde leaves out as `null`, as the Rust
 * engine writes them. */
function withNulls(o) {
  if (o.status !== 'error') return o;
  const frame = (f) => ({ function: f.function ?? null, line: f.line ?? null, column: f.column ?? null });
  const d = o.diagnostic;
  return { ...o, diagnostic: { ...d, line: d.line ?? null, column: d.column ?? null, frames: (d.frames ?? []).map(frame) } };
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

async function runWasi(artifact, request) {
  const emit = (event) => postMessage({ type: 'event', id: runId, event });
  if (!artifact.module) {
    emit({ type: 'progress', stage: `loading ${artifact.info.name}`, done: 0, total: artifact.size });
    artifact.module = await WebAssembly.compileStreaming(fetch(new URL(artifact.file, base)));
    artifact.prelude = await fetch(new URL(artifact.prelude_file, base)).then((r) => r.text());
  }
  // The run's limits (the engine's defaults for what it leaves out), enforced on every syscall:
  // output cut and stopped at the limit, linear memory past it stops the guest.
  const limits = { ...defaults, ...request.limits };
  const php = artifact.info.language === 'php';
  const budget = new Budget({
    output_bytes: limits.output_bytes,
    memory_bytes: php || limits.memory_bytes === null ? null : limits.memory_bytes,
  });
  const out = (event) => {
    if (event.type !== 'stdout' && event.type !== 'stderr') return emit(event);
    const text = budget.charge(event.text);
    if (text) emit({ ...event, text });
    if (budget.tripped) throw new WasiStop(budget.tripped);
  };
  const io = { emit: out, readLine: globalThis.polyrunReadLine, hostCall: globalThis.polyrunHostCall, budget };
  if (php) return runPhp(artifact.module, artifact.prelude, { ...request, limits }, io);
  // Ruby: a VM per session, a fresh one for a run without a session.
  let vm = request.session ? rubySessions.get(request.session) : null;
  if (!vm) {
    vm = spareRuby ?? new RubyVm(artifact.module, artifact.prelude, io);
    spareRuby = null;
    if (request.session) rubySessions.set(request.session, vm);
  }
  vm.io = io;
  const outcome = vm.run(request, budget);
  if (vm.broken && request.session) rubySessions.delete(request.session);
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
