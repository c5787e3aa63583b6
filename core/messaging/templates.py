"""SMS texts in Norwegian (nb) and English (en). GSM-7 only: æøå are fine, € is not used."""

from __future__ import annotations

from typing import Any

TEXTS: dict[str, dict[str, str]] = {
    "help": {
        "nb": "Ladeflyt: LADE START <ladernr> starter, LADE STOP <ladernr> stopper, "
        "LADE STATUS viser lading. Kontakt: LADE START <ladernr>-2. STOPP: ingen flere SMS.",
        "en": "Ladeflyt: CHARGE START <charger> starts, CHARGE STOP <charger> stops, "
        "CHARGE STATUS shows your session. Connector: CHARGE START <charger>-2. STOP: no more SMS.",
    },
    "unknown_command": {
        "nb": "Forstod ikke meldingen. Send HJELP for kommandoer.",
        "en": "Sorry, we did not understand. Send HELP for the commands.",
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
    "opted_out": {
        "nb": "Du får ikke flere SMS fra Ladeflyt. Send START for å melde deg på igjen.",
        "en": "You will get no more SMS from Ladeflyt. Send START to opt back in.",
    },
    "opted_in": {
        "nb": "Du får SMS fra Ladeflyt igjen.",
        "en": "You will get SMS from Ladeflyt again.",
    },
    "rate_limited": {
        "nb": "For mange meldinger. Vent litt og prøv igjen.",
        "en": "Too many messages. Please wait a little and try again.",
    },
    "sign_in_code": {
        "nb": "Ladeflyt: koden din er {code}. Den gjelder i {minutes} minutter.",
        "en": "Ladeflyt: your code is {code}. It is valid for {minutes} minutes.",
    },
}


def render(key: str, language: str, **values: Any) -> str:
    texts = TEXTS[key]
    return texts.get(language, texts["nb"]).format(**values)


def kroner(ore: int | None, language: str = "nb") -> str:
    """'kr 12,50' (nb) / 'NOK 12.50' (en); unknown amounts say so."""
    if ore is None:
        return "pris ukjent" if language != "en" else "price unknown"
    whole, rest = divmod(abs(ore), 100)
    sign = "-" if ore < 0 else ""
    if language == "en":
        return f"NOK {sign}{whole}.{rest:02d}"
    return f"kr {sign}{whole},{rest:02d}"


def kwh(energy_wh: int, language: str = "nb") -> str:
    text = f"{energy_wh / 1000:.2f}"
    return text if language == "en" else text.replace(".", ",")
