// Ruby in the browser: the same ruby.wasm and prelude as polyrun-ruby natively
// (runtimes/ruby/src/prelude.rb), on the browser's WebAssembly engine with wasi.js. What
// runtimes/ruby/src/lib.rs does with wasmtime, done here for the worker: the reactor's
// canonical-ABI calls (`ruby-init`, `rb-eval-string-protect`, `rstring-ptr`) and its value
// handles.
import { Budget, Wasi, WasiExit, WasiStop } from './wasi.js';

const ARGV = ['ruby', '--disable-gems', '-EUTF-8', '-e_=0'];
const EVAL = 'rb-eval-string-protect: func(str: string) -> tuple<handle<rb-abi-value>, s32>';
const RSTRING = 'rstring-ptr: func(value: handle<rb-abi-value>) -> string';

/** A Ruby string literal holding `s` exactly (as runtimes/ruby's `ruby_literal`). */
function literal(s) {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

export class RubyVm {
  /** Boots a VM (instance, `ruby-init`, the prelude); `io` receives its output. */
  constructor(module, prelude, io) {
    this.io = io;
    this.handles = [];
    const decoder = { out: new TextDecoder(), err: new TextDecoder() };
    this.wasi = new Wasi({
      args: ['ruby'],
      stdout: (b) => this.io.emit({ type: 'stdout', text: decoder.out.decode(b, { stream: true }) }),
      stderr: (b) => this.io.emit({ type: 'stderr', text: decoder.err.decode(b, { stream: true }) }),
      readLine: () => this.io.readLine(),
      hostCall: (request) => this.io.hostCall(request),
    });
    const abi = {
      canonical_abi: {
        'resource_new_rb-abi-value': (v) => this.handles.push(v) - 1,
        'resource_get_rb-abi-value': (h) => this.handles[h],
        'resource_drop_js-abi-value': () => {},
      },
    };
    this.instance = new WebAssembly.Instance(module, this.wasi.importsFor(module, abi));
    this.x = this.instance.exports;
    this.wasi.attach(this.instance);
    this.x._initialize();
    const list = this.x.cabi_realloc(0, 0, 4, ARGV.length * 8);
    ARGV.forEach((arg, i) => {
      const [ptr, len] = this.alloc(`${arg}\0`);
      this.view().setUint32(list + i * 8, ptr, true);
      this.view().setUint32(list + i * 8 + 4, len, true);
    });
    this.x['ruby-init: func(args: list<string>) -> ()'](list, ARGV.length);
    const [, state] = this.eval(prelude);
    if (state !== 0) throw new Error(`the Ruby prelude failed (state ${state})`);
  }

  view() {
    return new DataView(this.x.memory.buffer);
  }

  alloc(text) {
    const bytes = new TextEncoder().encode(text);
    const ptr = this.x.cabi_realloc(0, 0, 1, bytes.length + 1);
    new Uint8Array(this.x.memory.buffer).set(bytes, ptr);
    new Uint8Array(this.x.memory.buffer)[ptr + bytes.length] = 0;
    return [ptr, bytes.length];
  }

  /** Evaluates `code`: [string value or null, protect state]. */
  eval(code) {
    const [ptr, len] = this.alloc(code);
    const ret = this.x[EVAL](ptr, len);
    const handle = this.view().getInt32(ret, true);
    const state = this.view().getInt32(ret + 4, true);
    let text = null;
    if (state === 0) {
      const r = this.x[RSTRING](handle);
      const p = this.view().getUint32(r, true);
      const n = this.view().getUint32(r + 4, true);
      text = new TextDecoder().decode(new Uint8Array(this.x.memory.buffer, p, n));
      this.x['cabi_post_rstring-ptr'](r);
    }
    const value = this.handles[handle];
    delete this.handles[handle];
    if (value !== undefined) this.x['canonical_abi_drop_rb-abi-value'](value);
    return [text, state];
  }

  /** Runs a request under `budget` (its limits): the outcome (as runtimes/ruby's
   * `outcome_of`). A run that trapped (a limit among them) leaves the VM unusable (`broken`). */
  run(request, budget) {
    this.wasi.budget = budget;
    try {
      return this.#run(request);
    } finally {
      this.wasi.budget = new Budget();
    }
  }

  #run(request) {
    const file = (request.filename ?? 'main.rb').split(/[\\/]/).pop() || 'main.rb';
    let json;
    let state;
    try {
      [json, state] = this.eval(`Polyrun.run(${literal(request.code)}, ${literal(file)})`);
    } catch (e) {
      this.broken = !(e instanceof WasiExit);
      if (this.wasi.budget.tripped) return { status: 'limit_exceeded', limit: this.wasi.budget.tripped };
      if (e instanceof WasiStop) return { status: 'limit_exceeded', limit: e.limit };
      if (e instanceof WasiExit) {
        return e.code === 0 ? { status: 'completed', value: null } : exitError(e.code);
      }
      return { status: 'crashed', reason: `the Ruby VM trapped: ${e}` };
    }
    // The guest went past its memory limit without a syscall after it: the limit still wins.
    try {
      this.wasi.budget.check(this.x.memory);
    } catch (e) {
      this.broken = true;
      return { status: 'limit_exceeded', limit: e.limit };
    }
    if (state !== 0) return { status: 'error', diagnostic: diag('Exception', `the program ended abnormally (Ruby state ${state})`) };
    // The prelude's report is the engine's Outcome.
    try {
      return JSON.parse(json);
    } catch (e) {
      return { status: 'crashed', reason: `unreadable report from the Ruby prelude: ${e}` };
    }
  }
}

function diag(kind, message) {
  return { kind, message, line: null, column: null, frames: [] };
}

function exitError(code) {
  return { status: 'error', diagnostic: diag('SystemExit', `exit status ${code}`) };
}
