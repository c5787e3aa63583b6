// Screen 7: RFID tags (register once, remove) and vehicles; the account screen (profile,
// language, links, sign out).
import { useState } from "preact/hooks";
import { gql, saveAuth } from "../api.js";
import { kw, number, t } from "../i18n.js";
import { Field, html, Loading, message, navigate, Notice, Problem, Screen, Stale, useQuery } from "../ui.js";
import { ProfileForm } from "./signin.js";

const TAGS = `query { rfidTags { id uid label active } }`;
const REGISTER = `mutation($uid: String!, $label: String!) { registerRfidTag(uid: $uid, label: $label) {
  __typename ... on RfidTagRegistered { tag { id uid label active } } ... on Problem { message } } }`;
const REMOVE_TAG = `mutation($id: ID!) { removeRfidTag(id: $id) { __typename ... on Problem { message } } }`;
const VEHICLES = `query { vehicles { id make model batteryKwh maxAcKw maxDcKw connectorTypes } }`;
const ADD_VEHICLE = `mutation($v: VehicleInput!) { addVehicle(vehicle: $v) {
  __typename ... on VehicleSaved { vehicle { id } } ... on Problem { message } } }`;
const REMOVE_VEHICLE = `mutation($id: ID!) { removeVehicle(id: $id) { __typename ... on Problem { message } } }`;
const SIGN_OUT_ALL = `mutation { signOutEverywhere { message } }`;

async function mutate(query, variables, setProblem) {
  setProblem(null);
  try {
    const outcome = Object.values(await gql(query, variables))[0];
    if (outcome.message && !outcome.__typename.endsWith("Removed")) {
      setProblem(outcome.message);
      return null;
    }
    return outcome;
  } catch (error) {
    setProblem(message(error));
    return null;
  }
}

export function Tags() {
  const result = useQuery("rfidTags", TAGS);
  const [uid, setUid] = useState("");
  const [label, setLabel] = useState("");
  const [problem, setProblem] = useState(null);
  const tags = (result.data && result.data.rfidTags) || [];

  const register = async (event) => {
    event.preventDefault();
    if (await mutate(REGISTER, { uid: uid.trim(), label: label.trim() }, setProblem)) {
      setUid("");
      setLabel("");
      result.reload();
    }
  };
  const remove = async (tag) => {
    if (await mutate(REMOVE_TAG, { id: tag.id }, setProblem)) result.reload();
  };

  return html`<${Screen} title=${t("tags_title")} back="/app/account">
    <${Stale} result=${result} />
    <p class="muted">${t("tags_intro")}</p>
    ${result.error && html`<${Problem} error=${result.error} retry=${result.reload} />`}
    ${result.loading && !result.data && html`<${Loading} />`}
    ${result.data && !tags.length && html`<p class="muted">${t("no_tags")}</p>`}
    <ul class="list" id="tags">
      ${tags.map(
        (tag) => html`<li class="card row" data-uid=${tag.uid}>
          <span><strong>${tag.label || tag.uid}</strong><br /><span class="muted small">${tag.uid} · ${tag.active ? t("tag_active") : t("tag_blocked")}</span></span>
          <button class="link danger" onClick=${() => remove(tag)}>${t("remove")}</button>
        </li>`,
      )}
    </ul>
    <form class="card" id="tag-form" onSubmit=${register}>
      <${Field} label=${t("tag_uid")}><input id="tag-uid" required autocapitalize="characters" value=${uid} onInput=${(e) => setUid(e.target.value)} /><//>
      <${Field} label=${t("tag_label")}><input id="tag-label" value=${label} onInput=${(e) => setLabel(e.target.value)} /><//>
      <button type="submit">${t("register_tag")}</button>
      ${problem && html`<${Notice} kind="error" id="tag-problem">${problem}<//>`}
    </form>
  <//>`;
}

export function Vehicles() {
  const result = useQuery("vehicles", VEHICLES);
  const [form, setForm] = useState({ make: "", model: "", battery: "60", ac: "11", dc: "100", types: "Type2,CCS2" });
  const [problem, setProblem] = useState(null);
  const vehicles = (result.data && result.data.vehicles) || [];
  const set = (name) => (e) => setForm({ ...form, [name]: e.target.value });

  const add = async (event) => {
    event.preventDefault();
    const vehicle = {
      make: form.make,
      model: form.model,
      batteryKwh: Number(form.battery),
      maxAcKw: Number(form.ac),
      maxDcKw: Number(form.dc),
      connectorTypes: form.types.split(",").map((s) => s.trim()).filter(Boolean),
    };
    if (await mutate(ADD_VEHICLE, { v: vehicle }, setProblem)) {
      setForm({ ...form, make: "", model: "" });
      result.reload();
    }
  };
  const remove = async (v) => {
    if (await mutate(REMOVE_VEHICLE, { id: v.id }, setProblem)) result.reload();
  };

  return html`<${Screen} title=${t("vehicles_title")} back="/app/account">
    <${Stale} result=${result} />
    ${result.error && html`<${Problem} error=${result.error} retry=${result.reload} />`}
    ${result.data && !vehicles.length && html`<p class="muted">${t("no_vehicles")}</p>`}
    <ul class="list" id="vehicles">
      ${vehicles.map(
        (v) => html`<li class="card row">
          <span><strong>${v.make} ${v.model}</strong><br />
            <span class="muted small">${number(v.batteryKwh, 0, 1)} kWh · AC ${kw(v.maxAcKw)} · DC ${kw(v.maxDcKw)} · ${v.connectorTypes.join(", ")}</span></span>
          <button class="link danger" onClick=${() => remove(v)}>${t("remove")}</button>
        </li>`,
      )}
    </ul>
    <form class="card" id="vehicle-form" onSubmit=${add}>
      <div class="row">
        <${Field} label=${t("make")}><input id="vehicle-make" required value=${form.make} onInput=${set("make")} /><//>
        <${Field} label=${t("model")}><input id="vehicle-model" required value=${form.model} onInput=${set("model")} /><//>
      </div>
      <div class="row">
        <${Field} label=${t("battery_kwh")}><input id="vehicle-battery" type="number" step="0.1" min="1" required value=${form.battery} onInput=${set("battery")} /><//>
        <${Field} label=${t("max_ac")}><input id="vehicle-ac" type="number" step="0.1" min="1" value=${form.ac} onInput=${set("ac")} /><//>
        <${Field} label=${t("max_dc")}><input id="vehicle-dc" type="number" step="1" min="1" value=${form.dc} onInput=${set("dc")} /><//>
      </div>
      <${Field} label=${t("connector_type")}><input id="vehicle-types" value=${form.types} onInput=${set("types")} /><//>
      <button type="submit">${t("add_vehicle")}</button>
      ${problem && html`<${Notice} kind="error">${problem}<//>`}
    </form>
  <//>`;
}

export function Account({ ctx }) {
  const [problem, setProblem] = useState(null);
  const signOut = () => {
    saveAuth(null);
    navigate("/app/find", { replace: true });
  };
  const everywhere = async () => {
    try {
      await gql(SIGN_OUT_ALL);
      signOut();
    } catch (error) {
      setProblem(message(error));
    }
  };
  const config = ctx.config;
  return html`<${Screen} title=${t("account_title")}>
    ${ctx.me && html`<p class="muted" id="account-phone">${ctx.me.phone}</p>`}
    <nav class="card menu">
      <a href="/app/payment" id="to-payment">${t("payment_link")} ›</a>
      <a href="/app/invoices">${t("invoices_link")} ›</a>
      <a href="/app/tags" id="to-tags">${t("tags_link")} ›</a>
      <a href="/app/vehicles" id="to-vehicles">${t("vehicles_link")} ›</a>
    </nav>
    <h2>${t("profile")}</h2>
    ${ctx.me ? html`<${ProfileForm} ctx=${ctx} onSaved=${(me) => ctx.changeLanguage(me.language)} />` : html`<${Loading} />`}
    <div class="card">
      <button class="secondary" id="sign-out" onClick=${signOut}>${t("sign_out")}</button>
      <button class="link danger" onClick=${everywhere}>${t("sign_out_everywhere")}</button>
      ${problem && html`<${Notice} kind="error">${problem}<//>`}
    </div>
    ${config &&
    html`<p class="muted small" id="operator">${config.operatorName}${config.supportPhone ? ` · ${t("support")}: ${config.supportPhone}` : ""}${config.supportEmail ? ` · ${config.supportEmail}` : ""}</p>`}
  <//>`;
}
