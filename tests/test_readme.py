"""The README's examples work as written: every code block with `ladeflyt` commands is either
run here or says why not.

A block is marked by the line before it:
- `<!-- example: NAME -->`: its commands run, in order, on the database of scenario NAME (a
  fresh one per scenario, blocks of one scenario share it); what a transcript shows after
  `$ ladeflyt ...` must appear in that command's output, line by line in order (other lines
  may come between; `...` in a line stands for anything);
- `<!-- example: NAME; outputs vary -->`: run, but only the exit codes count (keys, times);
- `<!-- not an example: WHY -->`: a synopsis, or it needs a server.
In sh blocks `export NAME=VALUE` sets the scenario's environment and `cat > FILE <<'EOF'`
writes a file; `ladeflyt serve` and simulations against a server are left out (tested in
tests/ladeflyt/). Commands run in-process (`ladeflyt.cli.main`), in the scenario's folder.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.billing import settings as billing_settings
from core.config import get_settings
from ladeflyt import cli

README = Path(__file__).resolve().parent.parent / "README.md"
MARK = re.compile(r"<!--\s*(example|not an example):\s*(.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
HEREDOC = re.compile(r"^cat > (\S+) <<'?(\w+)'?$")


@dataclass
class Command:
    args: list[str]
    expected: list[str] = field(default_factory=list)  # shown output lines


@dataclass
class Step:
    """One thing a block does: set a variable, write a file, or run a command."""

    command: Command | None = None
    env: tuple[str, str] | None = None
    file: tuple[str, str] | None = None


@dataclass
class Block:
    line: int
    mark: tuple[str, str] | None
    steps: list[Step]

    @property
    def commands(self) -> list[Command]:
        return [s.command for s in self.steps if s.command is not None]


def _ladeflyt(text: str) -> list[str] | None:
    """The arguments of a `ladeflyt ...` command line we can run here; None otherwise."""
    if not text.startswith(("ladeflyt ", ".venv/bin/ladeflyt ")):
        return None
    words = shlex.split(text, comments=True)
    args = [w for w in words[1:] if w != "&"]
    if args[:1] == ["serve"]:
        return None  # a server: tests/ladeflyt/test_served_links.py and others
    if args[:1] == ["simulate"] and "--replay" not in args:
        return None  # needs a gateway to talk to: tests/ladeflyt/test_cli_simulate.py
    return args


def _sh_steps(lines: list[str]) -> list[Step]:
    steps, i = [], 0
    while i < len(lines):
        line = lines[i].strip()
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        i += 1
        heredoc = HEREDOC.match(line)
        if heredoc:
            body = []
            while lines[i].strip() != heredoc.group(2):
                body.append(lines[i])
                i += 1
            i += 1
            steps.append(Step(file=(heredoc.group(1), "\n".join(body) + "\n")))
        elif line.startswith("export "):
            name, _, value = shlex.split(line, comments=True)[1].partition("=")
            steps.append(Step(env=(name, value)))
        elif (args := _ladeflyt(line)) is not None:
            steps.append(Step(command=Command(args)))
    return steps


def _transcript_steps(lines: list[str]) -> list[Step]:
    steps: list[Step] = []
    current: Command | None = None
    lines = list(lines)
    while lines:
        line = lines.pop(0)
        if line.startswith("$ "):
            while line.endswith("\\") and lines:
                line = line[:-1] + " " + lines.pop(0).strip()
            args = _ladeflyt(line[2:])
            current = Command(args) if args is not None else None
            if current is not None:
                steps.append(Step(command=current))
        elif current is not None:
            current.expected.append(line.rstrip())
    return steps


def readme_blocks() -> Iterator[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        start, language = i, fence.group(1)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        body = lines[start + 1 : end]
        i = end + 1
        if language not in ("", "sh", "console"):
            continue
        mark = MARK.search(lines[start - 1]) if start else None
        transcript = any(line.startswith("$ ") for line in body)
        steps = _transcript_steps(body) if transcript else _sh_steps(body)
        mentions = any(re.search(r"(^|\$ |/)ladeflyt ", line) for line in body)
        if steps or mentions:
            yield Block(start + 1, (mark.group(1), mark.group(2)) if mark else None, steps)


def _shown(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split("...")) + r"\Z")


def _check_output(command: Command, out: str, err: str) -> None:
    """Every line shown is printed, in the order shown within stdout and within stderr
    (a terminal interleaves the two; progress goes to stderr)."""
    streams = [[line.rstrip() for line in text.splitlines()] for text in (out, err)]
    at = [0, 0]
    for line in command.expected:
        pattern = _shown(line)
        for n, lines in enumerate(streams):
            found = next((i for i in range(at[n], len(lines)) if pattern.match(lines[i])), None)
            if found is not None:
                at[n] = found + 1
                break
        else:
            raise AssertionError(
                f"`ladeflyt {shlex.join(command.args)}`: the README shows\n  {line}\n"
                f"which it did not print (in this order):\n{out}{err}"
            )


def test_every_block_with_ladeflyt_commands_is_marked():
    unmarked = [b.line for b in readme_blocks() if b.mark is None]
    assert unmarked == [], (
        f"README.md code blocks at lines {unmarked} have `ladeflyt` commands: mark each with "
        "<!-- example: NAME --> (tests/test_readme.py runs it) or <!-- not an example: WHY -->"
    )


SCENARIOS: dict[str, list[Block]] = {}
for _block in readme_blocks():
    if _block.mark is not None and _block.mark[0] == "example":
        SCENARIOS.setdefault(_block.mark[1].split(";")[0].strip(), []).append(_block)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_readme_example_works_as_written(scenario, tmp_path, sqlite_template, monkeypatch, capsys):
    """Each scenario from an empty, migrated database (what `ladeflyt db upgrade` makes)."""
    shutil.copy(sqlite_template, tmp_path / "ladeflyt.db")
    monkeypatch.chdir(tmp_path)
    for name in ("LADEFLYT_PUBLIC_BASE_URL", "LADEFLYT_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LADEFLYT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'ladeflyt.db'}")
    monkeypatch.setenv("LADEFLYT_SECRET_FILE", str(tmp_path / "jwt.secret"))
    ran = 0
    try:
        for block in SCENARIOS[scenario]:
            compare = "outputs vary" not in block.mark[1] if block.mark else False
            for step in block.steps:
                if step.env is not None:
                    monkeypatch.setenv(*step.env)
                if step.file is not None:
                    Path(step.file[0]).write_text(step.file[1], encoding="utf-8")
                if step.command is None:
                    continue
                # Settings are read again for each command, from this scenario's environment.
                get_settings.cache_clear()
                billing_settings.get_billing_settings.cache_clear()
                code = cli.main(list(step.command.args))
                captured = capsys.readouterr()
                assert code == 0, (
                    f"README line {block.line}: `ladeflyt {shlex.join(step.command.args)}` "
                    f"exited with {code}:\n{captured.out}{captured.err}"
                )
                if compare:
                    _check_output(step.command, captured.out, captured.err)
                ran += 1
    finally:
        get_settings.cache_clear()
        billing_settings.get_billing_settings.cache_clear()
    assert ran > 0
