// polyrun's stdin service worker: interactive stdin on pages that are not cross-origin isolated
// (no SharedArrayBuffer). A running program's worker asks for a line with a synchronous
// XMLHttpRequest to `polyrun-stdin?id=N`; this service worker holds that request open until the
// page posts the line ({ type: 'polyrun-stdin', id, line }), then answers it. A plain static
// host is enough: no special headers.
const waiting = new Map(); // id -> resolve
const early = new Map(); // id -> line that came before the request

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

self.addEventListener('message', (e) => {
  const m = e.data;
  if (m?.type !== 'polyrun-stdin') return;
  const body = JSON.stringify({ line: m.line ?? null });
  const resolve = waiting.get(m.id);
  if (resolve) {
    waiting.delete(m.id);
    resolve(body);
  } else {
    early.set(m.id, body);
  }
});

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (!url.pathname.endsWith('/polyrun-stdin')) return;
  const id = url.searchParams.get('id');
  e.respondWith((async () => {
    let body = early.get(id);
    early.delete(id);
    if (body === undefined) body = await new Promise((resolve) => waiting.set(id, resolve));
    return new Response(body, { headers: { 'content-type': 'application/json', 'cache-control': 'no-store' } });
  })());
});
