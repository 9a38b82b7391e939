// Puts the language artifacts the browser runs on its own WebAssembly engine into a site build,
// named by their hash, with artifacts.json describing them (and the lazily loaded wasm bundles:
// Python's).
//   node web/tools/artifacts.mjs SITE_DIR   (reads `polyrun fetch --list --json` and
//   `polyrun langs --json` output from the files named by POLYRUN_ARTIFACTS_JSON, POLYRUN_LANGS_JSON)
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const [site] = process.argv.slice(2);
const lines = (file) => fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const artifacts = lines(process.env.POLYRUN_ARTIFACTS_JSON);
const langs = lines(process.env.POLYRUN_LANGS_JSON);
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

const out = [];
fs.mkdirSync(path.join(site, 'artifacts'), { recursive: true });
// Each language: its artifact (php.wasm built from source, ruby.wasm from npm) and the prelude
// its native backend uses.
for (const [name, preludePath] of [['php', 'runtimes/php/src/prelude.php'], ['ruby', 'runtimes/ruby/src/prelude.rb']]) {
  const a = artifacts.find((x) => x.name === name);
  if (!a?.path) throw new Error(`${name}'s artifact is not in the cache: run \`polyrun fetch ${name}\` first`);
  const prelude = fs.readFileSync(path.join(repo, preludePath));
  const preludeHash = crypto.createHash('sha256').update(prelude).digest('hex').slice(0, 12);
  const file = `artifacts/${name}-${a.sha256.slice(0, 12)}.wasm`;
  const preludeFile = `artifacts/${name}-prelude-${preludeHash}${path.extname(preludePath)}`;
  fs.copyFileSync(a.path, path.join(site, file));
  fs.writeFileSync(path.join(site, preludeFile), prelude);
  const info = langs.find((l) => l.language === name);
  out.push({
    info,
    file,
    prelude_file: preludeFile,
    sha256: a.sha256,
    size: a.size,
    version: a.version,
  });
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
fs.writeFileSync(path.join(site, 'artifacts.json'), JSON.stringify({ artifacts: out, modules }, null, 2));
console.error(`web: artifacts: ${out.map((a) => `${a.info.language} ${a.size} bytes`).join(', ')}`);
