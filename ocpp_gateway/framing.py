"""OCPP-J framing and validation with the spec's error codes for each version.

The `ocpp` package is the protocol library, but three of its defaults do not match the
specs, and a wrong answer makes a charger resend the same message forever:
- it answers an action it has no handler for with NotSupported; OCPP-J says NotImplemented
  ("Requested Action is not known by receiver");
- it leaves unparseable frames unanswered;
- it sends 2.0.1's spelling (FormatViolation, OccurrenceConstraintViolation) on 1.6
  connections, where the codes are FormationViolation and OccurenceConstraintViolation (sic).
This module classifies a raw frame and a schema violation into the right code per version.
"""

from __future__ import annotations

import decimal
import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import orjson
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from ocpp.messages import get_validator

CALL, CALLRESULT, CALLERROR = 2, 3, 4
# 1.6 schemas with `multipleOf: 0.1` validate with Decimal floats; the `ocpp` package caches
# one validator per schema, so we must build these exactly as it does.
_DECIMAL_16 = {
    (CALL, "SetChargingProfile"),
    (CALL, "RemoteStartTransaction"),
    (CALLRESULT, "GetCompositeSchedule"),
}
_MESSAGE_ID = re.compile(rb'^\s*\[\s*\d+\s*,\s*"([^"\\]{1,36})"')


@dataclass(frozen=True)
class RpcError(Exception):
    """A CALLERROR to send: code (already spelled for the version), description, details."""

    message_id: str
    code: str
    description: str
    details: dict[str, Any]

    def frame(self) -> str:
        return orjson.dumps(
            [CALLERROR, self.message_id, self.code, self.description, self.details]
        ).decode()


class Codes:
    """Error codes as each OCPP version spells them."""

    def __init__(self, version: str) -> None:
        self.v16 = version == "1.6"
        self.format = "FormationViolation" if self.v16 else "FormatViolation"
        self.occurrence = (
            "OccurenceConstraintViolation" if self.v16 else ("OccurrenceConstraintViolation")
        )
        self.property = "PropertyConstraintViolation"
        self.type = "TypeConstraintViolation"
        # 2.x has a code for a frame that is not an RPC message at all; 1.6 does not.
        self.framework = self.format if self.v16 else "RpcFrameworkError"
        self.message_type = self.format if self.v16 else "MessageTypeNotSupported"
        # A required field missing: 1.6 "payload is incomplete"; 2.x an occurrence violation.
        self.missing = "ProtocolError" if self.v16 else self.occurrence

    def translate(self, code: str) -> str:
        """Respell a code from the `ocpp` package for this version."""
        if code in ("FormatViolation", "FormationViolation"):
            return self.format
        if code in ("OccurrenceConstraintViolation", "OccurenceConstraintViolation"):
            return self.occurrence
        return code


@dataclass(frozen=True)
class Frame:
    message_type: int
    message_id: str
    action: str | None
    payload: Any
    # CALLERROR fields
    error_code: str | None = None
    error_description: str | None = None


def parse_frame(raw: str | bytes, codes: Codes, max_bytes: int) -> Frame:
    """Decode one OCPP-J frame, or raise RpcError with the version's code."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > max_bytes:
        raise RpcError(
            _guess_id(data),
            codes.format,
            f"Message exceeds {max_bytes} bytes",
            {"size": len(data)},
        )
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise RpcError(_guess_id(data), codes.framework, "Message is not valid JSON", {}) from None
    if not isinstance(msg, list) or len(msg) < 3 or not isinstance(msg[0], int):
        raise RpcError(
            _id_of(msg), codes.framework, "Message is not an OCPP-J array [type, id, ...]", {}
        )
    message_type, message_id = msg[0], msg[1]
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= 36:
        raise RpcError("-1", codes.framework, "MessageId must be a string of 1-36 chars", {})
    if message_type == CALL:
        if len(msg) != 4 or not isinstance(msg[2], str) or not isinstance(msg[3], dict):
            raise RpcError(message_id, codes.framework, "A CALL is [2, id, action, {payload}]", {})
        return Frame(CALL, message_id, msg[2], msg[3])
    if message_type == CALLRESULT:
        if len(msg) != 3:
            raise RpcError(message_id, codes.framework, "A CALLRESULT is [3, id, {payload}]", {})
        return Frame(CALLRESULT, message_id, None, msg[2])
    if message_type == CALLERROR:
        if len(msg) not in (4, 5):
            raise RpcError(message_id, codes.framework, "A CALLERROR has 5 elements", {})
        details = msg[4] if len(msg) == 5 else {}
        return Frame(
            CALLERROR, message_id, None, details, str(msg[2]), str(msg[3]) if len(msg) > 3 else ""
        )
    raise RpcError(
        message_id, codes.message_type, f"MessageTypeId {message_type} is not supported", {}
    )


def _guess_id(data: bytes) -> str:
    match = _MESSAGE_ID.match(data[:200])
    return match.group(1).decode() if match else "-1"


def _id_of(msg: Any) -> str:
    if isinstance(msg, list) and len(msg) > 1 and isinstance(msg[1], str) and len(msg[1]) <= 36:
        return msg[1]
    return "-1"


# The same schemas compiled by jsonschema-rs: an ordinary (valid) message is checked at
# native speed; only a message it rejects goes to the Python validator, whose errors name
# the spec's error code. Formats are not checked, as the `ocpp` package does not check them.
_FAST: dict[int, jsonschema_rs.Draft4Validator | None] = {}


def _fast_valid(validator: Any, payload: dict[str, Any]) -> bool:
    key = id(validator)
    if key not in _FAST:
        try:
            _FAST[key] = jsonschema_rs.Draft4Validator(validator.schema, validate_formats=False)
        except Exception:  # a schema it cannot compile: the Python validator alone
            _FAST[key] = None
    fast = _FAST[key]
    if fast is None:
        return False
    try:
        return bool(fast.is_valid(payload))
    except Exception:  # a value it does not take (Decimal): the Python validator decides
        return False


def validate(
    message_type: int,
    action: str,
    payload: dict[str, Any],
    version: str,
    codes: Codes,
    message_id: str,
) -> None:
    """Validate against the version's JSON schema (validators are cached by the package)."""
    try:
        if version == "1.6" and (message_type, action) in _DECIMAL_16:
            validator = get_validator(message_type, action, version, parse_float=decimal.Decimal)
            payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
        else:
            validator = get_validator(message_type, action, version)
    except OSError:
        raise RpcError(message_id, "NotImplemented", f"Unknown action {action}", {}) from None
    if _fast_valid(validator, payload) or validator.is_valid(payload):
        return
    error: SchemaError | None = best_match(validator.iter_errors(payload))
    if error is None:  # pragma: no cover - is_valid said otherwise
        return
    kind = error.validator
    if kind == "type":
        code = codes.type
    elif kind == "required":
        code = codes.missing
    elif kind in ("minItems", "maxItems", "uniqueItems"):
        code = codes.occurrence
    elif kind in ("additionalProperties",):
        code = codes.format
    else:  # enum, maxLength, minimum, maximum, pattern, ...
        code = codes.property
    path = "/".join(str(p) for p in error.absolute_path)
    raise RpcError(
        message_id, code, f"{action}: {error.message}"[:500], {"path": path, "rule": str(kind)}
    )
