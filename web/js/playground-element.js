// <polyrun-playground>: one-line embedding of a runnable snippet.
//
//   <script type="module" src="https://example.org/polyrun/playground-element.js"></script>
//   <polyrun-playground language="python" timeout="5000">print("hi")</polyrun-playground>
//
// Attributes: `language` (id or alias), `timeout` (ms), `stdin` (text given to the program).
// The element's text is the initial code. All elements of a page share one polyrun worker.
import { Polyrun } from './polyrun.js';

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
textarea { width: 100%; box-sizing: border-box; min-height: 6em; border: 0; padding: .5rem;
  background: transparent; color: inherit; font: inherit; resize: vertical; outline: none; }
pre { margin: 0; padding: .5rem; background: #000; min-height: 1.4em; white-space: pre-wrap; }
.err { color: #f88; }`;

class PolyrunPlayground extends HTMLElement {
  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style>
      <div class="bar"><select part="language" aria-label="Language"></select>
      <button part="run" class="run" disabled>Run</button><button part="stop" class="stop" disabled>Stop</button>
      <span class="status" role="status">loading…</span></div>
      <textarea part="code" spellcheck="false" aria-label="Code"></textarea>
      <pre part="output" class="output" aria-live="polite"></pre>`;
    const $ = (sel) => root.querySelector(sel);
    $('textarea').value = this.textContent.replace(/^\n/, '');
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
      $('.run').disabled = false;
      $('.status').textContent = 'ready';
      this.dataset.ready = 'true';
      $('.stop').addEventListener('click', () => pr.cancel());
      $('.run').addEventListener('click', async () => {
        const out = $('.output');
        out.textContent = '';
        $('.run').disabled = true;
        $('.stop').disabled = false;
        $('.status').textContent = 'running…';
        const put = (text, cls) => {
          const s = document.createElement('span');
          if (cls) s.className = cls;
          s.textContent = text;
          out.appendChild(s);
        };
        const outcome = await pr.run($('select').value, $('textarea').value, {
          stdin: this.getAttribute('stdin') ?? '',
          timeoutMs: Number(this.getAttribute('timeout') ?? 10000),
          onEvent: (e) => {
            if (e.type === 'stdout') put(e.text);
            else if (e.type === 'stderr') put(e.text, 'err');
          },
        });
        if (outcome.status === 'error') {
          const d = outcome.diagnostic;
          put(`${d.kind}: ${d.message}${d.line ? ` (line ${d.line})` : ''}\n`, 'err');
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
