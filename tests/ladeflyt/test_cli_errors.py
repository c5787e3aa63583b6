"""Configuration mistakes, closed pipes and premature invoice runs: one clear line and a
non-zero exit, never a traceback. Real processes where the behaviour is the process's own
(its exit, its stdout, its ports); they run side by side to keep the test short."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import Settings
from core.timeutil import OSLO
from ladeflyt import cli


def _start(*args: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ladeflyt.cli", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def configured(monkeypatch, capsys):
    """`ladeflyt ARGS...` in-process with settings read from the environment given."""

    def run(*args: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(cli, "get_settings", lambda: Settings(_env_file=None))  # type: ignore[call-arg]
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_a_database_that_is_down_is_one_line_from_a_real_process(tmp_path: Path):
    down = _unused_port()
    pg_down = _start(
        "session", "list", cwd=tmp_path,
        LADEFLYT_DATABASE_URL=f"postgresql+asyncpg://ladeflyt@127.0.0.1:{down}/ladeflyt",
    )  # fmt: skip
    out, err = pg_down.communicate(timeout=60)
    assert (pg_down.returncode, out) == (2, "")
    assert err == (
        f"error: cannot reach the database at 127.0.0.1:{down}: connection refused (is "
        f"PostgreSQL running there? LADEFLYT_DATABASE_URL=postgresql+asyncpg://ladeflyt@"
        f"127.0.0.1:{down}/ladeflyt)\n"
    )


def test_configuration_mistakes_are_one_line_and_exit_2(configured, tmp_path: Path):
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:  # a database an older Ladeflyt migrated
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('0008')")
    sqlite3.connect(tmp_path / "empty.db").close()
    cases = {
        "nonsense": "error: LADEFLYT_DATABASE_URL: 'nonsense' is not a database URL",
        "mysql://u@db/x": "error: LADEFLYT_DATABASE_URL: mysql databases are not supported",
        f"sqlite+aiosqlite:///{tmp_path}/missing/ladeflyt.db": (
            f"error: no database at {tmp_path}/missing/ladeflyt.db: create it with "
            "`ladeflyt db upgrade`"
        ),
        f"sqlite+aiosqlite:///{tmp_path}/empty.db": "has no tables yet: run `ladeflyt db upgrade`",
        f"sqlite+aiosqlite:///{old}": "is at revision 0008, this Ladeflyt needs",
    }
    for url, expected in cases.items():
        code, out, err = configured("session", "list", LADEFLYT_DATABASE_URL=url)
        assert (code, out) == (2, ""), (url, err)
        assert len(err.splitlines()) == 1 and expected in err, (url, err)
    assert not (tmp_path / "missing").exists()  # nothing was created on the way
    code, _, err = configured("session", "list", LADEFLYT_HTTP_PORT="eighty")
    assert code == 2
    assert err.startswith("error: LADEFLYT_HTTP_PORT: Input should be a valid integer")


def test_a_busy_port_stops_serve_before_it_starts(
    configured, tmp_path: Path, sqlite_template: Path
):
    shutil.copy(sqlite_template, tmp_path / "ladeflyt.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'ladeflyt.db'}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        http = _start("serve", cwd=tmp_path, LADEFLYT_DATABASE_URL=url, LADEFLYT_HTTP_PORT=port,
                      LADEFLYT_OCPP_PORT="0")  # fmt: skip
        code, _, err = configured("serve", LADEFLYT_DATABASE_URL=url, LADEFLYT_HTTP_PORT="0",
                                  LADEFLYT_OCPP_PORT=port)  # fmt: skip
        assert (code, err) == (
            2,
            f"error: cannot listen for OCPP on 127.0.0.1:{port}: Address already in use "
            "(another `ladeflyt serve`? set LADEFLYT_OCPP_PORT)\n",
        )
        _, err = http.communicate(timeout=60)
        assert http.returncode == 2
        assert err == (
            f"error: cannot listen for HTTP on 127.0.0.1:{port}: Address already in use "
            "(another `ladeflyt serve`? set LADEFLYT_HTTP_PORT)\n"
        )


def test_session_list_into_a_closed_pipe_stops_quietly(tmp_path: Path, sqlite_template: Path):
    """`ladeflyt session list | head -1`: the reader is gone before the list is written."""
    shutil.copy(sqlite_template, tmp_path / "ladeflyt.db")
    process = _start(
        "session", "list", cwd=tmp_path,
        LADEFLYT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'ladeflyt.db'}",
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # like `head` after its line: every write now meets EPIPE
    err = process.stderr.read()
    assert process.wait(timeout=60) == 141  # as a tool killed by SIGPIPE
    assert err == ""


def test_invoices_run_refuses_a_month_that_is_not_over_unless_forced(ladeflyt):
    now = datetime.now(UTC).astimezone(OSLO)
    this_month = f"{now.year:04d}-{now.month:02d}"
    code, _, err = ladeflyt("invoices", "run", "--period", this_month)
    assert code == 2
    assert f"error: {this_month} is not over until " in err and "--force" in err
    code, out, _ = ladeflyt("invoices", "run", "--period", this_month, "--force")
    assert code == 0 and f"0 invoice(s), 0 session(s) for {this_month}" in out
    assert ladeflyt("invoices", "run", "--period", "2026-13")[2] == (
        "error: not a period: '2026-13' (use YYYY-MM)\n"
    )


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///./var/x.db", "sqlite+aiosqlite:///./var/x.db"),
        ("postgres://u:p%40ss@db:5432/lf", "postgresql+asyncpg://u:p%40ss@db:5432/lf"),
        ("postgresql+asyncpg://db/lf", "postgresql+asyncpg://db/lf"),
    ],
)
def test_short_database_urls_get_our_drivers(given, used):
    from core.config import Settings

    assert Settings(database_url=given).database_url == used
