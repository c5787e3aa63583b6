// Screen 1: sign in with phone and SMS code; the first-time profile.
import { useState } from "preact/hooks";
import { gql, saveAuth } from "../api.js";
import { language, t } from "../i18n.js";
import { Field, html, message, navigate, Notice, Screen } from "../ui.js";

const REQUEST = `mutation($p: String!) { requestSignInCode(phone: $p) {
  __typename ... on SignInCodeSent { phone expiresInSeconds } ... on Problem { message } } }`;
const SIGN_IN = `mutation($p: String!, $c: String!) { signIn(phone: $p, code: $c) {
  __typename
  ... on SignedIn { accessToken refreshToken accessTokenExpiresAt newUser
    me { id phone name email language customerGroup } }
  ... on Problem { message } } }`;
const UPDATE = `mutation($n: String, $e: String, $l: String) {
  updateProfile(name: $n, email: $e, language: $l) {
    __typename ... on ProfileUpdated { me { id phone name email language customerGroup } }
    ... on InvalidInput { message field } } }`;

// Where to go after signing in: back where the driver was sent from (an SMS link).
function nextPath(ctx) {
  const next = ctx.query.get("next");
  return next && next.startsWith("/app") ? next : "/app/find";
}

export function SignIn({ ctx }) {
  const [phone, setPhone] = useState("");
  const [sentTo, setSentTo] = useState(null);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);

  const send = async (event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const result = (await gql(REQUEST, { p: phone })).requestSignInCode;
      if (result.__typename === "SignInCodeSent") setSentTo(result.phone);
      else setProblem(result.message);
    } catch (error) {
      setProblem(message(error));
    }
    setBusy(false);
  };

  const signIn = async (event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      const result = (await gql(SIGN_IN, { p: sentTo, c: code })).signIn;
      if (result.__typename !== "SignedIn") {
        setProblem(result.message);
        setBusy(false);
        return;
      }
      saveAuth(result);
      ctx.setMe(result.me);
      const next = nextPath(ctx);
      if (result.newUser || !result.me.name) {
        navigate(`/app/profile?next=${encodeURIComponent(next)}`, { replace: true });
      } else {
        navigate(next, { replace: true });
      }
    } catch (error) {
      setProblem(message(error));
      setBusy(false);
    }
  };

  return html`<${Screen} title=${t("signin_title")}>
    ${ctx.query.get("next") && html`<${Notice}>${t("signin_needed")}<//>`}
    ${!sentTo
      ? html`<form onSubmit=${send} class="card">
          <p>${t("signin_intro")}</p>
          <${Field} label=${t("phone")}>
            <input id="phone" type="tel" inputmode="tel" autocomplete="tel" required
              value=${phone} onInput=${(e) => setPhone(e.target.value)} />
          <//>
          <button type="submit" disabled=${busy}>${t("send_code")}</button>
        </form>`
      : html`<form onSubmit=${signIn} class="card">
          <p>${t("code_sent", { phone: sentTo })}</p>
          <${Field} label=${t("code")}>
            <input id="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" required
              value=${code} onInput=${(e) => setCode(e.target.value)} />
          <//>
          <button type="submit" disabled=${busy}>${t("sign_in")}</button>
          <button type="button" class="link" onClick=${() => setSentTo(null)}>${t("other_number")}</button>
        </form>`}
    ${problem && html`<${Notice} kind="error" id="problem">${problem}<//>`}
  <//>`;
}

export function ProfileForm({ ctx, onSaved, submitLabel }) {
  const me = ctx.me || {};
  const [name, setName] = useState(me.name || "");
  const [email, setEmail] = useState(me.email || "");
  const [lang, setLang] = useState(me.language || language());
  const [problem, setProblem] = useState(null);
  const [done, setDone] = useState(false);

  const save = async (event) => {
    event.preventDefault();
    setProblem(null);
    setDone(false);
    try {
      const result = (await gql(UPDATE, { n: name, e: email || null, l: lang })).updateProfile;
      if (result.__typename !== "ProfileUpdated") {
        setProblem(result.message);
        return;
      }
      ctx.setMe(result.me);
      setDone(true);
      onSaved && onSaved(result.me);
    } catch (error) {
      setProblem(message(error));
    }
  };

  return html`<form onSubmit=${save} class="card" id="profile-form">
    <${Field} label=${t("name")}>
      <input id="name" autocomplete="name" required value=${name} onInput=${(e) => setName(e.target.value)} />
    <//>
    <${Field} label=${t("email")}>
      <input id="email" type="email" autocomplete="email" value=${email} onInput=${(e) => setEmail(e.target.value)} />
    <//>
    <${Field} label=${t("language")}>
      <select id="language" value=${lang} onChange=${(e) => setLang(e.target.value)}>
        <option value="nb">${t("lang_nb")}</option>
        <option value="en">${t("lang_en")}</option>
      </select>
    <//>
    <button type="submit">${submitLabel || t("save")}</button>
    ${done && html`<${Notice} id="saved">${t("saved")}<//>`}
    ${problem && html`<${Notice} kind="error">${problem}<//>`}
  </form>`;
}

export function Profile({ ctx }) {
  return html`<${Screen} title=${t("profile_title")}>
    <p>${t("profile_intro")}</p>
    <${ProfileForm} ctx=${ctx} submitLabel=${t("continue")} onSaved=${() => navigate(nextPath(ctx), { replace: true })} />
  <//>`;
}
