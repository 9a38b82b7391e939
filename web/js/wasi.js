// A small WASI preview 1 host for the WebAssembly languages run in polyrun's worker (PHP, Ruby):
// argv,
// stdout/stderr to callbacks, stdin a line at a time, clocks, randomness, and nothing of a
// file system, sockets or processes (every path is "not capable", as natively).

const ERRNO = { SUCCESS: 0, BADF: 8, INVAL: 28, NOSYS: 52, SPIPE: 70, NOTCAPABLE: 76 };

/** Thrown out of a syscall when the run must stop (a limit): the guest traps, as natively. */
export class WasiStop extends Error {
  constructor(limit) {
    super(`polyrun: ${limit} limit exceeded`);
    this.limit = limit;
  }
}

/**
 * A run's limits on a WASI guest, checked on every syscall: output (bytes of UTF-8, cut at a
 * character boundary, as the engine's RunIo) and linear memory (past `memoryBytes`, the next
 * syscall traps). Once tripped, every later syscall traps too.
 */
export class Budget {
  constructor({ output_bytes: output = null, memory_bytes: memory = null } = {}) {
    this.output = output;
    this.memory = memory;
    this.used = 0;
    this.tripped = null;
  }

  /** Throws once a limit tripped, or when `memory` has grown past the limit. */
  check(memory) {
    if (!this.tripped && this.memory !== null && memory && memory.buffer.byteLength > this.memory) {
      this.tripped = 'memory';
    }
    if (this.tripped) throw new WasiStop(this.tripped);
  }

  /** The part of `text` that fits; trips the output limit when not all of it does. */
  charge(text) {
    if (this.output === null || this.tripped) return this.tripped ? '' : text;
    const bytes = new TextEncoder().encode(text);
    const room = Math.max(0, this.output - this.used);
    this.used += bytes.length;
    if (bytes.length <= room) return text;
    this.tripped = 'output';
    let cut = room;
    while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--;
    return new TextDecoder().decode(bytes.subarray(0, cut));
  }
}

/** Thrown by proc_exit to leave the guest. */
export class WasiExit extends Error {
  constructor(code) {
    super(`exit ${code}`);
    this.code = code;
  }
}

/** What starts a helper call on stderr (as runtimes/wasi's CALL_MARKER): the call is the rest
 * of the line, and its answer is what the guest reads next from stdin (docs/helpers.md). */
const CALL_MARKER = new TextEncoder().encode('\x02polyrun-call:');

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOf(hay, needle, from = 0) {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The longest helper call kept (as runtimes/wasi's MAX_CALL_BYTES); a longer one is refused. */
const MAX_CALL_BYTES = 2 * (4 << 20) + 4096;

/** Takes helper calls out of stderr bytes, answers them with `answer(request text)`; each byte
 * is looked at once, however the guest cuts its writes (as runtimes/wasi's `Calls`). */
export class CallFrames {
  constructor(answer) {
    this.answer = answer;
    this.held = new Uint8Array(0); // what may be the start of a marker
    this.open = false;
    this.parts = []; // the call being written
    this.size = 0;
    this.replies = new Uint8Array(0);
  }

  /** The bytes of `bytes` that are not calls (some may be held back until the next write). */
  filter(bytes) {
    let rest = bytes;
    let pass = new Uint8Array(0);
    for (;;) {
      if (this.open) {
        const nl = rest.indexOf(10);
        const part = nl < 0 ? rest : rest.subarray(0, nl);
        this.size += part.length;
        if (this.size <= MAX_CALL_BYTES) this.parts.push(part.slice());
        else this.parts = [];
        if (nl < 0) return pass;
        let reply;
        if (this.size > MAX_CALL_BYTES) {
          reply = JSON.stringify({ error: `the helper call is longer than ${MAX_CALL_BYTES} bytes` });
        } else {
          const whole = new Uint8Array(this.size);
          let at = 0;
          for (const p of this.parts) { whole.set(p, at); at += p.length; }
          reply = this.answer(new TextDecoder().decode(whole));
        }
        this.replies = concat(this.replies, new TextEncoder().encode(`${reply}\n`));
        this.open = false;
        this.parts = [];
        this.size = 0;
        rest = rest.subarray(nl + 1);
        continue;
      }
      const data = concat(this.held, rest);
      const at = indexOf(data, CALL_MARKER);
      if (at >= 0) {
        pass = concat(pass, data.subarray(0, at));
        this.held = new Uint8Array(0);
        rest = data.subarray(at + CALL_MARKER.length);
        this.open = true;
        continue;
      }
      // Hold back a tail that may be the start of a marker cut by the write.
      let keep = Math.min(CALL_MARKER.length - 1, data.length);
      while (keep > 0 && indexOf(data.subarray(data.length - keep), CALL_MARKER.subarray(0, keep)) !== 0) keep--;
      pass = concat(pass, data.subarray(0, data.length - keep));
      this.held = data.slice(data.length - keep);
      return pass;
    }
  }
}

export class Wasi {
  /**
   * @param {{ args: string[], stdout: (bytes: Uint8Array) => void,
   *           stderr: (bytes: Uint8Array) => void, readLine: () => (string | undefined),
   *           hostCall?: (request: string) => string }} io
   */
  constructor({ args, stdout, stderr, readLine, hostCall, budget }) {
    // The run's limits; replaced per run for a reactor that serves several (Ruby).
    this.budget = budget ?? new Budget();
    this.args = args.map((a) => new TextEncoder().encode(`${a}\0`));
    this.calls = new CallFrames(hostCall ?? (() => '{"error":"the polyrun helpers are not available in this run"}'));
    this.out = {
      1: stdout,
      2: (bytes) => {
        const pass = this.calls.filter(bytes);
        if (pass.length > 0) stderr(pass);
      },
    };
    this.readLine = readLine;
    this.pending = new Uint8Array(0);
    this.stdinDone = false;
    this.memory = null;
  }

  /** Uses `instance`'s memory (for reactors, before calling their exports). */
  attach(instance) {
    this.memory = instance.exports.memory;
  }

  /** Runs the command's `_start`; returns its exit status. */
  start(instance) {
    this.attach(instance);
    try {
      instance.exports._start();
      return 0;
    } catch (e) {
      if (e instanceof WasiExit) return e.code;
      throw e;
    }
  }

  view() {
    return new DataView(this.memory.buffer);
  }

  bytes() {
    return new Uint8Array(this.memory.buffer);
  }

  /** The `wasi_snapshot_preview1` import object: every call checks the run's budget first. */
  imports() {
    const w = this.#syscalls();
    for (const [name, f] of Object.entries(w)) {
      w[name] = (...args) => {
        this.budget.check(this.memory);
        return f(...args);
      };
    }
    return { wasi_snapshot_preview1: w };
  }

  #syscalls() {
    const nosys = () => ERRNO.NOSYS;
    const notcapable = () => ERRNO.NOTCAPABLE;
    const w = {
      args_sizes_get: (argc, size) => {
        this.view().setUint32(argc, this.args.length, true);
        this.view().setUint32(size, this.args.reduce((n, a) => n + a.length, 0), true);
        return ERRNO.SUCCESS;
      },
      args_get: (argv, buf) => {
        let p = buf;
        this.args.forEach((a, i) => {
          this.view().setUint32(argv + i * 4, p, true);
          this.bytes().set(a, p);
          p += a.length;
        });
        return ERRNO.SUCCESS;
      },
      environ_sizes_get: (count, size) => {
        this.view().setUint32(count, 0, true);
        this.view().setUint32(size, 0, true);
        return ERRNO.SUCCESS;
      },
      environ_get: () => ERRNO.SUCCESS,
      clock_time_get: (id, _precision, out) => {
        const ns = id === 0
          ? BigInt(Date.now()) * 1000000n
          : BigInt(Math.round(performance.now() * 1e6));
        this.view().setBigUint64(out, ns, true);
        return ERRNO.SUCCESS;
      },
      random_get: (buf, len) => {
        for (let off = 0; off < len; off += 65536) {
          crypto.getRandomValues(this.bytes().subarray(buf + off, buf + Math.min(len, off + 65536)));
        }
        return ERRNO.SUCCESS;
      },
      fd_write: (fd, iovs, n, written) => {
        const sink = this.out[fd];
        if (!sink) return ERRNO.BADF;
        let total = 0;
        for (let i = 0; i < n; i++) {
          const ptr = this.view().getUint32(iovs + i * 8, true);
          const len = this.view().getUint32(iovs + i * 8 + 4, true);
          if (len > 0) sink(this.bytes().slice(ptr, ptr + len));
          total += len;
        }
        this.view().setUint32(written, total, true);
        return ERRNO.SUCCESS;
      },
      fd_read: (fd, iovs, n, read) => {
        if (fd !== 0) return ERRNO.BADF;
        if (this.calls.replies.length > 0) {
          // A helper's answer comes before any input.
          let total = 0;
          for (let i = 0; i < n && this.calls.replies.length > 0; i++) {
            const ptr = this.view().getUint32(iovs + i * 8, true);
            const len = this.view().getUint32(iovs + i * 8 + 4, true);
            const take = Math.min(len, this.calls.replies.length);
            this.bytes().set(this.calls.replies.subarray(0, take), ptr);
            this.calls.replies = this.calls.replies.slice(take);
            total += take;
          }
          this.view().setUint32(read, total, true);
          return ERRNO.SUCCESS;
        }
        if (this.pending.length === 0 && !this.stdinDone) {
          const line = this.readLine();
          if (line === undefined || line === null) this.stdinDone = true;
          else this.pending = new TextEncoder().encode(`${line}\n`);
        }
        let total = 0;
        for (let i = 0; i < n && this.pending.length > 0; i++) {
          const ptr = this.view().getUint32(iovs + i * 8, true);
          const len = this.view().getUint32(iovs + i * 8 + 4, true);
          const take = Math.min(len, this.pending.length);
          this.bytes().set(this.pending.subarray(0, take), ptr);
          this.pending = this.pending.subarray(take);
          total += take;
        }
        this.view().setUint32(read, total, true);
        return ERRNO.SUCCESS;
      },
      fd_fdstat_get: (fd, out) => {
        if (fd > 2) return ERRNO.BADF;
        const v = this.view();
        v.setUint8(out, 2); // character device
        v.setUint16(out + 2, 0, true);
        v.setBigUint64(out + 8, 0xffffffffn, true);
        v.setBigUint64(out + 16, 0xffffffffn, true);
        return ERRNO.SUCCESS;
      },
      fd_fdstat_set_flags: () => ERRNO.SUCCESS,
      fd_filestat_get: (fd, out) => {
        if (fd > 2) return ERRNO.BADF;
        this.bytes().fill(0, out, out + 64);
        this.view().setUint8(out + 16, 2);
        return ERRNO.SUCCESS;
      },
      fd_prestat_get: () => ERRNO.BADF, // no preopened directory
      fd_prestat_dir_name: () => ERRNO.BADF,
      fd_close: (fd) => (fd <= 2 ? ERRNO.SUCCESS : ERRNO.BADF),
      fd_seek: () => ERRNO.SPIPE,
      fd_tell: () => ERRNO.SPIPE,
      fd_sync: () => ERRNO.SUCCESS,
      fd_datasync: () => ERRNO.SUCCESS,
      fd_filestat_set_size: () => ERRNO.BADF,
      fd_readdir: () => ERRNO.BADF,
      path_open: notcapable,
      path_filestat_get: notcapable,
      path_filestat_set_times: notcapable,
      path_create_directory: notcapable,
      path_remove_directory: notcapable,
      path_rename: notcapable,
      path_link: notcapable,
      path_symlink: notcapable,
      path_readlink: notcapable,
      path_unlink_file: notcapable,
      poll_oneoff: (subs, events, n, nevents) => {
        // Clocks only (sleep): wait, then report each subscription as done. A guest that
        // sleeps past its deadline is ended by the page terminating this worker.
        let wait = 0n;
        for (let i = 0; i < n; i++) {
          const s = subs + i * 48;
          if (this.view().getUint8(s + 8) === 0) {
            const t = this.view().getBigUint64(s + 24, true);
            if (t > wait) wait = t;
          }
        }
        const until = performance.now() + Number(wait / 1000000n);
        while (performance.now() < until) { /* a worker may block */ }
        for (let i = 0; i < n; i++) {
          const s = subs + i * 48;
          const e = events + i * 32;
          this.bytes().fill(0, e, e + 32);
          this.view().setBigUint64(e, this.view().getBigUint64(s, true), true);
          this.view().setUint8(e + 10, this.view().getUint8(s + 8));
        }
        this.view().setUint32(nevents, n, true);
        return ERRNO.SUCCESS;
      },
      proc_exit: (code) => {
        throw new WasiExit(code);
      },
      sched_yield: () => ERRNO.SUCCESS,
      clock_res_get: (_id, out) => {
        this.view().setBigUint64(out, 1000n, true);
        return ERRNO.SUCCESS;
      },
      fd_renumber: () => ERRNO.BADF,
      fd_pread: () => ERRNO.BADF,
      fd_pwrite: () => ERRNO.BADF,
      fd_advise: () => ERRNO.SUCCESS,
      sock_accept: nosys,
      sock_recv: nosys,
      sock_send: nosys,
      sock_shutdown: nosys,
    };
    return w;
  }

  /**
   * The import object for `module`: WASI, `extra` (module → name → function), and for any other
   * import a function that fails when called (as natively: unknown imports trap).
   */
  importsFor(module, extra = {}) {
    const imports = { ...this.imports() };
    for (const [mod, fns] of Object.entries(extra)) imports[mod] = { ...(imports[mod] ?? {}), ...fns };
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.kind !== 'function') continue;
      imports[imp.module] ??= {};
      imports[imp.module][imp.name] ??= () => {
        throw new Error(`unsupported import ${imp.module}.${imp.name}`);
      };
    }
    return imports;
  }
}
