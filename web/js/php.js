// PHP in the browser: the same php.wasm and the same prelude as polyrun-php natively
// (runtimes/php/src/prelude.php), run as a WASI command on the browser's WebAssembly engine with
// wasi.js. What runtimes/php/src/lib.rs does in Rust, done here for the worker.
import { Wasi, WasiStop } from './wasi.js';

/** Linear memory allowed above PHP's `memory_limit` (as runtimes/php's MEMORY_HEADROOM). */
export const MEMORY_HEADROOM = 32 << 20;

/** How the prelude evals the code: as runtimes/php's `source()`. */
export function source(code) {
  let c = code.startsWith('\ufeff') ? code.slice(1) : code;
  let lead = '';
  if (c.startsWith('#!')) {
    const nl = c.indexOf('\n');
    [lead, c] = nl < 0 ? ['', ''] : ['\n', c.slice(nl + 1)];
  }
  if (c.slice(0, 5).toLowerCase() === '<?php' && (c.length === 5 || /\s/.test(c[5]))) {
    return { code: lead + c.slice(5), mode: 'code' };
  }
  const template = c.trimStart().startsWith('<') || c.includes('<?php');
  return { code: lead + c, mode: template ? 'template' : 'code' };
}

/** The outcome, as runtimes/php's `outcome_of()`: the prelude's report is the engine's Outcome. */
export function outcomeOf(status, report) {
  if (report?.status === 'completed' && status !== 0) {
    return { status: 'error', diagnostic: { kind: 'SystemExit', message: `exit status ${status}`, line: null, column: null, frames: [] } };
  }
  if (report) return report;
  if (status === 0) return { status: 'completed', value: null };
  return {
    status: 'error',
    diagnostic: { kind: 'Fatal error', message: `PHP stopped (exit status ${status}) before it could report why`, line: null, column: null, frames: [] },
  };
}

/**
 * Runs one request on `module` (a compiled php.wasm).
 * @param {WebAssembly.Module} module php.wasm, compiled
 * @param {string} prelude the text of prelude.php
 * @param {{ code: string, filename?: string, limits: { memory_bytes?: number } }} request
 * @param {{ emit: (event: object) => void, readLine: () => (string|undefined),
 *           hostCall: (request: string) => string }} io
 */
export function runPhp(module, prelude, request, io) {
  const { code, mode } = source(request.code);
  const nonce = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');
  const memory = request.limits?.memory_bytes;
  const file = (request.filename ?? 'main.php').split(/[\\/]/).pop() || 'main.php';
  const args = ['php', '-n'];
  for (const s of ['display_errors=0', 'log_errors=0', 'html_errors=0', 'error_reporting=-1',
    'max_execution_time=0', `memory_limit=${memory ?? -1}`]) {
    args.push('-d', s);
  }
  args.push('-r', prelude, '--', nonce, file, mode, code);

  // The report line is taken out of stderr: "\x01polyrun:NONCE:{json}\n".
  const marker = `\x01polyrun:${nonce}:`;
  const decoder = { out: new TextDecoder(), err: new TextDecoder() };
  let errText = '';
  let report = null;
  const stderr = (bytes) => {
    errText += decoder.err.decode(bytes, { stream: true });
    for (;;) {
      const at = errText.indexOf(marker);
      if (at < 0 || report !== null) break;
      const nl = errText.indexOf('\n', at);
      if (nl < 0) break; // the rest of the line is still to come
      if (at > 0) io.emit({ type: 'stderr', text: errText.slice(0, at) });
      try { report = JSON.parse(errText.slice(at + marker.length, nl)); } catch (e) { report = { status: 'crashed', reason: `unreadable report from the PHP prelude: ${e}` }; }
      errText = errText.slice(nl + 1);
    }
    const keep = report === null ? errText.lastIndexOf('\x01') : -1;
    const flush = keep >= 0 ? errText.slice(0, keep) : errText;
    if (flush) io.emit({ type: 'stderr', text: flush });
    errText = keep >= 0 ? errText.slice(keep) : '';
  };
  const wasi = new Wasi({
    args,
    stdout: (bytes) => io.emit({ type: 'stdout', text: decoder.out.decode(bytes, { stream: true }) }),
    stderr,
    readLine: io.readLine,
    hostCall: io.hostCall,
    budget: io.budget,
  });
  // PHP's memory_limit bounds its heap; linear memory past the limit plus MEMORY_HEADROOM stops
  // the guest at its next syscall (the budget), as wasmtime's limiter does natively at the grow.
  if (memory !== undefined && memory !== null) io.budget.memory = memory + MEMORY_HEADROOM;
  const instance = new WebAssembly.Instance(module, wasi.imports());
  let status;
  try {
    status = wasi.start(instance);
  } catch (e) {
    if (!(e instanceof WasiStop) && !io.budget.tripped) return { status: 'crashed', reason: `the PHP VM trapped: ${e}` };
  }
  if (io.budget.tripped) return { status: 'limit_exceeded', limit: io.budget.tripped };
  try {
    if (errText) io.emit({ type: 'stderr', text: errText });
  } catch (e) {
    if (e instanceof WasiStop) return { status: 'limit_exceeded', limit: e.limit };
    throw e;
  }
  return outcomeOf(status, report);
}
