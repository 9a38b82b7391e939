// The playground page: a code editor, a language picker with a sample per language, Run/Stop,
// stdin, the output, the error line marked, and the code + language in the URL's fragment.
import { Polyrun } from './polyrun.js';

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
const code = $('code');
const gutter = $('gutter');
const output = $('output');
const status = $('status');
const language = $('language');
let badLine = null;

function renderGutter() {
  const n = code.value.split('\n').length;
  gutter.innerHTML = '';
  for (let i = 1; i <= n; i++) {
    const line = document.createElement('div');
    line.textContent = String(i);
    if (i === badLine) line.className = 'bad';
    gutter.appendChild(line);
  }
}

function write(text, cls) {
  const span = document.createElement('span');
  if (cls) span.className = cls;
  span.textContent = text;
  output.appendChild(span);
  output.scrollTop = output.scrollHeight;
}

/** Interactive stdin: a line typed into the output area goes to the waiting program. */
function askLine() {
  const input = document.createElement('input');
  input.id = 'stdin-line';
  input.setAttribute('aria-label', 'Input line');
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    const line = input.value;
    input.replaceWith(document.createTextNode(`${line}\n`));
    pr.provideInput(line);
  });
  output.appendChild(input);
  input.focus();
}

function saveToUrl() {
  const state = new URLSearchParams({ lang: language.value, code: code.value });
  history.replaceState(null, '', `#${state}`);
}

function loadFromUrl() {
  const state = new URLSearchParams(location.hash.slice(1));
  return { lang: state.get('lang'), code: state.get('code') };
}

function markError(line) {
  badLine = line ?? null;
  renderGutter();
  if (badLine) {
    // Select the line in the editor, so the browser shows where it is.
    const lines = code.value.split('\n');
    const start = lines.slice(0, badLine - 1).reduce((n, l) => n + l.length + 1, 0);
    code.focus();
    code.setSelectionRange(start, start + (lines[badLine - 1] ?? '').length);
  }
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

const pr = await Polyrun.load({
  baseUrl: new URL('.', location.href).href,
  onProgress: (e) => { status.textContent = `${e.stage}…`; },
});
for (const l of pr.languages()) {
  const opt = document.createElement('option');
  opt.value = l.language;
  opt.textContent = l.name;
  language.appendChild(opt);
}
const initial = loadFromUrl();
if (initial.lang && pr.languages().some((l) => l.language === initial.lang)) language.value = initial.lang;
code.value = initial.code ?? SAMPLES[language.value] ?? '';
renderGutter();
status.textContent = `ready (stdin: ${pr.stdinMechanism})`;
document.body.dataset.ready = 'true';
$('run').disabled = false;

language.addEventListener('change', () => {
  code.value = SAMPLES[language.value] ?? '';
  markError(null);
  saveToUrl();
});
code.addEventListener('input', () => { renderGutter(); saveToUrl(); });
code.addEventListener('scroll', () => { gutter.scrollTop = code.scrollTop; });

$('stop').addEventListener('click', () => pr.cancel());
$('run').addEventListener('click', async () => {
  output.textContent = '';
  markError(null);
  $('run').disabled = true;
  $('stop').disabled = false;
  status.textContent = 'running…';
  document.body.dataset.state = 'running';
  const outcome = await pr.run(language.value, code.value, {
    stdin: $('stdin').value,
    timeoutMs: Number($('timeout').value),
    filename: `main`,
    interactive: pr.stdinMechanism !== 'buffered',
    onEvent: (e) => {
      if (e.type === 'stdout') write(e.text);
      else if (e.type === 'stderr') write(e.text, 'stderr');
      else if (e.type === 'stdin_request') askLine();
    },
  });
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
