// The editor site's service worker: it keeps the site's own files (pages,
// modules, style, the vendored diff-match-patch and the last /config.js)
// so that a page opens while the daemon is down, showing the text kept in
// localStorage with the offline badge instead of the browser's error page.
//
// Network first: while the daemon answers, every file comes fresh from it
// (and refreshes the kept copy); only a failed fetch falls back to the copy.
// Requests to other origins (the gateway) and other methods pass by.

const CACHE = 'mobwrite-site-1';
const FILES = [
  'index.html', 'editor.html', 'form.html', 'spreadsheet.html', 'style.css',
  'carets.js', 'core.js', 'delta.js', 'editor.js', 'form.js', 'handlers.js', 'index.js', 'loader.js', 'loop.js',
  'mobwrite.js', 'page.js', 'patching.js', 'people.js', 'presence.js', 'saved.js', 'spreadsheet.js', 'token.js',
  'transport.js', 'undo.js',
  'history.css', 'history.js', 'revisions.js',
  'vendor/diff-match-patch.mjs',
];
const CONFIG = 'config.js';
// No kept /config.js (a site without one): the pages then use their own fallback.
const NO_CONFIG = 'export default {};\n';

const scope = new URL('./', self.location.href);
const kept = new Set([...FILES, CONFIG].map((file) => new URL(file, scope).pathname));

/** The path a request's file is kept under: the site's root is its start page. */
function keptPath(url) {
  return url.pathname === scope.pathname ? `${scope.pathname}index.html` : url.pathname;
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(FILES);
    // Optional: a plain static server has no /config.js.
    await cache.add(CONFIG).catch(() => {});
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== scope.origin || !kept.has(keptPath(url))) return;
  event.respondWith(networkFirst(event, url));
});

async function networkFirst(event, url) {
  const cache = await caches.open(CACHE);
  const key = new URL(keptPath(url), scope).href;
  try {
    const response = await fetch(event.request);
    if (response.ok) event.waitUntil(cache.put(key, response.clone()));
    return response;
  } catch (error) {
    const copy = await cache.match(key);
    if (copy) return copy;
    if (url.pathname.endsWith(`/${CONFIG}`)) {
      return new Response(NO_CONFIG, { headers: { 'Content-Type': 'text/javascript; charset=utf-8' } });
    }
    throw error;
  }
}
