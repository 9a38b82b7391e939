// A static file server for the built site, behaving like a plain static host: gzip for text and
// wasm when the browser accepts it, ETag revalidation (`Cache-Control: no-cache` + 304), and no
// special headers unless --isolated, which adds the COOP/COEP pair that makes the page
// cross-origin isolated.
//   node web/tools/serve.mjs DIR [--port 8000] [--isolated]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.wasm', '.json', '.svg', '.ts']);
const gzipped = new Map(); // `${file}:${etag}` -> gzipped body

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
  '.svg': 'image/svg+xml', '.ts': 'text/plain; charset=utf-8',
};

/** Serves `root`; resolves to the listening server. */
export function serve(root, { port = 0, isolated = false } = {}) {
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    let file;
    try {
      file = path.normalize(path.join(base, decodeURIComponent(new URL(req.url, 'http://localhost').pathname)));
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (!file.startsWith(base)) {
      res.writeHead(403).end();
      return;
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
        return;
      }
      const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
      const headers = {
        'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-cache',
        etag,
      };
      if (isolated) {
        headers['cross-origin-opener-policy'] = 'same-origin';
        headers['cross-origin-embedder-policy'] = 'require-corp';
      }
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers).end();
        return;
      }
      fs.readFile(file, (err2, body) => {
        if (err2) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err2));
          return;
        }
        if (COMPRESSIBLE.has(path.extname(file)) && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
          const key = `${file}:${etag}`;
          if (!gzipped.has(key)) gzipped.set(key, zlib.gzipSync(body, { level: 6 }));
          headers['content-encoding'] = 'gzip';
          headers.vary = 'accept-encoding';
          body = gzipped.get(key);
        }
        res.writeHead(200, headers).end(body);
      });
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const dir = args.find((a) => !a.startsWith('--')) ?? '.';
  const port = Number(args[args.indexOf('--port') + 1]) || 8000;
  const server = await serve(dir, { port: args.includes('--port') ? port : 8000, isolated: args.includes('--isolated') });
  console.log(`polyrun playground: http://127.0.0.1:${server.address().port}/ (${dir})`);
}
