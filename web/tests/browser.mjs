// Browser tests of the playground page in Debian's Chromium (playwright-core, never a
// downloaded browser). Run by `scripts/web test` (and so by scripts/test and CI).
// POLYRUN_SITE: the built site; POLYRUN_ARTIFACTS: where the screenshot goes; POLYRUN_WEB_TEST:
// a part of the names of the tests to run (all when unset).
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { serve } from '../tools/serve.mjs';

const site = process.env.POLYRUN_SITE;
const artifacts = process.env.POLYRUN_ARTIFACTS ?? '/tmp/polyrun-web-artifacts';
fs.mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

let failures = 0;
// POLYRUN_WEB_TEST=text runs only the tests whose name contains it (when working on one).
const only = process.env.POLYRUN_WEB_TEST;
async function test(name, fn) {
  if (only && !name.includes(only)) return;
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}\n${e.stack}`);
  }
}

/** Opens the page (optionally cross-origin isolated, served from `root`); collects console errors. */
async function open({ isolated = false, hash = '', root = site } = {}) {
  const server = await serve(root, { isolated });
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const url = `http://127.0.0.1:${server.address().port}/${hash}`;
  const started = Date.now();
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
  const loadMs = Date.now() - started;
  return { page, errors, server, loadMs };
}

/** A zip archive of `files` ({ name: text }), stored (no compression): enough for a wheel. */
function storedZip(files) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    const fname = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fname.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(fname.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fname, data);
    centrals.push(central, fname);
    offset += local.length + fname.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length / 2, 8);
  end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

/** Puts `code` into the editor (CodeMirror, through the page's small handle). */
async function setCode(page, code) {
  await page.evaluate((c) => window.playground.setCode(c), code);
}

/** The terminal's text. */
const outputOf = (page) => page.evaluate(() => window.playground.output());

/** The line number marked as the error's, read from the editor's gutter. */
const markedLine = (page) => page.textContent('.cm-lineNumbers .cm-gutterElement.bad');

/** Types a line into the terminal once the program waits for one. */
async function typeLine(page, line) {
  await page.waitForSelector('body[data-stdin="waiting"]');
  await page.click('#output');
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
}

async function runCode(page, lang, code, { stdin = '', timeout = '5000' } = {}) {
  await page.selectOption('#language', lang);
  await setCode(page, code);
  await page.fill('#stdin', stdin);
  await page.selectOption('#timeout', timeout);
  await page.click('#run');
  await page.waitForFunction(() => !['running', undefined].includes(document.body.dataset.state));
  return {
    state: await page.evaluate(() => document.body.dataset.state),
    output: await outputOf(page),
    status: await page.textContent('#status'),
  };
}

await test('the page loads with no console errors and lists JavaScript', async () => {
  const { page, errors, server, loadMs } = await open();
  const langs = await page.$$eval('#language option', (o) => o.map((x) => x.value));
  assert.ok(langs.includes('javascript'), String(langs));
  assert.match(await page.textContent('#status'), /ready \(stdin: service-worker\)/);
  assert.deepEqual(errors, []);
  console.log(`     page ready in ${loadMs} ms`);
  await page.close();
  server.close();
});

await test('JavaScript hello world prints in the output, with its value', async () => {
  const { page, errors, server } = await open();
  const started = Date.now();
  const r = await runCode(page, 'javascript', 'console.log("hello from the browser");\n6 * 7');
  console.log(`     first run (load + run) ${Date.now() - started} ms`);
  assert.equal(r.state, 'completed', r.status);
  assert.equal(r.output, 'hello from the browser\n=> 42\n');
  await page.screenshot({ path: path.join(artifacts, 'playground.png') });
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await test('Lua hello world, io.read, an error with its line, coroutines, pcall, os.time', async () => {
  const { page, errors, server } = await open();
  const langs = await page.$$eval('#language option', (o) => o.map((x) => x.value));
  assert.ok(langs.includes('lua'), String(langs));
  const started = Date.now();
  let r = await runCode(page, 'lua', 'print("Hello from " .. _VERSION)\nreturn 6 * 7');
  console.log(`     first Lua run ${Date.now() - started} ms`);
  assert.equal(r.state, 'completed', r.status);
  assert.equal(r.output, 'Hello from Lua 5.4\n=> 42\n');
  r = await runCode(page, 'lua', 'local a = io.read("l")\nprint(tonumber(a) * 2, io.read():upper())', { stdin: '21\nword\n' });
  assert.equal(r.output, '42\tWORD\n');
  r = await runCode(page, 'lua', [
    'local co = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)',
    'print(co(), co(), co())',
    'print(pcall(error, {code = 7}))',
    'print(select(2, pcall(error, "x", 0)))',
    'print(type(os.time()), os.time() > 1.7e9, os.date("!%Y", 0))',
    'local t = setmetatable({}, {__index = function(_, k) return k * 2 end})',
    'print(t[21], string.format("%5.2f", math.pi))',
    'local function deep(n) if n == 0 then return 0 end return 1 + deep(n - 1) end',
    'print(deep(10000))',
  ].join('\n'));
  assert.equal(r.state, 'completed', r.status + r.output);
  assert.match(r.output, /^1\t2\t3\nfalse\ttable: 0x[0-9a-f]+\nx\nnumber\ttrue\t1970\n42\t 3.14\n10000\n$/);
  r = await runCode(page, 'lua', 'local x = 1\n\nerror("boom")\n');
  assert.equal(r.state, 'error');
  assert.match(r.status, /boom \(line 3\)/);
  assert.equal(await markedLine(page), '3');
  r = await runCode(page, 'lua', 'print(1)\nlocal = 2\n');
  assert.equal(r.state, 'error');
  assert.equal(await markedLine(page), '2');
  r = await runCode(page, 'lua', 'while true do end', { timeout: '1000' });
  assert.equal(r.state, 'limit_exceeded', r.status);
  r = await runCode(page, 'lua', 'print("still alive")');
  assert.equal(r.output, 'still alive\n');
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await test('Python (Pyodide, loaded on first use): hello, input(), a traceback line, a syntax error, the time limit', async () => {
  const { page, errors, server } = await open();
  const langs = await page.$$eval('#language option', (o) => o.map((x) => x.value));
  assert.ok(langs.includes('python'), String(langs));
  let started = Date.now();
  let r = await runCode(page, 'python', 'import sys\nprint("Hello from Python", sys.version_info[0])\n6 * 7');
  console.log(`     first Python run (fetch + compile + start + run) ${Date.now() - started} ms`);
  assert.equal(r.state, 'completed', r.status);
  assert.equal(r.output, 'Hello from Python 3\n=> 42\n');
  started = Date.now();
  r = await runCode(page, 'python', 'name = input("name? ")\nprint(f"hi {name.upper()}", sum(int(x) for x in input().split()))', { stdin: 'ada\n1 2 3\n' });
  console.log(`     second Python run ${Date.now() - started} ms`);
  assert.equal(r.output, 'name? hi ADA 6\n');
  r = await runCode(page, 'python', 'import json, re, collections\nprint(json.dumps({"a": [1, 2]}), re.sub(r"\\d", "#", "a1b2"), collections.Counter("abca").most_common(1))');
  assert.equal(r.output, '{"a": [1, 2]} a#b# [(\'a\', 2)]\n', r.status);
  r = await runCode(page, 'python', 'def f():\n    raise ValueError("boom")\n\nf()\n');
  assert.equal(r.state, 'error');
  assert.match(r.status, /ValueError: boom \(line 2\)/);
  assert.equal(await markedLine(page), '2');
  r = await runCode(page, 'python', 'x = 1\nif x\n    pass\n');
  assert.equal(r.state, 'error');
  assert.equal(await markedLine(page), '2');
  started = Date.now();
  r = await runCode(page, 'python', 'while True:\n    pass\n', { timeout: '1000' });
  assert.equal(r.state, 'limit_exceeded', r.status);
  assert.ok(Date.now() - started < 5000);
  r = await runCode(page, 'python', 'print("back")');
  assert.equal(r.output, 'back\n');
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await test('PHP hello world, stdin, the line of an exception, a shutdown function after a fatal error', async () => {
  const { page, errors, server } = await open();
  const langs = await page.$$eval('#language option', (o) => o.map((x) => x.value));
  assert.ok(langs.includes('php'), String(langs));
  let started = Date.now();
  let r = await runCode(page, 'php', '<?php\necho "Hello from PHP ", PHP_MAJOR_VERSION, "\\n";');
  console.log(`     first PHP run (fetch + compile + run) ${Date.now() - started} ms`);
  assert.equal(r.state, 'completed', r.status);
  assert.equal(r.output, 'Hello from PHP 8\n');
  started = Date.now();
  r = await runCode(page, 'php', 'echo strtoupper(fgets(STDIN)), readline();', { stdin: 'first\nsecond\n' });
  console.log(`     second PHP run ${Date.now() - started} ms`);
  assert.equal(r.output, 'FIRST\nsecond');
  r = await runCode(page, 'php', '<?php\necho "a\\n";\nfunction f() {\n  throw new Exception("boom");\n}\nf();\n');
  assert.equal(r.state, 'error');
  assert.match(r.status, /Exception: boom \(line 4\)/);
  assert.equal(await markedLine(page), '4');
  r = await runCode(page, 'php', 'register_shutdown_function(function () { echo "cleanup\\n"; });\nnope();');
  assert.ok(r.output.startsWith('cleanup\n'), r.output);
  assert.match(r.status, /Call to undefined function nope\(\) \(line 2\)/);
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await test('Ruby hello world with its value, gets, and an exception with its line', async () => {
  const { page, errors, server } = await open();
  let started = Date.now();
  let r = await runCode(page, 'ruby', 'puts "Hello from Ruby #{RUBY_VERSION[0]}"\n[1, 2].sum');
  console.log(`     first Ruby run (fetch + compile + boot + run) ${Date.now() - started} ms`);
  assert.equal(r.state, 'completed', r.status);
  assert.equal(r.output, 'Hello from Ruby 3\n=> 3\n');
  started = Date.now();
  r = await runCode(page, 'ruby', 'puts gets.upcase', { stdin: 'typed\n' });
  console.log(`     second Ruby run (boot + run) ${Date.now() - started} ms`);
  assert.equal(r.output, 'TYPED\n');
  r = await runCode(page, 'ruby', 'x = 1\ny = 2\nraise "boom"\n');
  assert.equal(r.state, 'error');
  assert.match(r.status, /RuntimeError: boom \(line 3\)/);
  assert.equal(await markedLine(page), '3');
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await test('a PHP endless loop is stopped at the time limit', async () => {
  const { page, server } = await open();
  const started = Date.now();
  const r = await runCode(page, 'php', 'while (true) {}', { timeout: '1000' });
  assert.equal(r.state, 'limit_exceeded', r.status);
  assert.ok(Date.now() - started < 4000);
  const next = await runCode(page, 'php', 'echo "after";');
  assert.equal(next.output, 'after');
  await page.close();
  server.close();
});

await test('a syntax error marks its line', async () => {
  const { page, server } = await open();
  const r = await runCode(page, 'javascript', 'let a = 1;\nlet b = 2;\nlet c = ;\n');
  assert.equal(r.state, 'error');
  assert.match(r.status, /SyntaxError/);
  assert.equal(await markedLine(page), '3');
  assert.equal(await page.textContent('.cm-polyrun-error'), 'let c = ;');
  await page.screenshot({ path: path.join(artifacts, 'playground-error.png') });
  await page.close();
  server.close();
});

await test('the conformance cases (conformance/cases.json) give the same results as natively', async () => {
  const all = JSON.parse(fs.readFileSync(new URL('../../conformance/cases.json', import.meta.url), 'utf8')).cases;
  // JavaScript's cases on both of its backends: the page's engine (the default) and Boa;
  // Python's on Pyodide (the default) and RustPython.
  const also = { javascript: 'boa', python: 'rustpython' };
  const cases = all.flatMap((c) => (also[c.language] && !c.backend
    ? [c, { ...c, name: `${c.name} (${also[c.language]})`, backend: also[c.language] }] : [c]));
  const { page, errors, server } = await open();
  // Through the JS API (a second Polyrun next to the page's own), stdin buffered as natively.
  const results = await page.evaluate(async (cases) => {
    const { Polyrun } = await import('./polyrun.js');
    const pr = await Polyrun.load({ baseUrl: new URL('.', location.href).href });
    const out = [];
    for (const c of cases) {
      // A case that needs a capability the backend lacks is skipped (in the browser nothing
      // around a backend bounds its memory: the worker is the only hard stop).
      const info = pr.languages().find((l) => l.language === c.language && (c.backend ? l.backend === c.backend : l.default));
      if (c.needs && !info.capabilities[c.needs]) {
        out.push({ skipped: true });
        continue;
      }
      const seen = { stdout: '', stderr: '' };
      const limits = c.limits ?? {};
      const outcome = await pr.run(c.language, c.code, {
        stdin: c.stdin ?? '',
        timeoutMs: limits.wall_time_ms,
        memoryBytes: limits.memory_bytes,
        maxOutputBytes: limits.output_bytes,
        backend: c.backend,
        filename: 'main',
        onEvent: (e) => { if (e.type === 'stdout' || e.type === 'stderr') seen[e.type] += e.text; },
      });
      out.push({ ...seen, outcome });
    }
    // A backend chosen explicitly runs; a missing one is the engine's error.
    const lua = await pr.run('lua', 'return 1', { backend: 'mlua' });
    const missing = await pr.run('lua', 'return 1', { backend: 'luajit' });
    const missingPy = await pr.run('python', '1', { backend: 'cpython' });
    const backends = (language) => pr.languages().filter((l) => l.language === language).map((l) => [l.backend, l.default]);
    return { out, lua, missing, missingPy, js: backends('javascript'), py: backends('python') };
  }, cases);
  assert.deepEqual(results.js, [['browser', true], ['boa', false]]);
  assert.deepEqual(results.py, [['pyodide', true], ['rustpython', false]]);
  assert.equal(results.lua.status, 'completed');
  assert.equal(results.missing.error?.kind, 'unknown_backend', JSON.stringify(results.missing));
  assert.deepEqual(results.missing.error.available, ['mlua']);
  assert.match(results.missing.diagnostic.message, /lua has no backend `luajit`/);
  assert.equal(results.missingPy.error?.kind, 'unknown_backend', JSON.stringify(results.missingPy));
  const failures = [];
  let skipped = 0;
  cases.forEach((c, i) => {
    if (results.out[i].skipped) {
      skipped++;
      return;
    }
    const { stdout, stderr, outcome } = results.out[i];
    const e = c.expect;
    const checks = [
      ['status', outcome.status, e.status],
      ['stdout', stdout, e.stdout ?? ''],
      ['stderr', stderr, e.stderr ?? ''],
    ];
    if ('value' in e) checks.push(['value', outcome.value?.['text/plain'], e.value]);
    if ('error_kind' in e) checks.push(['error_kind', outcome.diagnostic?.kind, e.error_kind]);
    if ('error_line' in e) checks.push(['error_line', outcome.diagnostic?.line, e.error_line]);
    if ('limit' in e) checks.push(['limit', outcome.limit, e.limit]);
    const bad = checks.filter(([, got, want]) => got !== want)
      .map(([what, got, want]) => `${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
    if (bad.length) failures.push(`${c.name}: ${bad.join('; ')}\n    outcome: ${JSON.stringify(outcome)}`);
  });
  console.log(`     ${cases.length - skipped - failures.length}/${cases.length - skipped} cases as natively (${skipped} skipped by capability)`);
  assert.deepEqual(failures, []);
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await test('the URL fragment carries the code and the language (a shareable link)', async () => {
  const code = 'print("shared " .. 1 + 1)';
  const hash = `#${new URLSearchParams({ lang: 'lua', code })}`;
  const { page, errors, server } = await open({ hash });
  assert.equal(await page.inputValue('#language'), 'lua');
  assert.equal(await page.evaluate(() => window.playground.code()), code);
  // Highlighted by the Lua mode: the string literal is its own token.
  assert.ok(await page.$$eval('.cm-content span', (s) => s.some((x) => x.textContent === '"shared "')));
  await page.click('#run');
  await page.waitForFunction(() => document.body.dataset.state === 'completed');
  assert.equal(await outputOf(page), 'shared 2\n');
  // Editing updates the fragment.
  await setCode(page, 'print(3)');
  assert.equal(new URLSearchParams(new URL(page.url()).hash.slice(1)).get('code'), 'print(3)');
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await test('stdin reaches the program (buffered)', async () => {
  const { page, server } = await open();
  const r = await runCode(page, 'javascript', 'console.log(prompt().toUpperCase())', { stdin: 'typed line\n' });
  assert.equal(r.output, 'TYPED LINE\n', r.status);
  await page.close();
  server.close();
});

for (const [isolated, mechanism] of [[true, 'atomics'], [false, 'service-worker']]) {
await test(`stdin asks the page for each line (${mechanism})`, async () => {
  const { page, errors, server } = await open({ isolated });
  assert.match(await page.textContent('#status'), new RegExp(`stdin: ${mechanism}`));
  await page.selectOption('#language', 'javascript');
  await setCode(page, 'const a = prompt("first? ");\nconst b = prompt("second? ");\nconsole.log(a + "+" + b);');
  await page.fill('#stdin', '');
  await page.click('#run');
  for (const line of ['ada', 'lovelace']) await typeLine(page, line);
  await page.waitForFunction(() => document.body.dataset.state === 'completed');
  const out = await outputOf(page);
  assert.equal(out, 'first? ada\nsecond? lovelace\nada+lovelace\n');
  // What the terminal shows is the same text (xterm.js renders on its next animation frame).
  await page.waitForFunction(() => [...document.querySelectorAll('#output .xterm-rows > div')]
    .some((r) => r.textContent.includes('ada+lovelace')), null, { timeout: 5000 }).catch(() => {});
  const screen = await page.$$eval('#output .xterm-rows > div', (rows) => rows.map((r) => r.textContent.trimEnd()).join('\n'));
  assert.ok(screen.startsWith('first? ada\nsecond? lovelace\nada+lovelace'), JSON.stringify(screen));
  // The other languages read the typed lines too.
  for (const [lang, code] of [['ruby', 'puts gets.upcase'], ['php', 'echo strtoupper(readline("? "));'], ['lua', 'print(io.read():upper())'], ['python', 'print(input().upper())']]) {
    await page.selectOption('#language', lang);
    await setCode(page, code);
    await page.click('#run');
    await typeLine(page, 'typed');
    await page.waitForFunction(() => document.body.dataset.state === 'completed');
    assert.match(await outputOf(page), /TYPED/, lang);
  }
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});
}

await test('an endless loop stops at the time limit and the Stop button works while the page stays responsive', async () => {
  const { page, server } = await open();
  let started = Date.now();
  const r = await runCode(page, 'javascript', 'while (true) {}', { timeout: '1000' });
  const took = Date.now() - started;
  assert.equal(r.state, 'limit_exceeded', r.status);
  assert.ok(took < 3000, `took ${took} ms`);

  await page.selectOption('#timeout', '10000');
  await setCode(page, 'while (true) {}');
  await page.click('#run');
  await page.waitForFunction(() => document.body.dataset.state === 'running');
  // The page answers while the guest loops: another control changes and reads back.
  await page.fill('#stdin', 'still responsive');
  assert.equal(await page.inputValue('#stdin'), 'still responsive');
  started = Date.now();
  await page.click('#stop');
  await page.waitForFunction(() => document.body.dataset.state === 'cancelled');
  assert.ok(Date.now() - started < 2000);
  // The replacement worker runs the next program.
  const next = await runCode(page, 'javascript', 'console.log("next")');
  assert.equal(next.output, 'next\n');
  await page.close();
  server.close();
});

await test('<polyrun-playground> elements run their snippets', async () => {
  const server = await serve(site);
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/embed.html`);
  for (const [id, expected] of [['js', /^Hello from JavaScript\n$/], ['php', /^Hello from PHP 8\.2\.\d+\n$/], ['ruby', /^Hello from Ruby 3\.4/], ['lua', /^Hello from Lua 5\.4\n$/], ['python', /^Hello from Python 3\.\d+/]]) {
    await page.waitForSelector(`#${id}[data-ready="true"]`, { timeout: 30000 });
    await page.click(`#${id} .run`);
    await page.waitForSelector(`#${id}[data-state]`, { timeout: 30000 });
    const state = await page.getAttribute(`#${id}`, 'data-state');
    assert.equal(state, 'completed', `${id}: ${state}: ${await page.$eval(`#${id}`, (el) => el.output)} ${await page.$eval(`#${id}`, (el) => el.shadowRoot.querySelector('.xterm-rows').textContent)}`);
    assert.match(await page.$eval(`#${id}`, (el) => el.output), expected, id);
    // The terminal shows it too, and the code sits in a CodeMirror editor in the shadow root.
    assert.match(await page.$eval(`#${id}`, (el) => el.shadowRoot.querySelector('.xterm-rows').textContent), /Hello from/, id);
    assert.ok(await page.$eval(`#${id}`, (el) => el.shadowRoot.querySelector('.cm-content').textContent.includes('Hello from')), id);
  }
  await page.screenshot({ path: path.join(artifacts, 'embed.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

// Not a test of speed (no timing is asserted): numbers for the notes and docs, kept as
// measurements.json next to the screenshots.
await test('measurements: bytes before the first JavaScript output, time to first output per language', async () => {
  const server = await serve(site);
  const context = await browser.newContext();
  const page = await context.newPage();
  const transfers = [];
  page.on('requestfinished', async (req) => {
    // What crosses the network only (not the blob: URLs the JavaScript frame makes its workers from).
    if (!req.url().startsWith('http')) return;
    const sizes = await req.sizes().catch(() => null);
    transfers.push({ url: new URL(req.url()).pathname, bytes: sizes?.responseBodySize ?? 0 });
  });
  const url = `http://127.0.0.1:${server.address().port}/`;
  let started = Date.now();
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
  const r = await runCode(page, 'javascript', 'console.log("hi")');
  assert.equal(r.output, 'hi\n');
  const coldMs = Date.now() - started;
  await new Promise((done) => setTimeout(done, 200)); // the last requestfinished events
  const firstTransfers = transfers.slice();
  const beforeFirstJs = firstTransfers.reduce((n, t) => n + t.bytes, 0);

  // Warm HTTP cache: load again, then the first and the second hello world per language.
  started = Date.now();
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
  const warmReadyMs = Date.now() - started;
  const hello = {
    javascript: 'console.log("hi")', lua: 'print("hi")', python: 'print("hi")',
    ruby: 'puts "hi"', php: 'echo "hi\\n";',
  };
  const perLanguage = await page.evaluate(async (hello) => {
    const { Polyrun } = await import('./polyrun.js');
    let t = performance.now();
    const pr = await Polyrun.load({ baseUrl: new URL('.', location.href).href });
    const out = { load_ms: Math.round(performance.now() - t) };
    for (const [lang, code] of Object.entries(hello)) {
      const times = [];
      for (let i = 0; i < 3; i++) {
        t = performance.now();
        let first = null;
        const o = await pr.run(lang, code, { onEvent: (e) => { if (e.type === 'stdout' && first === null) first = performance.now(); } });
        times.push(o.status === 'completed' && first !== null ? Math.round(first - t) : o.status);
      }
      // The second run may wait for what the first started (JavaScript: a worker that sets up
      // its resets); the third is the steady state.
      out[lang] = { first_run_ms: times[0], second_run_ms: times[1], later_run_ms: times[2] };
    }
    return out;
  }, hello);
  const m = {
    browser: browser.version(),
    bytes_before_first_js_output: beforeFirstJs,
    requests_before_first_js_output: firstTransfers.length,
    cold_page_to_first_js_output_ms: coldMs,
    warm_page_ready_ms: warmReadyMs,
    time_to_first_output_warm_cache: perLanguage,
    transfers_before_first_js_output: firstTransfers,
  };
  fs.writeFileSync(path.join(artifacts, 'measurements.json'), JSON.stringify(m, null, 2));
  console.log(`     ${beforeFirstJs} bytes (gzip) in ${firstTransfers.length} requests before the first JavaScript output; cold page to that output ${coldMs} ms; warm page ready ${warmReadyMs} ms`);
  console.log(`     time to first output, warm cache (first run in a worker / second / third): ${Object.entries(perLanguage).filter(([k]) => k !== 'load_ms').map(([k, v]) => `${k} ${v.first_run_ms}/${v.second_run_ms}/${v.later_run_ms} ms`).join(', ')}`);
  for (const lang of Object.keys(hello)) assert.equal(typeof perLanguage[lang].later_run_ms, 'number', lang);
  await context.close();
  server.close();
});

await test("JavaScript on the page's engine: fresh globals, top-level await, timers, streamed output; a memory bomb crashes its frame, not the page; sessions", async () => {
  const { page, server } = await open();
  // Chromium reports a crashed out-of-process frame as the page's crash to playwright, which
  // then refuses to evaluate: the page is asked through the DevTools protocol instead.
  const cdp = await page.context().newCDPSession(page);
  const evaluate = async (expression) => {
    const r = await cdp.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(JSON.stringify(r.exceptionDetails));
    return r.result.value;
  };
  const r = await evaluate(`(async () => {
    const { Polyrun } = await import('./polyrun.js');
    const pr = await Polyrun.load({ baseUrl: new URL('.', location.href).href });
    const outputs = [];
    const arrivals = [];
    const run = async (code, opts = {}) => {
      let out = '';
      const seen = [];
      arrivals.push(seen);
      const outcome = await pr.run('javascript', code, { ...opts, onEvent: (e) => {
        if (e.type === 'stdout') { out += e.text; seen.push(performance.now()); }
      } });
      seen.push(performance.now());
      outputs.push(out);
      return outcome;
    };
    // Each run's global state is fresh, built-ins included.
    await run('Array.prototype.leak = 1; globalThis.kept = 2; Object.freeze(Object.prototype);');
    const fresh = await run('console.log([].leak, typeof kept, Object.isFrozen(Object.prototype))');
    const awaited = await run('const v = await new Promise((r) => setTimeout(() => r(6 * 7), 10));\\nconsole.log(v)');
    const timers = await run('setTimeout(() => console.log("later"), 20);\\nconsole.log("now")');
    const rejected = await run('\\nPromise.reject(new TypeError("nope"))');
    // Output is streamed: what was printed before a busy second arrives before the run ends.
    const busy = await run('console.log("first");\\nconst t = Date.now();\\nwhile (Date.now() - t < 600) {}\\nconsole.log("second")');
    const early = { fresh, awaited, timers, rejected, busy, outputs: outputs.splice(0), gaps: arrivals.splice(0).map((a) => a[a.length - 1] - a[0]) };
    const bomb = await run('const a = []; for (;;) a.push(new Array(1e6).fill(1.5));', { timeoutMs: 120000 });
    const after = await run('console.log("fresh", typeof a)');
    const s1 = await run('var counter = 41', { session: 'nb' });
    const s2 = await run('console.log(++counter)', { session: 'nb' });
    const other = await run('console.log(typeof counter)');
    const loop = await run('for (;;) {}', { timeoutMs: 300 });
    // A worker serves the next run once its realm is put back (realm.js): what a run changed
    // of the built-ins and the global object is gone for the next, on that same worker.
    const used = () => pr.stats().browser.runsOnUsedWorker;
    await run('1');
    await run('1');
    const u0 = used();
    const mutate = await run([
      'Array.prototype.sum = function () { return 1 }; Array.prototype.map = null; globalThis.g = 1; var v = 2;',
      'function f() {} console.log = () => {}; console.extra = 1; Math.max = Math.min; delete JSON.parse;',
      "Object.defineProperty(Error, 'stackTraceLimit', { value: 0 }); Error.prepareStackTrace = () => 'x';",
      'Object.setPrototypeOf(Map.prototype, null); [][Symbol.iterator]().__proto__.next = () => ({ done: true });',
      "Object.getPrototypeOf(async () => {}).constructor.leak = 1; /(a)(b)/.exec('ab'); Function.prototype.toString = () => 'leak';",
      "Symbol.leak = 1; Reflect.ownKeys = null; Intl.leak = 1; Number.prototype.x = 1; Object.prototype.polluted = 1;",
      "Object.defineProperty(Object.prototype, 'get', { get() { return 1 }, configurable: true }); Object.prototype.value = 3;",
    ].join('\\n'));
    const check = await run([
      'console.log([typeof [].sum, typeof [].map, typeof g, typeof v, typeof f, console.extra, Math.max(1, 2),',
      '  typeof JSON.parse, Error.stackTraceLimit, typeof Error.prepareStackTrace,',
      '  Object.getPrototypeOf(Map.prototype) === Object.prototype, [...[1, 2]].length,',
      '  Object.getPrototypeOf(async () => {}).constructor.leak, RegExp.$1, Function.prototype.toString.call(Math.max).includes("native"),',
      '  Symbol.leak, typeof Reflect.ownKeys, Intl.leak, (1).x, ({}).polluted, ({}).get, ({}).value].map(String).join())',
    ].join('\\n'));
    const u1 = used();
    // What a reset cannot undo (a listener on the worker, a frozen built-in, a global that
    // cannot be deleted) leaves that worker to end: the next run is on a fresh one.
    await run("self.addEventListener('unhandledrejection', () => console.log('LEAKED'))");
    const listened = await run('Promise.reject(new RangeError("alone"))');
    await run('Object.freeze(Array.prototype)');
    const unfrozen = await run('console.log(Object.isFrozen(Array.prototype))');
    await run("Object.defineProperty(globalThis, 'pinned', { value: 1 })");
    const unpinned = await run('console.log(typeof pinned)');
    const u2 = used();
    return { early, bomb, after, s1, s2, other, loop, outputs, alive: document.body.dataset.ready, mutate, check, listened, unfrozen, unpinned, reused: [u1 - u0, u2 - u1] };
  })()`);
  const { early } = r;
  assert.equal(early.outputs[1], 'undefined undefined false\n', JSON.stringify(early.fresh));
  assert.equal(early.outputs[2], '42\n', JSON.stringify(early.awaited));
  assert.equal(early.outputs[3], 'now\nlater\n', JSON.stringify(early.timers));
  assert.equal(early.rejected.status, 'error', JSON.stringify(early.rejected));
  assert.equal(early.rejected.diagnostic.kind, 'TypeError');
  assert.match(early.rejected.diagnostic.message, /nope/);
  assert.equal(early.busy.status, 'completed', JSON.stringify(early.busy));
  assert.equal(early.outputs[5], 'first\nsecond\n');
  // "first" came at least the busy half second before the end (not held back until then).
  assert.ok(early.gaps[5] >= 400, `first arrived ${early.gaps[5]} ms before the end`);
  assert.equal(r.bomb.status, 'crashed', JSON.stringify(r.bomb));
  assert.match(r.bomb.reason, /frame stopped answering/);
  assert.equal(r.after.status, 'completed', JSON.stringify(r.after));
  assert.equal(r.outputs[1], 'fresh undefined\n');
  assert.equal(r.s2.status, 'completed', JSON.stringify(r.s2));
  assert.equal(r.outputs[3], '42\n');
  assert.equal(r.outputs[4], 'undefined\n');
  assert.deepEqual(r.loop, { status: 'limit_exceeded', limit: 'time' });
  assert.equal(r.alive, 'true');
  // Resets: the mutating run and the one after it both ran on a worker that had served before.
  assert.equal(r.mutate.status, 'completed', JSON.stringify(r.mutate));
  assert.equal(r.check.status, 'completed', JSON.stringify(r.check));
  assert.equal(r.reused[0], 2, 'the mutating run and the check ran on a used worker');
  assert.equal(r.outputs[9], 'undefined,function,undefined,undefined,undefined,undefined,2,function,10,undefined,true,2,undefined,,true,undefined,function,undefined,undefined,undefined,undefined,undefined\n');
  assert.equal(r.listened.status, 'error', JSON.stringify(r.listened));
  assert.equal(r.listened.diagnostic.kind, 'RangeError');
  assert.equal(r.outputs[11], '', 'no listener of an earlier run');
  assert.equal(r.outputs[13], 'false\n');
  assert.equal(r.outputs[15], 'undefined\n');
  // The touched runs' successors each had a fresh worker (the listener, freeze and pin runs
  // themselves ran on used ones).
  assert.equal(r.reused[1], 3, `runs on used workers: ${r.reused[1]}`);
  await cdp.detach();
  await page.close().catch(() => {});
  server.close();
});

await test('Python on RustPython 0.6 in wasm: what crashed 0.5 and every benchmark program, with the output Pyodide gives', async () => {
  // Smaller than the benchmark's sizes (RustPython in wasm is several times slower than Pyodide;
  // benches/browser runs the full ones); each output is compared with CPython's on Pyodide.
  const sizes = { fib: 22, mandelbrot: 60, nbody: 5000, strings: 20000, dict: 20000, roundtrip: 2000, binarytrees: 10 };
  const programs = Object.entries(sizes).map(([name, n]) => [name,
    `N = ${n}\n${fs.readFileSync(new URL(`../../benches/programs/${name}.py`, import.meta.url), 'utf8')}`]);
  programs.unshift(['references', 'x = [0] * 40000\ny = [x[0]] * 100000\ns = ""\nfor i in range(50000):\n    s += "ab"\nprint(len(x), len(y), len(s))']);
  const { page, server } = await open();
  const r = await page.evaluate(async (programs) => {
    const { Polyrun } = await import('./polyrun.js');
    const pr = await Polyrun.load({ baseUrl: new URL('.', location.href).href, serviceWorker: false });
    const run = async (code, backend) => {
      let out = '';
      const outcome = await pr.run('python', code, { backend, timeoutMs: 60000, onEvent: (e) => { if (e.type === 'stdout') out += e.text; } });
      return { outcome, out };
    };
    const results = {};
    for (const [name, code] of programs) {
      results[name] = { rustpython: await run(code, 'rustpython'), pyodide: await run(code, 'pyodide') };
    }
    return results;
  }, programs);
  for (const [name, { rustpython, pyodide }] of Object.entries(r)) {
    assert.equal(rustpython.outcome.status, 'completed', `${name}: ${JSON.stringify(rustpython.outcome)}`);
    assert.equal(pyodide.outcome.status, 'completed', `${name} on Pyodide: ${JSON.stringify(pyodide.outcome)}`);
    assert.match(rustpython.out, /\S/, name);
    assert.equal(rustpython.out, pyodide.out, name);
  }
  assert.equal(r.references.rustpython.out, '40000 100000 100000\n');
  await page.close();
  server.close();
});

// A bundle whose module traps cannot be trusted again: the run must end as crashed, and the
// next run must get a fresh worker. RustPython's repr of a 100,000-deep list recurses in Rust
// past what the browser gives a wasm stack (natively the worker's stack holds it, and deeper
// nesting is a RecursionError).
await test('a module that traps crashes its run, and the next run gets a fresh worker', async () => {
  const { page, server } = await open();
  const r = await page.evaluate(async () => {
    const { Polyrun } = await import('./polyrun.js');
    const pr = await Polyrun.load({ baseUrl: new URL('.', location.href).href, serviceWorker: false });
    const deep = 'a = []\nfor i in range(100000):\n    a = [a]\nprint(len(repr(a)))';
    const trapped = await pr.run('python', deep, { backend: 'rustpython' });
    let out = '';
    const after = await pr.run('python', 'print("fresh", 6 * 7)', { backend: 'rustpython', onEvent: (e) => { if (e.type === 'stdout') out += e.text; } });
    return { trapped, after, out };
  });
  assert.equal(r.trapped.status, 'crashed', JSON.stringify(r.trapped));
  assert.match(r.trapped.reason, /Python module stopped \(RangeError: Maximum call stack size exceeded\).*restarted/);
  assert.equal(r.after.status, 'completed', JSON.stringify(r.after));
  assert.equal(r.out, 'fresh 42\n');
  await page.close();
  server.close();
});

await test('Python on Pyodide: what crashed RustPython 0.5, every benchmark program, fresh globals, sessions, helpers, progress; interrupted at the deadline and on cancel, the interpreter kept', async () => {
  // The benchmark programs at their full size (benches/src/programs.rs).
  const sizes = { fib: 27, mandelbrot: 250, nbody: 50000, strings: 200000, dict: 200000, roundtrip: 20000, binarytrees: 14 };
  const programs = Object.entries(sizes).map(([name, n]) => [name,
    `N = ${n}\n${fs.readFileSync(new URL(`../../benches/programs/${name}.py`, import.meta.url), 'utf8')}`]);
  // Cross-origin isolated: the frame's shared memory carries the interrupts.
  const { page, errors, server } = await open({ isolated: true });
  const r = await page.evaluate(async (programs) => {
    const { Polyrun } = await import('./polyrun.js');
    const pr = await Polyrun.load({ baseUrl: new URL('.', location.href).href });
    const progress = [];
    const run = async (code, opts = {}) => {
      let out = '';
      const started = performance.now();
      const outcome = await pr.run('python', code, { ...opts, onEvent: (e) => {
        if (e.type === 'stdout') out += e.text;
        if (e.type === 'progress') progress.push(e);
      } });
      return { outcome, out, ms: performance.now() - started };
    };
    const first = await run('import sys\nprint(sys.version_info[:2], sys.platform)');
    const big = await run('x = [0] * 40000\ns = ""\nfor i in range(50000):\n    s += "ab"\nprint(len(x), len(s))');
    const bench = {};
    for (const [name, code] of programs) bench[name] = await run(code, { timeoutMs: 60000 });
    const leak = await run('import math\nleaked = 1\nclass K: pass');
    const fresh = await run('print("leaked" in globals(), "K" in globals(), __name__)');
    const s1 = await run('counter = 41', { session: 'nb' });
    const s2 = await run('counter += 1\ncounter', { session: 'nb' });
    const helpers = await run('import polyrun\npolyrun.set_variable("n", polyrun.input() * 2)\npolyrun.output({"ok": True})', { input: 21 });
    // A mark left in a module: only the same interpreter still has it after the loop.
    await run('import sys\nsys.polyrun_mark = "the same interpreter"');
    const loop = await run('while True:\n    pass', { timeoutMs: 500 });
    const afterLoop = await run('import sys\nprint("back in", getattr(sys, "polyrun_mark", "a new interpreter"))');
    let cancelled;
    const pending = run('import time\nwhile True:\n    time.sleep(0.01)');
    setTimeout(() => pr.cancel(), 300);
    cancelled = await pending;
    const afterCancel = await run('print("still here")');
    // A guest that swallows the interrupt: its worker is ended, the next run gets another.
    const stubborn = await run('while True:\n    try:\n        while True: pass\n    except BaseException:\n        pass', { timeoutMs: 300 });
    const afterStubborn = await run('import sys\nprint("replaced by", getattr(sys, "polyrun_mark", "a new interpreter"))');
    return { first, big, bench, fresh, s2, helpers, vars: pr.variables(), loop, afterLoop, cancelled, afterCancel, stubborn, afterStubborn, progress };
  }, programs);
  console.log(`     first run (fetch + start Pyodide) ${Math.round(r.first.ms)} ms; benchmark programs: ${Object.entries(r.bench).map(([k, v]) => `${k} ${Math.round(v.ms)} ms`).join(', ')}`);
  console.log(`     next run after an interrupted loop ${Math.round(r.afterLoop.ms)} ms, after a worker was ended ${Math.round(r.afterStubborn.ms)} ms`);
  assert.equal(r.first.outcome.status, 'completed', JSON.stringify(r.first.outcome));
  assert.equal(r.first.out, '(3, 14) emscripten\n');
  assert.ok(r.progress.some((e) => /loading Python/.test(e.stage) && e.done === e.total && e.total > 10e6), JSON.stringify(r.progress));
  assert.equal(r.big.out, '40000 100000\n', JSON.stringify(r.big.outcome));
  for (const [name, b] of Object.entries(r.bench)) {
    assert.equal(b.outcome.status, 'completed', `${name}: ${JSON.stringify(b.outcome)}`);
    assert.match(b.out, /\S/, name);
  }
  assert.equal(r.fresh.out, 'False False __main__\n');
  assert.deepEqual(r.s2.outcome.value, { 'text/plain': '42' });
  assert.equal(r.helpers.outcome.status, 'completed', JSON.stringify(r.helpers.outcome));
  assert.deepEqual(r.helpers.outcome.output, { ok: true });
  assert.deepEqual(r.vars, { n: 42 });
  assert.deepEqual(r.loop.outcome, { status: 'limit_exceeded', limit: 'time' });
  // Interrupted, not restarted: the next run is in the same interpreter.
  assert.equal(r.afterLoop.out, 'back in the same interpreter\n');
  assert.deepEqual(r.cancelled.outcome, { status: 'cancelled' });
  assert.equal(r.afterCancel.out, 'still here\n');
  assert.deepEqual(r.stubborn.outcome, { status: 'limit_exceeded', limit: 'time' });
  assert.equal(r.afterStubborn.out, 'replaced by a new interpreter\n', JSON.stringify(r.afterStubborn.outcome));
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await test('Python on Pyodide: a later page load starts from the memory snapshot the first kept; a broken one is dropped', async () => {
  const { page, errors, server } = await open();
  const r = await page.evaluate(async () => {
    const { Polyrun } = await import('./polyrun.js');
    const base = new URL('.', location.href).href;
    const session = async () => {
      const pr = await Polyrun.load({ baseUrl: base, serviceWorker: false });
      let out = '';
      const outcome = await pr.run('python', 'import sys, json\nprint(sys.version_info[:2], json.dumps([1, 2]))\ndef f():\n    raise KeyError("k")\nf()', {
        onEvent: (e) => { if (e.type === 'stdout') out += e.text; },
      });
      // The snapshot is handed over after the first run: wait for it to be kept.
      const settled = ({ snapshotsSaved, snapshotBoots, snapshotsRejected }) => snapshotsSaved + snapshotBoots + snapshotsRejected > 0;
      for (let i = 0; i < 100 && !settled(pr.stats().pyodide); i++) {
        await new Promise((done) => setTimeout(done, 100));
      }
      return { out, outcome, stats: pr.stats().pyodide };
    };
    // Each Polyrun has its own frame and interpreter: the second starts as a later page load.
    const first = await session();
    const second = await session();
    // Whatever is kept is replaced by bytes Pyodide cannot start from.
    await new Promise((done, fail) => {
      const open = indexedDB.open('polyrun');
      open.onsuccess = () => {
        const db = open.result;
        const tx = db.transaction(db.objectStoreNames[0], 'readwrite');
        const store = tx.objectStore(db.objectStoreNames[0]);
        store.getAllKeys().onsuccess = (e) => { for (const key of e.target.result) store.put(new Uint8Array(4096).fill(7).buffer, key); };
        tx.oncomplete = () => { db.close(); done(); };
        tx.onerror = () => fail(tx.error);
      };
      open.onerror = () => fail(open.error);
    });
    const broken = await session();
    const keys = await new Promise((done) => {
      const open = indexedDB.open('polyrun');
      open.onsuccess = () => {
        const db = open.result;
        db.transaction(db.objectStoreNames[0]).objectStore(db.objectStoreNames[0]).getAllKeys().onsuccess = (e) => { done(e.target.result.length); db.close(); };
      };
    });
    return { first, second, broken, keys };
  });
  for (const name of ['first', 'second', 'broken']) {
    const run = r[name];
    assert.equal(run.out, '(3, 14) [1, 2]\n', `${name}: ${JSON.stringify(run.outcome)}`);
    assert.equal(run.outcome.status, 'error', name);
    assert.equal(run.outcome.diagnostic.kind, 'KeyError', name);
    assert.equal(run.outcome.diagnostic.line, 4, name);
  }
  assert.deepEqual([r.first.stats.snapshotBoots, r.first.stats.snapshotsSaved], [0, 1], JSON.stringify(r.first.stats));
  assert.deepEqual([r.second.stats.snapshotBoots, r.second.stats.snapshotsSaved], [1, 0], JSON.stringify(r.second.stats));
  assert.deepEqual([r.broken.stats.snapshotBoots, r.broken.stats.snapshotsRejected], [0, 1], JSON.stringify(r.broken.stats));
  assert.equal(r.keys, 0, 'the broken snapshot was deleted');
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await test('Python on Pyodide: an import it lacks is installed from the package index (a pure-Python wheel), rich display events, other hosts refused', async () => {
  // A stand-in for PyPI beside the site: a PEP 503 page and the wheel it links (no network).
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'polyrun-web-pypi-'));
  for (const entry of fs.readdirSync(site)) fs.symlinkSync(path.join(path.resolve(site), entry), path.join(root, entry));
  const project = path.join(root, 'simple', 'polyrun-demo');
  fs.mkdirSync(project, { recursive: true });
  const wheelName = 'polyrun_demo-1.0-py3-none-any.whl';
  const info = 'polyrun_demo-1.0.dist-info';
  const files = {
    'polyrun_demo/__init__.py': 'def hello():\n    return "hi from a wheel"\n',
    [`${info}/METADATA`]: 'Metadata-Version: 2.1\nName: polyrun-demo\nVersion: 1.0\n',
    [`${info}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: polyrun-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  files[`${info}/RECORD`] = `${Object.keys(files).map((f) => `${f},,`).join('\n')}\n${info}/RECORD,,\n`;
  const wheel = storedZip(files);
  fs.writeFileSync(path.join(project, wheelName), wheel);
  const sha = crypto.createHash('sha256').update(wheel).digest('hex');
  fs.writeFileSync(path.join(project, 'index.html'), `<!doctype html><a href="${wheelName}#sha256=${sha}">${wheelName}</a>\n`);
  const { page, errors, server } = await open({ isolated: true, root });
  const r = await page.evaluate(async () => {
    const { Polyrun } = await import('./polyrun.js');
    const pypiIndex = new URL('simple/', location.href).href;
    const pr = await Polyrun.load({ baseUrl: new URL('.', location.href).href, pythonPackages: { pyodideIndex: null, pypiIndex } });
    const run = async (code) => {
      const events = [];
      const outcome = await pr.run('python', code, { onEvent: (e) => { if (e.type !== 'progress') events.push(e); } });
      return { outcome, events };
    };
    const installed = await run('import polyrun_demo\nprint(polyrun_demo.hello())');
    const missing = await run('import not_on_the_index');
    const shown = await run('class Img:\n    def __repr__(self): return "<Img>"\n    def _repr_png_(self): return bytes([137, 80, 78, 71])\nprint("before")\ndisplay(Img())\nprint("after")');
    const refused = await run('from pyodide.http import pyfetch\nawait pyfetch("https://example.com/")');
    return { installed, missing, shown, refused };
  });
  const text = (events) => events.filter((e) => e.type === 'stdout').map((e) => e.text).join('');
  assert.equal(r.installed.outcome.status, 'completed', JSON.stringify(r.installed));
  assert.equal(text(r.installed.events), 'hi from a wheel\n');
  assert.ok(r.installed.events.some((e) => e.type === 'log' && /installing polyrun_demo/.test(e.message)), JSON.stringify(r.installed.events));
  // What cannot be installed is the run's own ModuleNotFoundError, with why in a log event.
  assert.equal(r.missing.outcome.diagnostic?.kind, 'ModuleNotFoundError', JSON.stringify(r.missing));
  assert.equal(r.missing.outcome.diagnostic.line, 1);
  assert.ok(r.missing.events.some((e) => e.type === 'log' && e.level === 'warning' && /not_on_the_index/.test(e.message)), JSON.stringify(r.missing.events));
  // display(): a display event between the prints, the PNG as base64.
  assert.deepEqual(r.shown.events.map((e) => (e.type === 'display' ? e.bundle : e.text)),
    ['before\n', { 'text/plain': '<Img>', 'image/png': 'iVBORw==' }, 'after\n']);
  assert.equal(r.refused.outcome.status, 'error');
  assert.match(r.refused.outcome.diagnostic.message, /not an allowed package source: https:\/\/example\.com\//);
  // The browser logs the index's 404 for the project it does not have; nothing else.
  assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), []);
  await page.close();
  server.close();
  fs.rmSync(root, { recursive: true, force: true });
});

await test("the page's runners keep a namespace's quota as the engine does (JavaScript on the page, Python on Pyodide)", async () => {
  const { page, errors, server } = await open();
  const r = await page.evaluate(async () => {
    const { Polyrun } = await import('./polyrun.js');
    const pr = await Polyrun.load({ baseUrl: new URL('.', location.href).href });
    const run = async (language, code, namespace) => {
      let out = '';
      const outcome = await pr.run(language, code, { namespace, onEvent: (e) => { if (e.type === 'stdout') out += e.text; } });
      return { outcome, out, count: Object.keys(pr.variables(namespace)).length };
    };
    const js = await run('javascript', `for (let i = 0; i <= 10000; i++) {
  try { polyrun.setVariable("v" + i, i); } catch (e) { console.log(i, e.message); }
}
polyrun.setVariable("v0", "replaced: not a new variable");
console.log(polyrun.getVariable("v0"));`, 'js');
    const py = await run('python', `import polyrun
for i in range(10001):
    try:
        polyrun.set_variable("v%d" % i, i)
    except Exception as e:
        print(i, e)
`, 'py');
    // The quota counts what the namespace held before the run too.
    const again = await run('python', 'import polyrun\ntry:\n    polyrun.set_variable("one more", 1)\nexcept Exception as e:\n    print(e)', 'py');
    return { js, py, again };
  });
  assert.match(r.js.out, /^10000 .*the namespace `default` holds 10000 other variables; the limit is 10000\nreplaced: not a new variable\n$/, JSON.stringify(r.js));
  assert.equal(r.js.count, 10000);
  assert.match(r.py.out, /^10000 .*the namespace `default` holds 10000 other variables; the limit is 10000\n$/, JSON.stringify(r.py));
  assert.equal(r.py.count, 10000);
  assert.match(r.again.out, /holds 10000 other variables/, JSON.stringify(r.again));
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

// The page served by `polyrun serve` (POLYRUN_BIN, set by scripts/web test): runs on the server
// stream into the same terminal, with typed stdin, the error line and Stop.
await test('run on the server: polyrun serve streams into the terminal, with stdin, the error line and Stop', async () => {
  const bin = process.env.POLYRUN_BIN;
  if (!bin) throw new Error('POLYRUN_BIN is not set (scripts/web test sets it)');
  const child = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--site', site], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' },
  });
  try {
    const base = await new Promise((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        const m = buf.match(/listening on (http:\/\/\S+)/);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`polyrun serve exited with ${code}`)));
    });
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
    await page.waitForSelector('body[data-server="available"]');
    await page.selectOption('#where', 'server');
    let r = await runCode(page, 'python', 'import sys\nprint("hello from", sys.platform)\n6 * 7');
    assert.equal(r.state, 'completed', r.status);
    assert.match(r.output, /^hello from \w+\n=> 42\n$/);
    assert.match(page.url(), /on=server/);
    // Typed stdin goes over the WebSocket.
    await page.selectOption('#language', 'ruby');
    await setCode(page, 'print "name? "\nputs "hi #{gets.strip.upcase}"');
    await page.fill('#stdin', '');
    await page.click('#run');
    await typeLine(page, 'ada');
    await page.waitForFunction(() => document.body.dataset.state === 'completed');
    assert.equal(await outputOf(page), 'name? ada\nhi ADA\n');
    r = await runCode(page, 'javascript', 'let x = 1;\n\nthrow new Error("boom");');
    assert.equal(r.state, 'error');
    assert.equal(await markedLine(page), '3');
    // Stop cancels the run on the server.
    await page.selectOption('#language', 'lua');
    await setCode(page, 'print("spinning")\nwhile true do end');
    await page.selectOption('#timeout', '10000');
    await page.click('#run');
    await page.waitForFunction(() => window.playground.output().includes('spinning'));
    await page.click('#stop');
    await page.waitForFunction(() => document.body.dataset.state === 'cancelled');
    assert.equal(await page.textContent('#status'), 'stopped');
    assert.deepEqual(errors, []);
    await page.close();
  } finally {
    child.kill('SIGTERM');
  }
});

await test('the polyrun helpers: the same check script gives the same output in all five languages', async () => {
  const dir = new URL('../../examples/helpers/', import.meta.url);
  const scripts = Object.fromEntries(['js', 'lua', 'py', 'rb', 'php']
    .map((ext) => [ext, fs.readFileSync(new URL(`check.${ext}`, dir), 'utf8')]));
  const { page, errors, server } = await open();
  const results = await page.evaluate(async (scripts) => {
    const { Polyrun } = await import('./polyrun.js');
    const pr = await Polyrun.load({ baseUrl: new URL('.', location.href).href, persistVariables: true });
    const out = {};
    for (const [ext, code] of Object.entries(scripts)) {
      let stdout = '';
      const run = () => pr.run(ext, code, {
        filename: `check.${ext}`,
        timeoutMs: 30000,
        namespace: `check-${ext}`,
        input: { name: 'Ada', numbers: [1, 2, 3.5], flags: { ok: true } },
        onEvent: (e) => { if (e.type === 'stdout' || e.type === 'stderr') stdout += e.text; },
      });
      const first = await run();
      const second = await run();
      out[ext] = { first, second, stdout, vars: pr.variables(`check-${ext}`) };
    }
    // A fresh Polyrun on this page reads the variables back from localStorage.
    const again = await Polyrun.load({ baseUrl: new URL('.', location.href).href, persistVariables: true });
    const counter = await again.run('lua', 'polyrun.output(polyrun.getVariable("runs"))', { namespace: 'check-lua' });
    return { out, counter };
  }, scripts);
  for (const [ext, r] of Object.entries(results.out)) {
    assert.equal(r.first.status, 'completed', `${ext}: ${JSON.stringify(r.first)}`);
    const { step, trigger, ...rest } = r.first.output;
    assert.deepEqual(rest, {
      greeting: 'hello Ada', total: 6.5, doubled: [2, 4, 7], runs: 1, flags: { ok: true },
      has_run_id: true, missing_is_null: true, refused: true,
    }, ext);
    assert.equal(trigger, 'browser', ext);
    // Not a pipeline step: null (Lua has no null in a table: the key is absent).
    assert.equal(step ?? null, null, ext);
    assert.equal(r.second.output.runs, 2, ext);
    assert.equal(r.stdout, 'checked hello Ada\n'.repeat(2), ext);
    assert.deepEqual(r.vars, { greeting: 'hello Ada', runs: 2 }, ext);
  }
  assert.equal(results.counter.output, 2);
  assert.deepEqual(errors, []);
  await page.close();
  server.close();
});

await browser.close();
if (failures > 0) {
  console.log(`${failures} browser test(s) failed`);
  process.exit(1);
}
console.log('all browser tests passed');
