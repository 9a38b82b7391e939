// TypeScript declarations for polyrun.js, polyrun's browser API.

/** A backend of a language the bundle runs (a language may have several). */
export interface LanguageInfo {
  language: string;
  name: string;
  aliases: string[];
  extensions: string[];
  /** The backend's id: what `RunOptions.backend` takes. */
  backend: string;
  /** `true` for the language's default backend. */
  default: boolean;
  version: string;
  capabilities: { preemptible: boolean; memory_limit: boolean; stdin: boolean; sessions: boolean };
}

/** One stack frame, in the user's own lines. */
export interface Frame {
  function: string | null;
  line: number | null;
  column: number | null;
}

/** A guest error: kind, message and where. */
export interface Diagnostic {
  kind: string;
  message: string;
  line: number | null;
  column: number | null;
  frames: Frame[];
}

/** A JSON value, as the `polyrun` helpers exchange them. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** How a run ended; `output` is what the program published with `polyrun.output(value)`. */
export type Outcome = (
  | { status: 'completed'; value: Record<string, string> | null }
  | { status: 'error'; diagnostic: Diagnostic; error?: HostError }
  | { status: 'limit_exceeded'; limit: 'time' | 'memory' | 'output' }
  | { status: 'cancelled' }
  | { status: 'crashed'; reason: string }
) & { output?: Json };

/** A failure of the host, not the guest (with `diagnostic.kind` `PolyrunError`). */
export interface HostError {
  kind: 'unknown_language' | 'unknown_backend' | 'invalid_request' | 'load' | 'worker' | 'internal' | 'io';
  message: string;
  language?: string;
  name?: string;
  available?: string[];
}

/** What a run reports while it runs. */
export type RunEvent =
  | { type: 'stdout'; text: string }
  | { type: 'stderr'; text: string }
  | { type: 'display'; bundle: Record<string, string> }
  | { type: 'progress'; stage: string; done: number; total: number | null }
  | { type: 'log'; level: string; message: string }
  | { type: 'stdin_request' };

export interface RunOptions {
  /** Lines read first (the whole input, with the `buffered` mechanism). */
  stdin?: string;
  /** Ask the page for more lines as the program reads them (`stdin_request` events). */
  interactive?: boolean;
  /**
   * The backend to run on (see `languages()`); default: the language's default. JavaScript's are
   * `browser` (the page's own engine, the default) and `boa` (Boa in the bundle: its memory is
   * bounded, and it reads interactive stdin on pages that are not cross-origin isolated).
   */
  backend?: string;
  /** Time limit in milliseconds (default: the engine's, 10000; 0 for none). */
  timeoutMs?: number;
  memoryBytes?: number;
  maxOutputBytes?: number;
  /** File name for diagnostics. */
  filename?: string;
  /** Runs of one session share guest state. */
  session?: string;
  /** What `polyrun.input()` returns. */
  input?: Json;
  /** The namespace of the program's variables (default `default`). */
  namespace?: string;
  /** `polyrun.event().metadata`. */
  metadata?: { [key: string]: Json };
  onEvent?: (event: RunEvent) => void;
}

export interface LoadOptions {
  /** Where the site's files are (default: next to polyrun.js). */
  baseUrl?: string;
  /** Loading progress (languages fetched and compiled). */
  onProgress?: (event: RunEvent) => void;
  /** Register the stdin service worker on pages that are not cross-origin isolated (default true). */
  serviceWorker?: boolean;
  /** Keep the helpers' variables in localStorage (default: in memory, for this object's life). */
  persistVariables?: boolean;
  /**
   * Where Python (Pyodide) installs the packages a run imports and lacks, before the run:
   * Pyodide's own builds (`pyodideIndex`, default Pyodide's CDN for its version) and
   * pure-Python wheels with micropip (`pypiIndex`, a PEP 503/691 simple index, default PyPI).
   * `null` turns one off. Nothing else is reachable from Python.
   */
  pythonPackages?: { pyodideIndex?: string | null; pypiIndex?: string | null };
  /** Languages to start loading at once, next to the bundle (`['python']`: Pyodide). */
  preload?: string[];
  /**
   * Keep a memory snapshot of Pyodide just started in this origin's IndexedDB (~31 MB, the
   * newest only), so that later page loads start Python from it (~0.2 s instead of ~2.4 s).
   * Default `true`.
   */
  pythonSnapshot?: boolean;
}

/** How long a run may overrun its time limit before its worker is terminated. */
export const GRACE_MS: number;

export class Polyrun {
  /** Starts loading what `language`'s default backend needs (Python: Pyodide) ahead of its first run. */
  preload(language: string): void;
  static load(options?: LoadOptions): Promise<Polyrun>;
  readonly stdinMechanism: 'atomics' | 'service-worker' | 'buffered';
  languages(): LanguageInfo[];
  run(language: string, code: string, options?: RunOptions): Promise<Outcome>;
  cancel(): void;
  provideInput(line: string | null): void;
  endSession(name: string): void;
  /** The helpers' variables of a namespace (default `default`), as `{ name: value }`. */
  variables(namespace?: string): { [name: string]: Json };
  /**
   * How the backends on the page's own engines (`browser`, `pyodide`; those that have run)
   * served their runs: workers started, runs, and runs on a worker that had served one before
   * (JavaScript's, after its realm was put back). For tuning and tests.
   */
  stats(): { [backend: string]: PageEngineStats };
}

/** See `Polyrun.stats()`. */
export interface PageEngineStats {
  workersStarted: number;
  runs: number;
  runsOnUsedWorker: number;
  /** Python: interpreters started from the memory snapshot kept in IndexedDB. */
  snapshotBoots: number;
  /** Python: snapshots made and kept (at most one a page load). */
  snapshotsSaved: number;
  /** Python: kept snapshots Pyodide would not start from (deleted). */
  snapshotsRejected: number;
}
