// Shared pieces of the screens: htm bound to Preact, navigation, data hooks, small widgets.
import { h } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import { cachedQuery, GraphQLError, Offline } from "./api.js";
import { dateTime, t } from "./i18n.js";

export const html = htm.bind(h);

// ------------------------------------------------------------------ navigation

const routeListeners = new Set();

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  routeListeners.forEach((listener) => listener());
  window.scrollTo(0, 0);
}

export function useLocation() {
  const [, setTick] = useState(0);
  useEffect(() => {
    const listener = () => setTick((n) => n + 1);
    routeListeners.add(listener);
    window.addEventListener("popstate", listener);
    return () => {
      routeListeners.delete(listener);
      window.removeEventListener("popstate", listener);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

// Links inside the app move without reloading the page.
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a[href]");
  if (!link || link.target || event.ctrlKey || event.metaKey || event.shiftKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin === location.origin && url.pathname.startsWith("/app") && !link.hasAttribute("download")) {
    event.preventDefault();
    navigate(url.pathname + url.search);
  }
});

// ------------------------------------------------------------------ data

// A kept query: {data, stale, at, error, loading, reload}. `key` null: do not run.
export function useQuery(key, query, variables) {
  const [state, setState] = useState({ loading: key !== null });
  const depends = JSON.stringify([key, variables]);
  const latest = useRef(0);
  const load = useCallback(async () => {
    if (key === null) return;
    // Only the newest request may set the state: an older answer arriving late (the
    // filters changed meanwhile) is dropped.
    const ticket = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const result = await cachedQuery(key, query, variables);
      if (ticket === latest.current) setState({ ...result, loading: false });
    } catch (error) {
      if (ticket === latest.current) setState({ loading: false, error });
    }
  }, [depends]);
  useEffect(() => {
    load();
    return () => {
      latest.current++;
    };
  }, [depends]);
  return { ...state, reload: load };
}

export function message(error) {
  if (error instanceof Offline) return t("offline");
  if (error instanceof GraphQLError) return error.message;
  return String(error && error.message ? error.message : error);
}

// ------------------------------------------------------------------ scripts

const scripts = new Map();

// A classic script (Leaflet from here, Stripe.js from Stripe) loaded once, when first
// needed; resolves to the global it defines.
export function loadScript(src, global) {
  if (window[global]) return Promise.resolve(window[global]);
  if (!scripts.has(src)) {
    scripts.set(
      src,
      new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src;
        script.onload = () => resolve(window[global]);
        script.onerror = () => {
          scripts.delete(src);
          script.remove();
          reject(new Error(`${src} could not be loaded`));
        };
        document.head.appendChild(script);
      }),
    );
  }
  return scripts.get(src);
}

// ------------------------------------------------------------------ widgets

export function Loading() {
  return html`<p class="muted" role="status">${t("loading")}</p>`;
}

export function Problem({ error, retry }) {
  return html`<div class="notice error" role="alert">
    <p>${message(error)}</p>
    ${retry && html`<button class="secondary" onClick=${retry}>${t("retry")}</button>`}
  </div>`;
}

export function Stale({ result }) {
  if (!result || !result.stale) return null;
  return html`<p class="notice offline" id="stale">${t("offline")} (${t("offline_since")} ${dateTime(result.at)})</p>`;
}

export function Notice({ kind = "info", children, id }) {
  return html`<div class=${`notice ${kind}`} id=${id} role=${kind === "error" ? "alert" : "status"}>${children}</div>`;
}

export function Screen({ title, back, children }) {
  useEffect(() => {
    document.title = title ? `${title} – ${t("app")}` : t("app");
  }, [title]);
  return html`<main class="screen">
    <header class="screen-head">
      ${back && html`<a class="back" href=${back} aria-label=${t("back")}>‹</a>`}
      <h1>${title}</h1>
    </header>
    ${children}
  </main>`;
}

export function Field({ label, children, hint }) {
  return html`<label class="field"><span>${label}</span>${children}${hint && html`<small class="muted">${hint}</small>`}</label>`;
}

// The typename of a result union, and its problem message if it is one.
export function problemOf(result) {
  return result && result.message && result.__typename !== "SignInCodeSent" ? result.message : null;
}
