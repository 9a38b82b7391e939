// What the runners of the backends on the page's own engines share (JavaScript's runner.js and
// Python's Pyodide runner): a run's output to the page (its limit, its batching, display
// events), its stdin lines, and the
// answers of the `polyrun` helpers over the variables the page sent. scripts/web puts this
// file first in each runner's source. Everything here is frozen before any guest code runs:
// a guest can call it (as it can call its own helpers) but not replace it.
'use strict';
const polyrunPage = (() => {
  /**
   * A run's first writes go to the page one by one, as they happen; past this many, writes are
   * gathered for up to BATCH_MS or BATCH_BYTES (each message to the page costs tens of µs).
   */
  const EAGER_WRITES = 1000;
  const BATCH_MS = 5;
  const BATCH_BYTES = 16 * 1024;
  const encoder = new TextEncoder();
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const NativeError = Error;
  // Captured: a JavaScript runner guards the worker's own globals (realm.js) once it is set up.
  const perf = performance;
  const now = () => perf.now();
  const NativeTextDecoder = TextDecoder;
  const { store, wait, load } = Atomics;

  /**
   * The output of one run: `write` counts bytes against the run's limit (cutting the write that
   * crosses it at a character boundary) and sends `{ type: 'event', event }` messages on `port`.
   */
  class Output {
    #port;
    #limit;
    #used = 0;
    #pending = [];
    #pendingBytes = 0;
    #writes = 0;
    #flushed = now();
    #decoders = {};

    /** @param {MessagePort} port @param {number|null|undefined} limit bytes (none: no limit) */
    constructor(port, limit) {
      this.#port = port;
      this.#limit = limit ?? null;
    }

    /**
     * Writes `data` (a string, or UTF-8 bytes: a stream's bytes may split a character) to
     * `stream` (`stdout`/`stderr`). Returns `false` when it crossed the limit (what fits went).
     */
    write(stream, data) {
      let bytes = typeof data === 'string' ? encoder.encode(data) : data;
      let over = false;
      if (this.#limit !== null && this.#used + bytes.length > this.#limit) {
        let cut = Math.max(0, this.#limit - this.#used);
        while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--;
        bytes = bytes.subarray(0, cut);
        over = true;
      }
      this.#used += bytes.length;
      this.#decoders[stream] ??= new NativeTextDecoder();
      const text = this.#decoders[stream].decode(bytes, { stream: !over });
      if (text !== '') {
        const last = this.#pending[this.#pending.length - 1];
        if (last && last.type === stream) last.text += text;
        else this.#pending.push({ type: stream, text });
        this.#pendingBytes += bytes.length;
        this.#writes++;
      }
      // A program busy after it has printed is still seen: no write waits unless many came.
      if (over || this.#writes <= EAGER_WRITES || this.#pendingBytes >= BATCH_BYTES
        || now() - this.#flushed >= BATCH_MS) this.flush();
      return !over;
    }

    /**
     * Sends a rich display event (`bundle`: MIME type → text), counted against the limit as
     * the engine counts it (the bytes of its values). Returns `false` when it did not fit.
     */
    display(bundle) {
      let n = 0;
      for (const v of Object.values(bundle)) n += encoder.encode(String(v)).length;
      this.flush();
      if (this.#limit !== null && this.#used + n > this.#limit) {
        this.#used = this.#limit;
        return false;
      }
      this.#used += n;
      this.#port.postMessage({ type: 'event', event: { type: 'display', bundle } });
      return true;
    }

    /** Sends what is pending. */
    flush() {
      if (this.#pending.length === 0) return;
      for (const event of this.#pending) this.#port.postMessage({ type: 'event', event });
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#flushed = now();
    }
  }
  Object.freeze(Output.prototype);
  Object.freeze(Output);

  // ---- the polyrun helpers: the engine's `Helpers` answers, over the page's variables ----
  function checkName(name) {
    const n = encoder.encode(name).length;
    if (n === 0 || n > 256) throw new NativeError('a variable name must be 1 to 256 bytes long');
  }
  const jsonBytes = (value) => encoder.encode(stringify(value) ?? 'null').length;
  /** The bytes of JSON of `value`, refused past the value limit. */
  function checkSize(run, what, value) {
    const n = jsonBytes(value);
    const max = run.job.max_value_bytes;
    if (n > max) throw new NativeError(`${what} is ${n} bytes of JSON; the limit is ${max}`);
    return n;
  }
  /** Each variable's bytes of JSON (measured once per run, then kept up to date). */
  function sizes(run) {
    if (!run.sizes) {
      run.sizes = new Map();
      run.totalBytes = 0;
      for (const [name, v] of Object.entries(run.variables)) {
        const n = jsonBytes(v.value);
        run.sizes.set(name, n);
        run.totalBytes += n;
      }
    }
    return run.sizes;
  }
  /**
   * Refuses a write of `bytes` to `name` that would take the namespace past its quota (the
   * engine's `Quota`, sent with the job; the engine's messages).
   */
  function checkQuota(run, name, bytes) {
    const quota = run.job.quota;
    if (!quota) return;
    const own = sizes(run).get(name);
    const count = run.sizes.size - (own === undefined ? 0 : 1);
    const total = run.totalBytes - (own ?? 0) + bytes;
    const ns = run.job.namespace;
    if (count + 1 > quota.variables) throw new NativeError(`the namespace \`${ns}\` holds ${count} other variables; the limit is ${quota.variables}`);
    if (total > quota.bytes) throw new NativeError(`the namespace \`${ns}\` would hold ${total} bytes of JSON; the limit is ${quota.bytes}`);
  }
  function setVariable(run, name, value, bytes) {
    const vars = run.variables;
    vars[name] = { value, version: (vars[name]?.version ?? 0) + 1 };
    run.changed = true;
    const s = sizes(run);
    run.totalBytes += bytes - (s.get(name) ?? 0);
    s.set(name, bytes);
  }

  /**
   * Answers one helper call (`{ op, ... }`, the engine's HostCall) for `run`, which holds
   * `job` (its `max_value_bytes`, `quota`, `namespace`), `helpers` (`input`, `context`), `variables` and the
   * `changed`/`output` it reports. Throws an Error with the engine's message on a refusal.
   */
  function answer(run, call) {
    const vars = run.variables;
    switch (call.op) {
      case 'input': return run.helpers.input ?? null;
      case 'event': return run.helpers.context ?? null;
      case 'output': checkSize(run, 'the output', call.value); run.output = call.value; return null;
      case 'get_variable': checkName(call.name); return vars[call.name]?.value ?? null;
      case 'set_variable': {
        checkName(call.name);
        const bytes = checkSize(run, 'the value', call.value);
        checkQuota(run, call.name, bytes);
        setVariable(run, call.name, call.value, bytes);
        return null;
      }
      case 'read_variable': checkName(call.name); return { value: vars[call.name]?.value ?? null, version: vars[call.name]?.version ?? 0 };
      case 'swap_variable': {
        checkName(call.name);
        const bytes = checkSize(run, 'the value', call.value);
        checkQuota(run, call.name, bytes);
        if ((vars[call.name]?.version ?? 0) !== call.version) return false;
        setVariable(run, call.name, call.value, bytes);
        return true;
      }
      default: throw new NativeError(`malformed helper call: unknown op ${stringify(call.op)}`);
    }
  }

  /** The host function of the helpers' preludes: request JSON in, `{ok}`/`{error}` JSON out. */
  function host(run, request) {
    try {
      return stringify({ ok: answer(run, parse(request)) });
    } catch (e) {
      return stringify({ error: e.message });
    }
  }

  /**
   * The state of a run from the page's `run` message (`{ job, stdin, interactive, helpers }`):
   * its stdin lines, its helpers' input, context and variables (what it changes goes back with
   * its result), and its Output on `port`. A runner adds its own fields.
   */
  function newRun(m, port) {
    return {
      job: m.job,
      lines: m.stdin ?? [],
      interactive: Boolean(m.interactive),
      helpers: m.helpers ?? {},
      variables: { ...(m.helpers?.variables ?? {}) },
      changed: false,
      output: undefined,
      out: new Output(port, m.job.limits.output_bytes),
      ended: false,
    };
  }

  const decoder = new NativeTextDecoder();

  /** The views of the frame's stdin SharedArrayBuffer (frame.js's layout), or `null`. */
  function stdinViews(sab) {
    return sab ? { flag: new Int32Array(sab, 0, 2), data: new Uint8Array(sab, 8) } : null;
  }

  /**
   * The run's next stdin line (without its end of line), or `null` at the end of input: the
   * lines the page sent first, then, when the run is interactive and `shared` (stdinViews) is
   * there, one asked of the page (`stdin-request` on `port`), waited for with `Atomics.wait`.
   */
  function readLine(run, shared, port) {
    if (run.lines.length > 0) return run.lines.shift();
    if (!run.interactive || !shared) return null;
    run.out.flush();
    // flag: 0 = waiting, 1 = a line is in data, 2 = end of input (as the bundle's worker).
    const { flag, data } = shared;
    store(flag, 0, 0);
    port.postMessage({ type: 'stdin-request' });
    wait(flag, 0, 0);
    if (load(flag, 0) === 2) {
      run.interactive = false;
      return null;
    }
    // TextDecoder refuses views of shared memory: a copy.
    return decoder.decode(data.slice(0, load(flag, 1)));
  }

  return Object.freeze({ Output, host, newRun, stdinViews, readLine });
})();
