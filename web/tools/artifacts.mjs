// Puts the language artifacts the browser runs on its own WebAssembly engine into a site build,
// named by their hash, with artifacts.json describing them.
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
const php = artifacts.find((a) => a.name === 'php');
if (!php?.path) throw new Error('php.wasm is not built: run `polyrun fetch php` first');
const prelude = fs.readFileSync(path.join(repo, 'runtimes/php/src/prelude.php'));
const preludeHash = crypto.createHash('sha256').update(prelude).digest('hex').slice(0, 12);
fs.mkdirSync(path.join(site, 'artifacts'), { recursive: true });
const file = `artifacts/php-${php.sha256.slice(0, 12)}.wasm`;
fs.copyFileSync(php.path, path.join(site, file));
fs.writeFileSync(path.join(site, `artifacts/php-prelude-${preludeHash}.php`), prelude);
const info = langs.find((l) => l.language === 'php');
out.push({
  info: { ...info, backend: 'php.wasm+browser' },
  file,
  prelude_file: `artifacts/php-prelude-${preludeHash}.php`,
  sha256: php.sha256,
  size: php.size,
  version: php.version,
});
fs.writeFileSync(path.join(site, 'artifacts.json'), JSON.stringify({ artifacts: out }, null, 2));
console.error(`web: artifacts: ${out.map((a) => `${a.info.language} ${a.size} bytes`).join(', ')}`);
