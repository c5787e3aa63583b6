"""A driver's own account: profile, invoice settings, RFID tags, vehicles, payment methods."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import IdToken, IdTokenKind, IdTokenStatus, PaymentMethod, User, Vehicle
from core.users.service import normalize_token

LANGUAGES = ("nb", "en")
INVOICE_CHANNELS = ("email", "efaktura", "ehf", "paper")
CONNECTOR_TYPES = ("Type2", "CCS2", "CHAdeMO", "Type1", "CCS1", "Schuko")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
_RFID = re.compile(r"^[0-9A-F]{4,20}$")


class AccountError(Exception):
    """`kind` names the GraphQL result type: InvalidInput, NotFound, RfidTagTaken."""

    def __init__(self, kind: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.field = field


def _invalid(field: str, message: str) -> AccountError:
    return AccountError("InvalidInput", message, field)


@dataclass(frozen=True)
class VehicleInput:
    make: str
    model: str
    battery_kwh: float
    max_ac_kw: float = 11.0
    max_dc_kw: float = 50.0
    connector_types: tuple[str, ...] = ("Type2", "CCS2")


# ------------------------------------------------------------------ profile


async def update_profile(
    session: AsyncSession,
    user: User,
    *,
    name: str | None = None,
    email: str | None = None,
    language: str | None = None,
) -> User:
    if name is not None:
        name = name.strip()
        if len(name) > 120:
            raise _invalid("name", "name is at most 120 characters")
        user.name = name
    if email is not None:
        email = email.strip()
        if email and not _EMAIL.match(email):
            raise _invalid("email", "not an e-mail address")
        user.email = email or None
    if language is not None:
        if language not in LANGUAGES:
            raise _invalid("language", f"language is one of {', '.join(LANGUAGES)}")
        user.language = language
    await session.flush()
    return user


async def update_invoice_settings(
    session: AsyncSession,
    user: User,
    *,
    receipt_by_email: bool | None = None,
    invoice_channel: str | None = None,
) -> User:
    if invoice_channel is not None:
        if invoice_channel not in INVOICE_CHANNELS:
            raise _invalid("invoiceChannel", f"channel is one of {', '.join(INVOICE_CHANNELS)}")
        user.invoice_channel = invoice_channel
    if receipt_by_email is not None:
        if receipt_by_email and not user.email:
            raise _invalid("receiptByEmail", "add an e-mail address first")
        user.receipt_by_email = receipt_by_email
    await session.flush()
    return user


# ------------------------------------------------------------------ RFID tags


async def rfid_tags(session: AsyncSession, user_id: int) -> list[IdToken]:
    return list(
        (
            await session.execute(
                select(IdToken)
                .where(IdToken.user_id == user_id, IdToken.kind == IdTokenKind.RFID.value)
                .order_by(IdToken.id)
            )
        ).scalars()
    )


async def register_rfid_tag(session: AsyncSession, user: User, uid: str, label: str) -> IdToken:
    value = normalize_token(uid).replace(":", "").replace(" ", "")
    if not _RFID.match(value):
        raise _invalid("uid", "an RFID UID is 4-20 hex digits")
    if len(label) > 80:
        raise _invalid("label", "label is at most 80 characters")
    existing = (
        await session.execute(select(IdToken).where(IdToken.token == value))
    ).scalar_one_or_none()
    if existing is not None:
        if existing.user_id == user.id:
            existing.label = label or existing.label
            existing.status = IdTokenStatus.ACTIVE.value
            await session.flush()
            return existing
        raise AccountError("RfidTagTaken", "this tag belongs to another account", "uid")
    tag = IdToken(token=value, kind=IdTokenKind.RFID.value, label=label, user_id=user.id)
    session.add(tag)
    await session.flush()
    return tag


async def remove_rfid_tag(session: AsyncSession, user: User, tag_id: int) -> None:
    tag = await session.get(IdToken, tag_id)
    if tag is None or tag.user_id != user.id or tag.kind != IdTokenKind.RFID.value:
        raise AccountError("NotFound", "no such tag of yours")
    # Kept (blocked, detached) so that past sessions still name the tag they used.
    tag.status = IdTokenStatus.BLOCKED.value
    tag.user_id = None
    await session.flush()


# ------------------------------------------------------------------ vehicles


def _check_vehicle(data: VehicleInput) -> None:
    if not data.make.strip() or len(data.make) > 40:
        raise _invalid("make", "make is 1-40 characters")
    if not data.model.strip() or len(data.model) > 60:
        raise _invalid("model", "model is 1-60 characters")
    if not 5 <= data.battery_kwh <= 300:
        raise _invalid("batteryKwh", "battery is 5-300 kWh")
    if not 1 <= data.max_ac_kw <= 43:
        raise _invalid("maxAcKw", "AC charging power is 1-43 kW")
    if not 0 <= data.max_dc_kw <= 1000:
        raise _invalid("maxDcKw", "DC charging power is 0-1000 kW")
    unknown = set(data.connector_types) - set(CONNECTOR_TYPES)
    if unknown or not data.connector_types:
        raise _invalid("connectorTypes", f"connector types are among {', '.join(CONNECTOR_TYPES)}")


def _apply_vehicle(vehicle: Vehicle, data: VehicleInput) -> None:
    vehicle.make = data.make.strip()
    vehicle.model = data.model.strip()
    vehicle.battery_wh = round(data.battery_kwh * 1000)
    vehicle.max_ac_w = round(data.max_ac_kw * 1000)
    vehicle.max_dc_w = round(data.max_dc_kw * 1000)
    vehicle.connector_types = list(dict.fromkeys(data.connector_types))


async def vehicles(session: AsyncSession, user_id: int) -> list[Vehicle]:
    return list(
        (
            await session.execute(
                select(Vehicle).where(Vehicle.user_id == user_id).order_by(Vehicle.id)
            )
        ).scalars()
    )


async def add_vehicle(session: AsyncSession, user: User, data: VehicleInput) -> Vehicle:
    _check_vehicle(data)
    if len(await vehicles(session, user.id)) >= 20:
        raise _invalid("vehicle", "at most 20 vehicles per account")
    vehicle = Vehicle(user_id=user.id)
    _apply_vehicle(vehicle, data)
    session.add(vehicle)
    await session.flush()
    return vehicle


async def _own_vehicle(session: AsyncSession, user: User, vehicle_id: int) -> Vehicle:
    vehicle = await session.get(Vehicle, vehicle_id)
    if vehicle is None or vehicle.user_id != user.id:
        raise AccountError("NotFound", "no such vehicle of yours")
    return vehicle


async def update_vehicle(
    session: AsyncSession, user: User, vehicle_id: int, data: VehicleInput
) -> Vehicle:
    vehicle = await _own_vehicle(session, user, vehicle_id)
    _check_vehicle(data)
    _apply_vehicle(vehicle, data)
    await session.flush()
    return vehicle


async def remove_vehicle(session: AsyncSession, user: User, vehicle_id: int) -> None:
    await session.delete(await _own_vehicle(session, user, vehicle_id))
    await session.flush()


# ------------------------------------------------------------------ payment methods


async def payment_methods(session: AsyncSession, user_id: int) -> list[PaymentMethod]:
    return list(
        (
            await session.execute(
                select(PaymentMethod)
                .where(PaymentMethod.user_id == user_id)
                .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)
            )
        ).scalars()
    )
