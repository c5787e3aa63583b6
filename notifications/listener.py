"""Turns charging events into SMS for drivers who charge by SMS (finished, car full)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.bus import Event, EventBus
from core.config import Settings
from core.db import transaction
from core.messaging import outbox
from core.messaging.templates import kroner, kwh, render, unit_price
from core.models import Charger, ChargingSession, IdToken, IdTokenKind, User
from core.operator import Operator
from core.payments.receipts import receipt_url
from core.sessions.costs import connector_quotes, session_cost_ore

log = logging.getLogger(__name__)


class SmsNotifier:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        events: EventBus,
        kick: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._events = events
        self._kick = kick
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="sms-notifier")
        await ready.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self, ready: asyncio.Event) -> None:
        # Updates arrive for watched sessions (an SMS driver's among them) only.
        kinds = frozenset({"session_stopped", "session_updated"})
        async with self._events.subscribe("*", kinds) as stream:
            ready.set()
            async for event in stream:
                if not event.topic.startswith("session:"):
                    continue
                try:
                    await self.on_event(event)
                except Exception:
                    log.exception("could not notify about %s", event)

    async def on_event(self, event: Event) -> None:
        kind = event.kind
        full = kind == "session_updated" and event.data.get("power_w") == 0
        if kind != "session_stopped" and not full:
            return
        queued = False
        async with transaction(self._sessions) as session:
            row = (
                await session.execute(
                    select(ChargingSession, User, Charger)
                    .join(User, User.id == ChargingSession.user_id)
                    .join(Charger, Charger.id == ChargingSession.charger_id)
                    .join(IdToken, IdToken.id == ChargingSession.id_token_pk)
                    .where(
                        ChargingSession.id == event.data["session_id"],
                        IdToken.kind == IdTokenKind.SMS.value,
                    )
                )
            ).first()
            if row is None:
                return  # not an SMS session: the app shows it
            cs, user, charger = row
            code = charger.public_code or charger.charge_point_id
            lang = user.language
            operator = Operator.from_settings(self._settings)
            if kind == "session_stopped":
                body = render(
                    "finished",
                    lang,
                    operator,
                    code=code,
                    kwh=kwh(cs.energy_wh, lang),
                    cost=kroner(await session_cost_ore(session, cs), lang),
                    receipt=receipt_url(self._settings, cs.id),
                )
                # Essential: a receipt the driver needs, even if they opted out of the rest.
                queued = await outbox.queue_sms(
                    session,
                    to=user.phone,
                    kind="charging_finished",
                    body=body,
                    dedup_key=f"session:{cs.id}:finished",
                    urgent=True,
                    essential=True,
                )
            elif cs.energy_wh > 0 and cs.connector_pk is not None:
                idle = ""
                quote = (await connector_quotes(session, [cs.connector_pk], user.id)).get(
                    cs.connector_pk
                )
                for c in quote.components if quote else []:
                    if c.kind == "parking":
                        price = unit_price(c.unit_price_ore, lang)
                        idle = render(
                            "idle_fee",
                            lang,
                            operator,
                            price=f"{price}/{c.unit}",
                            grace=c.grace_minutes,
                        )
                queued = await outbox.queue_sms(
                    session,
                    to=user.phone,
                    kind="car_full",
                    body=render("car_full", lang, operator, code=code, idle=idle),
                    dedup_key=f"session:{cs.id}:full",
                    urgent=bool(idle),
                )
        if queued:
            self._kick()
