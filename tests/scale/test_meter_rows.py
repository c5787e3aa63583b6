"""Meter values as rows: many chargers' messages share one statement per kind, never a
fallback to one transaction each, and a session completed meanwhile keeps its values."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from core.models import Charger, ChargingSession, MeterSample, SessionStatus
from core.sessions import meter_rows
from core.sessions.schemas import MeterReading
from core.timeutil import utcnow
from tests.helpers import add_fleet, arrange


async def _open_sessions(runtime, ids, status=SessionStatus.ACTIVE.value):
    async def work(session):
        out = []
        for cp_id in ids:
            charger = (
                await session.execute(select(Charger).where(Charger.charge_point_id == cp_id))
            ).scalar_one()
            cs = ChargingSession(
                charger_id=charger.id,
                transaction_id=f"tx-{cp_id}",
                status=status,
                started_at=utcnow() - timedelta(minutes=30),
                meter_start_wh=1000,
                last_energy_wh=1000,
                energy_wh=0,
                evse_id=1,
                flags=[],
            )
            session.add(cs)
            await session.flush()
            out.append((charger.id, cs.id))
        return out

    return await arrange(runtime, work)


async def _plan(runtime, charger_id, cp_id, energy):
    async with runtime.gateway_ctx.sessions() as session:
        tx = await meter_rows.load(session, charger_id, f"tx-{cp_id}")
    assert tx is not None
    reading = MeterReading(utcnow() - timedelta(seconds=5), energy_wh=energy, power_w=7000)
    plan = meter_rows.plan_meter_values(
        tx, charger_id, cp_id, 1, [reading], utcnow(), runtime.gateway_ctx.events
    )
    assert plan is not None
    return plan


async def test_many_chargers_meter_values_share_one_statement_per_kind(runtime):
    ids = [f"ROWS-{n}" for n in range(5)]
    await add_fleet(runtime, *ids)
    opened = await _open_sessions(runtime, ids)
    plans = [
        await _plan(runtime, charger_id, cp_id, 1500 + n)
        for n, ((charger_id, _), cp_id) in enumerate(zip(opened, ids, strict=True))
    ]
    batcher = runtime.gateway_ctx.batcher
    before = batcher.stats.fallbacks, batcher.stats.batches
    await asyncio.gather(
        *(batcher.write(cp_id, plan.rows) for cp_id, plan in zip(ids, plans, strict=True))
    )
    assert batcher.stats.fallbacks == before[0]
    assert batcher.stats.batches - before[1] < len(ids)  # they shared a commit

    async def read(session):
        rows = await session.execute(select(ChargingSession).order_by(ChargingSession.id))
        samples = (await session.execute(select(MeterSample))).scalars().all()
        return [(cs.energy_wh, cs.last_power_w) for cs in rows.scalars()], len(samples)

    sessions, samples = await arrange(runtime, read)
    assert sessions == [(500 + n, 7000) for n in range(5)]
    assert samples == 5


async def test_a_session_completed_meanwhile_keeps_its_final_values(runtime):
    await add_fleet(runtime, "ROWS-X")
    [(charger_id, session_id)] = await _open_sessions(runtime, ["ROWS-X"])
    plan = await _plan(runtime, charger_id, "ROWS-X", 4000)

    async def complete(session):
        cs = await session.get(ChargingSession, session_id)
        cs.status, cs.energy_wh = SessionStatus.COMPLETED.value, 2000

    await arrange(runtime, complete)
    await runtime.gateway_ctx.batcher.write("ROWS-X", plan.rows)

    async def read(session):
        cs = await session.get(ChargingSession, session_id)
        return cs.status, cs.energy_wh

    assert await arrange(runtime, read) == (SessionStatus.COMPLETED.value, 2000)
