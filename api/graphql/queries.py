"""Query resolvers: thin, over core services; a driver sees only their own data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from api.graphql import pricing
from api.graphql.app_api import AppQuery
from api.graphql.context import Context
from api.graphql.errors import InputError
from api.graphql.permissions import IsSignedIn, signed_in
from api.graphql.routeplan import RoutePlanQuery
from api.graphql.types import (
    Charger,
    ChargerConnection,
    ChargerEdge,
    ChargerFilter,
    ChargingSessionType,
    InvoiceSettings,
    InvoiceType,
    Me,
    PageInfo,
    PaymentMethodType,
    RfidTag,
    SessionConnection,
    SessionEdge,
    VehicleType,
)
from api.graphql.vehicle_identity import VehicleIdentityQuery
from core.billing.service import list_invoices
from core.chargers.search import (
    SearchFilter,
    charger_by_code_or_id,
    chargers_near,
    decode_cursor,
    encode_cursor,
)
from core.identity.needs import v2x_modes_of
from core.invoicing.channels import delivery_decision
from core.invoicing.documents import invoice_pdf_url
from core.models import Charger as ChargerRow
from core.models import ChargingSession
from core.payments.receipts import receipt_url, v2g_credits_ore
from core.sessions import driver
from core.sessions.costs import session_costs_ore
from core.users import account

MAX_PAGE = 100


def _offset(cursor: str | None) -> int:
    try:
        return decode_cursor(cursor)
    except ValueError:
        raise InputError("invalid cursor") from None


async def session_views(
    ctx: Context, rows: Sequence[ChargingSession], db: AsyncSession | None = None
) -> list[ChargingSessionType]:
    """Views of a page of sessions in a fixed number of queries: one for their chargers,
    stored prices (core.sessions.costs.session_costs_ore), V2G credits (only when a
    session on the page gave energy back), and what the cars said (V2X modes)."""
    chargers: list[ChargerRow | None] = await ctx.chargers.load_many([cs.charger_id for cs in rows])
    costs = await session_costs_ore(db or ctx.session, rows)
    credits = await v2g_credits_ore(db or ctx.session, rows)
    v2x = await v2x_modes_of(db or ctx.session, [cs.id for cs in rows])
    settings = ctx.services.settings
    return [
        ChargingSessionType.build(
            cs,
            charger.charge_point_id if charger else "?",
            costs[cs.id],
            receipt_url(settings, cs.id) if cs.status == "completed" else None,
            credits.get(cs.id),
            v2x.get(cs.id),
        )
        for cs, charger in zip(rows, chargers, strict=True)
    ]


async def session_view(
    ctx: Context, cs: ChargingSession, db: AsyncSession | None = None
) -> ChargingSessionType:
    return (await session_views(ctx, [cs], db))[0]


@strawberry.type
class Query(RoutePlanQuery, VehicleIdentityQuery, AppQuery):
    @strawberry.field(description="Chargers within radiusKm of a point, nearest first.")
    async def chargers_near(
        self,
        info: Info[Context, None],
        lat: float,
        lon: float,
        radius_km: float = 10.0,
        filter: ChargerFilter | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> ChargerConnection:
        if not -90 <= lat <= 90 or not -180 <= lon <= 180:
            raise InputError("lat must be within ±90 and lon within ±180")
        if not 0 < radius_km <= 200:
            raise InputError("radiusKm must be in (0, 200]")
        if not 1 <= first <= MAX_PAGE:
            raise InputError(f"first must be 1..{MAX_PAGE}")
        f = filter or ChargerFilter()
        search = SearchFilter(
            min_power_kw=f.min_power_kw,
            connector_types=tuple(f.connector_types or ()),
            available_only=f.available_only,
            public_only=f.public_only,
        )
        ctx = info.context
        page = await chargers_near(
            ctx.session, lat, lon, radius_km, search, first=first, offset=_offset(after)
        )
        prices = await pricing.prices_for_hits(ctx.session, page.hits, await ctx.user())
        edges = [
            ChargerEdge(
                node=Charger.from_hit(hit, prices, True), cursor=encode_cursor(page.offset + i + 1)
            )
            for i, hit in enumerate(page.hits)
        ]
        return ChargerConnection(
            edges=edges,
            total_count=page.total,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field(description="One charger by its id or by the code printed on it.")
    async def charger(
        self, info: Info[Context, None], id: strawberry.ID | None = None, code: str | None = None
    ) -> Charger | None:
        if (id is None) == (code is None):
            raise InputError("give exactly one of id and code")
        ctx = info.context
        hit = await charger_by_code_or_id(
            ctx.session,
            charger_id=int(id) if id is not None and id.isdigit() else None,
            code=code,
        )
        if hit is None:
            return None
        prices = await pricing.prices_for_hits(ctx.session, [hit], await ctx.user())
        return Charger.from_hit(hit, prices, False)

    @strawberry.field(permission_classes=[IsSignedIn])
    async def me(self, info: Info[Context, None]) -> Me:
        return Me.of(await signed_in(info))

    @strawberry.field(permission_classes=[IsSignedIn])
    async def active_session(self, info: Info[Context, None]) -> ChargingSessionType | None:
        user = await signed_in(info)
        cs = await driver.active_session(info.context.session, user.id)
        return await session_view(info.context, cs) if cs else None

    @strawberry.field(permission_classes=[IsSignedIn])
    async def session(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> ChargingSessionType | None:
        user = await signed_in(info)
        if not id.isdigit():
            return None
        cs = await driver.session_for_user(info.context.session, user.id, int(id))
        return await session_view(info.context, cs) if cs else None

    @strawberry.field(permission_classes=[IsSignedIn], description="History, newest first.")
    async def sessions(
        self,
        info: Info[Context, None],
        first: int = 20,
        after: str | None = None,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> SessionConnection:
        if not 1 <= first <= MAX_PAGE:
            raise InputError(f"first must be 1..{MAX_PAGE}")
        user = await signed_in(info)
        offset = _offset(after)
        rows, has_next = await driver.sessions_for_user(
            info.context.session, user.id, first=first, offset=offset, since=from_, until=to
        )
        views = await session_views(info.context, rows)
        edges = [
            SessionEdge(node=view, cursor=encode_cursor(offset + i + 1))
            for i, view in enumerate(views)
        ]
        return SessionConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field(permission_classes=[IsSignedIn])
    async def rfid_tags(self, info: Info[Context, None]) -> list[RfidTag]:
        user = await signed_in(info)
        return [RfidTag.of(t) for t in await account.rfid_tags(info.context.session, user.id)]

    @strawberry.field(permission_classes=[IsSignedIn])
    async def vehicles(self, info: Info[Context, None]) -> list[VehicleType]:
        user = await signed_in(info)
        return [VehicleType.of(v) for v in await account.vehicles(info.context.session, user.id)]

    @strawberry.field(permission_classes=[IsSignedIn])
    async def payment_methods(self, info: Info[Context, None]) -> list[PaymentMethodType]:
        user = await signed_in(info)
        rows = await account.payment_methods(info.context.session, user.id)
        return [PaymentMethodType.of(p) for p in rows]

    @strawberry.field(permission_classes=[IsSignedIn], description="Invoices, newest first.")
    async def invoices(self, info: Info[Context, None]) -> list[InvoiceType]:
        user = await signed_in(info)
        rows = await list_invoices(info.context.session, user.id)
        settings = info.context.services.settings
        return [InvoiceType.of(inv, invoice_pdf_url(settings, inv.id)) for inv in rows]

    @strawberry.field(permission_classes=[IsSignedIn])
    async def invoice_settings(self, info: Info[Context, None]) -> InvoiceSettings:
        user = await signed_in(info)
        return InvoiceSettings.of(user, await delivery_decision(info.context.session, user.id))
