"""All ORM models, in one package so that metadata and migrations see every table."""

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
from core.models.users import IdToken, IdTokenKind, IdTokenStatus, User

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
    "MeterSample",
    "RegistrationStatus",
    "SessionStatus",
    "Site",
    "TransactionEventRecord",
    "User",
]
