"""The operator CLI as people and scripts use it: a real process on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call as call16

from core.config import Settings
from ladeflyt.runtime import Runtime
from tests.helpers import boot16, connect


def ladeflyt(db_url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LADEFLYT_DATABASE_URL": db_url}
    result = subprocess.run(
        [sys.executable, "-m", "ladeflyt.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


async def test_register_charger_user_token_then_charge_and_list_sessions_as_json(db_url):
    ladeflyt(
        db_url,
        "charger",
        "add",
        "CLI-1",
        "--site",
        "Tofte",
        "--connectors",
        "2",
        "--max-kw",
        "11",
        "--password",
        "sixteen-bytes-long!",
    )
    ladeflyt(db_url, "user", "add", "912 34 567", "--name", "Kari")
    ladeflyt(db_url, "token", "add", "04aabbcc", "--user", "+4791234567")
    # A tag charges only for a driver who can pay: Kari is invoiced monthly.
    ladeflyt(db_url, "invoices", "customer", "+4791234567", "--invoice-billing")

    stop_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    start_at = stop_at - timedelta(hours=1)
    runtime = Runtime.build(Settings(database_url=db_url, ocpp_port=0))
    await runtime.start(ocpp_port=0)
    try:
        url = f"ws://127.0.0.1:{runtime.gateway.port}/ocpp"
        async with connect(url, "CLI-1", password="sixteen-bytes-long!") as cp:
            await cp.call(boot16())
            start = await cp.call(
                call16.StartTransaction(
                    connector_id=2,
                    id_tag="04AABBCC",
                    meter_start=100,
                    timestamp=start_at.isoformat(),
                )
            )
            assert start.id_tag_info["status"] == "Accepted"
            await cp.call(
                call16.StopTransaction(
                    meter_stop=7_100,
                    timestamp=stop_at.isoformat(),
                    transaction_id=start.transaction_id,
                )
            )
    finally:
        await runtime.stop()

    rows = json.loads(ladeflyt(db_url, "session", "list", "--json").stdout)
    assert len(rows) == 1
    row = rows[0]
    assert {
        k: row[k] for k in ("charger_id", "connector_id", "id_token", "energy_wh", "status")
    } == {
        "charger_id": "CLI-1",
        "connector_id": 2,
        "id_token": "04AABBCC",
        "energy_wh": 7_000,
        "status": "completed",
    }
    assert datetime.fromisoformat(row["started_at"]) == start_at
    assert datetime.fromisoformat(row["stopped_at"]) == stop_at
    assert isinstance(row["id"], int)
    table = ladeflyt(db_url, "session", "list").stdout
    assert "CLI-1" in table and "7.000" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("charger", "add", "DUP"), "exists already"),
        (("charger", "add", "PW", "--password", "short"), "16 bytes"),
        (("token", "add", "TAG", "--user", "+4799999999"), "no user"),
        (("user", "add", "not-a-phone"), "not a phone number"),
    ],
)
def test_bad_input_gets_a_clear_error_and_exit_code_2(db_url, args, message):
    ladeflyt(db_url, "charger", "add", "DUP")
    result = ladeflyt(db_url, *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr


def test_user_token_prints_an_access_token_the_api_accepts(db_url, tmp_path):
    ladeflyt(db_url, "user", "add", "91234567", "--name", "Kari")
    env_secret = {"LADEFLYT_SECRET_FILE": str(tmp_path / "jwt.secret")}
    result = subprocess.run(
        [sys.executable, "-m", "ladeflyt.cli", "user", "token", "91234567"],
        env={**os.environ, "LADEFLYT_DATABASE_URL": db_url, **env_secret},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = result.stdout.strip()
    from core.config import Settings
    from core.users.auth import AuthService
    from notifications.console import ConsoleSmsSender

    auth = AuthService(Settings(secret_file=env_secret["LADEFLYT_SECRET_FILE"]), ConsoleSmsSender())
    assert auth.decode_access(token).user_id == 1
    unknown = ladeflyt(db_url, "user", "token", "99999999", check=False)
    assert unknown.returncode == 2 and "no user" in unknown.stderr


def test_qr_writes_a_code_for_the_guest_pay_page(db_url, tmp_path):
    ladeflyt(db_url, "charger", "add", "KLOKK-AC-01", "--site", "Klokkarstua")
    out = tmp_path / "qr.svg"
    result = ladeflyt(db_url, "qr", "klokk ac 01", "--out", str(out))
    assert "/pay/KLOKK-AC-01" in result.stdout
    assert out.read_text().startswith("<?xml") and "<svg" in out.read_text()
    assert ladeflyt(db_url, "qr", "NOPE", check=False).returncode == 2
    checked = ladeflyt(db_url, "payments", "check")
    assert "0 finished session(s) checked: 0 problem(s), 0 unpaid" in checked.stdout
