"""Parse SMS commands sent to the short number, forgiving case, spacing and language.

LADE START <charger>[-<connector>]   CHARGE START ...    START <charger>
LADE STOP [<charger>]                CHARGE STOP ...     STOP/STOPP <charger>
LADE STATUS                          CHARGE STATUS       STATUS
HJELP                                HELP
STOPP SMS, AVMELD, MELD AV           STOP SMS, UNSUBSCRIBE, STOPALL, OPT OUT   (opt out)
START, START SMS, MELD PÅ            UNSTOP                                      (opt back in)
STOPP / STOP / CANCEL / END / QUIT alone: see below

Opting out and stopping a charge share a word, and mixing them up costs a driver either
their car charging on or their SMS. The rule:
- a stop *command* (anything naming a charger, or LADE/CHARGE STOP) never opts out;
- STOPP SMS and the other phrases above always opt out: unmistakable;
- STOPP or STOP alone (as Norwegian aggregators use them) opts out, unless the sender is
  charging right now: then it stops that session, and the reply says how to opt out.
  That decision needs the sender's sessions, so the parser says `stop_or_opt_out`.

`language` is what the wording says (LADE → nb, CHARGE/HELP → en), None when the words
are the same in both (START, STATUS, STOP): the reply then follows the driver's profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["start", "stop", "status", "help", "opt_out", "opt_in", "stop_or_opt_out", "unknown"]

_PREFIX_NB = {"LADE", "LAD", "LADING"}
_PREFIX_EN = {"CHARGE", "CHARGING"}
_START = {"START", "STARTE", "STRAT"}
_STOP = {"STOP", "STOPP", "STANS", "AVSLUTT", "END"}
# Words that are Norwegian or English only; the others (START, STOP, STATUS) are both.
_NB_WORDS = {"STOPP", "STARTE", "STANS", "AVSLUTT", "HJELP", "AVMELD", "MELD", "PÅ", "AV"}
_EN_WORDS = {"HELP", "END", "CANCEL", "QUIT", "UNSUBSCRIBE", "STOPALL", "UNSTOP", "OPT", "OUT"}
# Alone: opt out, or stop the session the sender is charging (see the module docstring).
_STOP_ALONE = {"STOP", "STOPP", "CANCEL", "END", "QUIT", "STANS"}
_OPT_OUT = {
    ("AVMELD",),
    ("UNSUBSCRIBE",),
    ("STOPALL",),
    ("OPTOUT",),
    ("MELD", "AV"),
    ("OPT", "OUT"),
    ("STOPP", "SMS"),
    ("STOP", "SMS"),
    ("SMS", "STOPP"),
    ("SMS", "STOP"),
}
_OPT_IN = {
    ("START",),
    ("UNSTOP",),
    ("START", "SMS"),
    ("SMS", "START"),
    ("MELD", "PÅ"),
    ("OPT", "IN"),
    ("OPTIN",),
}
_CONNECTOR_SUFFIX = re.compile(r"^(?P<code>.+?)[\s\-_/.:#]+(?P<connector>\d{1,2})$")


@dataclass(frozen=True)
class SmsCommand:
    kind: Kind
    language: str | None  # what the wording says: nb, en, or None when it does not tell
    code: str | None = None  # the charger code as typed (trimmed)
    # Set when the code ended in "-N" / " N": the code without it, and N.
    code_without_connector: str | None = None
    connector: int | None = None


def _language(words: list[str]) -> str | None:
    if any(w in _PREFIX_EN or w in _EN_WORDS for w in words):
        return "en"
    if any(w in _PREFIX_NB or w in _NB_WORDS for w in words):
        return "nb"
    return None


def parse(body: str) -> SmsCommand:
    words = body.strip().split()
    upper = [w.upper().strip(".,!") for w in words]
    if not any(upper):
        return SmsCommand("unknown", None)
    phrase = tuple(upper)
    language = _language(upper[:2])
    if phrase in _OPT_OUT:
        return SmsCommand("opt_out", language)
    if phrase in _OPT_IN:
        return SmsCommand("opt_in", language)
    head = upper[0]
    if len(upper) == 1:
        if head in ("HJELP", "?", "INFO", "HELP"):
            return SmsCommand("help", language)
        if head in _STOP_ALONE:
            return SmsCommand("stop_or_opt_out", language)
        if head == "STATUS":
            return SmsCommand("status", None)
    if head in _PREFIX_NB | _PREFIX_EN:
        if len(upper) < 2:
            return SmsCommand("unknown", language)
        verb, rest = upper[1], " ".join(words[2:]).strip()
        if verb == "STATUS":
            return SmsCommand("status", language)
        if verb in ("HJELP", "HELP"):
            return SmsCommand("help", language)
        if verb in _STOP and not rest:  # "LADE STOP": the session the driver is charging
            return SmsCommand("stop", language)
    elif head in _START | _STOP and len(upper) >= 2:
        verb, rest = head, " ".join(words[1:]).strip()  # "STOPP KLOKK-1", "START KLOKK-1"
    else:
        return SmsCommand("unknown", language)
    if verb not in _START | _STOP or not rest:
        return SmsCommand("unknown", language)
    kind: Kind = "start" if verb in _START else "stop"
    match = _CONNECTOR_SUFFIX.match(rest)
    if match:
        return SmsCommand(kind, language, rest, match["code"], int(match["connector"]))
    return SmsCommand(kind, language, rest)
