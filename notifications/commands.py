"""Parse SMS commands sent to the short number, forgiving case, spacing and language.

LADE START <charger>[-<connector>]   CHARGE START ...
LADE STOP <charger>                  CHARGE STOP ...
LADE STATUS                          CHARGE STATUS
HJELP                                HELP
STOPP                                STOP          (opt out of non-essential SMS)
START                                              (opt back in)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["start", "stop", "status", "help", "opt_out", "opt_in", "unknown"]

_PREFIX_NB = {"LADE", "LAD", "LADING"}
_PREFIX_EN = {"CHARGE", "CHARGING"}
_START = {"START", "STARTE", "STRAT"}
_STOP = {"STOP", "STOPP", "STANS", "AVSLUTT", "END"}
_CONNECTOR_SUFFIX = re.compile(r"^(?P<code>.+?)[\s\-_/.:#]+(?P<connector>\d{1,2})$")


@dataclass(frozen=True)
class SmsCommand:
    kind: Kind
    language: str  # what the wording suggests: nb or en
    code: str | None = None  # the charger code as typed (trimmed)
    # Set when the code ended in "-N" / " N": the code without it, and N.
    code_without_connector: str | None = None
    connector: int | None = None


def parse(body: str) -> SmsCommand:
    words = body.strip().split()
    upper = [w.upper().strip(".,!") for w in words]
    if not upper:
        return SmsCommand("unknown", "nb")
    head = upper[0]
    if len(upper) == 1:
        if head in ("HJELP", "?", "INFO"):
            return SmsCommand("help", "nb")
        if head == "HELP":
            return SmsCommand("help", "en")
        if head in ("STOPP", "AVMELD"):
            return SmsCommand("opt_out", "nb")
        if head in ("STOP", "UNSUBSCRIBE", "STOPALL", "CANCEL"):
            return SmsCommand("opt_out", "en")
        if head in ("START", "UNSTOP"):
            return SmsCommand("opt_in", "nb")
        if head == "STATUS":
            return SmsCommand("status", "nb")
    language = "en" if head in _PREFIX_EN else "nb"
    if head not in _PREFIX_NB | _PREFIX_EN or len(upper) < 2:
        return SmsCommand("unknown", language)
    verb = upper[1]
    if verb == "STATUS":
        return SmsCommand("status", language)
    if verb in ("HJELP", "HELP"):
        return SmsCommand("help", language)
    if verb not in _START | _STOP:
        return SmsCommand("unknown", language)
    rest = " ".join(words[2:]).strip()
    if not rest:
        return SmsCommand("unknown", language)
    kind: Kind = "start" if verb in _START else "stop"
    match = _CONNECTOR_SUFFIX.match(rest)
    if match:
        return SmsCommand(kind, language, rest, match["code"], int(match["connector"]))
    return SmsCommand(kind, language, rest)
