// <polyrun-playground>: one-line embedding of a runnable snippet.
//
//   <script type="module" src="https://example.org/polyrun/playground-element.js"></script>
//   <polyrun-playground language="python" timeout="5000">print("hi")</polyrun-playground>
//
// Attributes: `language` (id or alias), `timeout` (ms), `stdin` (text given to the program).
// The element's text is the initial code, in a CodeMirror editor (Ctrl+Enter runs); the output
// goes to an xterm.js terminal (`element.output` is its text). All elements of a page share one
// polyrun worker.
import { Polyrun } from './polyrun.js';
import { languageMode } from './modes.js';
import { EditorView, basicSetup, Compartment, Prec, keymap, oneDark, Terminal, FitAddon } from './vendor.js';

let shared = null;
function polyrun() {
  shared ??= Polyrun.load({ baseUrl: new URL('.', import.meta.url).href });
  return shared;
}

const STYLE = `
:host { display: block; border: 1px solid #444; border-radius: 6px; overflow: hidden;
  font: 13px/1.4 ui-monospace, monospace; background: #15151a; color: #eee; }
.bar { display: flex; gap: .5rem; align-items: center; padding: .3rem .5rem; background: #2a2a33; }
.bar .status { margin-left: auto; font-family: system-ui, sans-serif; font-size: 12px; color: #aaa; }
.code .cm-editor { max-height: 24em; }
.code .cm-scroller { font-family: ui-monospace, monospace; }
.output { background: #000; padding: .25rem .5rem; height: 8.5em; }`;

class PolyrunPlayground extends HTMLElement {
  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<link rel="stylesheet" href="${new URL('xterm.css', import.meta.url)}"><style>${STYLE}</style>
      <div class="bar"><select part="language" aria-label="Language"></select>
      <button part="run" class="run" disabled>Run</button><button part="stop" class="stop" disabled>Stop</button>
      <span class="status" role="status">loading…</span></div>
      <div part="code" class="code" aria-label="Code"></div>
      <div part="output" class="output" aria-label="Output"></div>`;
    const $ = (sel) => root.querySelector(sel);
    const mode = new Compartment();
    const editor = new EditorView({
      parent: $('.code'),
      root,
      doc: this.textContent.replace(/^\n/, ''),
      extensions: [
        Prec.highest(keymap.of([{ key: 'Mod-Enter', run: () => { $('.run').click(); return true; } }])),
        basicSetup, oneDark, mode.of([]),
      ],
    });
    const term = new Terminal({ convertEol: true, fontSize: 13, rows: 8, theme: { background: '#000000' } });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open($('.output'));
    new ResizeObserver(() => fit.fit()).observe($('.output'));
    this.output = '';
    const put = (text, color) => {
      this.output += text;
      term.write(color ? `\x1b[${color}m${text}\x1b[0m` : text);
    };
    polyrun().then((pr) => {
      for (const l of pr.languages()) {
        const o = document.createElement('option');
        o.value = l.language;
        o.textContent = l.name;
        $('select').appendChild(o);
      }
      const wanted = (this.getAttribute('language') ?? '').toLowerCase();
      const lang = pr.languages().find((l) => l.language === wanted || (l.aliases ?? []).includes(wanted));
      if (lang) $('select').value = lang.language;
      const setMode = () => editor.dispatch({ effects: mode.reconfigure(languageMode($('select').value)) });
      setMode();
      $('select').addEventListener('change', setMode);
      $('.run').disabled = false;
      $('.status').textContent = 'ready';
      this.dataset.ready = 'true';
      $('.stop').addEventListener('click', () => pr.cancel());
      $('.run').addEventListener('click', async () => {
        if ($('.run').disabled) return;
        term.reset();
        this.output = '';
        delete this.dataset.state;
        $('.run').disabled = true;
        $('.stop').disabled = false;
        $('.status').textContent = 'running…';
        const outcome = await pr.run($('select').value, editor.state.doc.toString(), {
          stdin: this.getAttribute('stdin') ?? '',
          timeoutMs: Number(this.getAttribute('timeout') ?? 10000),
          onEvent: (e) => {
            if (e.type === 'stdout') put(e.text);
            else if (e.type === 'stderr') put(e.text, 31);
          },
        });
        if (outcome.status === 'error') {
          const d = outcome.diagnostic;
          put(`${d.kind}: ${d.message}${d.line ? ` (line ${d.line})` : ''}\n`, 31);
        }
        $('.status').textContent = outcome.status === 'limit_exceeded' ? `${outcome.limit} limit` : outcome.status;
        this.dataset.state = outcome.status;
        $('.run').disabled = false;
        $('.stop').disabled = true;
      });
    }, (e) => {
      $('.status').textContent = `polyrun failed to load: ${e.message}`;
    });
  }
}

customElements.define('polyrun-playground', PolyrunPlayground);
