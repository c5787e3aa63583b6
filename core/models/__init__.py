"""All ORM models, in one package so that metadata and migrations see every table."""

from core.models.auth import LoginCode, RefreshToken
from core.models.charging import ChargingSession, MeterSample, SessionStatus, TransactionEventRecord
from core.models.infrastructure import (
    Charger,
    ChargerEvent,
    ChargerVariable,
    Connector,
    ConnectorStatus,
    RegistrationStatus,
    Site,
)
from core.models.users import IdToken, IdTokenKind, IdTokenStatus, PaymentMethod, User, Vehicle

__all__ = [
    "Charger",
    "ChargerEvent",
    "ChargerVariable",
    "ChargingSession",
    "Connector",
    "ConnectorStatus",
    "IdToken",
    "IdTokenKind",
    "IdTokenStatus",
    "LoginCode",
    "MeterSample",
    "PaymentMethod",
    "RefreshToken",
    "RegistrationStatus",
    "SessionStatus",
    "Site",
    "TransactionEventRecord",
    "User",
    "Vehicle",
]
