"""Simulated chargers that behave like real ones, for `ladeflyt simulate`, the demo and benchmarks.

Each charger connects over OCPP-J (1.6, 2.0.1 or 2.1), boots, heartbeats and reports its
connectors. Cars arrive at random (a seeded RNG per charger), authorize with an RFID tag,
charge along a realistic curve (`sim_curve`) with meter values every `meter_interval`
simulated seconds, and leave when full or when the driver comes back. The chargers obey
the CSMS: remote start/stop, reset (a real reboot: reconnect and boot), configuration,
trigger, unlock, availability and charging limits. A dropped connection is retried with
backoff; transaction messages wait for it and are delivered afterwards, as a real
charger's queue would.

Time: `speedup` makes simulated time (charging, meter and heartbeat intervals) run faster
than wall time, but every timestamp sent is the wall clock, so the CSMS sees plausible
times; energy then grows `speedup` times faster than the reported power explains.

    stats = await run_simulation(SimulationConfig(url="ws://127.0.0.1:9000/ocpp", chargers=10))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
import zlib
from datetime import UTC, datetime
from typing import Any

from core.timeutil import format_ocpp_datetime
from ocpp_gateway import sim_curve
from ocpp_gateway.sim_connection import ConnectedCharger
from ocpp_gateway.sim_curve import ChargerKind
from ocpp_gateway.sim_link import Dialect
from ocpp_gateway.sim_state import (
    ChargerSpec,
    ConnectorState,
    Device,
    Sample,
    Session,
    SimulationConfig,
    Stats,
    Variable,
    Work,
)
from ocpp_gateway.sim_v2 import Dialect2, Dialect21
from ocpp_gateway.sim_v16 import Dialect16

__all__ = ["ChargerSpec", "SimCharger", "SimulationConfig", "Stats", "run_simulation"]

log = logging.getLogger(__name__)
DIALECTS: dict[str, Dialect] = {"1.6": Dialect16(), "2.0.1": Dialect2(), "2.1": Dialect21()}
_DC_ID = re.compile(r"(^|[^A-Z])DC([^A-Z]|$)")


def _kind(cp_id: str, configured: str) -> ChargerKind:
    if configured in ("AC", "DC"):
        return "DC" if configured == "DC" else "AC"
    return "DC" if _DC_ID.search(cp_id.upper()) else "AC"


class SimCharger(ConnectedCharger):
    """One simulated charger; its state outlives connections (the meter, the sessions)."""

    def __init__(
        self, cp_id: str, config: SimulationConfig, dialect: Dialect, stats: Stats, t0: float
    ) -> None:
        super().__init__(cp_id, config, dialect, stats, t0)
        spec = config.specs.get(cp_id, ChargerSpec())
        self.kind: ChargerKind = spec.kind or _kind(cp_id, config.kind)
        default_power = 150_000.0 if self.kind == "DC" else 22_000.0
        self.max_power_w = float(spec.max_power_w or config.max_power_w or default_power)
        self.model_name = f"{config.model} {self.kind}{round(self.max_power_w / 1000)}"
        self.serial = f"SIM{zlib.crc32(cp_id.encode()):010d}"
        self.rng = random.Random(f"{config.seed}:{cp_id}")
        self.connectors = [
            ConnectorState(i, register_wh=round(self.rng.uniform(50_000, 5_000_000)))
            for i in range(1, (spec.connectors or config.connectors) + 1)
        ]
        self.meter_interval = float(config.meter_interval)
        self.variables: dict[str, Variable] = dialect.variables(self)
        self._limits: dict[int, tuple[int, float]] = {}  # profile id -> (connector, W)
        self._reset_reason: str | None = None  # a reset waiting for the sessions to end
        self._station_reported: str | None = None

    @property
    def device(self) -> Device:
        return self

    async def _stop_sessions(self, reason: str) -> None:
        sessions = [c.session for c in self.connectors if c.session is not None]
        for session in sessions:
            session.request_stop(reason)
        tasks = [s.task for s in sessions if s.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=max(self.config.call_timeout, 5.0))

    # ----------------------------------------------------------------- cars and sessions

    async def _traffic(self) -> None:
        """Cars arriving: some right after the first boot, then a Poisson process."""
        await self._booted.wait()
        config = self.config
        for conn in self.connectors:
            if self.rng.random() < config.initial_occupancy:
                delay = self.rng.uniform(0, min(self.meter_interval, 120.0))
                self.spawn(self._arrive(conn, delay))
        rate = config.arrivals_per_hour * len(self.connectors) / 3600.0
        while rate > 0 and not self._draining:
            await asyncio.sleep(self._wall(self.rng.expovariate(rate)))
            free = [c for c in self.connectors if self._free(c)]
            if free and self._ready.is_set():
                self._plug_in(self.rng.choice(free))

    async def _arrive(self, conn: ConnectorState, delay: float) -> None:
        await asyncio.sleep(self._wall(delay))
        if self._free(conn):
            self._plug_in(conn)

    def _free(self, conn: ConnectorState) -> bool:
        busy = self._draining or self._rebooting or self._reset_reason is not None
        return not busy and conn.session is None and conn.operative and not conn.finishing

    def _new_session(self, conn: ConnectorState, id_tag: str | None = None) -> Session:
        rng = random.Random(self.rng.getrandbits(64))
        session = Session(
            id_tag=id_tag or rng.choice(self.config.id_tags),
            vehicle=sim_curve.random_vehicle(rng, self.kind),
            departs_at=self.clock() + sim_curve.dwell_seconds(rng, self.kind),
            rng=rng,
        )
        conn.session = session
        return session

    def _plug_in(self, conn: ConnectorState) -> None:
        self._new_session(conn)
        self.begin(conn)

    def begin(self, conn: ConnectorState) -> None:
        session = conn.session
        if session is not None and session.task is None:
            session.task = self.spawn(self._session(conn, session))

    async def _session(self, conn: ConnectorState, session: Session) -> None:
        try:
            await self._run_session(conn, session)
        finally:
            if conn.session is session:
                conn.session = None
            conn.finishing = False
            conn.power_w = 0.0
            if conn.pending_operative is not None:
                conn.operative, conn.pending_operative = conn.pending_operative, None
        if not self._draining:
            await self.report_all()
        self._reset_if_idle()

    def _reset_if_idle(self) -> None:
        """Carry out a reset that waited for the transactions to end."""
        if self._reset_reason is not None and all(c.session is None for c in self.connectors):
            reason, self._reset_reason = self._reset_reason, None
            self.spawn(self.reboot(reason))

    async def _run_session(self, conn: ConnectorState, s: Session) -> None:
        d = self.dialect
        await self._report(conn)  # Preparing / Occupied
        if not s.remote or d.authorize_remote(self):
            result = await self._call(d.authorize(s.id_tag), must_deliver=True)
            if result is None or not d.authorized(result):
                self.stats.auth_rejected += 1
                log.info("%s/%s: id tag %s not accepted", self.cp_id, conn.id, s.id_tag)
                return
        if s.stop_reason is not None:
            return
        s.charging_state = "Charging"
        sample = self._sample(conn, s, "Transaction.Begin")
        s.meter_start_wh = sample.energy_wh
        result = await self._call(d.start(self, conn, s, sample), must_deliver=True)
        if result is None:
            return
        s.started = True
        self.stats.sessions_started += 1
        if not d.started(s, result):
            s.request_stop("DeAuthorized")
        log.debug("%s/%s: transaction %s started", self.cp_id, conn.id, s.transaction_id)
        await self._report(conn)  # Charging
        await self._charge(conn, s)
        end = self._sample(conn, s, "Transaction.End")
        await self._call(d.stop(self, conn, s, end), must_deliver=True)
        self.stats.sessions_stopped += 1
        self.stats.energy_wh += end.energy_wh - s.meter_start_wh
        log.debug("%s/%s: transaction %s ended", self.cp_id, conn.id, s.transaction_id)
        conn.session, conn.finishing, conn.power_w = None, True, 0.0
        self._reset_if_idle()
        await self._report(conn)  # Finishing (1.6): the cable is still plugged in
        if s.stop_reason != "EVDisconnected":
            await self._pause(s.rng.uniform(10.0, 120.0))

    async def _charge(self, conn: ConnectorState, s: Session) -> None:
        last = self.clock()
        conn.power_w = sim_curve.power_w(
            self.kind, s.vehicle, self.max_power_w, self._limit(conn, s)
        )
        while True:
            if s.stop_reason is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._wall(self.meter_interval)):
                        await s.wake.wait()
            now = self.clock()
            limit = self._limit(conn, s)
            conn.register_wh += sim_curve.charge(
                self.kind, s.vehicle, self.max_power_w, now - last, limit
            )
            conn.power_w = sim_curve.power_w(self.kind, s.vehicle, self.max_power_w, limit)
            last = now
            if s.stop_reason is not None:
                return
            if now >= s.departs_at:
                s.request_stop("Local" if s.vehicle.full else "EVDisconnected")
                return
            state = "SuspendedEV" if s.vehicle.full else "Charging"
            if state == "Charging" and limit is not None and limit <= 0:
                state = "SuspendedEVSE"
            if state != s.charging_state:
                s.charging_state = state
                if s.vehicle.full:  # the driver comes back to a full car before long
                    s.departs_at = min(s.departs_at, now + s.rng.uniform(300.0, 3600.0))
                sample = self._sample(conn, s, "Sample.Periodic")
                change = self.dialect.charging_state(self, conn, s, sample)
                if change is not None:
                    await self._call(change)
                await self._report(conn)
            sample = self._sample(conn, s, "Sample.Periodic")
            await self._call(self.dialect.meter(self, conn, s, sample, "MeterValuePeriodic"))

    def _limit(self, conn: ConnectorState, s: Session | None) -> float | None:
        limits = [w for c, w in self._limits.values() if c in (0, conn.id)]
        if s is not None and s.limit_w is not None:
            limits.append(s.limit_w)
        return min(limits) if limits else None

    def _stamp(self, conn: ConnectorState | None) -> str:
        """The wall clock, strictly increasing per connector (meter samples are unique)."""
        ms = int(time.time() * 1000)
        if conn is not None:
            ms = max(ms, conn.last_ms + 1)
            conn.last_ms = ms
        return format_ocpp_datetime(datetime.fromtimestamp(ms / 1000, UTC))

    def _sample(self, conn: ConnectorState, s: Session | None, context: str) -> Sample:
        vehicle = s.vehicle if s is not None else None
        r = sim_curve.reading(self.kind, vehicle, conn.power_w)
        return Sample(
            timestamp=self._stamp(conn),
            context=context,
            energy_wh=int(conn.register_wh),
            power_w=round(r.power_w),
            current_a=round(r.current_a, 1),
            voltage_v=round(r.voltage_v, 1),
            phases=r.phases,
            soc=int(vehicle.soc) if vehicle is not None else None,
        )

    # ----------------------------------------------------------------- status

    async def _report(self, conn: ConnectorState, *, force: bool = False) -> None:
        name = self.dialect.status_name(conn)
        if name == conn.reported and not force:
            return
        conn.reported = name
        await self._call(self.dialect.status(conn.id, name, self._stamp(conn)))

    async def report_all(self, *, force: bool = False) -> None:
        if self.dialect.station_status:
            operative = any(c.operative for c in self.connectors)
            name = "Available" if operative else "Unavailable"
            if force or name != self._station_reported:
                self._station_reported = name
                await self._call(self.dialect.status(0, name, self._stamp(None)))
        for conn in self.connectors:
            await self._report(conn, force=force)

    # ----------------------------------------------------------------- commands (Device)

    def connector(self, connector_id: int) -> ConnectorState | None:
        if 1 <= connector_id <= len(self.connectors):
            return self.connectors[connector_id - 1]
        return None

    def by_transaction(self, transaction_id: str) -> ConnectorState | None:
        for conn in self.connectors:
            if conn.session is not None and conn.session.transaction_id == transaction_id:
                return conn
        return None

    def reserve_remote_start(
        self,
        id_tag: str,
        connector_id: int | None,
        remote_start_id: int | None,
        limit_w: float | None,
    ) -> ConnectorState | None:
        if connector_id:
            conn = self.connector(connector_id)
            candidates = [conn] if conn is not None else []
        else:
            candidates = self.connectors
        conn = next((c for c in candidates if self._free(c)), None)
        if conn is None:
            return None
        session = self._new_session(conn, id_tag)
        session.remote, session.remote_start_id, session.limit_w = True, remote_start_id, limit_w
        return conn

    def request_reset(self, reason: str, *, when_idle: bool) -> str:
        if self._rebooting or self._draining:
            return "Rejected"
        if when_idle and any(c.session is not None for c in self.connectors):
            self._reset_reason = reason
            return "Scheduled"
        return "Accepted"

    async def reboot(self, reason: str) -> None:
        """Reset: end the transactions, drop the connection, boot again."""
        if self._rebooting or self._draining:
            return
        self._rebooting = True
        self._reset_reason = None
        self._hurry.set()
        self.stats.reboots += 1
        log.info("%s: rebooting (%s)", self.cp_id, reason)
        await self._stop_sessions(reason)
        self._boot_reason = "RemoteReset"
        link = self._link
        if link is not None:
            await link.close()

    def change_availability(self, connector_id: int, operative: bool) -> str:
        if connector_id == 0:
            targets = self.connectors
        else:
            conn = self.connector(connector_id)
            if conn is None:
                return "Rejected"
            targets = [conn]
        scheduled = False
        for conn in targets:
            if conn.session is not None or conn.finishing:
                conn.pending_operative = operative
                scheduled = scheduled or conn.operative != operative
            else:
                conn.operative, conn.pending_operative = operative, None
        return "Scheduled" if scheduled else "Accepted"

    def trigger(self, message: str, connector_id: int | None) -> tuple[str, Work | None]:
        conn = self.connector(connector_id) if connector_id else None
        if connector_id and conn is None:
            return "Rejected", None
        targets = [conn] if conn is not None else self.connectors
        d = self.dialect
        if message == "BootNotification":
            return "Accepted", lambda: self._send(d.boot(self, "Triggered"))
        if message == "Heartbeat":
            return "Accepted", lambda: self._send(d.heartbeat())
        if message == "StatusNotification":
            if conn is None:
                return "Accepted", lambda: self.report_all(force=True)
            return "Accepted", lambda: self._report(conn, force=True)
        if message in ("MeterValues", "TransactionEvent"):
            in_tx = message == "TransactionEvent" or d.version == "1.6"
            if message == "TransactionEvent":
                targets = [c for c in targets if c.session is not None and c.session.started]
                if not targets:
                    return "Rejected", None

            async def meter() -> None:
                for c in targets:
                    s = c.session if in_tx else None
                    await self._call(d.meter(self, c, s, self._sample(c, s, "Trigger"), "Trigger"))

            return "Accepted", meter
        payload = d.idle_notification(message)
        if payload is None:
            return "NotImplemented", None
        return "Accepted", lambda: self._send(payload)

    def set_limit(self, profile_id: int, connector_id: int, limit_w: float) -> None:
        self._limits[profile_id] = (connector_id, limit_w)

    def clear_limits(self, profile_id: int | None, connector_id: int | None) -> bool:
        matching = [
            pid
            for pid, (cid, _) in self._limits.items()
            if (profile_id is None or pid == profile_id)
            and (connector_id is None or cid == connector_id)
        ]
        for pid in matching:
            del self._limits[pid]
        return bool(matching)

    def measurands(self) -> set[str]:
        value = self.variables[self.dialect.measurands_key].value
        return {m.strip() for m in value.split(",") if m.strip()}


async def run_simulation(config: SimulationConfig, stats: Stats | None = None) -> dict[str, Any]:
    """Run the chargers until `duration`, `stop` or cancellation; return the stats (kept
    up to date in `stats` while it runs, if given)."""
    dialect = DIALECTS.get(config.protocol)
    if dialect is None:
        raise ValueError(f"protocol must be one of {sorted(DIALECTS)}, not {config.protocol!r}")
    if config.speedup <= 0 or config.meter_interval <= 0:
        raise ValueError("speedup and meter_interval must be positive")
    if not config.id_tags:
        raise ValueError("at least one id tag is needed")
    ids = config.ids or [f"{config.prefix}-{i:04d}" for i in range(1, config.chargers + 1)]
    stats = stats or Stats()
    stats.chargers = len(ids)
    loop = asyncio.get_running_loop()
    started = loop.time()
    chargers = [SimCharger(cp_id, config, dialect, stats, started) for cp_id in ids]
    log.info(
        "simulating %d OCPP %s chargers against %s (speedup %s)",
        len(ids),
        config.protocol,
        config.url,
        config.speedup,
    )
    tasks = [
        asyncio.create_task(c.run(i * config.connect_stagger), name=f"sim:{c.cp_id}")
        for i, c in enumerate(chargers)
    ]
    try:
        await _until_end(config, tasks)
        closing = [asyncio.create_task(c.shutdown()) for c in chargers]
        _, pending = await asyncio.wait(closing, timeout=max(config.call_timeout, 5.0) + 5.0)
        for task in pending:
            task.cancel()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    result = stats.as_dict()
    result["wall_seconds"] = round(loop.time() - started, 3)
    result["simulated_seconds"] = round((loop.time() - started) * config.speedup, 1)
    return result


async def _until_end(config: SimulationConfig, tasks: list[asyncio.Task[None]]) -> None:
    ends: list[asyncio.Future[Any]] = list(tasks)
    if config.duration is not None:
        ends.append(asyncio.ensure_future(asyncio.sleep(config.duration)))
    if config.stop is not None:
        ends.append(asyncio.ensure_future(config.stop.wait()))
    helpers = ends[len(tasks) :]
    try:
        await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for helper in helpers:
            helper.cancel()
