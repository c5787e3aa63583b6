// The driver app: routes (every /app/... path), the signed-in driver, the bottom bar.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { auth, cachedQuery, lastKnown, onAuthChange } from "./api.js";
import { language, setLanguage, t } from "./i18n.js";
import { html, navigate, useLocation } from "./ui.js";
import { Profile, SignIn } from "./screens/signin.js";
import { Find } from "./screens/find.js";
import { ChargerScreen } from "./screens/charger.js";
import { SessionScreen } from "./screens/session.js";
import { History, Invoices, ReceiptScreen } from "./screens/history.js";
import { Payment } from "./screens/payment.js";
import { Account, Tags, Vehicles } from "./screens/account.js";
import { RoutePlanner } from "./screens/route.js";

const ME = `query { me { id phone name email language customerGroup } }`;
const CONFIG = `query { appConfig { operatorName shortNumber supportPhone supportEmail cardProvider
  stripePublishableKey vipps mapTileUrl mapAttribution } }`;

// [pattern, screen, needs sign-in, bottom-bar tab]
const ROUTES = [
  [/^\/app\/?$/, Find, false, "find"],
  [/^\/app\/find$/, Find, false, "find"],
  [/^\/app\/signin$/, SignIn, false, "account"],
  [/^\/app\/profile$/, Profile, true, "account"],
  [/^\/app\/charger\/([^/]+)$/, ChargerScreen, false, "find"],
  [/^\/app\/c\/([^/]+)$/, ChargerScreen, false, "find"],
  [/^\/app\/session\/(\d+)$/, SessionScreen, true, "find"],
  [/^\/app\/history$/, History, true, "history"],
  [/^\/app\/receipt\/(\d+)$/, ReceiptScreen, true, "history"],
  [/^\/app\/invoices$/, Invoices, true, "history"],
  [/^\/app\/payment$/, Payment, true, "account"],
  [/^\/app\/tags$/, Tags, true, "account"],
  [/^\/app\/vehicles$/, Vehicles, true, "account"],
  [/^\/app\/route$/, RoutePlanner, false, "route"],
  [/^\/app\/account$/, Account, true, "account"],
];

function match(path) {
  for (const [pattern, screen, private_, tab] of ROUTES) {
    const found = pattern.exec(path.replace(/\/+$/, "") || "/app");
    if (found) return { screen, private_, tab, params: found.slice(1).map(decodeURIComponent) };
  }
  return { screen: Find, private_: false, tab: "find", params: [] };
}

// Icons drawn inline (24x24 strokes): no icon font, nothing to fetch.
const ICONS = {
  find: "M13 2 4 14h7l-1 8 9-12h-7z",
  route: "M6 19a2 2 0 1 0 0-4 2 2 0 0 0 0 4zM18 9a2 2 0 1 0 0-4 2 2 0 0 0 0 4zM8 17h7a3 3 0 0 0 0-6H9a3 3 0 0 1 0-6h7",
  history: "M6 2h12v20l-3-2-3 2-3-2-3 2zM9 7h6M9 11h6M9 15h4",
  account: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4 21a8 8 0 0 1 16 0",
};

function Icon({ name }) {
  return html`<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" fill="none"
    stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d=${ICONS[name]} /></svg>`;
}

function NavBar({ tab }) {
  const item = (name, href) =>
    html`<a href=${href} class=${tab === name ? "active" : ""} aria-current=${tab === name ? "page" : null}>
      <${Icon} name=${name} />${t(`nav_${name}`)}</a>`;
  return html`<nav class="tabs" aria-label="Ladeflyt">
    ${item("find", "/app/find")} ${item("route", "/app/route")}
    ${item("history", "/app/history")} ${item("account", "/app/account")}
  </nav>`;
}

function OfflineBar() {
  const [online, setOnline] = useState(navigator.onLine);
  useEffect(() => {
    const up = () => setOnline(true);
    const down = () => setOnline(false);
    window.addEventListener("online", up);
    window.addEventListener("offline", down);
    return () => {
      window.removeEventListener("online", up);
      window.removeEventListener("offline", down);
    };
  }, []);
  return online ? null : html`<div class="offline-bar" role="status">${t("offline")}</div>`;
}

function App() {
  const { path, query } = useLocation();
  // Read at every render (not kept in state): a screen that signs in and moves on at once
  // must not be sent back to sign in by a state update still on its way.
  const signedIn = Boolean(auth());
  const [, setAuthTick] = useState(0);
  const [me, setMe] = useState(signedIn ? lastKnown("me")?.me : null);
  const [config, setConfig] = useState(lastKnown("config")?.appConfig || null);
  const [, setLang] = useState(language());

  const useMe = (next) => {
    setMe(next);
    if (next && next.language && next.language !== language()) {
      setLanguage(next.language);
      setLang(next.language);
    }
  };

  const loadMe = async () => {
    if (!auth()) return null;
    try {
      const { data } = await cachedQuery("me", ME);
      useMe(data.me);
      return data.me;
    } catch {
      return null;
    }
  };

  useEffect(() => {
    cachedQuery("config", CONFIG)
      .then(({ data }) => setConfig(data.appConfig))
      .catch(() => {});
    loadMe();
    return onAuthChange((current) => {
      setAuthTick((n) => n + 1);
      if (!current) setMe(null);
    });
  }, []);

  const route = match(path);
  useEffect(() => {
    if (route.private_ && !signedIn) {
      navigate(`/app/signin?next=${encodeURIComponent(path + location.search)}`, { replace: true });
    }
  }, [path, signedIn]);
  if (route.private_ && !signedIn) return null;

  const ctx = {
    signedIn,
    me,
    config,
    query,
    setMe: useMe,
    reloadMe: loadMe,
    changeLanguage: (lang) => {
      setLanguage(lang);
      setLang(lang);
    },
  };
  const Screen = route.screen;
  return html`<${OfflineBar} />
    <${Screen} key=${path} ctx=${ctx} params=${route.params} />
    <${NavBar} tab=${route.tab} />`;
}

render(html`<${App} />`, document.getElementById("app"));

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
}
