"""`ladeflyt serve`: HTTP (uvicorn) and the OCPP gateway in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
from collections.abc import Generator
from typing import Any

import uvicorn

from core.config import Settings
from core.db import transaction
from ladeflyt.preflight import ConfigProblem
from ladeflyt.runtime import Runtime

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` owns SIGINT/SIGTERM, so that a
    stop always runs the shutdown below (uvicorn would re-raise SIGTERM and skip it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _demo_simulation(settings: Settings, port: int, count: int) -> Any:
    from ladeflyt.demo import SITES, demo_id_tags
    from ocpp_gateway.sim_state import ChargerSpec
    from ocpp_gateway.simulator import SimulationConfig

    chargers = [c for site in SITES for c in site.chargers][:count]
    return SimulationConfig(
        url=f"ws://{settings.ocpp_host}:{port}/ocpp",
        chargers=len(chargers),
        ids=[c.charge_point_id for c in chargers],
        specs={
            c.charge_point_id: ChargerSpec(
                connectors=c.connectors,
                max_power_w=c.max_power_w,
                kind="DC" if c.connector_type != "Type2" else "AC",
            )
            for c in chargers
        },
        id_tags=demo_id_tags(),
        meter_interval=10.0,
        speedup=6.0,
    )


def _in_use(what: str, host: str, port: int, variable: str, error: OSError) -> ConfigProblem:
    hint = f" (another `ladeflyt serve`? set {variable})" if error.errno == errno.EADDRINUSE else ""
    return ConfigProblem(f"cannot listen for {what} on {host}:{port}: {error.strerror}{hint}")


def bind_http(settings: Settings) -> tuple[socket.socket, Settings]:
    """Bind the HTTP socket first, so that links name the address actually served: a
    public base URL left at its default becomes this host and port (also the free port
    picked for LADEFLYT_HTTP_PORT=0); a configured one is kept."""
    host, port = settings.http_host, settings.http_port
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise _in_use("HTTP", host, port, "LADEFLYT_HTTP_PORT", error) from None
    sock.set_inheritable(True)
    served = settings.served_at(host, sock.getsockname()[1])
    if served.links_only_work_here:
        log.warning(
            "links in SMS and on pages point to %s, which only this machine can open; "
            "set LADEFLYT_PUBLIC_BASE_URL to the address people use",
            served.public_base_url,
        )
    return sock, served


def check_ocpp_port(settings: Settings) -> None:
    """Fail before anything starts if the OCPP port is taken (the gateway binds it later)."""
    host, port = settings.ocpp_host, settings.ocpp_port
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as error:
        raise _in_use("OCPP", host, port, "LADEFLYT_OCPP_PORT", error) from None
    finally:
        probe.close()


async def _start(runtime: Runtime, *, gateway: bool, jobs: bool) -> None:
    """Start the runtime's parts; an OCPP port taken since it was checked is one line too."""
    try:
        await runtime.start(gateway=gateway, jobs=jobs)
    except OSError as error:
        await runtime.stop()
        s = runtime.settings
        raise _in_use("OCPP", s.ocpp_host, s.ocpp_port, "LADEFLYT_OCPP_PORT", error) from None


async def run_gateway(settings: Settings, *, jobs: bool = True) -> None:
    """`ladeflyt gateway`: the OCPP gateway alone (and the background jobs, if this process
    holds the jobs lock). Its metrics are at /metrics on the OCPP port."""
    runtime = Runtime.build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await _start(runtime, gateway=True, jobs=jobs)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await runtime.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def serve(
    settings: Settings,
    sock: socket.socket,
    *,
    demo: bool = False,
    simulate: int = 0,
    gateway: bool = True,
    jobs: bool = True,
) -> None:
    """Run until SIGINT/SIGTERM; `sock` and `settings` from `bind_http`. `ladeflyt serve`
    runs HTTP and OCPP in one process, `ladeflyt api` HTTP alone (gateway=False)."""
    runtime = Runtime.build(settings)
    if demo:
        from ladeflyt.demo import seed, seed_staff, sign_in_links

        async with transaction(runtime.gateway_ctx.sessions) as session:
            if await seed(session):
                log.info("demo data seeded")
            await seed_staff(session)
            links = await sign_in_links(session, runtime)
        # Nobody is signed in automatically: one-time links to the dashboard, one per view.
        print("\nDashboard: one-time sign-in links (valid one hour, each works once):", flush=True)
        for who, link, totp_uri in links:
            print(f"  {who}: {link}", flush=True)
            if totp_uri:
                print(f"    then the authenticator code; add this to your app: {totp_uri}")
        print(flush=True)
    server = _Server(
        uvicorn.Config(
            runtime.http_app(),
            host=settings.http_host,
            port=settings.http_port,
            lifespan="off",
            log_level="info",
            access_log=False,
        )
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    await _start(runtime, gateway=gateway, jobs=jobs)
    simulation: asyncio.Task[object] | None = None
    if simulate:
        from ocpp_gateway.simulator import run_simulation

        config = _demo_simulation(settings, runtime.gateway.port, simulate)
        simulation = asyncio.create_task(run_simulation(config))
    log.info(
        "HTTP on %s:%s, links to %s",
        settings.http_host,
        settings.http_port,
        settings.public_base_url,
    )
    try:
        await server.serve(sockets=[sock])
    finally:
        log.info("shutting down")
        if simulation is not None:
            simulation.cancel()
            with contextlib.suppress(BaseException):
                await simulation
        await runtime.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
