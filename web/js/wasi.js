// The browser side of polyrun's WASI seam (runtimes/wasi/src/browser.rs): the WASI preview 1
// syscalls of the modules Ruby and PHP run on (argv, environment, clocks, randomness, stdio; every
// path "not capable", no sockets or processes, as natively), on the page's own WebAssembly engine.
// Nothing here knows a language: the Rust adapters in the bundle (runtimes/ruby, runtimes/php)
// instantiate, call and read the modules through the `polyrunWasi*` globals installed below, and
// every decision about a run — may it go on (deadline, cancel, memory limit), where its output
// goes (output limit, helper calls), what stdin reads, how long a sleep lasts — is the bundle's:
// each syscall asks it first.

const ERRNO = { SUCCESS: 0, BADF: 8, INVAL: 28, NOSYS: 52, SPIPE: 70, NOTCAPABLE: 76 };

/** Thrown out of a syscall when the bundle says the run must stop: the guest traps. */
class WasiStop extends Error {
  constructor() {
    super('polyrun: the run was stopped');
  }
}

/** Thrown by proc_exit to leave the guest. */
class WasiExit extends Error {
  constructor(code) {
    super(`exit ${code}`);
    this.code = code;
  }
}

/** Compiled modules by name (`ruby`, `php`), and live instances by the bundle's id. */
const modules = new Map();
const instances = new Map();

/** Makes `module` (a compiled WebAssembly.Module) available to the bundle as `name`. */
export function registerWasiModule(name, module) {
  modules.set(name, module);
}

/** Whether `name` was registered. */
export function hasWasiModule(name) {
  return modules.has(name);
}

/**
 * Installs the `polyrunWasi*` globals the bundle's WASI host calls. `rust` holds the bundle's
 * exports: wasiSyscall, wasiWrite, wasiRead, wasiSleep, wasiHandleNew, wasiHandleGet.
 */
export function installWasiHost(rust) {
  globalThis.polyrunWasiHas = (name) => modules.has(name);
  globalThis.polyrunWasiInstantiate = (name, id, configJson) => {
    const config = JSON.parse(configJson);
    const module = modules.get(name);
    const wasi = new Wasi(rust, id, config);
    const instance = new WebAssembly.Instance(module, wasi.imports(module, config.resources ?? []));
    wasi.memory = instance.exports.memory;
    instances.set(id, instance);
  };
  globalThis.polyrunWasiCall = (id, name, args) => {
    try {
      const r = instances.get(id).exports[name](...args);
      return JSON.stringify({ ok: typeof r === 'number' ? r : null });
    } catch (e) {
      if (e instanceof WasiExit) return JSON.stringify({ exit: e.code });
      if (e instanceof WasiStop) return '"stop"';
      return JSON.stringify({ trap: String(e) });
    }
  };
  globalThis.polyrunWasiRead = (id, ptr, len) => {
    const buffer = instances.get(id).exports.memory.buffer;
    if (ptr + len > buffer.byteLength) return new Uint8Array(0);
    return new Uint8Array(buffer, ptr, len).slice();
  };
  globalThis.polyrunWasiWrite = (id, ptr, bytes) => {
    const buffer = instances.get(id).exports.memory.buffer;
    if (ptr + bytes.length > buffer.byteLength) return false;
    new Uint8Array(buffer).set(bytes, ptr);
    return true;
  };
  globalThis.polyrunWasiMemorySize = (id) => instances.get(id).exports.memory.buffer.byteLength;
  globalThis.polyrunWasiDrop = (id) => {
    instances.delete(id);
  };
}

/** The syscalls of one instance. */
class Wasi {
  constructor(rust, id, { args = [], env = [] }) {
    this.rust = rust;
    this.id = id;
    this.args = args.map((a) => new TextEncoder().encode(`${a}\0`));
    this.env = env.map((e) => new TextEncoder().encode(`${e}\0`));
    this.memory = null;
  }

  view() {
    return new DataView(this.memory.buffer);
  }

  bytes() {
    return new Uint8Array(this.memory.buffer);
  }

  /**
   * The import object for `module`: WASI (every syscall asks the bundle first), the
   * `canonical_abi` resource tables named in `resources`, and for any other import a function
   * that fails when called (as natively: unknown imports trap).
   */
  imports(module, resources) {
    const w = this.#syscalls();
    for (const [name, f] of Object.entries(w)) {
      w[name] = (...a) => {
        if (!this.rust.wasiSyscall(this.id, this.memory ? this.memory.buffer.byteLength : 0)) throw new WasiStop();
        return f(...a);
      };
    }
    const imports = { wasi_snapshot_preview1: w, canonical_abi: {} };
    for (const r of resources) {
      imports.canonical_abi[`resource_new_${r}`] = (v) => this.rust.wasiHandleNew(this.id, v);
      imports.canonical_abi[`resource_get_${r}`] = (h) => {
        const v = this.rust.wasiHandleGet(this.id, h);
        if (v === undefined) throw new Error(`unknown ${r} handle ${h}`);
        return v;
      };
    }
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.kind !== 'function') continue;
      imports[imp.module] ??= {};
      imports[imp.module][imp.name] ??= () => {
        throw new Error(`unsupported import ${imp.module}.${imp.name}`);
      };
    }
    return imports;
  }

  /** Strings (args or environment) as WASI's `*_sizes_get` and `*_get` lay them out. */
  #list(list) {
    return {
      sizes: (count, size) => {
        this.view().setUint32(count, list.length, true);
        this.view().setUint32(size, list.reduce((n, a) => n + a.length, 0), true);
        return ERRNO.SUCCESS;
      },
      get: (ptrs, buf) => {
        let p = buf;
        list.forEach((a, i) => {
          this.view().setUint32(ptrs + i * 4, p, true);
          this.bytes().set(a, p);
          p += a.length;
        });
        return ERRNO.SUCCESS;
      },
    };
  }

  #syscalls() {
    const nosys = () => ERRNO.NOSYS;
    const notcapable = () => ERRNO.NOTCAPABLE;
    const args = this.#list(this.args);
    const env = this.#list(this.env);
    return {
      args_sizes_get: args.sizes,
      args_get: args.get,
      environ_sizes_get: env.sizes,
      environ_get: env.get,
      clock_time_get: (id, _precision, out) => {
        const ns = id === 0
          ? BigInt(Date.now()) * 1000000n
          : BigInt(Math.round(performance.now() * 1e6));
        this.view().setBigUint64(out, ns, true);
        return ERRNO.SUCCESS;
      },
      clock_res_get: (_id, out) => {
        this.view().setBigUint64(out, 1000n, true);
        return ERRNO.SUCCESS;
      },
      random_get: (buf, len) => {
        for (let off = 0; off < len; off += 65536) {
          crypto.getRandomValues(this.bytes().subarray(buf + off, buf + Math.min(len, off + 65536)));
        }
        return ERRNO.SUCCESS;
      },
      fd_write: (fd, iovs, n, written) => {
        if (fd !== 1 && fd !== 2) return ERRNO.BADF;
        let total = 0;
        for (let i = 0; i < n; i++) {
          const ptr = this.view().getUint32(iovs + i * 8, true);
          const len = this.view().getUint32(iovs + i * 8 + 4, true);
          if (len > 0 && !this.rust.wasiWrite(this.id, fd, this.bytes().subarray(ptr, ptr + len))) {
            throw new WasiStop();
          }
          total += len;
        }
        this.view().setUint32(written, total, true);
        return ERRNO.SUCCESS;
      },
      fd_read: (fd, iovs, n, read) => {
        if (fd !== 0) return ERRNO.BADF;
        // One read into the first buffer with room (a short read is allowed).
        let total = 0;
        for (let i = 0; i < n; i++) {
          const ptr = this.view().getUint32(iovs + i * 8, true);
          const len = this.view().getUint32(iovs + i * 8 + 4, true);
          if (len === 0) continue;
          const data = this.rust.wasiRead(this.id, len);
          this.bytes().set(data, ptr);
          total = data.length;
          break;
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
      fd_renumber: () => ERRNO.BADF,
      fd_pread: () => ERRNO.BADF,
      fd_pwrite: () => ERRNO.BADF,
      fd_advise: () => ERRNO.SUCCESS,
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
        // Clocks (sleeps): the bundle waits, woken when the run must stop; every subscription is
        // then reported done.
        let wait = 0n;
        for (let i = 0; i < n; i++) {
          const s = subs + i * 48;
          if (this.view().getUint8(s + 8) === 0) {
            const t = this.view().getBigUint64(s + 24, true);
            if (t > wait) wait = t;
          }
        }
        if (!this.rust.wasiSleep(this.id, Number(wait))) throw new WasiStop();
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
      sock_accept: nosys,
      sock_recv: nosys,
      sock_send: nosys,
      sock_shutdown: nosys,
    };
  }
}
