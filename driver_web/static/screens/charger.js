// Screen 3: one charger (by its code, from the list or the QR sticker): connectors live,
// this driver's price in full before anything starts, and Start.
import { useState } from "preact/hooks";
import { gql } from "../api.js";
import { kw, t, unitPrice } from "../i18n.js";
import { html, Loading, message, navigate, Notice, Problem, Screen, Stale, useQuery } from "../ui.js";
import { onlineOf, statusOf, useLiveStatus } from "./find.js";

const CHARGER = `query($code: String!) { charger(code: $code) { id code online
  site { name address city latitude longitude }
  connectors { id evseId connectorId type maxKw status available
    price { perKwhOre configured components { kind description unit unitPriceOre } } } } }`;
const VEHICLES = `query { vehicles { id make model } }`;
const START = `mutation($c: ID!, $v: ID) { startCharging(connectorId: $c, vehicleId: $v) {
  __typename
  ... on ChargingStarted { sessionId }
  ... on PaymentPending { redirectUrl sessionId }
  ... on Problem { message } } }`;

export function PriceTable({ price }) {
  if (!price.configured) return html`<p class="muted">${t("price_unknown")}</p>`;
  return html`<table class="price" id="price">
    <tbody>
      ${price.components.map(
        (c) => html`<tr data-kind=${c.kind}>
          <td>${c.description}</td>
          <td class="num">${unitPrice(c.unitPriceOre)} / ${t(`unit_${c.unit}`)}</td>
        </tr>`,
      )}
    </tbody>
  </table>
  <p class="muted small">${t("prices_incl_vat")}</p>`;
}

export function ChargerScreen({ ctx, params }) {
  const code = params[0];
  const result = useQuery(`charger:${code}`, CHARGER, { code });
  const charger = result.data && result.data.charger;
  const live = useLiveStatus(charger ? [charger.id] : []);
  const vehicles = useQuery(ctx.signedIn ? "vehicles" : null, VEHICLES);
  const [chosen, setChosen] = useState(null);
  const [vehicle, setVehicle] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);

  if (result.loading && !charger) return html`<${Screen} title=${code} back="/app/find"><${Loading} /><//>`;
  if (result.error) return html`<${Screen} title=${code} back="/app/find"><${Problem} error=${result.error} retry=${result.reload} /><//>`;
  if (!charger) {
    return html`<${Screen} title=${code} back="/app/find"><${Notice} kind="error">${t("not_found", { code })}<//><//>`;
  }

  const online = onlineOf(live, charger);
  const usable = (c) => online && ["AVAILABLE", "PREPARING"].includes(statusOf(live, charger, c));
  const free = charger.connectors.filter(usable);
  const selected = charger.connectors.find((c) => c.id === chosen) || free[0] || charger.connectors[0];

  const start = async () => {
    setBusy(true);
    setProblem(null);
    try {
      const outcome = (await gql(START, { c: selected.id, v: vehicle || null })).startCharging;
      if (outcome.__typename === "ChargingStarted") {
        navigate(`/app/session/${outcome.sessionId}`);
        return;
      }
      if (outcome.__typename === "PaymentPending") {
        location.assign(outcome.redirectUrl); // approve in Vipps; charging starts then
        return;
      }
      setProblem(outcome);
    } catch (error) {
      setProblem({ __typename: "Error", message: message(error) });
    }
    setBusy(false);
  };

  return html`<${Screen} title=${t("charger_title", { code: charger.code })} back="/app/find">
    <${Stale} result=${result} />
    <p class="muted" id="site">${charger.site.name}, ${charger.site.address}${charger.site.city ? `, ${charger.site.city}` : ""}</p>
    ${!online && html`<${Notice} kind="warn">${t("offline_charger")}<//>`}
    <section class="card">
      <h2>${t("connectors")}</h2>
      <ul class="choices" id="connectors">
        ${charger.connectors.map((c) => {
          const status = online ? statusOf(live, charger, c) : "UNAVAILABLE";
          return html`<li>
            <label class="choice" data-status=${status}>
              <input type="radio" name="connector" value=${c.id} checked=${selected.id === c.id}
                disabled=${!usable(c)} onChange=${() => setChosen(c.id)} />
              <span>#${c.evseId} ${c.type} · ${kw(c.maxKw)}</span>
              <span class=${`badge ${status.toLowerCase()}`}>${t(`st_${status}`)}</span>
            </label>
          </li>`;
        })}
      </ul>
    </section>
    <section class="card">
      <h2>${t("price")}</h2>
      <${PriceTable} price=${selected.price} />
    </section>
    ${ctx.signedIn
      ? html`<section class="card">
          ${vehicles.data &&
          vehicles.data.vehicles.length > 0 &&
          html`<label class="field"><span>${t("vehicle")}</span>
            <select id="vehicle" value=${vehicle} onChange=${(e) => setVehicle(e.target.value)}>
              <option value="">${t("no_vehicle")}</option>
              ${vehicles.data.vehicles.map((v) => html`<option value=${v.id}>${v.make} ${v.model}</option>`)}
            </select></label>`}
          <button id="start" class="big" disabled=${busy || !usable(selected)} onClick=${start}>
            ${busy ? t("starting") : t("start")}
          </button>
          ${!free.length && html`<p class="muted small">${t("choose_connector")}</p>`}
          ${problem &&
          html`<${Notice} kind="error" id="problem">
            ${problem.__typename === "PaymentMethodRequired" ? t("need_payment") : problem.message}
            ${problem.__typename === "PaymentMethodRequired" &&
            html` <a href=${`/app/payment?next=${encodeURIComponent(location.pathname)}`}>${t("add_payment")}</a>`}
          <//>`}
        </section>`
      : html`<section class="card">
          <a class="button big" id="signin-to-start" href=${`/app/signin?next=${encodeURIComponent(location.pathname)}`}>${t("signin_to_start")}</a>
        </section>`}
    <p><a href=${`/pay/${encodeURIComponent(charger.code)}?guest=1`} id="guest">${t("guest_instead")}</a></p>
  <//>`;
}
