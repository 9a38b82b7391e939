// Puts the language artifacts the browser runs on its own WebAssembly engine into a site build,
// named by their hash, with artifacts.json describing them (and the lazily loaded wasm bundles:
// RustPython's; and Pyodide's files).
//   node web/tools/artifacts.mjs SITE_DIR   (reads `polyrun fetch --list --json` and
//   `polyrun langs --json` output from the files named by POLYRUN_ARTIFACTS_JSON, POLYRUN_LANGS_JSON)
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const [site] = process.argv.slice(2);
const lines = (file) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const artifacts = lines(process.env.POLYRUN_ARTIFACTS_JSON);
const langs = lines(process.env.POLYRUN_LANGS_JSON);

const out = [];
fs.mkdirSync(path.join(site, 'artifacts'), { recursive: true });
// The WASI modules the bundle's Ruby and PHP adapters run on (php.wasm built from source,
// ruby.wasm from npm): the same files as natively.
for (const name of ['php', 'ruby']) {
  const a = artifacts.find((x) => x.name === name);
  if (!a?.path) throw new Error(`${name}'s artifact is not in the cache: run \`polyrun fetch ${name}\` first`);
  const file = `artifacts/${name}-${a.sha256.slice(0, 12)}.wasm`;
  fs.copyFileSync(a.path, path.join(site, file));
  const info = langs.find((l) => l.language === name);
  out.push({ name, info, file, sha256: a.sha256, size: a.size, version: a.version });
}
// Languages in a second wasm-bindgen bundle of polyrun-web, loaded on their first run.
const modules = [];
for (const [name, stem] of [['python', 'polyrun_python']]) {
  const wasm = `pkg/${stem}_bg.wasm`;
  if (!fs.existsSync(path.join(site, wasm))) continue;
  const info = langs.find((l) => l.language === name);
  const bytes = fs.readFileSync(path.join(site, wasm));
  modules.push({
    info,
    js: `pkg/${stem}.js`,
    wasm,
    size: bytes.length,
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
  });
}
// Python's default backend, Pyodide: its pinned core files (the `pyodide` group of
// packaging/artifacts.lock, fetched by `polyrun fetch pyodide`) and polyrun's two Python files
// (already in SITE_DIR/python-pyodide/), which js-browser/host.js fetches, checks and hands to
// the sandboxed frame on the first Python run.
const core = artifacts.filter((a) => a.group === 'pyodide');
if (core.length === 0 || core.some((a) => !a.path)) throw new Error('Pyodide is not in the cache: run `polyrun fetch pyodide` first');
const copied = core.map((a) => {
  const file = `artifacts/pyodide-${a.sha256.slice(0, 12)}/${a.file}`;
  fs.mkdirSync(path.dirname(path.join(site, file)), { recursive: true });
  fs.copyFileSync(a.path, path.join(site, file));
  return { name: a.file, path: file, size: a.size, sha256: a.sha256 };
});
// Wheels (micropip) are fetched by the runs that need them; the rest is what a worker boots on.
const pyodideFiles = copied.filter((f) => !f.name.endsWith('.whl'));
const wheels = copied.filter((f) => f.name.endsWith('.whl'));
for (const name of ['outcomes.py', 'runner.py']) {
  const file = `python-pyodide/${name}`;
  const bytes = fs.readFileSync(path.join(site, file));
  pyodideFiles.push({ name, path: file, size: bytes.length, sha256: crypto.createHash('sha256').update(bytes).digest('hex') });
}
const pyodide = { version: core[0].version, files: pyodideFiles, wheels };
fs.writeFileSync(path.join(site, 'artifacts.json'), JSON.stringify({ artifacts: out, modules, pyodide }, null, 2));
console.error(`web: artifacts: ${out.map((a) => `${a.info.language} ${a.size} bytes`).join(', ')}`);
