"""Live updates over graphql-transport-ws: the current state first, then every change."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.types import Info

from api.graphql.context import Context
from api.graphql.errors import InputError
from api.graphql.permissions import IsSignedIn, signed_in
from api.graphql.types import (
    ConnectorState,
    ConnectorStatusUpdate,
    Money,
    SessionState,
    SessionUpdate,
)
from core.chargers.search import charger_by_code_or_id
from core.chargers.service import charger_topic
from core.models import ChargingSession
from core.sessions import driver
from core.sessions.live import LiveCost
from core.sessions.service import session_topic
from core.timeutil import utcnow


async def _session_update(
    ctx: Context, live: LiveCost, session_id: int, user_id: int
) -> SessionUpdate | None:
    # Each update reads fresh state in a short transaction of its own: a subscription may
    # live for hours, a DB transaction must not. The cost is the shared LiveCost's: it reads
    # only the samples stored since the last update.
    async with ctx.services.sessions() as db:
        cs = await driver.session_for_user(db, user_id, session_id)
        if cs is None:
            return None
        cost = await live.cost_ore(db, cs)
    return _update(cs, cost)


def _update(cs: ChargingSession, cost_ore: int | None) -> SessionUpdate:
    end = cs.stopped_at or utcnow()
    return SessionUpdate(
        session_id=strawberry.ID(str(cs.id)),
        state=SessionState(cs.status),
        power_kw=None
        if cs.status == "completed" or cs.last_power_w is None
        else cs.last_power_w / 1000,
        energy_kwh=round(cs.energy_wh / 1000, 3),
        elapsed_seconds=max(int((end - cs.started_at).total_seconds()), 0),
        cost_so_far=Money(amount_ore=cost_ore) if cost_ore is not None else None,
        soc=cs.last_soc,
        at=utcnow(),
    )


@strawberry.type
class Subscription:
    @strawberry.subscription(permission_classes=[IsSignedIn])
    async def session_updates(
        self, info: Info[Context, None], session_id: strawberry.ID
    ) -> AsyncGenerator[SessionUpdate, None]:
        ctx = info.context
        user = await signed_in(info)
        await ctx.release()
        if not str(session_id).isdigit():
            raise InputError("no such session of yours")
        pk = int(session_id)
        with ctx.services.live_costs.follow(pk) as live:
            async with ctx.services.events.subscribe(session_topic(pk)) as events:
                first = await _session_update(ctx, live, pk, user.id)
                if first is None:
                    raise InputError("no such session of yours")
                yield first
                if first.state == SessionState.COMPLETED:
                    return
                async for _event in events:
                    update = await _session_update(ctx, live, pk, user.id)
                    if update is None:
                        return
                    yield update
                    if update.state == SessionState.COMPLETED:
                        return

    @strawberry.subscription(description="Live availability of a charger's connectors.")
    async def connector_status(
        self, info: Info[Context, None], charger_id: strawberry.ID
    ) -> AsyncGenerator[ConnectorStatusUpdate, None]:
        ctx = info.context
        await ctx.release()
        if not str(charger_id).isdigit():
            raise InputError("no such charger")
        async with ctx.services.sessions() as db:
            hit = await charger_by_code_or_id(db, charger_id=int(charger_id))
        if hit is None:
            raise InputError("no such charger")
        async with ctx.services.events.subscribe(charger_topic(hit.charge_point_id)) as events:
            for c in hit.connectors:
                yield ConnectorStatusUpdate(
                    charger_id=charger_id,
                    online=hit.online,
                    evse_id=c.evse_id,
                    connector_id=c.connector_id,
                    status=ConnectorState.of(c.status),
                    at=utcnow(),
                )
            online = hit.online
            async for event in events:
                if event.kind in ("online", "offline"):
                    online = event.kind == "online"
                    yield ConnectorStatusUpdate(
                        charger_id=charger_id,
                        online=online,
                        evse_id=None,
                        connector_id=None,
                        status=None,
                        at=utcnow(),
                    )
                elif event.kind == "connector_status":
                    data = event.data
                    yield ConnectorStatusUpdate(
                        charger_id=charger_id,
                        online=online,
                        evse_id=data["evse_id"],
                        connector_id=data["connector_id"],
                        status=ConnectorState.of(data["status"]),
                        at=_now(),
                    )


def _now() -> datetime:
    return utcnow()
