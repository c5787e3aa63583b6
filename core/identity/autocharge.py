"""Autocharge: a car that identifies itself by its vehicle id (VID:<MAC>) charges for the
driver who linked it, through the same start flow (core.sessions.flows) as an RFID tag.

An unknown vehicle id is refused, and remembered as an offer at that charger. The offer
is addressed to the driver who starts charging there (app, SMS or tag) soon after, and
shown to a driver who names the charger in the app; accepting it links the id to one of
her cars (an IdToken of kind `vehicle`). From then on plugging in is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import dialect_insert
from core.models import (
    Charger,
    IdToken,
    IdTokenKind,
    IdTokenStatus,
    LinkOfferStatus,
    User,
    Vehicle,
    VehicleLinkOffer,
)


class LinkProblem(StrEnum):
    NOT_FOUND = "not_found"
    TAKEN = "taken"  # the vehicle id is linked to another account


class LinkError(Exception):
    def __init__(self, problem: LinkProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class Offer:
    id: int
    vehicle_token: str
    charge_point_id: str
    evse_id: int | None
    first_seen_at: datetime
    last_seen_at: datetime
    addressed_to_me: bool


async def record_unknown(
    session: AsyncSession, token: str, charger_id: int, evse_id: int | None, at: datetime
) -> None:
    """Remember a refused vehicle id at this charger (once per car and charger)."""
    insert = dialect_insert(session, VehicleLinkOffer).values(
        vehicle_token=token,
        charger_id=charger_id,
        evse_id=evse_id,
        status=LinkOfferStatus.PENDING.value,
        first_seen_at=at,
        last_seen_at=at,
        times_seen=1,
    )
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["vehicle_token", "charger_id"],
            set_={
                "evse_id": evse_id,
                "last_seen_at": at,
                "times_seen": VehicleLinkOffer.times_seen + 1,
            },
        )
    )


async def has_pending_at(session: AsyncSession, charger_id: int, since: datetime) -> bool:
    return (
        await session.execute(
            select(VehicleLinkOffer.id)
            .where(
                VehicleLinkOffer.charger_id == charger_id,
                VehicleLinkOffer.status == LinkOfferStatus.PENDING.value,
                VehicleLinkOffer.user_id.is_(None),
                VehicleLinkOffer.last_seen_at >= since,
            )
            .limit(1)
        )
    ).first() is not None


async def address_offers(
    session: AsyncSession, charger_id: int, user_id: int, since: datetime
) -> int:
    """The driver charging here now is most likely the owner of the car refused here just
    before: the charger's unaddressed offers since `since` become hers to accept."""
    result = await session.execute(
        update(VehicleLinkOffer)
        .where(
            VehicleLinkOffer.charger_id == charger_id,
            VehicleLinkOffer.status == LinkOfferStatus.PENDING.value,
            VehicleLinkOffer.user_id.is_(None),
            VehicleLinkOffer.last_seen_at >= since,
        )
        .values(user_id=user_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def pending_offers(
    session: AsyncSession,
    user_id: int,
    since: datetime,
    charge_point_id: str | None = None,
) -> list[Offer]:
    """Offers a driver may accept: those addressed to her, and (when she names the charger
    she stands at) the charger's recent unaddressed ones."""
    mine = VehicleLinkOffer.user_id == user_id
    condition = mine
    if charge_point_id:
        condition = or_(
            mine,
            (Charger.charge_point_id == charge_point_id)
            & VehicleLinkOffer.user_id.is_(None)
            & (VehicleLinkOffer.last_seen_at >= since),
        )
    rows = (
        await session.execute(
            select(VehicleLinkOffer, Charger.charge_point_id)
            .join(Charger, Charger.id == VehicleLinkOffer.charger_id)
            .where(VehicleLinkOffer.status == LinkOfferStatus.PENDING.value, condition)
            .order_by(VehicleLinkOffer.last_seen_at.desc(), VehicleLinkOffer.id.desc())
            .limit(20)
        )
    ).all()
    return [
        Offer(
            id=o.id,
            vehicle_token=o.vehicle_token,
            charge_point_id=cp_id,
            evse_id=o.evse_id,
            first_seen_at=o.first_seen_at,
            last_seen_at=o.last_seen_at,
            addressed_to_me=o.user_id == user_id,
        )
        for o, cp_id in rows
    ]


async def link(
    session: AsyncSession,
    user: User,
    offer_id: int,
    vehicle_id: int,
    at: datetime,
    since: datetime,
    charge_point_id: str | None = None,
) -> IdToken:
    """Accept an offer: the vehicle id becomes a token of `user`, for her car `vehicle_id`."""
    offers = {o.id: o for o in await pending_offers(session, user.id, since, charge_point_id)}
    offer = offers.get(offer_id)
    vehicle = await session.get(Vehicle, vehicle_id)
    if offer is None or vehicle is None or vehicle.user_id != user.id:
        raise LinkError(LinkProblem.NOT_FOUND, "no such offer or car of yours")
    token = await _link_token(session, user, offer.vehicle_token, vehicle)
    await session.execute(
        update(VehicleLinkOffer)
        .where(VehicleLinkOffer.vehicle_token == offer.vehicle_token)
        .values(status=LinkOfferStatus.LINKED.value, user_id=user.id, linked_at=at)
    )
    return token


async def _link_token(session: AsyncSession, user: User, value: str, vehicle: Vehicle) -> IdToken:
    existing = (
        await session.execute(select(IdToken).where(IdToken.token == value))
    ).scalar_one_or_none()
    label = f"{vehicle.make} {vehicle.model}".strip()[:80]
    if existing is not None:
        if existing.user_id not in (None, user.id) or existing.kind != IdTokenKind.VEHICLE.value:
            raise LinkError(LinkProblem.TAKEN, "this car is linked to another account")
        existing.user_id, existing.vehicle_id = user.id, vehicle.id
        existing.status, existing.label = IdTokenStatus.ACTIVE.value, label
        await session.flush()
        return existing
    token = IdToken(
        token=value,
        kind=IdTokenKind.VEHICLE.value,
        label=label,
        user_id=user.id,
        vehicle_id=vehicle.id,
    )
    session.add(token)
    await session.flush()
    return token


async def unlink(session: AsyncSession, user: User, token_id: int) -> None:
    """Stop charging by plugging in with this car (the token is kept, detached and
    blocked, so past sessions still name it; linking it again revives it)."""
    token = await session.get(IdToken, token_id)
    if token is None or token.user_id != user.id or token.kind != IdTokenKind.VEHICLE.value:
        raise LinkError(LinkProblem.NOT_FOUND, "no such vehicle id of yours")
    token.user_id, token.vehicle_id = None, None
    token.status = IdTokenStatus.BLOCKED.value
    await session.flush()


async def vehicle_ids(session: AsyncSession, user_id: int) -> dict[int, list[IdToken]]:
    """The linked vehicle ids of a driver's cars, by car."""
    rows = (
        await session.execute(
            select(IdToken)
            .where(
                IdToken.user_id == user_id,
                IdToken.kind == IdTokenKind.VEHICLE.value,
                IdToken.vehicle_id.is_not(None),
            )
            .order_by(IdToken.id)
        )
    ).scalars()
    linked: dict[int, list[IdToken]] = {}
    for token in rows:
        assert token.vehicle_id is not None
        linked.setdefault(token.vehicle_id, []).append(token)
    return linked


def offer_window(at: datetime, ttl_s: int) -> datetime:
    return at - timedelta(seconds=ttl_s)
