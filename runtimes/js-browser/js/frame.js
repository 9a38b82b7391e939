// polyrun's JavaScript frame: the document inside the sandboxed iframe that host.js makes (an
// opaque origin: its own process in Chromium). It makes the runner's Workers and ends them,
// as the page asks: each worker gets one end of a MessageChannel, and the other end goes to the
// page, so a run's messages go between the page and its worker directly (not through this
// frame's thread), on a port the guest's code cannot reach. The frame also holds the shared
// memory a worker waits on for interactive stdin (the page's memory cannot be shared with an
// opaque origin).

/** The shared memory `writeStdinLine` writes to: its flags and up to 64 KiB of a line. */
export function newStdinBuffer() {
  return new SharedArrayBuffer(8 + 64 * 1024);
}

/**
 * Hands `line` (`null`: end of input) to a worker blocked in `Atomics.wait` on `sab`: an
 * Int32 flag (0 waiting, 1 a line, 2 end of input) and the line's length, then its UTF-8 bytes
 * (cut to the buffer). The page's polyrun.js answers its bundle worker with it too.
 */
export function writeStdinLine(sab, line) {
  const flag = new Int32Array(sab, 0, 2);
  if (line === null || line === undefined) {
    Atomics.store(flag, 0, 2);
  } else {
    const bytes = new TextEncoder().encode(String(line));
    const data = new Uint8Array(sab, 8);
    const n = Math.min(bytes.length, data.length);
    data.set(bytes.subarray(0, n));
    Atomics.store(flag, 1, n);
    Atomics.store(flag, 0, 1);
  }
  Atomics.notify(flag, 0);
}

/**
 * The frame's side of host.js. The page sends `init` (the runner's source), then `spawn`
 * (`{ key }`: a new worker; its port comes back in `worker`), `kill` (`{ key }`), `interrupt`
 * (`{ key }`: sets the worker's interrupt flag, which Pyodide polls: Python's KeyboardInterrupt),
 * `stdin` (`{ line }`) and `ping`. Shared memory (stdin, interrupts) needs a cross-origin
 * isolated page.
 */
export function startFrame() {
  let url = null; // the runner's source, as a blob: URL
  let sab = null;
  const workers = new Map(); // key → { worker, interrupt: Int32Array | null }
  const toPage = (m, transfer) => parent.postMessage(m, '*', transfer);
  addEventListener('message', (e) => {
    if (e.source !== parent) return;
    const m = e.data;
    if (m.type === 'init' && url === null) {
      url = URL.createObjectURL(new Blob([m.source], { type: 'text/javascript' }));
      if (globalThis.crossOriginIsolated && typeof SharedArrayBuffer === 'function') sab = newStdinBuffer();
      toPage({ type: 'ready', interactive: sab !== null });
    } else if (m.type === 'ping') {
      toPage({ type: 'pong', n: m.n });
    } else if (url && m.type === 'spawn') {
      const worker = new Worker(url);
      const channel = new MessageChannel();
      const interrupt = sab ? new SharedArrayBuffer(4) : null;
      worker.postMessage({ port: channel.port2, sab, interrupt }, [channel.port2]);
      workers.set(m.key, { worker, interrupt: interrupt && new Int32Array(interrupt) });
      toPage({ type: 'worker', key: m.key, port: channel.port1 }, [channel.port1]);
    } else if (m.type === 'kill') {
      workers.get(m.key)?.worker.terminate();
      workers.delete(m.key);
    } else if (m.type === 'interrupt') {
      const flag = workers.get(m.key)?.interrupt;
      // 2 is SIGINT, the signal Pyodide raises as KeyboardInterrupt.
      if (flag) Atomics.store(flag, 0, 2);
    } else if (sab && m.type === 'stdin') {
      writeStdinLine(sab, m.line);
    }
  });
  toPage({ type: 'loaded' });
}
