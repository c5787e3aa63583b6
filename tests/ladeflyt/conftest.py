"""The CLI in-process (`ladeflyt.cli.main`) on the test database: fast, and the real parser."""

from __future__ import annotations

import pytest

from ladeflyt import cli


@pytest.fixture
def ladeflyt(settings, monkeypatch, capsys):
    """`ladeflyt ARGS...` in-process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(cli, "get_settings", lambda: settings)

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
