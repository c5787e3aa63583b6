"""`ladeflyt simulate`: registered chargers get in, refused ones are named at once instead
of a silent retry loop, and replays refuse rows they cannot send. (The replay of the README's
March sessions runs in tests/test_readme.py.)"""

from __future__ import annotations

import asyncio
import json
import socket

from sqlalchemy import select

from core.models import Charger
from ladeflyt import cli_simulate
from ocpp_gateway.simulator import run_simulation
from tests.ladeflyt.helpers import ok, query


def _simulate(ladeflyt, url: str, *extra: str) -> tuple[int, str, str]:
    return ladeflyt("simulate", "--chargers", "2", "--url", url, "--prefix", "SIM", *extra)


async def _until_booted(config, stats):
    """The simulation, ended once both chargers are in: booted, and their connectors
    reported (1.6: connectors 0-2 each), instead of after a time that a busy machine may
    need more of."""

    async def stop_when_in() -> None:
        # The simulator keeps counters, not events: look at them now and then.
        while stats.by_action["StatusNotification"] < 6:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        config.stop.set()

    watcher = asyncio.create_task(stop_when_in())
    try:
        return await run_simulation(config, stats)
    finally:
        watcher.cancel()


async def test_registered_chargers_boot_and_refused_ones_are_named(
    ladeflyt, runtime, ocpp_url, db_url, monkeypatch
):
    code, _, err = await asyncio.to_thread(_simulate, ladeflyt, ocpp_url)
    assert code == 2
    assert err == (
        f"error: the gateway at {ocpp_url} does not know SIM-0001 and 1 other(s) (HTTP 404): "
        "register them with `ladeflyt simulate --register ...` on the server's database (or "
        "`ladeflyt charger add ID`), or run the server with LADEFLYT_OCPP_ACCEPT_UNKNOWN=true\n"
    )

    monkeypatch.setattr(cli_simulate, "run_simulation", _until_booted)
    code, out, err = await asyncio.to_thread(_simulate, ladeflyt, ocpp_url, "--register")
    assert code == 0, err
    assert "2 charger(s) registered at site Simulator" in err
    assert json.loads(out)["connects"] == 2
    rows = await asyncio.to_thread(
        query,
        db_url,
        select(Charger.charge_point_id, Charger.last_boot_at.is_not(None)).order_by(Charger.id),
    )
    assert rows == [("SIM-0001", True), ("SIM-0002", True)]
    # Registering again adds nothing.
    code, _, err = await asyncio.to_thread(_simulate, ladeflyt, ocpp_url, "--register")
    assert code == 0 and "0 charger(s) registered" in err


def test_a_gateway_that_is_not_there_is_named_too(ladeflyt, monkeypatch):
    monkeypatch.setattr(cli_simulate, "NOBODY_GOT_IN_S", 0.5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{s.getsockname()[1]}/ocpp"
    code, _, err = _simulate(ladeflyt, url)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"error: cannot connect to {url} (")
    assert err.endswith("): is `ladeflyt serve` running there?\n")


def test_a_replay_refuses_rows_it_cannot_send(ladeflyt, tmp_path):
    ok(ladeflyt("charger", "add", "SOL-1", "--site", "Solsiden"))
    header = "charger,connector,id_tag,start,stop,kwh,idle_min\n"
    cases = {
        "SOL-1,1,TAG,2026-03-03T19:00,2099-03-03T20:00,10,0\n": "line 2: stop is in the future",
        "SOL-1,1,TAG,2026-03-03T19:00,2026-03-03T19:30,10,30\n": "stop must come after start",
        "SOL-1,one,TAG,2026-03-03T19:00,2026-03-03T20:00,10,0\n": "line 2: not a number",
        "SOL-1,1,,2026-03-03T19:00,2026-03-03T20:00,10,0\n": "line 2: missing id_tag",
        "SOL-1,1,TAG,3 March,2026-03-03T20:00,10,0\n": "line 2: start: not a time: '3 March'",
    }
    for row, message in cases.items():
        (tmp_path / "s.csv").write_text(header + row, encoding="utf-8")
        code, _, err = ladeflyt("simulate", "--replay", str(tmp_path / "s.csv"))
        assert code == 2 and message in err, err
    (tmp_path / "s.csv").write_text(
        header + "NOPE-1,1,TAG,2026-03-03T19:00,2026-03-03T20:00,10,0\n", encoding="utf-8"
    )
    code, _, err = ladeflyt("simulate", "--replay", str(tmp_path / "s.csv"))
    assert code == 2 and "charger NOPE-1: the CSMS at ws://127.0.0.1:" in err
    assert "does not know it (HTTP 404)" in err
