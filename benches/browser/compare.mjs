// The browser side of the benchmark harness, run by polyrun-bench (benches/src/browser.rs):
// polyrun's web build next to the runtimes users pick in a browser today, in Debian's Chromium.
//   node benches/browser/compare.mjs SITE PROGRAMS.json OUT.json
// PROGRAMS.json: { runs, programs: [{ name, language, code }] }. For every runtime, in a fresh
// browser context: the page is opened with an empty HTTP cache (gzipped bytes and time until
// hello world's output), then again with the cache warm (time until hello world's output), and
// in that page every program of the runtime's language runs once (its output kept for the
// harness's checksum check) and then `runs` times, timed. OUT.json gets everything.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { serve } from '../../web/tools/serve.mjs';

const [site, programsFile, outFile] = process.argv.slice(2);
if (!site || !programsFile || !outFile) {
  console.error('usage: node benches/browser/compare.mjs SITE PROGRAMS.json OUT.json');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, 'node_modules');
const { runs, programs } = JSON.parse(fs.readFileSync(programsFile, 'utf8'));

// Who runs what: polyrun for every language, and next to it what a user would pick instead.
const ALL_RUNTIMES = [
  { runtime: 'polyrun', language: 'javascript' },
  { runtime: 'browser-js', language: 'javascript' },
  { runtime: 'browser-js-worker', language: 'javascript' },
  { runtime: 'polyrun', language: 'lua' },
  { runtime: 'wasmoon', language: 'lua', package: 'wasmoon' },
  { runtime: 'polyrun', language: 'python' },
  { runtime: 'pyodide', language: 'python', package: 'pyodide' },
  { runtime: 'polyrun', language: 'ruby' },
  { runtime: 'ruby.wasm', language: 'ruby', package: '@ruby/wasm-wasi' },
  { runtime: 'polyrun', language: 'php' },
  { runtime: 'php-wasm', language: 'php', package: '@php-wasm/web-8-2' },
];
// POLYRUN_BENCH_RUNTIMES=polyrun:python,pyodide:python picks some (for investigating one).
const only = process.env.POLYRUN_BENCH_RUNTIMES?.split(',').map((s) => s.trim()).filter(Boolean);
const RUNTIMES = only ? ALL_RUNTIMES.filter((r) => only.includes(`${r.runtime}:${r.language}`)) : ALL_RUNTIMES;

// One origin for everything: the site under /site/, this page under /bench/, npm packages
// under /peers/ (symbolic links in a temporary root).
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'polyrun-bench-browser-'));
fs.symlinkSync(path.resolve(site), path.join(root, 'site'));
fs.mkdirSync(path.join(root, 'bench'));
for (const f of ['page.html', 'page.js']) fs.symlinkSync(path.join(here, f), path.join(root, 'bench', f));
fs.mkdirSync(path.join(root, 'peers'));
fs.symlinkSync(path.join(modules, 'wasmoon'), path.join(root, 'peers', 'wasmoon'));
fs.symlinkSync(path.join(modules, 'pyodide'), path.join(root, 'peers', 'pyodide'));
fs.symlinkSync(path.join(modules, '@ruby', 'wasm-wasi'), path.join(root, 'peers', 'ruby-wasm-wasi'));
// php-wasm (WordPress Playground's PHP) ships as modules for a bundler (bare imports, the
// .wasm imported as a file): bundled with esbuild, as an application using it would be.
if (RUNTIMES.some((r) => r.runtime === 'php-wasm')) {
  await esbuild.build({
    stdin: {
      contents: "export { PHP, loadPHPRuntime } from '@php-wasm/universal';\nexport { getPHPLoaderModule } from '@php-wasm/web-8-2';\n",
      resolveDir: here,
    },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    minify: true,
    outdir: path.join(root, 'peers', 'php-wasm'),
    entryNames: 'bundle',
    publicPath: '/peers/php-wasm/',
    loader: { '.wasm': 'file', '.so': 'file' },
    // Reached only under Node.
    external: ['worker_threads', 'events', 'fs', 'path', 'crypto', 'os', 'url', 'module', 'child_process'],
    logLevel: 'warning',
  });
}

const server = await serve(root);
const origin = `http://127.0.0.1:${server.address().port}`;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x) => Math.round(x * 100) / 100;

/** Opens the runtime's page; resolves once hello world has printed. */
async function open(context, r) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') process.stderr.write(`${r.runtime} ${r.language}: console: ${m.text()}\n`); });
  await page.goto(`${origin}/bench/page.html?runtime=${encodeURIComponent(r.runtime)}&language=${r.language}`);
  const hello = await page.evaluate(() => window.bench.then(
    (b) => ({ helloMs: b.helloMs, output: b.output, version: b.version }),
    (e) => ({ error: String(e && e.stack || e) })));
  if (hello.error || errors.length) throw new Error(`${r.runtime} ${r.language}: ${hello.error ?? errors.join('\n')}`);
  if (hello.output !== 'hi\n') throw new Error(`${r.runtime} ${r.language}: hello world printed ${JSON.stringify(hello.output)}`);
  return { page, hello };
}

const results = [];
try {
  for (const r of RUNTIMES) {
    const context = await browser.newContext();
    let bytes = 0;
    let requests = 0;
    context.on('requestfinished', async (req) => {
      const sizes = await req.sizes().catch(() => null);
      bytes += sizes?.responseBodySize ?? 0;
      requests++;
    });
    const cold = await open(context, r);
    await new Promise((done) => setTimeout(done, 300)); // the last requestfinished events
    const coldBytes = bytes;
    const coldRequests = requests;
    await cold.page.close();
    const warm = await open(context, r);
    const measured = [];
    for (const p of programs.filter((p) => p.language === r.language)) {
      const m = await warm.page.evaluate(([code, n]) => window.measure(code, n).then(
        (x) => x, (e) => ({ error: String(e && e.stack || e) })), [p.code, runs]);
      if (m.error) {
        // Recorded, not fatal: the harness reports a program a runtime cannot run.
        measured.push({ name: p.name, error: m.error.split('\n')[0] });
        process.stderr.write('x');
        continue;
      }
      measured.push({
        name: p.name,
        output: m.output,
        median_ms: round(median(m.ms)),
        min_ms: round(Math.min(...m.ms)),
        max_ms: round(Math.max(...m.ms)),
      });
      process.stderr.write('.');
    }
    const version = r.package
      ? `${cold.hello.version}; npm ${r.package} ${JSON.parse(fs.readFileSync(path.join(modules, r.package, 'package.json'), 'utf8')).version}`
      : cold.hello.version;
    results.push({
      runtime: r.runtime,
      language: r.language,
      version,
      cold_bytes: coldBytes,
      cold_requests: coldRequests,
      cold_hello_ms: round(cold.hello.helloMs),
      warm_hello_ms: round(warm.hello.helloMs),
      programs: measured,
    });
    await context.close();
    process.stderr.write(` ${r.runtime} ${r.language}\n`);
  }
  fs.writeFileSync(outFile, JSON.stringify({ browser: `Chromium ${browser.version()}`, runs, runtimes: results }, null, 2));
} finally {
  await browser.close();
  server.close();
  fs.rmSync(root, { recursive: true, force: true });
}
