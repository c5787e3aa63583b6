"""The dashboard's words in Norwegian (default) and English; numbers and dates come from
core.l10n (Babel)."""

from __future__ import annotations

from typing import Any

from api.dashboard import i18n_pages as pages
from core import l10n

NB: dict[str, str] = {
    "dashboard": "Kontrollpanel",
    "overview": "Oversikt",
    "energy": "Energi og kostnad",
    "history": "Ladehistorikk",
    "sharing": "Kostnadsdeling",
    "people": "Personer",
    "prices": "Priser",
    "power": "Effektstyring",
    "support": "Kundeservice",
    "invoicing": "Fakturering",
    "chargers": "Ladere",
    "sign_in": "Logg inn",
    "sign_out": "Logg ut",
    "identity": "E-post eller mobilnummer",
    "send_code": "Send kode",
    "code": "Engangskode",
    "code_sent": "Vi har sendt en kode hvis adressen hører til en bruker.",
    "totp": "Kode fra autentiseringsappen",
    "totp_setup": (
        "Legg til Ladeflyt i autentiseringsappen (skann QR-koden), og skriv inn koden den viser."
    ),
    "secret": "Hemmelig nøkkel",
    "continue": "Fortsett",
    "menu": "Meny",
    "skip": "Hopp til innholdet",
    "language": "English",
    "signed_in_as": "Innlogget som",
    "sites": "Anlegg",
    "site": "Anlegg",
    "charger": "Lader",
    "connector": "Kontakt",
    "status": "Status",
    "power_now": "Effekt nå",
    "sessions_now": "Ladinger nå",
    "energy_today": "Energi i dag",
    "faults": "Feil",
    "online": "Tilkoblet",
    "offline": "Frakoblet",
    "map": "Kart",
    "list": "Liste",
    "organisation": "Organisasjon",
    "all": "Alle",
    "live": "Oppdateres fortløpende",
    "none": "Ingen",
    "no_sites": "Ingen anlegg å vise.",
    "error": "Noe gikk galt",
    "not_found": "Fant ikke dette",
    "forbidden": "Rollen din gir ikke tilgang til dette",
    "back": "Tilbake",
    "st_Available": "Ledig",
    "st_Preparing": "Klargjør",
    "st_Charging": "Lader",
    "st_SuspendedEV": "Pause (bil)",
    "st_SuspendedEVSE": "Pause (lader)",
    "st_Finishing": "Avslutter",
    "st_Reserved": "Reservert",
    "st_Occupied": "Opptatt",
    "st_Unavailable": "Utilgjengelig",
    "st_Faulted": "Feil",
    "st_Unknown": "Ukjent",
    "filters": "Filtre",
    "group": "Gruppe",
    "payment": "Betaling",
    "from": "Fra",
    "to": "Til",
    "show": "Vis",
    "sessions": "Ladinger",
    "energy_kwh": "Energi (kWh)",
    "amount": "Beløp",
    "export_csv": "Last ned CSV",
    "started": "Startet",
    "stopped": "Stoppet",
    "driver": "Sjåfør",
    "guest": "gjest",
    "no_sessions": "Ingen ladinger.",
    "pages": "Sider",
    "newest": "Nyeste",
    "older": "Eldre",
    "session": "Lading",
    "price_breakdown": "Prisen linje for linje",
    "what": "Hva",
    "quantity": "Mengde",
    "unit_price": "Pris per enhet",
    "vat": "Herav mva.",
    "total": "Totalt",
    "tariff": "Tariff",
    "not_priced": "Ikke priset ennå.",
    "payments": "Betalinger",
    "refunded": "refundert",
    "meter_curve": "Målerkurve",
    "no_samples": "Ingen måleverdier.",
    "ss_active": "Lader",
    "ss_suspended": "Pause",
    "ss_completed": "Fullført",
    "ss_failed": "Feilet",
    "ss_starting": "Starter",
    "pay_none": "Ikke avgjort",
    "pay_unpriced": "Ikke priset",
    "pay_paid": "Betalt",
    "pay_partially_paid": "Delvis betalt",
    "pay_nothing_due": "Ingenting å betale",
    "pay_to_invoice": "Til faktura",
    "pay_invoiced": "Fakturert",
    "pay_credited": "Kreditert",
    "pay_capture_failed": "Trekk feilet",
    "pay_cancel_failed": "Frigivelse feilet",
    "pay_unpaid": "Ubetalt",
    "support_actions": "Kundeservice",
    "stop_session": "Stopp ladingen",
    "unlock": "Lås opp kontakten",
    "resend_receipt": "Send kvittering på nytt",
    "refund_amount": "Refunder beløp (kr)",
    "reason": "Årsak",
    "refund": "Refunder",
    "done": "Utført",
    "notes": "Notater",
    "new_note": "Nytt notat",
    "save": "Lagre",
    "search_for": "Mobilnummer, navn, brikke, ladernummer eller lading nr.",
    "search": "Søk",
    "results": "Treff",
    "nothing_found": "Fant ingenting.",
    "tag": "Brikke",
    "owner": "eier",
    "phone": "Mobil",
    "email": "E-post",
    "memberships": "Medlemskap",
    "tags": "Brikker",
    "sms_log": "SMS-logg",
    "all_sessions": "Alle ladinger",
    "quote_preview": "Prisforhåndsvisning",
    "quote_caption": "{kwh} kWh fra {when} på {site} koster",
    "costs": "Koster",
    "list_price": "listepris",
    "when": "Tidspunkt",
    "in_force": "Priser i kraft",
    "assign": "Gjør gjeldende",
    "tariffs": "Tariffer",
    "incl_vat": "inkl. mva.",
    "component": "Del",
    "price_incl_vat": "Pris (kr inkl. mva.)",
    "days": "Dager (mon-fri, weekend, all)",
    "from_time": "Fra kl.",
    "to_time": "Til kl.",
    "add_component": "Legg til",
    "new_tariff": "Ny tariff",
    "create": "Opprett",
    "changes": "Endringer",
    "kind_energy": "Energi (per kWh)",
    "kind_time": "Tid (per min)",
    "kind_parking": "Parkering etter lading (per min)",
    "kind_session": "Startavgift",
    "import_report": "Importrapport",
    "import_summary": "{imported} av {total} rader importert, {rejected} avvist.",
    "line": "Linje",
    "name": "Navn",
    "reference": "Referanse",
    "valid": "Gyldig",
    "add_member": "Legg til medlem",
    "import_csv": "Importer fra CSV",
    "import_help": (
        "Kolonner: phone, group, og ev. site, from, to, reference, name (komma eller semikolon)."
    ),
    "csv_file": "CSV-fil",
    "import": "Importer",
}

EN: dict[str, str] = {
    "dashboard": "Dashboard",
    "overview": "Overview",
    "energy": "Energy and cost",
    "history": "Charging history",
    "sharing": "Cost sharing",
    "people": "People",
    "prices": "Prices",
    "power": "Power management",
    "support": "Customer support",
    "invoicing": "Invoicing",
    "chargers": "Chargers",
    "sign_in": "Sign in",
    "sign_out": "Sign out",
    "identity": "E-mail or mobile number",
    "send_code": "Send code",
    "code": "One-time code",
    "code_sent": "We have sent a code if the address belongs to a user.",
    "totp": "Code from your authenticator app",
    "totp_setup": (
        "Add Ladeflyt to your authenticator app (scan the QR code) and enter the code it shows."
    ),
    "secret": "Secret key",
    "continue": "Continue",
    "menu": "Menu",
    "skip": "Skip to content",
    "language": "Norsk",
    "signed_in_as": "Signed in as",
    "sites": "Sites",
    "site": "Site",
    "charger": "Charger",
    "connector": "Connector",
    "status": "Status",
    "power_now": "Power now",
    "sessions_now": "Sessions now",
    "energy_today": "Energy today",
    "faults": "Faults",
    "online": "Online",
    "offline": "Offline",
    "map": "Map",
    "list": "List",
    "organisation": "Organisation",
    "all": "All",
    "live": "Updates live",
    "none": "None",
    "no_sites": "No sites to show.",
    "error": "Something went wrong",
    "not_found": "Not found",
    "forbidden": "Your role does not allow this",
    "back": "Back",
    "st_Available": "Available",
    "st_Preparing": "Preparing",
    "st_Charging": "Charging",
    "st_SuspendedEV": "Paused (car)",
    "st_SuspendedEVSE": "Paused (charger)",
    "st_Finishing": "Finishing",
    "st_Reserved": "Reserved",
    "st_Occupied": "Occupied",
    "st_Unavailable": "Unavailable",
    "st_Faulted": "Faulted",
    "st_Unknown": "Unknown",
    "filters": "Filters",
    "group": "Group",
    "payment": "Payment",
    "from": "From",
    "to": "To",
    "show": "Show",
    "sessions": "Sessions",
    "energy_kwh": "Energy (kWh)",
    "amount": "Amount",
    "export_csv": "Download CSV",
    "started": "Started",
    "stopped": "Stopped",
    "driver": "Driver",
    "guest": "guest",
    "no_sessions": "No sessions.",
    "pages": "Pages",
    "newest": "Newest",
    "older": "Older",
    "session": "Session",
    "price_breakdown": "The price line by line",
    "what": "What",
    "quantity": "Quantity",
    "unit_price": "Unit price",
    "vat": "VAT included",
    "total": "Total",
    "tariff": "Tariff",
    "not_priced": "Not priced yet.",
    "payments": "Payments",
    "refunded": "refunded",
    "meter_curve": "Meter curve",
    "no_samples": "No meter values.",
    "ss_active": "Charging",
    "ss_suspended": "Suspended",
    "ss_completed": "Completed",
    "ss_failed": "Failed",
    "ss_starting": "Starting",
    "pay_none": "Not settled",
    "pay_unpriced": "Not priced",
    "pay_paid": "Paid",
    "pay_partially_paid": "Partially paid",
    "pay_nothing_due": "Nothing due",
    "pay_to_invoice": "To invoice",
    "pay_invoiced": "Invoiced",
    "pay_credited": "Credited",
    "pay_capture_failed": "Capture failed",
    "pay_cancel_failed": "Release failed",
    "pay_unpaid": "Unpaid",
    "support_actions": "Support",
    "stop_session": "Stop the session",
    "unlock": "Unlock the connector",
    "resend_receipt": "Resend the receipt",
    "refund_amount": "Refund amount (NOK)",
    "reason": "Reason",
    "refund": "Refund",
    "done": "Done",
    "notes": "Notes",
    "new_note": "New note",
    "save": "Save",
    "search_for": "Mobile number, name, tag, charger code or session number",
    "search": "Search",
    "results": "Results",
    "nothing_found": "Nothing found.",
    "tag": "Tag",
    "owner": "owner",
    "phone": "Mobile",
    "email": "E-mail",
    "memberships": "Memberships",
    "tags": "Tags",
    "sms_log": "SMS log",
    "all_sessions": "All sessions",
    "quote_preview": "Quote preview",
    "quote_caption": "{kwh} kWh from {when} at {site} costs",
    "costs": "Costs",
    "list_price": "list price",
    "when": "When",
    "in_force": "Prices in force",
    "assign": "Make it the price",
    "tariffs": "Tariffs",
    "incl_vat": "incl. VAT",
    "component": "Component",
    "price_incl_vat": "Price (NOK incl. VAT)",
    "days": "Days (mon-fri, weekend, all)",
    "from_time": "From",
    "to_time": "To",
    "add_component": "Add",
    "new_tariff": "New tariff",
    "create": "Create",
    "changes": "Changes",
    "kind_energy": "Energy (per kWh)",
    "kind_time": "Time (per min)",
    "kind_parking": "Parking after charging (per min)",
    "kind_session": "Start fee",
    "import_report": "Import report",
    "import_summary": "{imported} of {total} rows imported, {rejected} rejected.",
    "line": "Line",
    "name": "Name",
    "reference": "Reference",
    "valid": "Valid",
    "add_member": "Add a member",
    "import_csv": "Import from CSV",
    "import_help": (
        "Columns: phone, group, and optionally site, from, to, reference, name "
        "(comma or semicolon)."
    ),
    "csv_file": "CSV file",
    "import": "Import",
}

TEXTS = {"nb": {**NB, **pages.NB}, "en": {**EN, **pages.EN}}


class Words:
    """`t.key` or `t("key")` in templates; a missing word shows its key (found in tests)."""

    def __init__(self, lang: str) -> None:
        self._words = TEXTS.get(lang, NB)

    def __getattr__(self, key: str) -> str:
        return self._words.get(key, key)

    def __call__(self, key: str, **values: Any) -> str:
        text = self._words.get(key, key)
        return text.format(**values) if values else text


class Formats:
    """Numbers, money and dates in the page's language (core.l10n)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def money(self, ore: int | None) -> str:
        return l10n.money(ore, self.lang)

    def amount(self, ore: int | None) -> str:
        return "" if ore is None else l10n.amount(ore, self.lang)

    def kwh(self, wh: int | None) -> str:
        return l10n.kwh(wh or 0, self.lang)

    def kw(self, w: int | None) -> str:
        return l10n.number((w or 0) / 1000, self.lang, decimals=1)

    def number(self, value: Any, decimals: int = 0) -> str:
        return l10n.number(value, self.lang, decimals=decimals)

    def day(self, value: Any) -> str:
        return "" if value is None else l10n.day(value, self.lang)

    def clock(self, value: Any) -> str:
        return "" if value is None else l10n.clock(value, self.lang)

    def when(self, value: Any) -> str:
        return (
            "" if value is None else f"{l10n.day(value, self.lang)} {l10n.clock(value, self.lang)}"
        )

    def unit_price(self, ore: Any) -> str:
        return l10n.unit_price(ore, self.lang)

    def percent(self, share: float | None) -> str:
        """A share (0..1) as `87,5 %`; None (nothing known) as a dash."""
        return "\u2013" if share is None else l10n.number(share * 100, self.lang, decimals=1) + " %"

    def hours(self, seconds: float | None) -> str:
        return l10n.number((seconds or 0) / 3600, self.lang, decimals=1)
