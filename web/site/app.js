// The playground page: a CodeMirror editor, a language picker with a sample per language,
// Run/Stop, stdin (a text field read first, then lines typed into the terminal), an xterm.js
// terminal for the output, the error line marked, and the code + language in the URL's fragment.
// Served by `polyrun serve`, the page can also run code on the server (its REST API and a
// WebSocket streaming into the same terminal).
import { Polyrun } from './polyrun.js';
import { languageMode } from './modes.js';
import {
  EditorView, basicSetup, EditorState, Compartment, StateEffect, StateField, RangeSet, Prec,
  Decoration, GutterMarker, gutterLineClass, keymap, oneDark, Terminal, FitAddon,
} from './vendor.js';

const SAMPLES = {
  javascript: `// JavaScript (Boa)
const name = "polyrun";
console.log(\`Hello from \${name}!\`);
[1, 2, 3].map((n) => n * n);
`,
  lua: `-- Lua 5.4 (C Lua compiled to WebAssembly)
local name = "polyrun"
print(("Hello from %s!"):format(name))
local squares = {}
for i = 1, 3 do squares[#squares + 1] = i * i end
return table.concat(squares, ", ")
`,
  python: `# Python 3 (RustPython, loaded on the first Python run)
name = "polyrun"
print(f"Hello from {name}!")
[n * n for n in range(1, 4)]
`,
  ruby: `# Ruby 3.4 (ruby.wasm)
name = "polyrun"
puts "Hello from #{name}!"
[1, 2, 3].map { |n| n * n }
`,
  php: `<?php
// PHP 8.2 (php.wasm)
$name = "polyrun";
echo "Hello from $name!\n";
printf("%s\n", json_encode(array_map(fn($n) => $n * $n, [1, 2, 3])));
`,
};

const $ = (id) => document.getElementById(id);
const status = $('status');
const language = $('language');

// --- The editor -----------------------------------------------------------------------------

const mode = new Compartment();

/** The line of the last error (1-based) or null: a line decoration and a gutter class. */
const setError = StateEffect.define();
const errorLine = StateField.define({
  create: () => null,
  update(line, tr) {
    for (const e of tr.effects) if (e.is(setError)) return e.value;
    return tr.docChanged ? null : line;
  },
});
class BadLine extends GutterMarker {
  constructor() { super(); this.elementClass = 'bad'; }
}
const badLine = new BadLine();
const lineOf = (state) => {
  const n = state.field(errorLine);
  return n && n >= 1 && n <= state.doc.lines ? state.doc.line(n) : null;
};
const errorMarks = [
  errorLine,
  EditorView.decorations.compute([errorLine], (state) => {
    const line = lineOf(state);
    return line ? Decoration.set([Decoration.line({ class: 'cm-polyrun-error' }).range(line.from)]) : Decoration.none;
  }),
  gutterLineClass.compute([errorLine], (state) => {
    const line = lineOf(state);
    return line ? RangeSet.of([badLine.range(line.from)]) : RangeSet.empty;
  }),
];

const editor = new EditorView({
  parent: $('editor'),
  state: EditorState.create({
    doc: '',
    extensions: [
      Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => { $('run').click(); return true; } }])),
      basicSetup,
      oneDark,
      mode.of([]),
      errorMarks,
      EditorView.updateListener.of((u) => { if (u.docChanged) saveToUrl(); }),
    ],
  }),
});

function setCode(text, lang = language.value) {
  editor.dispatch({
    changes: { from: 0, to: editor.state.doc.length, insert: text },
    effects: mode.reconfigure(languageMode(lang)),
  });
}
const code = () => editor.state.doc.toString();

function markError(line) {
  const effects = [setError.of(line ?? null)];
  const state = editor.state;
  if (line && line >= 1 && line <= state.doc.lines) {
    const l = state.doc.line(line);
    effects.push(EditorView.scrollIntoView(l.from, { y: 'center' }));
    editor.dispatch({ effects, selection: { anchor: l.from, head: l.to } });
  } else {
    editor.dispatch({ effects });
  }
}

// --- The terminal ---------------------------------------------------------------------------

const term = new Terminal({
  convertEol: true,
  fontFamily: 'ui-monospace, monospace',
  fontSize: 13,
  scrollback: 10000,
  theme: { background: '#000000' },
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open($('output'));
fit.fit();
new ResizeObserver(() => fit.fit()).observe($('output'));

/** Everything the terminal shows, as plain text (for tests and copying). */
let transcript = '';
const COLORS = { stderr: '\x1b[31m', info: '\x1b[36m' };
function write(text, kind) {
  transcript += text;
  term.write(kind ? `${COLORS[kind]}${text}\x1b[0m` : text);
}

// Interactive stdin: when the program asks for a line (a stdin_request event), what is typed
// into the terminal is echoed and sent on Enter. Lines typed ahead wait for the next request.
let running = false;
let reading = false;
let typed = '';
const typedAhead = [];
term.onData((data) => {
  if (!running) return;
  for (const ch of data) {
    if (ch === '\r' || ch === '\n') {
      write('\n');
      const line = typed;
      typed = '';
      if (reading) submitLine(line); else typedAhead.push(line);
    } else if (ch === '\x7f' || ch === '\b') {
      if (typed.length > 0) {
        typed = typed.slice(0, -1);
        transcript = transcript.slice(0, -1);
        term.write('\b \b');
      }
    } else if (ch === '\x03') {
      engine().cancel();
    } else if (ch >= ' ') {
      typed += ch;
      write(ch);
    }
  }
});
function submitLine(line) {
  reading = false;
  delete document.body.dataset.stdin;
  engine().provideInput(line);
}
function askLine() {
  if (typedAhead.length > 0) {
    engine().provideInput(typedAhead.shift());
    return;
  }
  reading = true;
  document.body.dataset.stdin = 'waiting';
  term.focus();
}

// --- State in the URL -----------------------------------------------------------------------

function saveToUrl() {
  const state = new URLSearchParams({ lang: language.value, code: code() });
  if ($('where').value === 'server') state.set('on', 'server');
  history.replaceState(null, '', `#${state}`);
}

function loadFromUrl() {
  const state = new URLSearchParams(location.hash.slice(1));
  return { lang: state.get('lang'), code: state.get('code'), on: state.get('on') };
}

// --- Running on the server (when the page is served by `polyrun serve`) --------------------

/** The same run/cancel/provideInput shape as the browser engine, over polyrun serve's API. */
const server = {
  ws: null,
  token: sessionStorage.getItem('polyrun-token'),
  headers() {
    return { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) };
  },
  async submit(body) {
    let r = await fetch('v1/runs', { method: 'POST', headers: this.headers(), body: JSON.stringify(body) });
    if (r.status === 401) {
      this.token = prompt('This server needs a token:');
      if (this.token) sessionStorage.setItem('polyrun-token', this.token);
      r = await fetch('v1/runs', { method: 'POST', headers: this.headers(), body: JSON.stringify(body) });
    }
    return { ok: r.ok, status: r.status, body: await r.json().catch(() => ({})) };
  },
  async run(lang, source, { stdin, timeoutMs, filename, onEvent }) {
    const r = await this.submit({
      language: lang, code: source, stdin: stdin || undefined, interactive: true, filename,
      limits: { wall_time_ms: timeoutMs },
    });
    if (!r.ok) return { status: 'crashed', reason: `the server said ${r.status}: ${r.body.error ?? ''}` };
    return new Promise((resolve) => {
      const url = new URL(`v1/runs/${r.body.id}/events`, location.href);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      if (this.token) url.searchParams.set('access_token', this.token);
      const ws = new WebSocket(url);
      this.ws = ws;
      let outcome = null;
      ws.onmessage = (m) => {
        const e = JSON.parse(m.data);
        if (e.type === 'outcome') outcome = e.outcome;
        else if (e.type === 'status') status.textContent = `${e.status.replace('_', ' ')} on the server…`;
        else onEvent(e);
      };
      ws.onclose = () => {
        this.ws = null;
        resolve(outcome ?? { status: 'crashed', reason: 'the connection to the server was lost' });
      };
    });
  },
  cancel() { this.ws?.send(JSON.stringify({ type: 'cancel' })); },
  provideInput(line) { this.ws?.send(JSON.stringify({ type: 'stdin', text: line })); },
};

/** Whoever runs the code: this browser's engine or the server. */
const engine = () => ($('where').value === 'server' ? server : pr);

async function offerServer(initialOn) {
  try {
    // A static host serves the site's own server.json ({"server": null}); polyrun serve
    // answers it itself.
    const r = await fetch('server.json', { cache: 'no-store' });
    if (!r.ok || (await r.json()).server !== 'polyrun') return;
  } catch {
    return;
  }
  $('where-label').hidden = false;
  if (initialOn === 'server') $('where').value = 'server';
  document.body.dataset.server = 'available';
}

function describe(outcome) {
  switch (outcome.status) {
    case 'completed': return 'completed';
    case 'error': {
      const d = outcome.diagnostic;
      return `error: ${d.kind}: ${d.message}${d.line ? ` (line ${d.line})` : ''}`;
    }
    case 'limit_exceeded': return `stopped: ${outcome.limit} limit`;
    case 'cancelled': return 'stopped';
    default: return `crashed: ${outcome.reason ?? ''}`;
  }
}

// --- Start ----------------------------------------------------------------------------------

const initial = loadFromUrl();
const pr = await Polyrun.load({
  baseUrl: new URL('.', location.href).href,
  onProgress: (e) => { status.textContent = `${e.stage}…`; },
  // A shared Python link starts Python loading with the page.
  preload: initial.lang ? [initial.lang] : [],
});
for (const l of pr.languages()) {
  const opt = document.createElement('option');
  opt.value = l.language;
  opt.textContent = l.name;
  language.appendChild(opt);
}
if (initial.lang && pr.languages().some((l) => l.language === initial.lang)) language.value = initial.lang;
setCode(initial.code ?? SAMPLES[language.value] ?? '');
await offerServer(initial.on);
$('where').addEventListener('change', saveToUrl);
status.textContent = `ready (stdin: ${pr.stdinMechanism})`;
document.body.dataset.ready = 'true';
$('run').disabled = false;

language.addEventListener('change', () => {
  setCode(SAMPLES[language.value] ?? '');
  saveToUrl();
  pr.preload(language.value);
});

$('stop').addEventListener('click', () => engine().cancel());
$('run').addEventListener('click', async () => {
  if (running) return;
  term.reset();
  transcript = '';
  typed = '';
  typedAhead.length = 0;
  markError(null);
  running = true;
  $('run').disabled = true;
  $('stop').disabled = false;
  status.textContent = 'running…';
  document.body.dataset.state = 'running';
  const runner = engine();
  const outcome = await runner.run(language.value, code(), {
    stdin: $('stdin').value,
    timeoutMs: Number($('timeout').value),
    filename: 'main',
    interactive: runner === server || pr.stdinMechanism !== 'buffered',
    onEvent: (e) => {
      if (e.type === 'stdout') write(e.text);
      else if (e.type === 'stderr') write(e.text, 'stderr');
      else if (e.type === 'stdin_request') askLine();
      else if (e.type === 'progress') status.textContent = e.done >= e.total ? 'running…' : `${e.stage}…`;
    },
  });
  running = false;
  reading = false;
  delete document.body.dataset.stdin;
  if (outcome.status === 'completed' && outcome.value?.['text/plain']) {
    write(`=> ${outcome.value['text/plain']}\n`, 'info');
  }
  if (outcome.status === 'error') {
    write(`${describe(outcome)}\n`, 'stderr');
    markError(outcome.diagnostic.line);
  }
  status.textContent = describe(outcome);
  document.body.dataset.state = outcome.status;
  $('run').disabled = false;
  $('stop').disabled = true;
});

/** A small handle for scripts and tests: the code, the output as text, the marked line. */
window.playground = {
  setCode: (text) => setCode(text),
  code,
  output: () => transcript,
  errorLine: () => editor.state.field(errorLine),
};
