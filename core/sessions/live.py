"""Running costs of the sessions drivers follow live, at the same cost per update whether a
session is a minute or ten hours old.

Every `sessionUpdates` event used to re-read and re-price all of a session's samples, for
every subscriber. A LiveCost keeps the session's RunningPrice (core.tariffs.live) and on each
update reads only the samples stored since the last one; the subscribers of a session share
it (LiveCosts). The amounts are those of a full pricing (core.sessions.costs.session_cost):
when what it had priced no longer holds (a late sample, a meter start or tariff that
changed), it prices the session from scratch once and goes on from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import ChargingSession, SessionStatus
from core.sessions.costs import session_cost
from core.tariffs import repository as repo
from core.tariffs.engine import TariffSpec
from core.tariffs.errors import TariffError
from core.tariffs.live import RunningPrice, Stale
from core.tariffs.schemas import CostBreakdown
from core.tariffs.service import session_tariff, spot_areas
from core.timeutil import utcnow

log = logging.getLogger(__name__)

RUNNING = (
    SessionStatus.STARTING.value,
    SessionStatus.ACTIVE.value,
    SessionStatus.SUSPENDED.value,
)


class LiveCost:
    """The cost so far of one session, kept up to date sample by sample."""

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id
        self._lock = asyncio.Lock()
        self._running: RunningPrice | None = None
        # What the running price was built for: a change means pricing from scratch (a
        # transaction merged into a STARTING session brings samples stored before).
        self._basis: tuple[TariffSpec, datetime, int | None, str] | None = None
        self._last_sample_id = 0
        self.rebuilds = 0  # how often it priced from scratch (tests, bench)

    async def cost_ore(
        self, db: AsyncSession, cs: ChargingSession, at: datetime | None = None
    ) -> int | None:
        breakdown = await self.cost(db, cs, at)
        return breakdown.total_ore if breakdown is not None else None

    async def cost(
        self, db: AsyncSession, cs: ChargingSession, at: datetime | None = None
    ) -> CostBreakdown | None:
        """As `session_cost`: cost so far, or the final cost; None if it cannot be priced."""
        if cs.id != self.session_id:
            raise ValueError(f"LiveCost of session {self.session_id} asked about {cs.id}")
        if cs.status not in RUNNING:
            return await session_cost(db, cs, at)  # its final price, once
        async with self._lock:
            try:
                return await self._running_cost(db, cs, at or utcnow())
            except TariffError as error:
                log.warning("session %s cannot be priced: %s", cs.id, error)
                return None

    async def _running_cost(
        self, db: AsyncSession, cs: ChargingSession, at: datetime
    ) -> CostBreakdown | None:
        resolved = await session_tariff(db, cs)
        if resolved.spec is None:
            return None
        basis = (resolved.spec, cs.started_at, cs.meter_start_wh, cs.transaction_id)
        if basis != self._basis:
            self._running, self._basis = None, basis
        end = max(at, cs.started_at, cs.last_sample_at or cs.started_at)
        areas = spot_areas(resolved.spec)
        for _ in range(2):
            if self._running is None:
                self._running = RunningPrice(resolved.spec, cs.started_at, cs.meter_start_wh)
                self._last_sample_id = 0
                self.rebuilds += 1
            running = self._running
            try:
                new = await repo.session_samples_after(db, cs.id, self._last_sample_id)
                running.add(sample for _, sample in new)
                if new:
                    self._last_sample_id = new[-1][0]
                spot = await repo.spot_prices(db, areas, running.frontier, end) if areas else {}
                breakdown = running.price(end, cs.energy_wh, spot)
            except Stale as why:
                log.debug("session %s priced from scratch: %s", cs.id, why)
                self._running = None
                continue
            return replace(
                breakdown, final=False, source=resolved.source, customer_group=resolved.group
            )
        raise AssertionError("a fresh running price cannot be stale")  # pragma: no cover


class LiveCosts:
    """One LiveCost per session that someone follows, shared by its followers."""

    def __init__(self) -> None:
        self._live: dict[int, tuple[LiveCost, int]] = {}

    @contextlib.contextmanager
    def follow(self, session_id: int) -> Iterator[LiveCost]:
        live, followers = self._live.get(session_id, (LiveCost(session_id), 0))
        self._live[session_id] = (live, followers + 1)
        try:
            yield live
        finally:
            live, followers = self._live[session_id]
            if followers == 1:
                del self._live[session_id]
            else:
                self._live[session_id] = (live, followers - 1)

    def __len__(self) -> int:
        return len(self._live)
