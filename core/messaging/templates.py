"""SMS texts in Norwegian (nb) and English (en), in the operator's name.

Every text is GSM-7 (160 characters a part; one character outside it, even a no-break
space, turns the whole message into UCS-2 at 70 a part): `render` maps the typographic
characters our formatting produces (no-break spaces, en dashes) to their GSM-7 cousins.
æøå are GSM-7; € is not used.
"""

from __future__ import annotations

from typing import Any

from core import l10n
from core.operator import Operator

TEXTS: dict[str, dict[str, str]] = {
    "help": {
        "nb": "{name}: LADE START <ladernr> starter, LADE STOP <ladernr> stopper, "
        "LADE STATUS viser ladingen. Kontakt 2: LADE START <ladernr>-2. "
        "Ingen flere SMS: STOPP SMS.{support}",
        "en": "{name}: CHARGE START <charger> starts, CHARGE STOP <charger> stops, "
        "CHARGE STATUS shows your session. Connector 2: CHARGE START <charger>-2. "
        "No more SMS: STOP SMS.{support}",
    },
    "support": {
        "nb": " Kundeservice: {contact}.",
        "en": " Customer service: {contact}.",
    },
    "member_invite": {
        "nb": "{org} har gitt deg tilgang til lading hos {name} ({group}). "
        "Logg inn med dette nummeret i appen: {link}",
        "en": "{org} has given you access to charging with {name} ({group}). "
        "Sign in with this number in the app: {link}",
    },
    "unknown_command": {
        "nb": "Forstod ikke meldingen. Send HJELP til {number} for kommandoer.",
        "en": "Sorry, we did not understand. Send HELP to {number} for the commands.",
    },
    "started": {
        "nb": "Lading startet på {code}, kontakt {evse}. Pris: {price}. "
        "Stopp med LADE STOP {code}.",
        "en": "Charging started at {code}, connector {evse}. Price: {price}. "
        "Stop with CHARGE STOP {code}.",
    },
    "approve_in_vipps": {
        "nb": "Godkjenn betalingen i Vipps for å starte {code}: {link}",
        "en": "Approve the payment in Vipps to start {code}: {link}",
    },
    "stopping": {
        "nb": "Lading stoppes på {code}: {kwh} kWh, {cost} så langt. Kvittering kommer på SMS.",
        "en": "Stopping at {code}: {kwh} kWh, {cost} so far. Your receipt follows by SMS.",
    },
    "opt_out_hint": {
        "nb": " Vil du ikke ha SMS fra oss? Send STOPP SMS.",
        "en": " To get no more SMS from us, send STOP SMS.",
    },
    "finished": {
        "nb": "Lading ferdig på {code}: {kwh} kWh, {cost}. Kvittering: {receipt}",
        "en": "Charging finished at {code}: {kwh} kWh, {cost}. Receipt: {receipt}",
    },
    "car_full": {
        "nb": "Bilen på {code} lader ikke lenger. {idle}Flytt bilen når du kan.",
        "en": "Your car at {code} has stopped charging. {idle}Please move it when you can.",
    },
    "idle_fee": {
        "nb": "Parkering koster {price} etter {grace} min. ",
        "en": "Parking costs {price} after {grace} min. ",
    },
    "status_active": {
        "nb": "Du lader på {code}: {kwh} kWh, {minutes} min, {cost}.",
        "en": "Charging at {code}: {kwh} kWh, {minutes} min, {cost}.",
    },
    "status_none": {
        "nb": "Du har ingen aktiv lading.",
        "en": "You have no active charging session.",
    },
    "charger_offline": {
        "nb": "Laderen {code} er ikke tilkoblet akkurat nå. Prøv igjen om litt.",
        "en": "Charger {code} is offline right now. Please try again shortly.",
    },
    "connector_busy": {
        "nb": "Laderen {code} er opptatt eller ute av drift. {detail}",
        "en": "Charger {code} is busy or out of order. {detail}",
    },
    "no_connector": {
        "nb": "Kontakt {connector} finnes ikke.",
        "en": "There is no connector {connector}.",
    },
    "not_allowed": {
        "nb": "Kan ikke starte: {detail}",
        "en": "Cannot start: {detail}",
    },
    "not_your_session": {
        "nb": "Du har ingen aktiv lading på {code}.",
        "en": "You have no active session at {code}.",
    },
    "unknown_charger": {
        "nb": "Fant ingen lader med nummer {code}. Sjekk nummeret på laderen.",
        "en": "No charger with the number {code}. Check the number on the charger.",
    },
    "unknown_number": {
        "nb": "Vi kjenner ikke nummeret ditt. Registrer deg: {signup}{guest}",
        "en": "We do not know your number. Sign up: {signup}{guest}",
    },
    "guest_link": {
        "nb": " Eller betal som gjest: {link}",
        "en": " Or pay as a guest: {link}",
    },
    "payment_required": {
        "nb": "Legg til et betalingskort før du lader: {link}",
        "en": "Add a payment card before charging: {link}",
    },
    "price_see_app": {"nb": "se appen", "en": "see the app"},
    "price_free": {"nb": "gratis", "en": "free"},
    "opted_out": {
        "nb": "Du er meldt av SMS fra {name}. Kvitteringer og innloggingskoder får du "
        "fortsatt. Send START til {number} for å melde deg på igjen.",
        "en": "You have opted out of SMS from {name}. You still get receipts and sign-in "
        "codes. Send START to {number} to opt back in.",
    },
    "opted_in": {
        "nb": "Du får SMS fra {name} igjen. Send STOPP SMS til {number} for å melde deg av.",
        "en": "You will get SMS from {name} again. Send STOP SMS to {number} to opt out.",
    },
    "rate_limited": {
        "nb": "For mange meldinger. Vent litt og prøv igjen.",
        "en": "Too many messages. Please wait a little and try again.",
    },
    "sign_in_code": {
        "nb": "{name}: koden din er {code}. Den gjelder i {minutes} minutter.",
        "en": "{name}: your code is {code}. It is valid for {minutes} minutes.",
    },
    "guest_receipt": {
        "nb": "Kvittering fra {name}: {code}, {kwh} kWh, {cost} inkl. mva. {receipt}",
        "en": "Receipt from {name}: {code}, {kwh} kWh, {cost} incl. VAT. {receipt}",
    },
    "invoice_reminder": {
        "nb": "Påminnelse fra {name}: faktura {invoice} på {amount}{fee} forfalt {due}. "
        "Betal her: {link}",
        "en": "Reminder from {name}: invoice {invoice} of {amount}{fee} was due {due}. "
        "Pay here: {link}",
    },
    "reminder_fee": {"nb": " (inkl. purregebyr {fee})", "en": " (incl. reminder fee {fee})"},
}

# GSM 03.38: the default alphabet and (counted twice) its extension table.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"
_TO_GSM7 = str.maketrans(
    {
        "\u00a0": " ",  # no-break space: Norwegian thousands (Babel), "kr 1 234,50"
        "\u202f": " ",  # narrow no-break space
        "\u2009": " ",  # thin space
        "\u2013": "-",  # en dash, as in opening hours
        "\u2014": "-",
        "\u2212": "-",  # minus sign
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
    }
)


def gsm7(text: str) -> str:
    """`text` with the typographic characters our formatting makes turned into GSM-7 ones."""
    return text.translate(_TO_GSM7)


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def render(key: str, language: str | None, operator: Operator, **values: Any) -> str:
    """The text `key` in `language` (Norwegian when unknown), in the operator's name."""
    texts = TEXTS[key]
    text = texts.get(language or "nb", texts["nb"])
    values.setdefault("name", operator.name)
    values.setdefault("number", operator.short_number)
    if key == "help":
        contact = operator.contact(language or "nb")
        values.setdefault(
            "support", render("support", language, operator, contact=contact) if contact else ""
        )
    return gsm7(text.format(**values))


def kroner(ore: int | None, language: str = "nb") -> str:
    """'kr 1 234,50' (nb) / 'NOK 1,234.50' (en); unknown amounts say so."""
    return l10n.money(ore, language)


def unit_price(ore: Any, language: str = "nb") -> str:
    """A price per unit, to the fraction of an øre it has: 'kr 3,125'."""
    return l10n.unit_price(ore, language)


def kwh(energy_wh: int, language: str = "nb") -> str:
    """'2,226' (nb) / '2.226' (en): kWh to the watt-hour, without the unit."""
    return l10n.kwh(energy_wh, language)
