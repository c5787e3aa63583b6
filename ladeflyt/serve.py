"""`ladeflyt serve`: HTTP (uvicorn) and the OCPP gateway in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn

from core.config import Settings
from core.db import transaction
from ladeflyt.runtime import Runtime

log = logging.getLogger(__name__)


async def serve(settings: Settings, *, demo: bool = False, simulate: int = 0) -> None:
    runtime = Runtime.build(settings)
    if demo:
        from ladeflyt.demo import seed

        async with transaction(runtime.gateway_ctx.sessions) as session:
            if await seed(session):
                log.info("demo data seeded")
    app = runtime.http_app()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            lifespan="off",
            log_level="info",
            access_log=False,
        )
    )
    await runtime.start()
    simulation: asyncio.Task[object] | None = None
    if simulate:
        from ladeflyt.demo import demo_charge_point_ids, demo_id_tags
        from ocpp_gateway.simulator import SimulationConfig, run_simulation

        ids = demo_charge_point_ids()[:simulate]
        config = SimulationConfig(
            url=f"ws://{settings.ocpp_host}:{runtime.gateway.port}/ocpp",
            chargers=len(ids),
            ids=ids,
            id_tags=demo_id_tags(),
            meter_interval=10.0,
            speedup=6.0,
        )
        simulation = asyncio.create_task(run_simulation(config))
    try:
        await server.serve()
    finally:
        if simulation is not None:
            simulation.cancel()
            with contextlib.suppress(BaseException):
                await simulation
        await runtime.stop()
