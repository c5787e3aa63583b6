"""The connection side of a simulated charger: connect, boot, heartbeat, send, reconnect.

`SimCharger` (in `simulator`) adds the cars, the sessions and the answers to commands.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import Any
from urllib.parse import quote

import websockets
from ocpp.exceptions import OCPPError
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from ocpp_gateway.sim_link import Dialect, Link, LinkLost
from ocpp_gateway.sim_state import SUBPROTOCOL, Device, SimulationConfig, Stats

log = logging.getLogger("ocpp_gateway.simulator")


class ConnectedCharger(ABC):
    """A charger's link to the CSMS, kept up for as long as the simulation runs."""

    def __init__(
        self, cp_id: str, config: SimulationConfig, dialect: Dialect, stats: Stats, t0: float
    ) -> None:
        self.cp_id = cp_id
        self.config = config
        self.dialect = dialect
        self.stats = stats
        self.heartbeat_interval = 300.0  # CSMS seconds, until the BootNotification says
        self._jitter = random.Random(f"{config.seed}:{cp_id}:jitter")
        self._t0 = t0
        self._link: Link | None = None
        self._ready = asyncio.Event()  # connected and booted
        self._booted = asyncio.Event()  # at least once
        self._hurry = asyncio.Event()  # closing or rebooting: no more waiting for drivers
        self._tasks: set[asyncio.Task[None]] = set()
        self._rebooting = False
        self._draining = False  # the run is ending: no new cars, sessions being stopped
        self._closing = False  # the connection is closing for good
        self._boot_reason = "PowerUp"
        self._refused = False  # the last handshake was refused (logged once)

    @property
    @abstractmethod
    def device(self) -> Device:
        """This charger as the OCPP handlers see it."""

    @abstractmethod
    async def _traffic(self) -> None:
        """Runs for the charger's lifetime: cars arriving."""

    @abstractmethod
    async def report_all(self, *, force: bool = False) -> None:
        """StatusNotification for the connectors (all of them with `force`)."""

    @abstractmethod
    async def _stop_sessions(self, reason: str) -> None:
        """End the running transactions and wait for them (bounded)."""

    # ----------------------------------------------------------------- time and tasks

    def clock(self) -> float:
        """Simulated seconds since the simulation started."""
        return (asyncio.get_running_loop().time() - self._t0) * self.config.speedup

    def _wall(self, simulated: float) -> float:
        return max(simulated, 0.0) / self.config.speedup

    def spawn(self, work: Awaitable[None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(self._guard(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            self.stats.errors += 1
            log.exception("%s: simulation step failed", self.cp_id)

    async def _pause(self, simulated: float) -> None:
        """Sleep (simulated seconds) unless the charger is closing or rebooting."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._wall(simulated)):
                await self._hurry.wait()

    # ----------------------------------------------------------------- connection

    async def run(self, delay: float = 0.0) -> None:
        """Connect, boot, serve; reconnect with backoff. Ends only when cancelled."""
        await asyncio.sleep(delay)
        self.spawn(self._traffic())
        backoff = self.config.reconnect_min
        first = True
        try:
            while not self._closing:
                if not first:
                    self.stats.reconnects += 1
                first = False
                try:
                    booted = await self._connect_once()
                except Exception:  # a bug: keep the other chargers and this one going
                    self.stats.errors += 1
                    log.exception("%s: connection failed", self.cp_id)
                    booted = False
                if self._closing:
                    break
                if self._rebooting and booted:  # a reset: back after a short boot
                    await asyncio.sleep(min(self._wall(10.0), 1.0))
                    continue
                if booted:
                    backoff = self.config.reconnect_min
                await asyncio.sleep(backoff * self._jitter.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.config.reconnect_max)
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _connect_once(self) -> bool:
        """One connection from handshake to close; True if the CSMS accepted the boot."""
        headers = None
        if self.config.password is not None:
            token = base64.b64encode(f"{self.cp_id}:{self.config.password}".encode()).decode()
            headers = {"Authorization": f"Basic {token}"}
        url = f"{self.config.url.rstrip('/')}/{quote(self.cp_id, safe='')}"
        subprotocol = Subprotocol(SUBPROTOCOL[self.dialect.version])
        try:
            async with websockets.connect(
                url,
                subprotocols=[subprotocol],
                additional_headers=headers,
                open_timeout=10,
                ping_interval=None,  # the CSMS pings; hundreds of clients need not
                close_timeout=2,
                compression=None,
            ) as ws:
                self.stats.connects += 1
                self.stats.outcomes[self.cp_id] = "connected"
                self._refused = False
                return await self._serve(Link(self.device, ws, self.dialect.cp_class))
        except InvalidStatus as error:
            self.stats.connect_failures += 1
            self.stats.outcomes[self.cp_id] = f"HTTP {error.response.status_code}"
            level = logging.DEBUG if self._refused else logging.WARNING
            self._refused = True
            log.log(level, "%s: handshake refused: HTTP %s", self.cp_id, error.response.status_code)
        except (OSError, InvalidHandshake, TimeoutError) as error:
            self.stats.connect_failures += 1
            self.stats.outcomes[self.cp_id] = (
                error.strerror or str(error)
                if isinstance(error, OSError)
                else "no answer"
                if isinstance(error, TimeoutError)
                else str(error)
            )
            log.debug("%s: cannot connect: %r", self.cp_id, error)
        return False

    async def _serve(self, link: Link) -> bool:
        self._link = link
        link.reader.add_done_callback(lambda _: self._lost(link))
        helpers: list[asyncio.Task[None]] = []
        try:
            if not await self._boot(link):
                return False
            self._rebooting = False
            if not self._draining:
                self._hurry.clear()
            self._ready.set()
            self._booted.set()
            helpers.append(self.spawn(self._heartbeats(link)))
            helpers.append(self.spawn(self.report_all(force=True)))
            await asyncio.wait((link.reader,))
            return True
        finally:
            self._lost(link)
            for task in helpers:
                task.cancel()
            link.reader.cancel()

    def _lost(self, link: Link) -> None:
        if self._link is link:
            self._link = None
            self._ready.clear()

    async def _boot(self, link: Link) -> bool:
        while True:
            result = await self._call(self.dialect.boot(self.device, self._boot_reason), link=link)
            if result is None:
                return False
            status, interval = self.dialect.boot_result(result)
            if interval > 0:
                self.heartbeat_interval = float(interval)
            if status == "Accepted":
                log.debug("%s: booted (%s)", self.cp_id, self.dialect.version)
                self._boot_reason = "Unknown"
                return True
            wait = max(self._wall(interval or 60), 0.5)
            done, _ = await asyncio.wait((link.reader,), timeout=wait)
            if done:
                return False

    async def _heartbeats(self, link: Link) -> None:
        while True:
            wall = self._wall(self.heartbeat_interval)
            await asyncio.sleep(max(wall, self.config.min_heartbeat_wall))
            await self._call(self.dialect.heartbeat(), link=link)

    async def _call(
        self, payload: Any, *, must_deliver: bool = False, link: Link | None = None
    ) -> Any | None:
        """Send a CALL on `link` or the current connection; None if it got no result.

        `must_deliver` (transaction messages) waits through reconnects and retries.
        """
        action = type(payload).__name__
        timeouts = 0
        while True:
            current = link
            if current is None:
                await self._ready.wait()
                current = self._link
                if current is None:
                    await asyncio.sleep(0)
                    continue
            self.stats.messages_sent += 1
            self.stats.by_action[action] += 1
            try:
                return await current.call(payload)
            except LinkLost:
                if link is not None or not must_deliver:
                    return None
            except TimeoutError:
                self.stats.errors += 1
                timeouts += 1
                log.warning("%s: no answer to %s", self.cp_id, action)
                if not must_deliver or timeouts >= 3:
                    return None
            except OCPPError as error:
                self.stats.errors += 1
                log.warning("%s: %s refused: %s %s", self.cp_id, action, error.code, error)
                return None

    async def _send(self, payload: Any) -> None:
        await self._call(payload)

    async def shutdown(self) -> None:
        """End the sessions (if configured; offline, for a bounded time) and disconnect."""
        self._draining = True
        self._hurry.set()
        if self.config.stop_sessions_on_exit:
            await self._stop_sessions("Local")
        self._closing = True
        if self._link is not None:
            await self._link.close()
