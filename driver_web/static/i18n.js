// Words and number formats. Norwegian (bokmål) or English: the profile's language once
// signed in, else the browser's. Numbers as each language writes them, like the server's
// pages and receipts: "kr 1 234,50", "2,226 kWh" / "NOK 1,234.50", "2.226 kWh".
// Times are Oslo's, wherever the phone is.

const WORDS = {
  nb: {
    app: "Ladeflyt",
    nav_find: "Finn",
    nav_route: "Rute",
    nav_history: "Historikk",
    nav_account: "Konto",
    offline: "Frakoblet: viser sist kjente data",
    offline_since: "sist oppdatert",
    loading: "Laster ...",
    error: "Noe gikk galt",
    retry: "Prøv igjen",
    save: "Lagre",
    saved: "Lagret",
    cancel: "Avbryt",
    remove: "Fjern",
    back: "Tilbake",
    // sign-in
    signin_title: "Logg inn",
    signin_intro: "Vi sender en engangskode på SMS.",
    phone: "Mobilnummer",
    send_code: "Send kode",
    code: "Kode fra SMS",
    code_sent: "Vi sendte en kode til {phone}.",
    sign_in: "Logg inn",
    other_number: "Bruk et annet nummer",
    signin_needed: "Logg inn for å fortsette.",
    profile_title: "Om deg",
    profile_intro: "Velkommen! Fortell oss hvem du er.",
    name: "Navn",
    email: "E-post",
    language: "Språk",
    lang_nb: "Norsk",
    lang_en: "English",
    continue: "Fortsett",
    // find
    find_title: "Finn lader",
    search_place: "Søk sted",
    near_me: "Nær meg",
    near: "Nær {place}",
    near_you: "Nær deg",
    charger_code: "Ladernummer (står på laderen)",
    open: "Åpne",
    available_only: "Ledig nå",
    min_kw: "Min. effekt",
    any: "Alle",
    connector_type: "Kontakt",
    list: "Liste",
    map: "Kart",
    no_chargers: "Ingen ladere her med disse filtrene.",
    more: "Vis flere",
    map_offline: "Kartet trenger nett. Her er listen.",
    map_no_tiles: "Uten kartbakgrunn: ladestedene vises på riktig sted.",
    away: "{km} unna",
    offline_charger: "Frakoblet",
    per_kwh: "/kWh",
    price_unknown: "Pris ikke satt",
    active_session: "Du lader nå",
    see_session: "Se ladingen",
    // statuses
    st_AVAILABLE: "Ledig",
    st_PREPARING: "Klargjør",
    st_CHARGING: "Lader",
    st_SUSPENDED_EV: "Pause (bil)",
    st_SUSPENDED_EVSE: "Pause (lader)",
    st_FINISHING: "Avslutter",
    st_RESERVED: "Reservert",
    st_OCCUPIED: "Opptatt",
    st_UNAVAILABLE: "Utilgjengelig",
    st_FAULTED: "Feil",
    st_UNKNOWN: "Ukjent",
    // charger
    charger_title: "Lader {code}",
    not_found: "Fant ikke laderen {code}.",
    connectors: "Uttak",
    price: "Pris",
    prices_incl_vat: "Alle priser inkl. 25 % mva.",
    vehicle: "Bil",
    no_vehicle: "Ikke valgt",
    start: "Start lading",
    starting: "Starter ...",
    choose_connector: "Velg et ledig uttak.",
    need_payment: "Legg til et betalingskort før du lader.",
    add_payment: "Legg til betalingskort",
    guest_instead: "Betal som gjest i stedet",
    signin_to_start: "Logg inn for å starte",
    unit_kWh: "kWh",
    unit_min: "min",
    unit_session: "lading",
    // session
    session_title: "Lading",
    state_STARTING: "Starter ...",
    state_ACTIVE: "Lader",
    state_SUSPENDED: "Venter på laderen",
    state_COMPLETED: "Ferdig",
    state_FAILED: "Startet ikke",
    stopping: "Stopper ...",
    power: "Effekt",
    energy: "Energi",
    cost: "Kostnad så langt",
    soc: "Batteri",
    elapsed: "Tid",
    stop: "Stopp lading",
    total: "Totalt",
    receipt: "Kvittering",
    receipt_no: "Kvittering {n}",
    receipt_page: "Kvitteringsside",
    receipt_pdf: "Last ned (PDF)",
    paid_card: "Trukket (kort)",
    paid_vipps: "Trukket (Vipps)",
    on_invoice: "Kommer på fakturaen",
    net: "Netto",
    vat: "Mva. 25 %",
    live_lost: "Mistet forbindelsen, kobler til igjen ...",
    // history
    history_title: "Historikk",
    sessions: "Ladinger",
    invoices: "Fakturaer",
    no_sessions: "Ingen ladinger ennå.",
    no_invoices: "Ingen fakturaer.",
    invoice_n: "Faktura {n}",
    due: "Forfall {date}",
    inv_open: "Ubetalt",
    inv_overdue: "Forfalt",
    inv_paid: "Betalt",
    inv_credited: "Kreditert",
    pay_card: "Betal med kort",
    pay_vipps: "Betal med Vipps",
    invoice_pdf: "Faktura (PDF)",
    invoice_paid_now: "Takk! Faktura {n} er betalt.",
    invoice_not_paid: "Betalingen ble ikke fullført.",
    // payment
    payment_title: "Betaling",
    payment_methods: "Betalingsmåter",
    no_methods: "Ingen betalingsmåte ennå.",
    default: "Standard",
    make_default: "Bruk som standard",
    add_card: "Legg til kort",
    add_vipps: "Legg til Vipps",
    card_number: "Kortnummer",
    expiry: "Utløper (MM/ÅÅ)",
    cvc: "CVC",
    save_card: "Lagre kort",
    sandbox_note: "Testmodus: ingen ekte kort belastes. 4242 4242 4242 4242 godkjennes, 4000 0000 0000 0002 avvises ved lading.",
    card_declined: "Kortet ble avvist.",
    card_saved: "Kortet er lagret.",
    invoice_settings: "Faktura og kvitteringer",
    receipt_by_email: "Kvittering på e-post",
    invoice_channel: "Faktura sendes som",
    ch_email: "E-post",
    ch_efaktura: "eFaktura",
    ch_ehf: "EHF",
    ch_paper: "Papir",
    delivered_by: "Sendes nå som: {channel}",
    invoice_billing: "Du betaler med månedlig faktura.",
    // tags and vehicles
    tags_title: "Ladebrikker",
    tags_intro: "Registrer brikken én gang, så starter den lading ved å holde den mot laderen.",
    tag_uid: "Brikkens ID (står på brikken)",
    tag_label: "Navn (valgfritt)",
    register_tag: "Registrer brikke",
    no_tags: "Ingen brikker registrert.",
    tag_active: "Aktiv",
    tag_blocked: "Sperret",
    vehicles_title: "Biler",
    no_vehicles: "Ingen biler lagt til.",
    make: "Merke",
    model: "Modell",
    battery_kwh: "Batteri (kWh)",
    max_ac: "Maks AC (kW)",
    max_dc: "Maks DC (kW)",
    add_vehicle: "Legg til bil",
    // route
    route_title: "Planlegg tur",
    from: "Fra",
    to: "Til",
    my_position: "Min posisjon",
    start_soc: "Batteri ved start (%)",
    consumption: "Forbruk (Wh/km)",
    plan: "Planlegg",
    planning: "Planlegger ...",
    route_summary: "{km}, {time} totalt",
    driving: "Kjøring",
    charging: "Lading",
    stops: "Ladestopp",
    no_stops: "Ingen stopp trengs.",
    arrive_soc: "Fram med {soc} %",
    stop_line: "{min} min lading, {from} % → {to} %",
    eta: "ca. kl. {time}",
    est_cost: "Anslått pris",
    no_route: "Ingen mulig rute: {message}",
    pick_place: "Velg et sted fra listen.",
    no_route_GAP_TOO_LONG: "bilen rekker ikke fram til neste lader. Start med mer strøm, eller ta med tregere ladere.",
    no_route_CONNECTOR_MISMATCH: "ladere på strekningen har ikke kontakten bilen bruker.",
    no_route_SEARCH_LIMIT: "turen er for lang til å planlegge her. Del den opp.",
    // account
    account_title: "Konto",
    profile: "Profil",
    payment_link: "Betalingsmåter og faktura",
    tags_link: "Ladebrikker",
    vehicles_link: "Biler",
    invoices_link: "Fakturaer",
    sign_out: "Logg ut",
    sign_out_everywhere: "Logg ut på alle enheter",
    install: "Legg appen på hjemskjermen",
    support: "Kundeservice",
  },
  en: {
    app: "Ladeflyt",
    nav_find: "Find",
    nav_route: "Route",
    nav_history: "History",
    nav_account: "Account",
    offline: "Offline: showing last known data",
    offline_since: "last updated",
    loading: "Loading ...",
    error: "Something went wrong",
    retry: "Try again",
    save: "Save",
    saved: "Saved",
    cancel: "Cancel",
    remove: "Remove",
    back: "Back",
    signin_title: "Sign in",
    signin_intro: "We will text you a one-time code.",
    phone: "Mobile number",
    send_code: "Send code",
    code: "Code from the SMS",
    code_sent: "We sent a code to {phone}.",
    sign_in: "Sign in",
    other_number: "Use another number",
    signin_needed: "Sign in to continue.",
    profile_title: "About you",
    profile_intro: "Welcome! Tell us who you are.",
    name: "Name",
    email: "E-mail",
    language: "Language",
    lang_nb: "Norsk",
    lang_en: "English",
    continue: "Continue",
    find_title: "Find a charger",
    search_place: "Search a place",
    near_me: "Near me",
    near: "Near {place}",
    near_you: "Near you",
    charger_code: "Charger number (printed on it)",
    open: "Open",
    available_only: "Available now",
    min_kw: "Min. power",
    any: "Any",
    connector_type: "Connector",
    list: "List",
    map: "Map",
    no_chargers: "No chargers here with these filters.",
    more: "Show more",
    map_offline: "The map needs a connection. Here is the list.",
    map_no_tiles: "No map background: the sites are shown where they are.",
    away: "{km} away",
    offline_charger: "Offline",
    per_kwh: "/kWh",
    price_unknown: "No price set",
    active_session: "You are charging",
    see_session: "See the session",
    st_AVAILABLE: "Available",
    st_PREPARING: "Preparing",
    st_CHARGING: "Charging",
    st_SUSPENDED_EV: "Paused (car)",
    st_SUSPENDED_EVSE: "Paused (charger)",
    st_FINISHING: "Finishing",
    st_RESERVED: "Reserved",
    st_OCCUPIED: "Occupied",
    st_UNAVAILABLE: "Unavailable",
    st_FAULTED: "Faulted",
    st_UNKNOWN: "Unknown",
    charger_title: "Charger {code}",
    not_found: "Charger {code} was not found.",
    connectors: "Connectors",
    price: "Price",
    prices_incl_vat: "All prices incl. 25 % VAT.",
    vehicle: "Car",
    no_vehicle: "Not chosen",
    start: "Start charging",
    starting: "Starting ...",
    choose_connector: "Choose an available connector.",
    need_payment: "Add a payment card before charging.",
    add_payment: "Add a payment card",
    guest_instead: "Pay as a guest instead",
    signin_to_start: "Sign in to start",
    unit_kWh: "kWh",
    unit_min: "min",
    unit_session: "session",
    session_title: "Charging",
    state_STARTING: "Starting ...",
    state_ACTIVE: "Charging",
    state_SUSPENDED: "Waiting for the charger",
    state_COMPLETED: "Finished",
    state_FAILED: "Did not start",
    stopping: "Stopping ...",
    power: "Power",
    energy: "Energy",
    cost: "Cost so far",
    soc: "Battery",
    elapsed: "Time",
    stop: "Stop charging",
    total: "Total",
    receipt: "Receipt",
    receipt_no: "Receipt {n}",
    receipt_page: "Receipt page",
    receipt_pdf: "Download (PDF)",
    paid_card: "Charged (card)",
    paid_vipps: "Charged (Vipps)",
    on_invoice: "On your invoice",
    net: "Net",
    vat: "VAT 25 %",
    live_lost: "Connection lost, reconnecting ...",
    history_title: "History",
    sessions: "Sessions",
    invoices: "Invoices",
    no_sessions: "No sessions yet.",
    no_invoices: "No invoices.",
    invoice_n: "Invoice {n}",
    due: "Due {date}",
    inv_open: "Unpaid",
    inv_overdue: "Overdue",
    inv_paid: "Paid",
    inv_credited: "Credited",
    pay_card: "Pay by card",
    pay_vipps: "Pay with Vipps",
    invoice_pdf: "Invoice (PDF)",
    invoice_paid_now: "Thank you! Invoice {n} is paid.",
    invoice_not_paid: "The payment was not completed.",
    payment_title: "Payment",
    payment_methods: "Payment methods",
    no_methods: "No payment method yet.",
    default: "Default",
    make_default: "Make default",
    add_card: "Add a card",
    add_vipps: "Add Vipps",
    card_number: "Card number",
    expiry: "Expires (MM/YY)",
    cvc: "CVC",
    save_card: "Save card",
    sandbox_note: "Test mode: no real card is charged. 4242 4242 4242 4242 is approved, 4000 0000 0000 0002 declined when charging.",
    card_declined: "The card was declined.",
    card_saved: "The card is saved.",
    invoice_settings: "Invoices and receipts",
    receipt_by_email: "Receipts by e-mail",
    invoice_channel: "Send invoices as",
    ch_email: "E-mail",
    ch_efaktura: "eFaktura",
    ch_ehf: "EHF",
    ch_paper: "Paper",
    delivered_by: "Sent now as: {channel}",
    invoice_billing: "You pay by monthly invoice.",
    tags_title: "Charging tags",
    tags_intro: "Register your tag once; then it starts charging when held to the charger.",
    tag_uid: "Tag ID (printed on the tag)",
    tag_label: "Name (optional)",
    register_tag: "Register tag",
    no_tags: "No tags registered.",
    tag_active: "Active",
    tag_blocked: "Blocked",
    vehicles_title: "Cars",
    no_vehicles: "No cars added.",
    make: "Make",
    model: "Model",
    battery_kwh: "Battery (kWh)",
    max_ac: "Max AC (kW)",
    max_dc: "Max DC (kW)",
    add_vehicle: "Add car",
    route_title: "Plan a trip",
    from: "From",
    to: "To",
    my_position: "My position",
    start_soc: "Battery at start (%)",
    consumption: "Consumption (Wh/km)",
    plan: "Plan",
    planning: "Planning ...",
    route_summary: "{km}, {time} in all",
    driving: "Driving",
    charging: "Charging",
    stops: "Charging stops",
    no_stops: "No stops needed.",
    arrive_soc: "Arrive with {soc} %",
    stop_line: "{min} min charging, {from} % → {to} %",
    eta: "about {time}",
    est_cost: "Estimated cost",
    no_route: "No possible route: {message}",
    pick_place: "Choose a place from the list.",
    account_title: "Account",
    profile: "Profile",
    payment_link: "Payment and invoices",
    tags_link: "Charging tags",
    vehicles_link: "Cars",
    invoices_link: "Invoices",
    sign_out: "Sign out",
    sign_out_everywhere: "Sign out on every device",
    install: "Add the app to the home screen",
    support: "Customer service",
  },
};

const LANG_KEY = "ladeflyt.lang";

export function browserLanguage() {
  const wanted = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  for (const tag of wanted) {
    const code = String(tag || "").toLowerCase().split("-")[0];
    if (["nb", "no", "nn"].includes(code)) return "nb";
    if (code === "en") return "en";
  }
  return "nb";
}

let current = localStorage.getItem(LANG_KEY) || browserLanguage();

export function language() {
  return current;
}

// The profile's language wins once known; it is remembered for the next start offline.
export function setLanguage(lang) {
  current = lang === "en" ? "en" : "nb";
  localStorage.setItem(LANG_KEY, current);
  document.documentElement.lang = current;
}

export function t(key, values) {
  let text = WORDS[current][key] ?? WORDS.nb[key] ?? key;
  if (values) {
    for (const [name, value] of Object.entries(values)) text = text.replaceAll(`{${name}}`, value);
  }
  return text;
}

const LOCALE = { nb: "nb-NO", en: "en-GB" };
const ZONE = "Europe/Oslo";

function numberFormat(min, max) {
  return new Intl.NumberFormat(LOCALE[current], { minimumFractionDigits: min, maximumFractionDigits: max });
}

export function number(value, min = 0, max = 2) {
  return numberFormat(min, max).format(value);
}

// "kr 1 234,50" / "NOK 1,234.50": the same as the server's pages and receipts.
export function money(ore) {
  if (ore === null || ore === undefined) return "–";
  const amount = numberFormat(2, 2).format(Math.abs(ore) / 100);
  const sign = ore < 0 ? "-" : "";
  return current === "en" ? `${sign}NOK ${amount}` : `${sign}kr ${amount}`;
}

// A unit price (may have decimals of øre): "kr 4,50", "kr 0,125".
export function unitPrice(ore) {
  const amount = numberFormat(2, 3).format(ore / 100);
  return current === "en" ? `NOK ${amount}` : `kr ${amount}`;
}

export function kwh(value) {
  return `${number(value ?? 0, 3, 3)} kWh`;
}

export function kw(value) {
  return value === null || value === undefined ? "–" : `${number(value, 1, 1)} kW`;
}

export function km(value) {
  return value < 10 ? `${number(value, 1, 1)} km` : `${number(Math.round(value), 0, 0)} km`;
}

// 3725 s → "1:02:05"; 125 s → "2:05".
export function elapsed(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

// 95 min → "1 t 35 min" / "1 h 35 min".
export function duration(minutes) {
  const total = Math.round(minutes);
  const h = Math.floor(total / 60);
  const m = total % 60;
  const hours = current === "en" ? "h" : "t";
  return h ? `${h} ${hours} ${m} min` : `${m} min`;
}

export function dateTime(iso) {
  return new Intl.DateTimeFormat(LOCALE[current], {
    timeZone: ZONE,
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  }).format(new Date(iso));
}

export function day(iso) {
  return new Intl.DateTimeFormat(LOCALE[current], { timeZone: ZONE, day: "numeric", month: "long", year: "numeric" }).format(
    new Date(iso.length === 10 ? `${iso}T12:00:00Z` : iso),
  );
}

export function clock(date) {
  return new Intl.DateTimeFormat(LOCALE[current], { timeZone: ZONE, hour: "2-digit", minute: "2-digit" }).format(date);
}

document.documentElement.lang = current;
