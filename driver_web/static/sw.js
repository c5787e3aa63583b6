// Ladeflyt's service worker: the app shell from the cache when offline (network first, so
// a new version shows at once when online). Data is not cached here: the app keeps the
// last answers it got from /graphql itself. Other origins (map tiles, Stripe) pass by.
const VERSION = "__VERSION__";
const CACHE = `ladeflyt-app-${VERSION}`;
const SHELL = ["__SHELL__"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("ladeflyt-app-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.startsWith("/app")) {
    // Every /app/... path is the same shell: the app routes in the browser.
    event.respondWith(fromNetwork(request, "/app"));
    return;
  }
  if (SHELL.includes(url.pathname)) event.respondWith(fromNetwork(request, url.pathname));
});

async function fromNetwork(request, key) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) cache.put(key, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw error;
  }
}
