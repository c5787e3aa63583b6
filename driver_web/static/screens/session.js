// Screen 4: the live session: kW, kWh, cost so far, SoC, elapsed time, Stop; updated by
// the sessionUpdates subscription. When it ends, the receipt.
import { useEffect, useState } from "preact/hooks";
import { gql, subscribe } from "../api.js";
import { elapsed, kw, kwh, money, number, t } from "../i18n.js";
import { html, Loading, message, Notice, Problem, Screen, Stale, useQuery } from "../ui.js";
import { ReceiptView } from "./history.js";

const SESSION = `query($id: ID!) { session(id: $id) { id state chargerCode evseId startedAt stoppedAt
  durationSeconds energyKwh powerKw soc statusReason cost { amountOre } paymentState } }`;
const UPDATES = `subscription($id: ID!) { sessionUpdates(sessionId: $id) {
  sessionId state powerKw energyKwh elapsedSeconds costSoFar { amountOre } soc at } }`;
const STOP = `mutation($id: ID!) { stopCharging(sessionId: $id) {
  __typename ... on ChargingStopping { message session { state } } ... on Problem { message } } }`;

const ENDED = ["COMPLETED", "FAILED"];

export function SessionScreen({ params }) {
  const id = params[0];
  const result = useQuery(`session:${id}`, SESSION, { id });
  const session = result.data && result.data.session;
  const [update, setUpdate] = useState(null);
  const [receivedAt, setReceivedAt] = useState(Date.now());
  const [now, setNow] = useState(Date.now());
  const [stopping, setStopping] = useState(false);
  const [problem, setProblem] = useState(null);
  const [lost, setLost] = useState(false);

  useEffect(() => {
    if (!session || ENDED.includes(session.state)) return undefined;
    return subscribe(UPDATES, { id }, {
      next: ({ sessionUpdates: u }) => {
        setLost(false);
        setUpdate(u);
        setReceivedAt(Date.now());
      },
      offline: () => setLost(true),
      error: (error) => setProblem(message(error)),
    });
  }, [session && session.id, session && session.state]);

  const state = (update && update.state) || (session && session.state);
  const running = state && !ENDED.includes(state);
  useEffect(() => {
    if (!running) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);

  if (result.loading && !session) return html`<${Screen} title=${t("session_title")}><${Loading} /><//>`;
  if (result.error) return html`<${Screen} title=${t("session_title")}><${Problem} error=${result.error} retry=${result.reload} /><//>`;
  if (!session) return html`<${Screen} title=${t("session_title")}><${Notice} kind="error">404<//><//>`;

  const seconds = update
    ? update.elapsedSeconds + (running && state !== "STARTING" ? (now - receivedAt) / 1000 : 0)
    : session.durationSeconds;
  const energy = update ? update.energyKwh : session.energyKwh;
  const power = update ? update.powerKw : session.powerKw;
  const soc = update ? update.soc : session.soc;
  const cost = update ? update.costSoFar : session.cost;
  const shownState = stopping && running ? "stopping" : state;

  const stop = async () => {
    setStopping(true);
    setProblem(null);
    try {
      const outcome = (await gql(STOP, { id })).stopCharging;
      if (outcome.__typename !== "ChargingStopping") {
        setProblem(outcome.message);
        setStopping(false);
      }
    } catch (error) {
      setProblem(message(error));
      setStopping(false);
    }
  };

  return html`<${Screen} title=${`${t("session_title")} · ${session.chargerCode}`} back="/app/find">
    <${Stale} result=${result} />
    <section class="card live" id="live" data-state=${shownState}>
      <h2 id="state">${shownState === "stopping" ? t("stopping") : t(`state_${state}`)}</h2>
      ${session.statusReason && state === "FAILED" && html`<p class="muted">${session.statusReason}</p>`}
      <dl class="figures">
        <div><dt>${t("power")}</dt><dd id="kw">${running ? kw(power) : "–"}</dd></div>
        <div><dt>${t("energy")}</dt><dd id="kwh">${kwh(energy)}</dd></div>
        <div><dt>${running ? t("cost") : t("total")}</dt><dd id="cost">${money(cost ? cost.amountOre : null)}</dd></div>
        <div><dt>${t("soc")}</dt><dd id="soc">${soc === null || soc === undefined ? "–" : `${number(soc)} %`}</dd></div>
        <div><dt>${t("elapsed")}</dt><dd id="elapsed">${elapsed(seconds)}</dd></div>
      </dl>
      ${lost && html`<p class="muted small">${t("live_lost")}</p>`}
      ${running &&
      html`<button id="stop" class="big danger" disabled=${stopping} onClick=${stop}>
        ${stopping ? t("stopping") : t("stop")}</button>`}
      ${problem && html`<${Notice} kind="error">${problem}<//>`}
    </section>
    ${state === "COMPLETED" && html`<${ReceiptView} id=${id} />`}
  <//>`;
}
