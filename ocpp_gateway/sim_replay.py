"""Replay recorded charging sessions over OCPP 1.6, as a charger delivers its offline queue.

Each row (charger, connector, id tag, start, stop, kWh, minutes plugged in idle at the end)
becomes StartTransaction, MeterValues every `sample_minutes` (the energy register and the
power; no power once the car is full) and StopTransaction, all with the row's own past
timestamps. The CSMS records, prices and settles them exactly as it would a charger's
queued messages; a tag it refuses is recorded all the same (the charger already charged),
flagged `started_unauthorized`.

`ladeflyt simulate --replay FILE.csv` uses it, e.g. to give the README's invoice example
its March sessions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import websockets
from ocpp.v16 import ChargePoint
from ocpp.v16 import call as call16
from websockets.typing import Subprotocol

from core.timeutil import OSLO, format_ocpp_datetime
from ocpp_gateway.sim_link import WIRE_LOG

COLUMNS = ("charger", "connector", "id_tag", "start", "stop", "kwh", "idle_min")
METER_START_WH = 100_000  # every replayed connector's register starts here


class ReplayError(ValueError):
    """A row that cannot be replayed, or a charger the CSMS will not let in."""


@dataclass(frozen=True)
class Recorded:
    """One charging session as the charger recorded it."""

    line: int
    charger: str
    connector: int
    id_tag: str
    start: datetime  # aware, UTC
    stop: datetime
    energy_wh: int
    idle_minutes: int = 0

    @property
    def charge_end(self) -> datetime:
        return self.stop - timedelta(minutes=self.idle_minutes)


@dataclass(frozen=True)
class Replayed:
    recorded: Recorded
    transaction_id: int
    status: str  # what the CSMS said about the tag: Accepted, Blocked, Invalid...


def _when(text: str, line: int, column: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReplayError(f"line {line}: {column}: not a time: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=OSLO)  # as people write times: Oslo
    return parsed.astimezone(UTC)


def parse_row(line: int, row: dict[str, str]) -> Recorded:
    """A CSV row (columns as in COLUMNS) as a recorded session; ReplayError says why not."""
    missing = [c for c in COLUMNS[:-1] if not row.get(c)]
    if missing:
        raise ReplayError(f"line {line}: missing {', '.join(missing)}")
    try:
        connector = int(row["connector"])
        energy_wh = round(float(row["kwh"].replace(",", ".")) * 1000)
        idle = int(row.get("idle_min") or 0)
    except ValueError as error:
        raise ReplayError(f"line {line}: not a number: {error}") from None
    start, stop = _when(row["start"], line, "start"), _when(row["stop"], line, "stop")
    recorded = Recorded(
        line, row["charger"], connector, row["id_tag"], start, stop, energy_wh, idle
    )
    if connector < 1 or energy_wh < 0 or idle < 0:
        raise ReplayError(f"line {line}: connector, kwh and idle_min cannot be negative")
    if recorded.charge_end <= start:
        raise ReplayError(f"line {line}: stop must come after start and the idle minutes")
    if stop > datetime.now(UTC):
        raise ReplayError(f"line {line}: stop is in the future; only the past can be replayed")
    return recorded


def samples(r: Recorded, every: timedelta) -> list[tuple[datetime, int, int]]:
    """(time, register Wh, power W) from start to stop: linear while charging, then idle."""
    charging_s = (r.charge_end - r.start).total_seconds()
    power_w = round(r.energy_wh * 3600 / charging_s)
    out = []
    t = r.start
    while t <= r.stop:
        done = (min(t, r.charge_end) - r.start).total_seconds()
        out.append((t, METER_START_WH + round(r.energy_wh * done / charging_s),
                    power_w if t < r.charge_end else 0))  # fmt: skip
        t += every
    return out


def _meter(at: datetime, wh: int, power_w: int) -> list[dict[str, object]]:
    return [
        {
            "timestamp": format_ocpp_datetime(at),
            "sampledValue": [
                {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh",
                 "context": "Sample.Periodic"},
                {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W",
                 "context": "Sample.Periodic"},
            ],
        }
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def _connected(url: str, cp_id: str, password: str | None) -> AsyncIterator[ChargePoint]:
    headers = None
    if password is not None:
        token = base64.b64encode(f"{cp_id}:{password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
    try:
        ws = await websockets.connect(
            f"{url.rstrip('/')}/{quote(cp_id, safe='')}",
            subprotocols=[Subprotocol("ocpp1.6")],
            additional_headers=headers,
            open_timeout=10,
        )
    except websockets.exceptions.InvalidStatus as error:
        status = error.response.status_code
        why = {404: "does not know it", 401: "refused its password"}.get(status, "refused it")
        raise ReplayError(f"charger {cp_id}: the CSMS at {url} {why} (HTTP {status})") from None
    except OSError as error:
        raise ReplayError(f"cannot connect to {url}: {error.strerror or error}") from None
    cp = ChargePoint(cp_id, ws, logger=WIRE_LOG)
    reader = asyncio.create_task(cp.start())
    try:
        yield cp
    finally:
        reader.cancel()
        with contextlib.suppress(BaseException):
            await reader
        await ws.close()


async def replay(
    url: str,
    sessions: list[Recorded],
    *,
    password: str | None = None,
    sample_minutes: int = 5,
) -> list[Replayed]:
    """Send `sessions` to the CSMS at `url` (ws://host:port/ocpp), one charger at a time,
    each charger's in the order they happened."""
    by_charger: dict[str, list[Recorded]] = defaultdict(list)
    for r in sorted(sessions, key=lambda r: r.start):
        by_charger[r.charger].append(r)
    every = timedelta(minutes=sample_minutes)
    done = []
    for cp_id, recorded in by_charger.items():
        async with _connected(url, cp_id, password) as cp:
            boot = await cp.call(
                call16.BootNotification(charge_point_vendor="Ladeflyt", charge_point_model="Replay")
            )
            if boot.status != "Accepted":
                raise ReplayError(f"charger {cp_id}: the CSMS answered the boot {boot.status}")
            registers: dict[int, int] = defaultdict(int)  # energy so far, per connector
            for r in recorded:
                base = registers[r.connector]
                points = [(t, wh + base, w) for t, wh, w in samples(r, every)]
                start = await cp.call(
                    call16.StartTransaction(
                        connector_id=r.connector,
                        id_tag=r.id_tag,
                        meter_start=points[0][1],
                        timestamp=format_ocpp_datetime(r.start),
                    )
                )
                tx = int(start.transaction_id)
                for at, wh, power_w in points[:-1]:
                    await cp.call(
                        call16.MeterValues(
                            connector_id=r.connector,
                            transaction_id=tx,
                            meter_value=_meter(at, wh, power_w),
                        )
                    )
                last_at, last_wh, last_w = points[-1]
                await cp.call(
                    call16.StopTransaction(
                        meter_stop=last_wh,
                        timestamp=format_ocpp_datetime(r.stop),
                        transaction_id=tx,
                        id_tag=r.id_tag,
                        reason="EVDisconnected",
                        transaction_data=_meter(last_at, last_wh, last_w),
                    )
                )
                registers[r.connector] = last_wh - METER_START_WH
                done.append(Replayed(r, tx, str(start.id_tag_info["status"])))
    return done
