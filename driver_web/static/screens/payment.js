// Screen 6: payment methods (add a card, Vipps, the default) and invoice/receipt settings.
// Cards: Stripe.js from Stripe (the only script from elsewhere, and only when the Stripe
// provider is configured), or the sandbox's own form, which works offline.
import { useEffect, useRef, useState } from "preact/hooks";
import { gql } from "../api.js";
import { language, t } from "../i18n.js";
import { Field, html, Loading, loadScript, message, navigate, Notice, Problem, Screen, Stale, useQuery } from "../ui.js";

const METHODS = `query { paymentMethods { id kind provider brand last4 label isDefault } }`;
const SETTINGS = `query { invoiceSettings { receiptByEmail invoiceChannel invoiceBilling deliveredBy deliveryReason } }`;
const ADD_CARD = `mutation { addCard { __typename ... on CardSetupStarted { clientSecret customerRef } ... on Problem { message } } }`;
const SAVE_CARD = `mutation($ref: String!) { saveCard(paymentMethodRef: $ref) {
  __typename ... on PaymentMethodSaved { paymentMethod { id label } } ... on Problem { message } } }`;
const ADD_VIPPS = `mutation { addVipps { __typename ... on PaymentMethodSaved { paymentMethod { id } } ... on Problem { message } } }`;
const REMOVE = `mutation($id: ID!) { removePaymentMethod(id: $id) { __typename ... on Problem { message } } }`;
const DEFAULT = `mutation($id: ID!) { setDefaultPaymentMethod(id: $id) { __typename ... on Problem { message } } }`;
const UPDATE_SETTINGS = `mutation($r: Boolean, $c: String) { updateInvoiceSettings(receiptByEmail: $r, invoiceChannel: $c) {
  __typename ... on InvoiceSettingsUpdated { invoiceSettings { receiptByEmail invoiceChannel invoiceBilling deliveredBy deliveryReason } }
  ... on Problem { message } } }`;

const SANDBOX_DECLINED = "4000000000000002";

// Saving a card is the same with every provider: a SetupIntent from addCard, confirmed by
// the provider's side (`confirm` returns the payment method it made), then kept by saveCard.
async function saveCard(confirm) {
  const setup = (await gql(ADD_CARD)).addCard;
  if (setup.__typename !== "CardSetupStarted") throw new Error(setup.message);
  const ref = await confirm(setup.clientSecret);
  const saved = (await gql(SAVE_CARD, { ref })).saveCard;
  if (saved.__typename !== "PaymentMethodSaved") throw new Error(saved.message);
}

function luhn(digits) {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return digits.length >= 12 && sum % 10 === 0;
}

// The sandbox card form: any valid card number is a sandbox Visa; nothing leaves the server.
function SandboxCardForm({ onSaved }) {
  const [number, setNumber] = useState("4242 4242 4242 4242");
  const [expiry, setExpiry] = useState("12/30");
  const [cvc, setCvc] = useState("123");
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);

  const save = async (event) => {
    event.preventDefault();
    const digits = number.replace(/\D/g, "");
    if (!luhn(digits) || !/^\d\d\/\d\d$/.test(expiry) || !/^\d{3,4}$/.test(cvc)) {
      setProblem(t("card_declined"));
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      await saveCard(async () => (digits === SANDBOX_DECLINED ? "pm_sandbox_declined" : "pm_sandbox_visa"));
      onSaved();
    } catch (error) {
      setProblem(message(error));
    }
    setBusy(false);
  };

  return html`<form class="card" id="card-form" onSubmit=${save}>
    <p class="notice info small">${t("sandbox_note")}</p>
    <${Field} label=${t("card_number")}>
      <input id="card-number" inputmode="numeric" autocomplete="cc-number" value=${number} onInput=${(e) => setNumber(e.target.value)} />
    <//>
    <div class="row">
      <${Field} label=${t("expiry")}><input id="card-expiry" autocomplete="cc-exp" value=${expiry} onInput=${(e) => setExpiry(e.target.value)} /><//>
      <${Field} label=${t("cvc")}><input id="card-cvc" inputmode="numeric" autocomplete="cc-csc" value=${cvc} onInput=${(e) => setCvc(e.target.value)} /><//>
    </div>
    <button type="submit" id="save-card" disabled=${busy}>${t("save_card")}</button>
    ${problem && html`<${Notice} kind="error">${problem}<//>`}
  </form>`;
}

// Stripe: card entry in Stripe's own field, confirmed against the SetupIntent from addCard.
function StripeCardForm({ config, onSaved }) {
  const box = useRef(null);
  const stripe = useRef(null);
  const card = useRef(null);
  const [problem, setProblem] = useState(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    loadScript("https://js.stripe.com/v3/", "Stripe")
      .then((Stripe) => {
        stripe.current = Stripe(config.stripePublishableKey, { locale: document.documentElement.lang });
        card.current = stripe.current.elements().create("card", { hidePostalCode: true });
        card.current.mount(box.current);
      })
      .catch((error) => setProblem(message(error)));
    return () => card.current && card.current.destroy();
  }, []);

  const save = async (event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      await saveCard(async (clientSecret) => {
        const confirmed = await stripe.current.confirmCardSetup(clientSecret, { payment_method: { card: card.current } });
        if (confirmed.error) throw new Error(confirmed.error.message);
        return confirmed.setupIntent.payment_method;
      });
      onSaved();
    } catch (error) {
      setProblem(message(error));
    }
    setBusy(false);
  };

  return html`<form class="card" id="card-form" onSubmit=${save}>
    <div class="stripe-card" ref=${box}></div>
    <button type="submit" id="save-card" disabled=${busy}>${t("save_card")}</button>
    ${problem && html`<${Notice} kind="error">${problem}<//>`}
  </form>`;
}

function InvoiceSettingsForm() {
  const result = useQuery("invoiceSettings", SETTINGS);
  const [problem, setProblem] = useState(null);
  const [saved, setSaved] = useState(null);
  const settings = saved || (result.data && result.data.invoiceSettings);
  if (result.error) return html`<${Problem} error=${result.error} retry=${result.reload} />`;
  if (!settings) return html`<${Loading} />`;
  const update = async (changes) => {
    setProblem(null);
    try {
      const r = (await gql(UPDATE_SETTINGS, changes)).updateInvoiceSettings;
      if (r.__typename === "InvoiceSettingsUpdated") setSaved(r.invoiceSettings);
      else setProblem(r.message);
    } catch (error) {
      setProblem(message(error));
    }
  };
  return html`<section class="card" id="invoice-settings">
    <h2>${t("invoice_settings")}</h2>
    ${settings.invoiceBilling && html`<p>${t("invoice_billing")}</p>`}
    <label class="check"><input type="checkbox" id="receipt-by-email" checked=${settings.receiptByEmail}
      onChange=${(e) => update({ r: e.target.checked })} /> ${t("receipt_by_email")}</label>
    <${Field}
      label=${t("invoice_channel")}
      hint=${t("delivered_by", { channel: t(`ch_${settings.deliveredBy}`) }) +
      (language() === "en" && settings.deliveryReason ? ` (${settings.deliveryReason})` : "")}
    >
      <select id="invoice-channel" value=${settings.invoiceChannel} onChange=${(e) => update({ c: e.target.value })}>
        ${["email", "efaktura", "ehf", "paper"].map((c) => html`<option value=${c}>${t(`ch_${c}`)}</option>`)}
      </select>
    <//>
    ${problem && html`<${Notice} kind="error">${problem}<//>`}
  </section>`;
}

export function Payment({ ctx }) {
  const result = useQuery("paymentMethods", METHODS);
  const [adding, setAdding] = useState(false);
  const [problem, setProblem] = useState(null);
  const [note, setNote] = useState(null);
  const config = ctx.config || { cardProvider: "sandbox", vipps: false };
  const methods = (result.data && result.data.paymentMethods) || [];
  const next = ctx.query.get("next");

  const run = async (query, variables) => {
    setProblem(null);
    try {
      const data = await gql(query, variables);
      const outcome = Object.values(data)[0];
      if (outcome.message) setProblem(outcome.message);
      result.reload();
    } catch (error) {
      setProblem(message(error));
    }
  };
  const saved = () => {
    setAdding(false);
    setNote(t("card_saved"));
    result.reload();
    if (next && next.startsWith("/app")) navigate(next);
  };

  return html`<${Screen} title=${t("payment_title")} back="/app/account">
    <${Stale} result=${result} />
    <section class="card">
      <h2>${t("payment_methods")}</h2>
      ${result.loading && !result.data && html`<${Loading} />`}
      ${result.error && html`<${Problem} error=${result.error} retry=${result.reload} />`}
      ${result.data && !methods.length && html`<p class="muted">${t("no_methods")}</p>`}
      <ul class="list" id="payment-methods">
        ${methods.map(
          (m) => html`<li class="row" data-kind=${m.kind}>
            <span class="label">${m.label}${m.isDefault && html` <span class="badge">${t("default")}</span>`}</span>
            <span>
              ${!m.isDefault && html`<button class="link" onClick=${() => run(DEFAULT, { id: m.id })}>${t("make_default")}</button>`}
              <button class="link danger" onClick=${() => run(REMOVE, { id: m.id })}>${t("remove")}</button>
            </span>
          </li>`,
        )}
      </ul>
      <div class="row wrap">
        ${config.cardProvider !== "off" && !adding && html`<button id="add-card" onClick=${() => setAdding(true)}>${t("add_card")}</button>`}
        ${config.vipps && !methods.some((m) => m.kind === "vipps") &&
        html`<button class="secondary" id="add-vipps" onClick=${() => run(ADD_VIPPS)}>${t("add_vipps")}</button>`}
      </div>
      ${note && html`<${Notice} kind="ok" id="card-saved">${note}<//>`}
      ${problem && html`<${Notice} kind="error">${problem}<//>`}
    </section>
    ${adding &&
    (config.cardProvider !== "stripe"
      ? html`<${SandboxCardForm} onSaved=${saved} />`
      : config.stripePublishableKey
        ? html`<${StripeCardForm} config=${config} onSaved=${saved} />`
        : html`<${Notice} kind="error">Stripe: LADEFLYT_STRIPE_PUBLISHABLE_KEY<//>`)}
    <${InvoiceSettingsForm} />
  <//>`;
}
