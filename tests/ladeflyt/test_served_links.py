"""Links name the address that is actually served: `ladeflyt serve` on another port than the
default (here a free one, LADEFLYT_HTTP_PORT=0) puts that port in SMS links and checks
Twilio's signature against it, unless LADEFLYT_PUBLIC_BASE_URL says otherwise."""

from __future__ import annotations

import os
import re
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
from twilio.request_validator import RequestValidator

from core.config import Settings
from core.payments.receipts import receipt_url

TOKEN = "twilio-test-auth-token"


def test_a_default_public_base_url_follows_the_http_host_and_port():
    assert Settings(http_port=8123).public_base_url == "http://127.0.0.1:8123"
    assert receipt_url(Settings(http_port=8123), 7).startswith(
        "http://127.0.0.1:8123/receipts/7?t="
    )
    assert Settings(http_host="0.0.0.0", http_port=80).public_base_url == "http://127.0.0.1:80"
    assert Settings(http_host="::1", http_port=8123).public_base_url == "http://[::1]:8123"
    # Written out as the default it is still the default: it follows the server.
    copied = Settings(public_base_url="http://127.0.0.1:8000/", http_port=8123)
    assert copied.public_base_url == "http://127.0.0.1:8123"
    # A configured address (a proxy, a domain) is what people use: kept as it is.
    mine = Settings(public_base_url="https://lade.example.no", http_port=8123)
    assert mine.public_base_url == "https://lade.example.no"
    assert mine.served_at("0.0.0.0", 9999).public_base_url == "https://lade.example.no"
    assert Settings().served_at("127.0.0.1", 40123).public_base_url == "http://127.0.0.1:40123"


def _served_port(process: subprocess.Popen[str], deadline: float) -> int:
    """The port from serve's "HTTP on host:port" log line."""
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    seen = []
    while time.monotonic() < deadline:
        if not selector.select(timeout=max(deadline - time.monotonic(), 0)):
            break
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        found = re.search(r"HTTP on 127\.0\.0\.1:(\d+), links to ([^\s\",]+)", line)
        if found:
            assert found.group(2) == f"http://127.0.0.1:{found.group(1)}"
            return int(found.group(1))
    raise AssertionError("serve did not say where it listens:\n" + "".join(seen))


def test_serve_on_another_port_links_and_verifies_with_the_served_address(
    tmp_path: Path, sqlite_template: Path
):
    shutil.copy(sqlite_template, tmp_path / "ladeflyt.db")  # migrated once per test run
    env = {
        **os.environ,
        "LADEFLYT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ladeflyt.db'}",
        "LADEFLYT_HTTP_PORT": "0",
        "LADEFLYT_OCPP_PORT": "0",
        "LADEFLYT_TWILIO_AUTH_TOKEN": TOKEN,
    }
    env.pop("LADEFLYT_PUBLIC_BASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "ladeflyt.cli", "serve", "--no-migrate"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = _served_port(process, time.monotonic() + 45)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            for _ in range(200):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            params = {
                "MessageSid": "SM1",
                "From": "+4799999999",
                "To": "2210",
                "Body": "Lade start KLOKK-1",
            }
            signature = RequestValidator(TOKEN).compute_signature(f"{base}/sms/inbound", params)
            reply = http.post(
                "/sms/inbound", data=params, headers={"X-Twilio-Signature": signature}
            )
        assert reply.status_code == 200, reply.text  # signed for the served address
        assert f"{base}/app" in reply.text  # the sign-up link names it too
    finally:
        process.terminate()
        process.wait(timeout=20)
