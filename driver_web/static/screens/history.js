// Screen 5: history and receipts (with the receipt page and its PDF); invoices and paying them.
import { useEffect, useState } from "preact/hooks";
import { gql } from "../api.js";
import { dateTime, day, kwh, money, number, t, unitPrice } from "../i18n.js";
import { html, Loading, message, Notice, Problem, Screen, Stale, useQuery } from "../ui.js";

const SESSIONS = `query($after: String) { sessions(first: 20, after: $after) {
  pageInfo { hasNextPage endCursor }
  edges { node { id state chargerCode startedAt energyKwh cost { amountOre } paymentState } } } }`;
const RECEIPT = `query($id: ID!) { receipt(sessionId: $id) { number chargerCode siteName siteAddress
  startedAt stoppedAt energyKwh completed method url pdfUrl
  lines { kind description quantity unit unitPriceOre total { amountOre } }
  net { amountOre } vat { amountOre } total { amountOre } paid { amountOre } } }`;
const INVOICES = `query { invoices { id number period issueDate dueDate kid status
  total { amountOre } amountDue { amountOre } paidAt pdfUrl } }`;
const PAY = `mutation($id: ID!, $m: String!) { payInvoice(id: $id, method: $m) {
  __typename ... on PaymentRedirect { redirectUrl } ... on Problem { message } } }`;
const REFRESH = `mutation($id: ID!) { refreshInvoicePayment(id: $id) {
  __typename ... on InvoiceRefreshed { invoice { id number status } } ... on Problem { message } } }`;

function Tabs({ current }) {
  return html`<div class="segmented">
    <a href="/app/history" role="tab" aria-selected=${current === "sessions"}>${t("sessions")}</a>
    <a href="/app/invoices" role="tab" aria-selected=${current === "invoices"}>${t("invoices")}</a>
  </div>`;
}

export function History() {
  const result = useQuery("sessions", SESSIONS, { after: null });
  const [extra, setExtra] = useState([]);
  const [info, setInfo] = useState(null);
  const page = result.data && result.data.sessions;
  const rows = page ? page.edges.map((e) => e.node).concat(extra) : [];
  const more = (info || (page && page.pageInfo) || {}).hasNextPage;
  const loadMore = async () => {
    const data = await gql(SESSIONS, { after: (info || page.pageInfo).endCursor });
    setExtra((r) => r.concat(data.sessions.edges.map((e) => e.node)));
    setInfo(data.sessions.pageInfo);
  };
  return html`<${Screen} title=${t("history_title")}>
    <${Tabs} current="sessions" />
    <${Stale} result=${result} />
    ${result.error && html`<${Problem} error=${result.error} retry=${result.reload} />`}
    ${result.loading && !page && html`<${Loading} />`}
    ${page && !rows.length && html`<${Notice}>${t("no_sessions")}<//>`}
    <ul class="list" id="sessions">
      ${rows.map(
        (s) => html`<li class="card" data-session=${s.id}>
          <a href=${s.state === "COMPLETED" ? `/app/receipt/${s.id}` : `/app/session/${s.id}`}>
            <div class="row"><strong>${s.chargerCode}</strong><span class="amount">${money(s.cost ? s.cost.amountOre : null)}</span></div>
            <div class="row muted small"><span>${dateTime(s.startedAt)}</span><span>${kwh(s.energyKwh)} · ${t(`state_${s.state}`)}</span></div>
          </a>
        </li>`,
      )}
    </ul>
    ${more && html`<button class="secondary" onClick=${loadMore}>${t("more")}</button>`}
  <//>`;
}

export function ReceiptView({ id }) {
  const result = useQuery(`receipt:${id}`, RECEIPT, { id });
  const r = result.data && result.data.receipt;
  const [tries, setTries] = useState(0);
  // The capture follows the stop by a moment: look again until the money is recorded.
  useEffect(() => {
    if (!r || r.paid.amountOre || !r.total.amountOre || r.method === null || tries > 10) return undefined;
    const timer = setTimeout(() => {
      setTries((n) => n + 1);
      result.reload();
    }, 1000);
    return () => clearTimeout(timer);
  }, [r && r.paid.amountOre, tries]);
  if (result.error) return html`<${Problem} error=${result.error} retry=${result.reload} />`;
  if (!r) return html`<${Loading} />`;
  const paidLabel = r.method === "vipps" ? t("paid_vipps") : r.method === "card" ? t("paid_card") : t("on_invoice");
  return html`<section class="card receipt" id="receipt">
    <h2>${t("receipt_no", { n: r.number })}</h2>
    <p class="muted">${[r.siteName, r.siteAddress].filter(Boolean).join(", ")} · ${r.chargerCode}</p>
    <p class="muted small">${dateTime(r.startedAt)}${r.stoppedAt ? ` – ${dateTime(r.stoppedAt)}` : ""} · ${kwh(r.energyKwh)}</p>
    <table class="lines">
      <tbody>
        ${r.lines.map(
          (line) => html`<tr>
            <td>${line.description}<br /><span class="muted small">${number(line.quantity, 0, 3)} ${t(`unit_${line.unit}`)} × ${unitPrice(line.unitPriceOre)}</span></td>
            <td class="num">${money(line.total.amountOre)}</td>
          </tr>`,
        )}
        <tr class="sub"><td>${t("net")}</td><td class="num">${money(r.net.amountOre)}</td></tr>
        <tr class="sub"><td>${t("vat")}</td><td class="num">${money(r.vat.amountOre)}</td></tr>
        <tr class="total"><td>${t("total")}</td><td class="num" id="receipt-total">${money(r.total.amountOre)}</td></tr>
        ${r.total.amountOre > 0 &&
        html`<tr><td>${paidLabel}</td><td class="num" id="receipt-paid">${r.method ? money(r.paid.amountOre) : ""}</td></tr>`}
      </tbody>
    </table>
    <p class="links">
      <a href=${r.url} target="_blank" rel="noopener">${t("receipt_page")}</a>
      <a href=${r.pdfUrl} target="_blank" rel="noopener">${t("receipt_pdf")}</a>
    </p>
  </section>`;
}

export function ReceiptScreen({ params }) {
  return html`<${Screen} title=${t("receipt")} back="/app/history"><${ReceiptView} id=${params[0]} /><//>`;
}

export function Invoices({ ctx }) {
  const result = useQuery("invoices", INVOICES);
  const [note, setNote] = useState(null);
  const [problem, setProblem] = useState(null);
  const returned = ctx.query.get("paid");

  // Back from the payment page: ask the provider how it went, then show the list anew.
  useEffect(() => {
    if (!returned) return;
    gql(REFRESH, { id: returned })
      .then(({ refreshInvoicePayment: r }) => {
        if (r.__typename === "InvoiceRefreshed") {
          const paid = r.invoice.status === "paid";
          setNote({ kind: paid ? "ok" : "warn", text: paid ? t("invoice_paid_now", { n: r.invoice.number }) : t("invoice_not_paid") });
        }
        result.reload();
      })
      .catch((error) => setProblem(message(error)));
  }, [returned]);

  const pay = async (invoice, method) => {
    setProblem(null);
    try {
      const r = (await gql(PAY, { id: invoice.id, m: method })).payInvoice;
      if (r.__typename === "PaymentRedirect") location.assign(r.redirectUrl);
      else setProblem(r.message);
    } catch (error) {
      setProblem(message(error));
    }
  };

  const invoices = (result.data && result.data.invoices) || [];
  const methods = ctx.config ? [ctx.config.cardProvider !== "off" && "card", ctx.config.vipps && "vipps"].filter(Boolean) : ["card"];
  return html`<${Screen} title=${t("invoices")}>
    <${Tabs} current="invoices" />
    <${Stale} result=${result} />
    ${note && html`<${Notice} kind=${note.kind} id="invoice-note">${note.text}<//>`}
    ${problem && html`<${Notice} kind="error">${problem}<//>`}
    ${result.error && html`<${Problem} error=${result.error} retry=${result.reload} />`}
    ${result.loading && !result.data && html`<${Loading} />`}
    ${result.data && !invoices.length && html`<${Notice}>${t("no_invoices")}<//>`}
    <ul class="list" id="invoices">
      ${invoices.map(
        (inv) => html`<li class="card" data-invoice=${inv.id} data-status=${inv.status}>
          <div class="row"><strong>${t("invoice_n", { n: inv.number })}</strong>
            <span class=${`badge inv-${inv.status}`}>${t(`inv_${inv.status}`)}</span></div>
          <div class="row muted small"><span>${inv.period} · ${t("due", { date: day(inv.dueDate) })}</span>
            <span class="amount">${money(inv.amountDue.amountOre)}</span></div>
          <div class="row wrap">
            ${["open", "overdue"].includes(inv.status) &&
            methods.map((m) => html`<button class="small" onClick=${() => pay(inv, m)}>${t(`pay_${m}`)}</button>`)}
            ${inv.pdfUrl && html`<a href=${inv.pdfUrl} target="_blank" rel="noopener">${t("invoice_pdf")}</a>`}
          </div>
        </li>`,
      )}
    </ul>
  <//>`;
}
