"""Benchmark: the Ladeflyt OCPP gateway against a bare `ocpp`-package central system.

    .venv/bin/python -m bench.ocpp_gateway [--db sqlite|postgresql] [--chargers N]
        [--duration S] [--mode closed|open|both] [--rate R] [--connect-only N] [--quick]
        [--target ladeflyt|bare|both] [--ocpp 1.6|2.0.1] [--repeat K] [--json FILE]

One process runs the system under test (the Ladeflyt gateway, then the bare `ocpp`
server), one or more other processes run the simulated chargers (raw websockets,
pre-built frames), and this process only orchestrates and measures. All traffic stays on
127.0.0.1. Each charger boots, starts a transaction, then sends MeterValues with an
increasing energy register: in a closed loop (next CALL when the CALLRESULT is in) or in
an open loop at a fixed rate, for a fixed duration. Figures: chargers connected,
MeterValues/s persisted (rows added to meter_samples / elapsed) and answered (CALLRESULTs
/ elapsed), reply latency p50/p99, gateway RSS and RSS per connection.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil

from bench._load import LoadConfig, LoadResult, load_main
from bench._report import (
    PG_DEFAULT,
    Figures,
    Options,
    environment,
    format_figures,
    goals,
    median,
)
from bench._servers import (
    BENCH_TAG,
    ServerConfig,
    bare_main,
    ladeflyt_main,
    prepare_database,
    raise_nofile,
)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------- child processes


class _Child:
    """A spawned process with a pipe to it; every wait is bounded."""

    def __init__(self, name: str, target: Callable[..., None], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(theirs, *args), name=name, daemon=True)
        self.proc.start()
        theirs.close()

    def expect(self, kind: str, timeout: float) -> tuple[Any, ...]:
        if not self.conn.poll(timeout):
            raise BenchError(f"{self.name}: no '{kind}' within {timeout:.0f} s")
        try:
            msg: tuple[Any, ...] = self.conn.recv()
        except EOFError:
            self.proc.join(5)
            raise BenchError(f"{self.name} exited ({self.proc.exitcode})") from None
        if msg[0] != kind:
            raise BenchError(f"{self.name}: expected '{kind}', got {msg!r:.300}")
        return msg

    def send(self, order: Any) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(order)

    def stop(self, timeout: float = 60.0) -> None:
        self.send("stop")
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def _prepare(url: str, ids: tuple[str, ...], reset_schema: bool) -> None:
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=prepare_database, args=(url, ids, reset_schema), daemon=True)
    proc.start()
    proc.join(300 + len(ids) / 20)
    if proc.is_alive():
        proc.kill()
        raise BenchError("database setup did not finish in time")
    if proc.exitcode != 0:
        raise BenchError(f"database setup failed (exit code {proc.exitcode})")


def _pct(sorted_values: array[float], p: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    index = max(0, min(len(sorted_values) - 1, math.ceil(p * len(sorted_values)) - 1))
    return sorted_values[index] * 1000


def _busy() -> float:
    """CPU seconds the whole machine has been busy (all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.system + getattr(t, "nice", 0.0) + getattr(t, "softirq", 0.0))


def _postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds by pid of PostgreSQL's backends on `database` and its writer processes."""
    out: dict[int, float] = {}
    if not database:
        return out
    ours = (f" {database} ", "walwriter", "checkpointer", "background writer")
    for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        title = " ".join(p.info["cmdline"] or []) + " "
        if (p.info["name"] or "").startswith("postgres") and any(o in title for o in ours):
            times = p.info["cpu_times"]
            out[p.pid] = float(times.user + times.system) if times else 0.0
    return out


def _cpu(proc: psutil.Process) -> tuple[float, float]:
    """CPU seconds of the process: user + system, and system alone."""
    times = proc.cpu_times()
    return float(times.user + times.system), float(times.system)


# ---------------------------------------------------------------------- one run


class Bench:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.tmp = Path(tempfile.mkdtemp(prefix="ladeflyt-bench-"))
        self.runs = 0
        # --pin: the server on the first CPU, the load on the others.
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        pinned = opts.pin and len(cpus) > 1
        self.server_cpus: tuple[int, ...] = (cpus[0],) if pinned else ()
        self.load_cpus: tuple[int, ...] = tuple(cpus[1:]) if pinned else ()

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self, target: str, mode: str, rate: float = 0.0) -> Figures:
        o = self.opts
        self.runs += 1
        ids = tuple(f"BENCH{i:05d}" for i in range(o.chargers))
        fig = Figures(target, mode, o.db if target == "ladeflyt" else "-", o.ocpp, o.chargers)
        fig.duration = 0.0 if mode == "connect" else o.duration
        fig.rate = rate
        if target == "ladeflyt":
            if o.db == "postgresql":
                url = o.pg_url
            else:
                url = f"sqlite+aiosqlite:///{self.tmp / f'run{self.runs}.db'}"
            _prepare(url, ids, reset_schema=o.db == "postgresql")
            cfg = ServerConfig(database_url=url, cpus=self.server_cpus)
            server = _Child("gateway", ladeflyt_main, cfg)
        else:
            cfg = ServerConfig(
                version=o.ocpp, sync_validation=o.bare_sync_validation, cpus=self.server_cpus
            )
            server = _Child("bare", bare_main, cfg)
        loaders: list[_Child] = []
        try:
            _, port, pid = server.expect("ready", 120)
            self._measure(fig, server, psutil.Process(pid), port, ids, loaders)
        finally:
            for loader in loaders:
                loader.stop(60 + len(ids) / 100)
            server.stop()
        return fig

    def _measure(
        self,
        fig: Figures,
        server: _Child,
        proc: psutil.Process,
        port: int,
        ids: tuple[str, ...],
        loaders: list[_Child],
    ) -> None:
        o = self.opts
        time.sleep(0.3)
        fig.rss_before = proc.memory_info().rss
        procs = max(1, min(o.load_procs, len(ids)))
        base = time.time() - 30 * 86_400
        for i in range(procs):
            share = ids[i::procs]
            cfg = LoadConfig(
                url=f"ws://127.0.0.1:{port}/ocpp",
                ids=share,
                version=o.ocpp,
                mode=fig.mode,
                duration=o.duration,
                rate=fig.rate * len(share) / len(ids) if fig.rate else 0.0,
                phase=i / procs,
                id_tag=BENCH_TAG,
                v2_message=o.v2_message,
                connect_concurrency=max(1, o.connect_concurrency // procs),
                base_epoch=base,
                cpus=self.load_cpus,
            )
            loaders.append(_Child(f"load-{i}", load_main, cfg))
        budget = 180 + len(ids) / 20
        for loader in loaders:
            _, connected, failures, seconds, error = loader.expect("connected", budget)
            fig.connect_seconds = max(fig.connect_seconds, seconds)
            fig.connected += connected
            fig.connect_failures += failures
            fig.first_error = fig.first_error or error
        # Connection bookkeeping (set_connection, boots) settles.
        time.sleep(min(3.0, 0.3 + len(ids) / 2000))
        fig.rss_connected = proc.memory_info().rss
        if fig.connected:
            fig.rss_per_connection = (fig.rss_connected - fig.rss_before) / fig.connected
        if fig.mode == "connect":
            return
        server.send("stats")
        before = server.expect("stats", 60)[1]
        database = urlparse(o.pg_url).path.lstrip("/") if fig.db == "postgresql" else ""
        cpu0, busy0, pg0 = _cpu(proc), _busy(), _postgres_cpu(database)
        spy = self._py_spy(proc.pid, fig)
        for loader in loaders:
            loader.send("go")
        results: list[LoadResult] = [
            loader.expect("done", o.duration + 120)[1] for loader in loaders
        ]
        cpu1, busy1, pg1 = _cpu(proc), _busy(), _postgres_cpu(database)
        fig.rss_after = proc.memory_info().rss
        server.send("stats")
        after = server.expect("stats", 60)[1]
        if spy is not None:
            try:
                spy.wait(o.duration + 60)
            except subprocess.TimeoutExpired:
                spy.kill()
        self._fill(fig, results, before, after, (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]))
        db = sum(t - pg0.get(pid, 0.0) for pid, t in pg1.items())
        others = busy1 - busy0 - (cpu1[0] - cpu0[0]) - sum(r.cpu_seconds for r in results) - db
        fig.db_cpu_pct = 100 * db / max(fig.elapsed, 1e-9)
        fig.other_cpu_pct = max(0.0, 100 * others / max(fig.elapsed, 1e-9))

    def _fill(
        self,
        fig: Figures,
        results: list[LoadResult],
        before: dict[str, Any],
        after: dict[str, Any],
        server_cpu: tuple[float, float],
    ) -> None:
        lat, corr = array("d"), array("d")
        for r in results:
            fig.sent += r.sent
            fig.replies += r.replies
            fig.errors += r.errors
            fig.timeouts += r.timeouts
            fig.late += r.late
            fig.first_error = fig.first_error or r.first_error
            lat.frombytes(r.latencies)
            corr.frombytes(r.corrected)
        fig.elapsed = max(r.elapsed for r in results)
        elapsed = max(fig.elapsed, 1e-9)
        fig.replies_per_s = fig.replies / elapsed
        if "meter_samples" in after:
            fig.persisted = after["meter_samples"] - before["meter_samples"]
            fig.persisted_per_s = fig.persisted / elapsed
            batches = after["batches"] - before["batches"]
            if batches:
                fig.avg_batch = (after["units"] - before["units"]) / batches
        if lat:
            ordered = array("d", sorted(lat))
            fig.p50_ms, fig.p99_ms = _pct(ordered, 0.50), _pct(ordered, 0.99)
            fig.max_ms = ordered[-1] * 1000
        if corr:
            fig.p99_corrected_ms = _pct(array("d", sorted(corr)), 0.99)
        fig.server_cpu_pct = 100 * server_cpu[0] / elapsed
        fig.server_sys_pct = 100 * server_cpu[1] / elapsed
        fig.load_cpu_pct = 100 * sum(r.cpu_seconds for r in results) / elapsed

    def _py_spy(self, pid: int, fig: Figures) -> subprocess.Popen[bytes] | None:
        if not self.opts.py_spy:
            return None
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        path = Path(self.opts.py_spy)
        out = path.with_name(f"{path.stem}-{fig.target}-{fig.mode}-{self.runs}{path.suffix}")
        fmt = {".txt": "raw", ".json": "speedscope"}.get(path.suffix, "flamegraph")
        cmd = [exe, "record", "--nonblocking", "--gil", "-r", "100", "-f", fmt, "-o", str(out)]
        cmd += ["-d", str(max(1, int(self.opts.duration))), "-p", str(pid)]
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ---------------------------------------------------------------------- entry points


def run(opts: Options, echo: Callable[[str], None] = print) -> list[Figures]:
    """Run every configured measurement, echoing each block; return the figures."""
    raise_nofile()
    echo(environment(opts))
    targets = ["ladeflyt", "bare"] if opts.target == "both" else [opts.target]
    figs: list[Figures] = []
    bench = Bench(opts)

    def record(fig: Figures) -> None:
        figs.append(fig)
        echo(format_figures(fig))

    try:
        if opts.mode == "connect":
            for target in targets:
                record(bench.run(target, "connect"))
        if opts.mode in ("closed", "both"):
            for _ in range(opts.repeat):
                for target in targets:
                    record(bench.run(target, "closed"))
        if opts.mode in ("open", "both"):
            rate = opts.rate
            if not rate:
                closed = median(figs, targets[0], "closed", lambda f: f.throughput)[0]
                if closed is None:
                    raise BenchError("--mode open needs --rate (or use --mode both)")
                rate = max(1.0, round(closed.throughput / 2))
            for _ in range(opts.repeat):
                for target in targets:
                    record(bench.run(target, "open", rate))
    finally:
        bench.close()
    for line in goals(figs, opts):
        echo(line)
    if opts.json_path:
        Path(opts.json_path).write_text(
            json.dumps({"options": asdict(opts), "runs": [asdict(f) for f in figs]}, indent=2)
        )
    return figs


QUICK = Options(chargers=10, duration=2.0, mode="closed", target="both", connect_concurrency=10)


def quick(echo: Callable[[str], None] = print, **overrides: Any) -> list[Figures]:
    """The smoke run: a few chargers for two seconds on SQLite, both systems."""
    return run(replace(QUICK, **overrides), echo)


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench.ocpp_gateway", description=__doc__)
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument(
        "--pg-url",
        default=PG_DEFAULT,
        help="schema public is dropped first: give the benchmark a database of its own",
    )
    p.add_argument("--chargers", type=int, default=200)
    p.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    p.add_argument("--mode", choices=["closed", "open", "both"], default="closed")
    p.add_argument("--rate", type=float, default=0.0, help="open loop msg/s (0: closed/2)")
    p.add_argument(
        "--connect-only",
        type=int,
        default=0,
        metavar="N",
        help="hold N booted connections idle and measure memory",
    )
    p.add_argument("--target", choices=["ladeflyt", "bare", "both"], default="both")
    p.add_argument("--ocpp", choices=["1.6", "2.0.1"], default="1.6")
    p.add_argument(
        "--v2-message",
        choices=["MeterValues", "TransactionEvent"],
        default="MeterValues",
        help="2.0.1: the periodic meter message",
    )
    p.add_argument("--load-procs", type=int, default=1)
    p.add_argument(
        "--pin", action="store_true", help="server process on CPU 0, load processes on the rest"
    )
    p.add_argument(
        "--repeat", type=int, default=1, help="runs per system and mode (goals: the median)"
    )
    p.add_argument("--connect-concurrency", type=int, default=100)
    p.add_argument(
        "--bare-sync-validation",
        action="store_true",
        help="bare server: ocpp.messages.ASYNC_VALIDATION = False",
    )
    p.add_argument(
        "--py-spy",
        default="",
        metavar="FILE",
        help="py-spy the server (.svg, .txt raw, .json speedscope)",
    )
    p.add_argument("--json", dest="json_path", default="", metavar="FILE")
    p.add_argument("--quick", action="store_true", help="smoke test: < 20 s")
    a = p.parse_args(argv)
    if a.quick:
        return replace(QUICK, json_path=a.json_path)
    opts = Options(
        db=a.db,
        pg_url=a.pg_url,
        chargers=a.chargers,
        duration=a.duration,
        mode=a.mode,
        rate=a.rate,
        target=a.target,
        ocpp=a.ocpp,
        v2_message=a.v2_message,
        load_procs=a.load_procs,
        repeat=max(1, min(a.repeat, 20)),
        pin=a.pin,
        connect_concurrency=a.connect_concurrency,
        bare_sync_validation=a.bare_sync_validation,
        py_spy=a.py_spy,
        json_path=a.json_path,
    )
    if a.connect_only:
        opts = replace(opts, mode="connect", chargers=a.connect_only)
    if not 1 <= opts.chargers <= 50_000 or not 0 < opts.duration <= 3600:
        p.error("--chargers is 1-50000 and --duration 0-3600 s")
    return opts


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    try:
        run(opts, echo=lambda line: print(line, flush=True))
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
