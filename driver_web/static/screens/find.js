// Screen 2: find a charger near the phone (or a searched place): list and map, filters,
// each connector's live status and this driver's price.
import { useEffect, useState } from "preact/hooks";
import { gql, subscribe } from "../api.js";
import { km, kw, t, unitPrice } from "../i18n.js";
import { MapView } from "../map.js";
import { html, Loading, navigate, Notice, Problem, Screen, Stale, useQuery } from "../ui.js";
import { PlaceSearch } from "./places.js";

const NEAR = `query($lat: Float!, $lon: Float!, $r: Float!, $f: ChargerFilter, $first: Int!, $after: String) {
  chargersNear(lat: $lat, lon: $lon, radiusKm: $r, filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id code online distanceKm
      site { name address city latitude longitude }
      connectors { id evseId connectorId type maxKw status available price { perKwhOre configured } } } } } }`;
const ACTIVE = `query { activeSession { id state chargerCode } }`;
export const STATUS = `subscription($id: ID!) { connectorStatus(chargerId: $id) {
  chargerId online evseId connectorId status } }`;
const OSLO = { lat: 59.9139, lon: 10.7522, name: "Oslo" };
const POSITION_KEY = "ladeflyt.position";

function savedPosition() {
  try {
    return JSON.parse(localStorage.getItem(POSITION_KEY)) || null;
  } catch {
    return null;
  }
}

// Follow every listed charger's connectors live; returns {chargerId: {online, "evse:conn": status}}.
export function useLiveStatus(chargerIds) {
  const [live, setLive] = useState({});
  useEffect(() => {
    const stops = chargerIds.map((id) =>
      subscribe(STATUS, { id }, {
        next: ({ connectorStatus: u }) =>
          setLive((all) => {
            const mine = { ...(all[u.chargerId] || {}), online: u.online };
            if (u.status) mine[`${u.evseId}:${u.connectorId}`] = u.status;
            return { ...all, [u.chargerId]: mine };
          }),
      }),
    );
    return () => stops.forEach((stop) => stop());
  }, [chargerIds.join(",")]);
  return live;
}

export function statusOf(live, charger, connector) {
  const mine = live[charger.id];
  return (mine && mine[`${connector.evseId}:${connector.connectorId}`]) || connector.status;
}

export function onlineOf(live, charger) {
  const mine = live[charger.id];
  return mine && mine.online !== undefined ? mine.online : charger.online;
}

function ConnectorLine({ charger, connector, live }) {
  const status = onlineOf(live, charger) ? statusOf(live, charger, connector) : "UNAVAILABLE";
  const price = connector.price;
  return html`<li class="connector" data-status=${status}>
    <span class="type">${connector.type} · ${kw(connector.maxKw)}</span>
    <span class=${`badge ${status.toLowerCase()}`}>${t(`st_${status}`)}</span>
    <span class="price">${price.configured && price.perKwhOre !== null ? `${unitPrice(price.perKwhOre)}${t("per_kwh")}` : t("price_unknown")}</span>
  </li>`;
}

export function ChargerCard({ charger, live }) {
  const online = onlineOf(live, charger);
  return html`<li class="charger card" data-code=${charger.code}>
    <a href=${`/app/charger/${encodeURIComponent(charger.code)}`}>
      <div class="row">
        <strong class="code">${charger.code}</strong>
        ${charger.distanceKm !== null && html`<span class="muted">${t("away", { km: km(charger.distanceKm) })}</span>`}
      </div>
      <div class="muted">${charger.site.name}, ${charger.site.address}${charger.site.city ? `, ${charger.site.city}` : ""}</div>
      ${!online && html`<div class="badge offline">${t("offline_charger")}</div>`}
      <ul class="connectors">
        ${charger.connectors.map((c) => html`<${ConnectorLine} charger=${charger} connector=${c} live=${live} />`)}
      </ul>
    </a>
  </li>`;
}

function ActiveBanner({ ctx }) {
  const active = useQuery(ctx.signedIn ? "active" : null, ACTIVE);
  const session = active.data && active.data.activeSession;
  if (!session) return null;
  return html`<a class="notice active-session" id="active-session" href=${`/app/session/${session.id}`}>
    <strong>${t("active_session")}</strong> (${session.chargerCode}) — ${t("see_session")} ›</a>`;
}

export function Find({ ctx }) {
  const [place, setPlace] = useState(savedPosition() || OSLO);
  const [available, setAvailable] = useState(false);
  const [minKw, setMinKw] = useState("");
  const [type, setType] = useState("");
  const [view, setView] = useState("list");
  const [extra, setExtra] = useState([]);
  const [more, setMore] = useState(null);

  const filter = {
    availableOnly: available,
    minPowerKw: minKw ? Number(minKw) : null,
    connectorTypes: type ? [type] : null,
  };
  const variables = { lat: place.lat, lon: place.lon, r: place.radius || 50, f: filter, first: 20 };
  const result = useQuery(`near:${JSON.stringify(variables)}`, NEAR, variables);
  const page = result.data && result.data.chargersNear;
  const chargers = page ? page.edges.map((e) => e.node).concat(extra) : [];
  const live = useLiveStatus(chargers.map((c) => c.id));

  useEffect(() => {
    setExtra([]);
    setMore(null);
  }, [JSON.stringify(variables)]);

  const choose = (chosen) => {
    localStorage.setItem(POSITION_KEY, JSON.stringify(chosen));
    setPlace(chosen);
  };

  const nearMe = () => {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition(
      (pos) => choose({ lat: pos.coords.latitude, lon: pos.coords.longitude, here: true, radius: 50 }),
      () => {},
      { timeout: 10_000, maximumAge: 60_000 },
    );
  };

  const loadMore = async () => {
    const after = (more || page.pageInfo).endCursor;
    const data = await gql(NEAR, { ...variables, after });
    setExtra((rows) => rows.concat(data.chargersNear.edges.map((e) => e.node)));
    setMore(data.chargersNear.pageInfo);
  };
  const hasMore = (more || (page && page.pageInfo) || {}).hasNextPage;

  const [code, setCode] = useState("");
  const openCode = (event) => {
    event.preventDefault();
    if (code.trim()) navigate(`/app/charger/${encodeURIComponent(code.trim().toUpperCase())}`);
  };

  return html`<${Screen} title=${t("find_title")}>
    <${ActiveBanner} ctx=${ctx} />
    <form class="row code-form" onSubmit=${openCode}>
      <input id="charger-code" placeholder=${t("charger_code")} aria-label=${t("charger_code")} autocapitalize="characters"
        value=${code} onInput=${(e) => setCode(e.target.value)} />
      <button type="submit" class="secondary" id="open-code">${t("open")}</button>
    </form>
    <div class="card filters">
      <div class="row">
        <${PlaceSearch} id="place" placeholder=${t("search_place")} onChoose=${(p) => choose({ lat: p.latitude, lon: p.longitude, name: p.name, radius: 50 })} />
        <button class="secondary" id="near-me" onClick=${nearMe}>${t("near_me")}</button>
      </div>
      <p class="muted small" id="near">${place.here ? t("near_you") : t("near", { place: place.name })}</p>
      <div class="row wrap">
        <label class="check"><input type="checkbox" id="available" checked=${available} onChange=${(e) => setAvailable(e.target.checked)} /> ${t("available_only")}</label>
        <select id="min-kw" aria-label=${t("min_kw")} value=${minKw} onChange=${(e) => setMinKw(e.target.value)}>
          <option value="">${t("min_kw")}: ${t("any")}</option>
          ${[11, 22, 50, 150].map((v) => html`<option value=${v}>≥ ${v} kW</option>`)}
        </select>
        <select id="connector-type" aria-label=${t("connector_type")} value=${type} onChange=${(e) => setType(e.target.value)}>
          <option value="">${t("connector_type")}: ${t("any")}</option>
          ${["Type2", "CCS2", "CHAdeMO"].map((v) => html`<option value=${v}>${v}</option>`)}
        </select>
      </div>
      <div class="segmented" role="tablist">
        <button role="tab" id="show-list" aria-selected=${view === "list"} onClick=${() => setView("list")}>${t("list")}</button>
        <button role="tab" id="show-map" aria-selected=${view === "map"} onClick=${() => setView("map")}>${t("map")}</button>
      </div>
    </div>
    <${Stale} result=${result} />
    ${result.error && html`<${Problem} error=${result.error} retry=${result.reload} />`}
    ${result.loading && !page && html`<${Loading} />`}
    ${view === "map" &&
    page &&
    html`<${MapView}
      config=${ctx.config}
      markers=${chargers.map((c) => ({
        lat: c.site.latitude,
        lon: c.site.longitude,
        label: `${c.code} – ${c.site.name}`,
        color: c.connectors.some((k) => onlineOf(live, c) && statusOf(live, c, k) === "AVAILABLE") ? "#0b6e4f" : "#8a8f8c",
        onClick: () => navigate(`/app/charger/${encodeURIComponent(c.code)}`),
      }))}
    />`}
    ${page && !chargers.length && html`<${Notice}>${t("no_chargers")}<//>`}
    <ul class="chargers" id="chargers">
      ${chargers.map((c) => html`<${ChargerCard} key=${c.id} charger=${c} live=${live} />`)}
    </ul>
    ${hasMore && html`<button class="secondary" onClick=${loadMore}>${t("more")}</button>`}
  <//>`;
}
