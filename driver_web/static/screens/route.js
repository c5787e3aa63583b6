// Screen 8: the route planner: from/to, the car and its charge at the start → the charging
// stops on a map and in a list, with times and prices (planRoute).
import { useState } from "preact/hooks";
import { gql } from "../api.js";
import { clock, duration, km, kwh, language, money, number, t, unitPrice } from "../i18n.js";
import { decodePolyline, MapView } from "../map.js";
import { Field, html, message, Notice, Screen, useQuery } from "../ui.js";
import { PlaceSearch } from "./places.js";

const VEHICLES = `query { vehicles { id make model batteryKwh maxAcKw maxDcKw connectorTypes } }`;
const PLAN = `query($input: PlanRouteInput!) { planRoute(input: $input) {
  __typename
  ... on RoutePlan { distanceKm drivingMinutes chargingMinutes stopOverheadMinutes totalMinutes
    totalCost { amountOre } costComplete energyKwh arrivalSocPercent polyline
    stops { chargerId chargerCode site { name address latitude longitude } connectorType maxKw
      availability distanceFromOriginKm arrivalSocPercent departureSocPercent chargingMinutes
      energyKwh pricePerKwhOre estimatedCost { amountOre } } }
  ... on NoFeasibleRoute { message reason }
  ... on InvalidInput { message field } } }`;
const SPEED_KMH = 70; // the planner's default average speed

function here() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) reject(new Error("no geolocation"));
    else
      navigator.geolocation.getCurrentPosition(
        (p) => resolve({ name: t("my_position"), latitude: p.coords.latitude, longitude: p.coords.longitude }),
        reject,
        { timeout: 10_000, maximumAge: 60_000 },
      );
  });
}

// When the driver is at each stop, leaving now: driving at the planner's average speed
// (with the detours it counted) plus the charging and overhead of the stops before.
function arrivals(plan) {
  const start = Date.now();
  const perKm = plan.drivingMinutes / Math.max(plan.distanceKm, 0.001);
  const overhead = plan.stops.length ? plan.stopOverheadMinutes / plan.stops.length : 0;
  let waited = 0;
  return plan.stops.map((s) => {
    const at = new Date(start + (s.distanceFromOriginKm * (perKm || 60 / SPEED_KMH) + waited) * 60_000);
    waited += s.chargingMinutes + overhead;
    return at;
  });
}

export function RoutePlanner({ ctx }) {
  const vehicles = useQuery(ctx.signedIn ? "vehicles" : null, VEHICLES);
  const [from, setFrom] = useState(null);
  const [to, setTo] = useState(null);
  const [vehicleId, setVehicleId] = useState("");
  const [battery, setBattery] = useState("60");
  const [consumption, setConsumption] = useState("180");
  const [soc, setSoc] = useState("30");
  const [busy, setBusy] = useState(false);
  const [plan, setPlan] = useState(null);
  const [problem, setProblem] = useState(null);
  const saved = (vehicles.data && vehicles.data.vehicles) || [];
  const vehicle = saved.find((v) => v.id === vehicleId);

  const submit = async (event) => {
    event.preventDefault();
    if (!from || !to) {
      setProblem(t("pick_place"));
      return;
    }
    setBusy(true);
    setProblem(null);
    setPlan(null);
    const car = {
      batteryKwh: vehicle ? vehicle.batteryKwh : Number(battery),
      consumptionWhPerKm: Number(consumption),
      ...(vehicle ? { maxAcKw: vehicle.maxAcKw, maxDcKw: vehicle.maxDcKw, connectorTypes: vehicle.connectorTypes } : {}),
    };
    const input = {
      origin: { lat: from.latitude, lon: from.longitude },
      destination: { lat: to.latitude, lon: to.longitude },
      vehicle: car,
      startSocPercent: Number(soc),
    };
    try {
      const result = (await gql(PLAN, { input })).planRoute;
      if (result.__typename === "RoutePlan") setPlan(result);
      else if (result.__typename === "NoFeasibleRoute" && language() !== "en") {
        setProblem(t("no_route", { message: t(`no_route_${result.reason}`) }));
      } else setProblem(t("no_route", { message: result.message }));
    } catch (error) {
      setProblem(message(error));
    }
    setBusy(false);
  };

  const times = plan ? arrivals(plan) : [];
  const line = plan ? decodePolyline(plan.polyline) : [];
  const useHere = async (set) => {
    try {
      set(await here());
    } catch (error) {
      setProblem(message(error));
    }
  };

  return html`<${Screen} title=${t("route_title")}>
    <form class="card" id="route-form" onSubmit=${submit}>
      <${Field} label=${t("from")}>
        <div class="row">
          <${PlaceSearch} id="route-from" placeholder=${t("from")} value=${from && from.name} onChoose=${setFrom} />
          <button type="button" class="secondary small" onClick=${() => useHere(setFrom)}>${t("my_position")}</button>
        </div>
      <//>
      <${Field} label=${t("to")}><${PlaceSearch} id="route-to" placeholder=${t("to")} value=${to && to.name} onChoose=${setTo} /><//>
      ${saved.length > 0 &&
      html`<${Field} label=${t("vehicle")}>
        <select id="route-vehicle" value=${vehicleId} onChange=${(e) => setVehicleId(e.target.value)}>
          <option value="">${t("no_vehicle")}</option>
          ${saved.map((v) => html`<option value=${v.id}>${v.make} ${v.model}</option>`)}
        </select><//>`}
      <div class="row">
        ${!vehicle &&
        html`<${Field} label=${t("battery_kwh")}><input id="route-battery" type="number" min="5" step="1" value=${battery} onInput=${(e) => setBattery(e.target.value)} /><//>`}
        <${Field} label=${t("consumption")}><input id="route-consumption" type="number" min="80" step="5" value=${consumption} onInput=${(e) => setConsumption(e.target.value)} /><//>
        <${Field} label=${t("start_soc")}><input id="route-soc" type="number" min="1" max="100" value=${soc} onInput=${(e) => setSoc(e.target.value)} /><//>
      </div>
      <button type="submit" id="plan" disabled=${busy}>${busy ? t("planning") : t("plan")}</button>
      ${problem && html`<${Notice} kind="error" id="route-problem">${problem}<//>`}
    </form>
    ${plan &&
    html`<section class="card" id="route-plan">
      <h2 id="route-summary">${t("route_summary", { km: km(plan.distanceKm), time: duration(plan.totalMinutes) })}</h2>
      <p class="muted small">
        ${[
          `${t("driving")} ${duration(plan.drivingMinutes)}`,
          `${t("charging")} ${duration(plan.chargingMinutes)}`,
          t("arrive_soc", { soc: number(plan.arrivalSocPercent, 0, 0) }),
        ].join(" · ")}
      </p>
      <p>${t("est_cost")}: <strong id="route-cost">${money(plan.totalCost.amountOre)}</strong></p>
      <${MapView}
        id="route-map"
        config=${ctx.config}
        line=${line}
        markers=${[
          ...plan.stops.map((s) => ({ lat: s.site.latitude, lon: s.site.longitude, label: `${s.chargerCode} – ${s.site.name}` })),
          ...(line.length ? [{ lat: line[0][0], lon: line[0][1], color: "#1f5fa8", label: from.name },
            { lat: line[line.length - 1][0], lon: line[line.length - 1][1], color: "#a81f1f", label: to.name }] : []),
        ]}
      />
      <h3>${t("stops")}</h3>
      ${!plan.stops.length && html`<p class="muted">${t("no_stops")}</p>`}
      <ol class="stops" id="route-stops">
        ${plan.stops.map(
          (s, i) => html`<li class="stop" data-code=${s.chargerCode}>
            <div class="row"><strong><a href=${`/app/charger/${encodeURIComponent(s.chargerCode)}`}>${s.chargerCode}</a></strong>
              <span class="muted">${t("eta", { time: clock(times[i]) })}</span></div>
            <div class="muted small">${s.site.name} · ${km(s.distanceFromOriginKm)} · ${s.connectorType} ${number(s.maxKw, 0, 0)} kW</div>
            <div>${t("stop_line", {
              min: number(Math.round(s.chargingMinutes)),
              from: number(s.arrivalSocPercent, 0, 0),
              to: number(s.departureSocPercent, 0, 0),
            })}</div>
            <div class="row small"><span>${kwh(s.energyKwh)}${s.pricePerKwhOre !== null ? ` × ${unitPrice(s.pricePerKwhOre)}` : ""}</span>
              <strong class="stop-cost">${money(s.estimatedCost ? s.estimatedCost.amountOre : null)}</strong></div>
          </li>`,
        )}
      </ol>
    </section>`}
  <//>`;
}
