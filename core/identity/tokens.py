"""Id tokens as chargers send them, in the one form the CSMS stores them.

Autocharge chargers send the car's MAC address as the id: in 1.6 an idTag `VID:<MAC>`,
in 2.x an idToken of type `MacAddress` (the bare MAC) or `Central` with the `VID:` prefix.
All become `VID:` and twelve upper-case hex digits, so one car is one token whatever the
charger. An eMAID (ISO 15118 contract id) is kept without its optional hyphens.
"""

from __future__ import annotations

import re

VEHICLE_PREFIX = "VID:"
_HEX = re.compile(r"^[0-9A-F]{12}$")
_SEPARATORS = str.maketrans("", "", ":-. ")


def vehicle_token(value: str) -> str | None:
    """`VID:0012ABCD3456` for a MAC address in any common spelling, else None."""
    text = value.strip().upper()
    if text.startswith(VEHICLE_PREFIX):
        text = text[len(VEHICLE_PREFIX) :]
    digits = text.translate(_SEPARATORS)
    return VEHICLE_PREFIX + digits if _HEX.match(digits) else None


def is_vehicle_token(token: str) -> bool:
    return token.startswith(VEHICLE_PREFIX) and _HEX.match(token[len(VEHICLE_PREFIX) :]) is not None


def normalize_emaid(value: str) -> str:
    """`NO-LFT-C12345678-9` and `NOLFTC123456789` are the same contract."""
    return value.strip().upper().replace("-", "")


def token_key(id_token: str, token_type: str | None = None) -> str:
    """The stored form of an id token. `token_type` is the 2.x IdTokenEnumType (None: 1.6)."""
    if token_type == "MacAddress":
        return vehicle_token(id_token) or id_token.strip().upper()
    if token_type == "eMAID":
        return normalize_emaid(id_token)
    if id_token.strip().upper().startswith(VEHICLE_PREFIX):
        return vehicle_token(id_token) or id_token.strip().upper()
    return id_token
