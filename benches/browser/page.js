// One runtime in a page, for compare.mjs: `window.bench` resolves once the runtime is loaded and
// has printed hello world, to { helloMs, output, version, run(code) → stdout }.
// Every adapter returns a program's whole standard output as a string.
const params = new URLSearchParams(location.search);
const runtime = params.get('runtime');
const language = params.get('language');
const here = (p) => new URL(p, location.href).href;

const HELLO = {
  javascript: 'console.log("hi")', lua: 'print("hi")', python: 'print("hi")',
  ruby: 'puts "hi"', php: 'echo "hi\\n";',
};

function script(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(s);
  });
}

const ADAPTERS = {
  // polyrun's web build, through its public API (a Web Worker; a fresh guest state per run).
  async polyrun() {
    const { Polyrun } = await import(here('/site/polyrun.js'));
    // As a playground for one language loads polyrun (Python's interpreter next to the bundle).
    const pr = await Polyrun.load({ baseUrl: here('/site/'), serviceWorker: false, preload: [language] });
    const info = pr.languages().find((l) => l.language === language);
    return {
      version: info.version,
      async run(code) {
        let out = '';
        const o = await pr.run(language, code, {
          timeoutMs: 0, memoryBytes: 1 << 30, maxOutputBytes: 1 << 26,
          onEvent: (e) => { if (e.type === 'stdout') out += e.text; },
        });
        if (o.status !== 'completed') throw new Error(`polyrun ${language}: ${JSON.stringify(o)}`);
        return out;
      },
    };
  },

  // The page's own JavaScript engine (what a JavaScript playground that evaluates in the page
  // uses): not an interpreter, a reference point.
  async 'browser-js'() {
    return {
      version: navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? navigator.userAgent,
      async run(code) {
        let out = '';
        const console = { log: (...a) => { out += `${a.join(' ')}\n`; } };
        new Function('console', code)(console);
        return out;
      },
    };
  },

  // The page's own engine with what a sandbox needs, a fresh global state per run: a new Worker
  // for each run, the code run as `new Function` there. The floor for polyrun's `browser`
  // backend (which also starts its workers ahead of the runs, in a sandboxed frame).
  async 'browser-js-worker'() {
    const source = `onmessage = (e) => {
      let out = '';
      const console = { log: (...a) => { out += a.join(' ') + '\\n'; } };
      new Function('console', e.data)(console);
      postMessage(out);
    };`;
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    return {
      version: `${navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? navigator.userAgent}, a Worker per run`,
      run(code) {
        return new Promise((resolve, reject) => {
          const w = new Worker(url);
          w.onmessage = (e) => { w.terminate(); resolve(e.data); };
          w.onerror = (e) => { w.terminate(); reject(new Error(e.message)); };
          w.postMessage(code);
        });
      },
    };
  },

  // Wasmoon: Lua 5.4 compiled with Emscripten; a fresh Lua state per run. Output is collected
  // by a Lua-side print, so Lua formats every value itself.
  async wasmoon() {
    await script(here('/peers/wasmoon/dist/index.js'));
    const factory = new globalThis.wasmoon.LuaFactory(here('/peers/wasmoon/dist/glue.wasm'));
    const capture = `
      local out = {}
      print = function(...)
        local t = table.pack(...)
        for i = 1, t.n do t[i] = tostring(t[i]) end
        out[#out + 1] = table.concat(t, "\\t", 1, t.n) .. "\\n"
      end
      local f = assert(load(__code, "=program"))
      f()
      return table.concat(out)`;
    const probe = await factory.createEngine();
    const version = probe.global.get('_VERSION');
    probe.global.close();
    return {
      version: `${version} (wasmoon)`,
      async run(code) {
        const lua = await factory.createEngine();
        try {
          lua.global.set('__code', code);
          return await lua.doString(capture);
        } finally {
          lua.global.close();
        }
      },
    };
  },

  // Pyodide: CPython compiled with Emscripten; one interpreter, fresh globals per run.
  async pyodide() {
    await script(here('/peers/pyodide/pyodide.js'));
    const py = await globalThis.loadPyodide({ indexURL: here('/peers/pyodide/') });
    let out = '';
    const decoder = new TextDecoder();
    py.setStdout({ write: (buf) => { out += decoder.decode(buf, { stream: true }); return buf.length; } });
    const flush = py.runPython('import sys\nsys.stdout.flush');
    return {
      version: `Python ${py.runPython('import sys; sys.version.split()[0]')} (Pyodide ${py.version})`,
      async run(code) {
        out = '';
        const globals = py.globals.get('dict')();
        try {
          py.runPython(code, { globals });
          flush();
        } finally {
          globals.destroy();
        }
        return out;
      },
    };
  },

  // ruby.wasm's own JS package (@ruby/wasm-wasi's DefaultRubyVM) on the same ruby+stdlib.wasm
  // polyrun uses; one VM for every run (its normal use); output collected in a StringIO.
  async 'ruby.wasm'() {
    await script(here('/peers/ruby-wasm-wasi/dist/browser.umd.js'));
    const artifacts = await (await fetch(here('/site/artifacts.json'))).json();
    const ruby = artifacts.artifacts.find((a) => a.info.language === 'ruby');
    const module = await WebAssembly.compileStreaming(fetch(here(`/site/${ruby.file}`)));
    const { vm } = await globalThis['ruby-wasm-wasi'].DefaultRubyVM(module, { consolePrint: false });
    vm.eval('require "stringio"');
    return {
      version: `Ruby ${vm.eval('RUBY_VERSION').toString()} (ruby.wasm, @ruby/wasm-wasi)`,
      async run(code) {
        vm.eval('$stdout = StringIO.new');
        try {
          vm.eval(code);
          return vm.eval('$stdout.string').toString();
        } finally {
          vm.eval('$stdout = STDOUT');
        }
      },
    };
  },

  // php-wasm (@php-wasm/web-8-2 + @php-wasm/universal, WordPress Playground's PHP 8.2 build);
  // one PHP instance for every run, as a playground page keeps it.
  async 'php-wasm'() {
    const { PHP, loadPHPRuntime, getPHPLoaderModule } = await import(here('/peers/php-wasm/bundle.js'));
    const php = new PHP(await loadPHPRuntime(await getPHPLoaderModule()));
    const run = async (code) => {
      const response = await php.run({ code });
      if (response.exitCode !== 0) throw new Error(`php-wasm: exit ${response.exitCode}: ${response.errors}`);
      return response.text;
    };
    return {
      version: `PHP ${(await run('<?php echo PHP_VERSION;'))} (php-wasm)`,
      run: (code) => run(code.startsWith('<?php') ? code : `<?php ${code}`),
    };
  },
};

window.bench = (async () => {
  const adapter = await ADAPTERS[runtime]();
  const output = await adapter.run(HELLO[language]);
  // performance.now() counts from the navigation's start.
  return { helloMs: performance.now(), output, version: adapter.version, run: adapter.run };
})();

/** Runs `code` once (its output kept), then `runs` more times, timed. */
window.measure = async (code, runs) => {
  const b = await window.bench;
  const output = await b.run(code);
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await b.run(code);
    ms.push(performance.now() - t);
  }
  return { output, ms };
};
