"""The car identifies itself: Autocharge vehicle ids a driver links to her cars."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, assert_never

import strawberry
from strawberry.types import Info

from api.graphql.context import Context
from api.graphql.permissions import IsSignedIn, signed_in
from api.graphql.results import NotFound, Problem
from api.graphql.types import VehicleType
from core.identity import autocharge
from core.models import Vehicle
from core.timeutil import utcnow


@strawberry.type(description="A car that was refused at a charger because nobody has linked it.")
class VehicleLinkOffer:
    id: strawberry.ID
    vehicle_id_token: str = strawberry.field(description="The car's id, e.g. VID:0012ABCD3456")
    charge_point_id: str
    evse_id: int | None
    first_seen_at: datetime
    last_seen_at: datetime
    addressed_to_me: bool = strawberry.field(
        description="True when you charged at that charger just after the car was refused"
    )

    @classmethod
    def of(cls, o: autocharge.Offer) -> VehicleLinkOffer:
        return cls(
            id=strawberry.ID(str(o.id)),
            vehicle_id_token=o.vehicle_token,
            charge_point_id=o.charge_point_id,
            evse_id=o.evse_id,
            first_seen_at=o.first_seen_at,
            last_seen_at=o.last_seen_at,
            addressed_to_me=o.addressed_to_me,
        )


@strawberry.type(description="A vehicle id linked to one of your cars: plugging in starts.")
class AutochargeId:
    id: strawberry.ID
    value: str


@strawberry.type
class VehicleIdLinked:
    vehicle: VehicleType
    autocharge_ids: list[AutochargeId]


@strawberry.type
class VehicleIdUnlinked:
    id: strawberry.ID


@strawberry.type
class VehicleIdTaken(Problem):
    pass


LinkVehicleIdResult = Annotated[
    VehicleIdLinked | VehicleIdTaken | NotFound, strawberry.union("LinkVehicleIdResult")
]
UnlinkVehicleIdResult = Annotated[
    VehicleIdUnlinked | NotFound, strawberry.union("UnlinkVehicleIdResult")
]


def _pk(value: strawberry.ID) -> int:
    return int(value) if str(value).isdigit() and len(str(value)) < 12 else 0


def _problem(error: autocharge.LinkError) -> NotFound | VehicleIdTaken:
    match error.problem:
        case autocharge.LinkProblem.NOT_FOUND:
            return NotFound(message=str(error))
        case autocharge.LinkProblem.TAKEN:
            return VehicleIdTaken(message=str(error))
        case _:
            assert_never(error.problem)


@strawberry.type
class VehicleIdentityQuery:
    @strawberry.field(
        permission_classes=[IsSignedIn],
        description="Cars refused at a charger that you may link to one of yours: those "
        "refused where you charged just after, and (naming the charger you stand at) the "
        "charger's recent ones.",
    )
    async def vehicle_link_offers(
        self, info: Info[Context, None], charge_point_id: str | None = None
    ) -> list[VehicleLinkOffer]:
        user = await signed_in(info)
        since = autocharge.offer_window(
            utcnow(), info.context.services.settings.autocharge_offer_ttl_s
        )
        offers = await autocharge.pending_offers(
            info.context.session, user.id, since, charge_point_id
        )
        return [VehicleLinkOffer.of(o) for o in offers]

    @strawberry.field(permission_classes=[IsSignedIn], description="Your cars' vehicle ids.")
    async def autocharge_ids(
        self, info: Info[Context, None], vehicle_id: strawberry.ID
    ) -> list[AutochargeId]:
        user = await signed_in(info)
        linked = await autocharge.vehicle_ids(info.context.session, user.id)
        return [
            AutochargeId(id=strawberry.ID(str(t.id)), value=t.token)
            for t in linked.get(_pk(vehicle_id), [])
        ]


@strawberry.type
class VehicleIdentityMutation:
    @strawberry.mutation(
        permission_classes=[IsSignedIn],
        description="This is my car: plugging it in from now on starts charging for you.",
    )
    async def link_vehicle_id(
        self,
        info: Info[Context, None],
        offer_id: strawberry.ID,
        vehicle_id: strawberry.ID,
        charge_point_id: str | None = None,
    ) -> LinkVehicleIdResult:
        user = await signed_in(info)
        session, now = info.context.session, utcnow()
        since = autocharge.offer_window(now, info.context.services.settings.autocharge_offer_ttl_s)
        try:
            await autocharge.link(
                session, user, _pk(offer_id), _pk(vehicle_id), now, since, charge_point_id
            )
        except autocharge.LinkError as error:
            return _problem(error)
        vehicle = await session.get_one(Vehicle, _pk(vehicle_id))
        linked = await autocharge.vehicle_ids(session, user.id)
        return VehicleIdLinked(
            vehicle=VehicleType.of(vehicle),
            autocharge_ids=[
                AutochargeId(id=strawberry.ID(str(t.id)), value=t.token)
                for t in linked.get(vehicle.id, [])
            ],
        )

    @strawberry.mutation(
        permission_classes=[IsSignedIn], description="Plugging this car in no longer starts."
    )
    async def unlink_vehicle_id(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> UnlinkVehicleIdResult:
        user = await signed_in(info)
        try:
            await autocharge.unlink(info.context.session, user, _pk(id))
        except autocharge.LinkError as error:
            return NotFound(message=str(error))
        return VehicleIdUnlinked(id=id)
