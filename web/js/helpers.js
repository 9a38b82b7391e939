// The host side of the `polyrun` helpers in the browser worker: what polyrun-engine's
// `Helpers` answers natively (engine/src/helpers.rs), for one run. Variables come from the page
// with the run (the page keeps them: a worker can be replaced at any time) and go back with its
// result. Calls arrive as JSON text, `{"op": ...}`, from the Rust bundles (globalThis.polyrunHostCall)
// and from the WASI languages' stderr frames (wasi.js).

const MAX_VALUE_BYTES = 4 << 20;
const utf8 = new TextEncoder();

export class RunHelpers {
  /**
   * @param {{ input?: any, namespace?: string, context?: object,
   *           variables?: Record<string, { value: any, version: number }> }} options
   */
  constructor({ input = null, context = {}, variables = {} } = {}) {
    this.input = input;
    this.context = context;
    this.variables = { ...variables };
    this.changed = false;
    this.output = undefined;
  }

  /** Answers one call (JSON text) with a reply (JSON text): `{"ok": v}` or `{"error": "..."}`. */
  answer(text) {
    let reply;
    try {
      reply = { ok: this.#call(JSON.parse(text)) };
    } catch (e) {
      reply = { error: e instanceof SyntaxError ? `malformed helper call: ${e.message}` : String(e.message ?? e) };
    }
    return JSON.stringify(reply);
  }

  #name(name) {
    // Bytes of UTF-8, as natively (not UTF-16 units).
    const bytes = typeof name === 'string' ? utf8.encode(name).length : 0;
    if (bytes === 0 || bytes > 256) {
      throw new Error('a variable name must be 1 to 256 bytes long');
    }
    return name;
  }

  #size(what, value) {
    const n = utf8.encode(JSON.stringify(value ?? null)).length;
    if (n > MAX_VALUE_BYTES) throw new Error(`${what} is ${n} bytes of JSON; the limit is ${MAX_VALUE_BYTES}`);
    return value ?? null;
  }

  #call(c) {
    switch (c.op) {
      case 'input':
        return this.input;
      case 'event':
        return this.context;
      case 'output':
        this.output = this.#size('the output', c.value);
        return null;
      case 'get_variable':
        return this.variables[this.#name(c.name)]?.value ?? null;
      case 'set_variable': {
        const name = this.#name(c.name);
        const version = (this.variables[name]?.version ?? 0) + 1;
        this.variables[name] = { value: this.#size('the value', c.value), version };
        this.changed = true;
        return null;
      }
      case 'read_variable': {
        const v = this.variables[this.#name(c.name)];
        return { value: v?.value ?? null, version: v?.version ?? 0 };
      }
      case 'swap_variable': {
        const name = this.#name(c.name);
        const now = this.variables[name]?.version ?? 0;
        if (now !== c.version) return false;
        this.variables[name] = { value: this.#size('the value', c.value), version: now + 1 };
        this.changed = true;
        return true;
      }
      default:
        throw new Error(`malformed helper call: unknown op \`${c.op}\``);
    }
  }
}
