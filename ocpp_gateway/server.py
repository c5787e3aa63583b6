"""The OCPP-J websocket server: handshake checks, one Connection per charger, online state."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import ssl
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from core import observe
from core.chargers import service as chargers
from core.chargers.service import ChargerIdentity
from core.security import password_check, verify_password
from core.timeutil import utcnow
from core.users.auth import load_secret
from ocpp_gateway.connection import Connection
from ocpp_gateway.context import GatewayContext
from ocpp_gateway.v2 import V21Connection, V201Connection
from ocpp_gateway.v16 import V16Connection

log = logging.getLogger(__name__)

SUBPROTOCOLS: dict[str, type[Connection]] = {
    "ocpp2.1": V21Connection,
    "ocpp2.0.1": V201Connection,
    "ocpp1.6": V16Connection,
}
_PATH = re.compile(r"^/ocpp/([^/?#]{1,150})/?$")


class GatewayServer:
    def __init__(self, ctx: GatewayContext, tls: ssl.SSLContext | None = None) -> None:
        self.ctx = ctx
        # Security profiles 2 and 3: TLS, with client certificates where a client CA is set.
        self.tls = tls
        self.connections: dict[str, Connection] = {}
        self._handshakes: dict[int, ChargerIdentity] = {}
        # (charge point id, stored hash) -> sha256 of the password that matched it. A
        # reconnect storm then costs one hash lookup per charger, not one scrypt each.
        self._verified: dict[tuple[str, str], bytes] = {}
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._lookups: dict[str, list[asyncio.Future[ChargerIdentity | None]]] = {}
        self._lookup_task: asyncio.Task[None] | None = None
        self._key: bytes | None = None
        # Another process took a charger over (core bus on Redis): let our socket go.
        if hasattr(ctx.commands, "on_takeover"):
            ctx.commands.on_takeover = self._taken_over

    @property
    def port(self) -> int:
        assert self._server is not None
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        settings = self.ctx.settings
        self._server = await serve(
            self._serve_connection,
            host or settings.ocpp_host,
            settings.ocpp_port if port is None else port,
            subprotocols=list(SUBPROTOCOLS),  # type: ignore[arg-type]
            process_request=self._check_handshake,
            # Frames above ocpp_max_frame_bytes get a CALLERROR and the connection stays
            # up; only a frame far beyond it closes the socket (1009).
            max_size=settings.ocpp_max_frame_bytes * 16,
            compression=None,
            ping_interval=settings.ocpp_ping_interval,
            ping_timeout=settings.ocpp_ping_interval,
            max_queue=4,
            ssl=self.tls,
        )
        log.info(
            "OCPP gateway listening on %s://%s:%s/ocpp/{id}",
            "wss" if self.tls else "ws",
            host or settings.ocpp_host,
            self.port,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # ----------------------------------------------------------------- handshake

    async def _check_handshake(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if request.path == "/metrics" and self.ctx.settings.metrics_enabled:
            # A gateway-only process has no HTTP port: Prometheus scrapes it here.
            body, content_type = observe.exposition()
            headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body)))])
            return Response(HTTPStatus.OK.value, "OK", headers, body)
        match = _PATH.match(request.path)
        if match is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Use /ocpp/{chargePointId}\n")
        cp_id = unquote(match.group(1))
        if not 1 <= len(cp_id) <= 48:
            return connection.respond(HTTPStatus.NOT_FOUND, "Charge point id is 1-48 chars\n")
        offered = {
            p.strip()
            for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in header.split(",")
        }
        if not offered & SUBPROTOCOLS.keys():
            return connection.respond(
                HTTPStatus.BAD_REQUEST, f"Offer one of the subprotocols {sorted(SUBPROTOCOLS)}\n"
            )
        identity = await self._identity(cp_id)
        if identity is None:
            if not self.ctx.settings.ocpp_accept_unknown:
                return connection.respond(HTTPStatus.NOT_FOUND, "Unknown charge point\n")
            identity = await self.ctx.batcher.run(
                cp_id, lambda uow: chargers.register_unknown(uow.session, cp_id)
            )
        client_cn = _client_certificate_cn(connection)
        if client_cn is not None and client_cn != identity.charge_point_id:
            # Security profile 3: the certificate names the charger (CN = its id).
            return connection.respond(
                HTTPStatus.UNAUTHORIZED, "Certificate is not this charger's\n"
            )
        if (
            client_cn is None
            and identity.password_hash
            and not await self._password_ok(identity, request)
        ):
            response = connection.respond(HTTPStatus.UNAUTHORIZED, "Bad credentials\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp", charset="UTF-8"'
            return response
        self._handshakes[id(connection)] = identity
        return None

    async def _identity(self, cp_id: str) -> ChargerIdentity | None:
        """The charger's identity. Handshakes arriving together (a reconnect storm) are
        looked up together: one statement for all that queued while the last one ran."""
        future: asyncio.Future[ChargerIdentity | None] = asyncio.get_running_loop().create_future()
        self._lookups.setdefault(cp_id, []).append(future)
        if self._lookup_task is None:
            self._lookup_task = asyncio.create_task(self._look_up(), name="identity-lookups")
        return await future

    async def _look_up(self) -> None:
        try:
            await asyncio.sleep(0)  # handshakes of this moment join the first statement
            while self._lookups:
                pending, self._lookups = self._lookups, {}
                try:
                    async with self.ctx.sessions() as session:
                        found = await chargers.get_identities(session, list(pending))
                except Exception as error:
                    for futures in pending.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(error)
                    continue
                for cp_id, futures in pending.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(found.get(cp_id))
        finally:
            self._lookup_task = None

    async def _password_ok(self, identity: ChargerIdentity, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep or user != identity.charge_point_id:
            return False
        stored = identity.password_hash or ""
        digest = hashlib.sha256(password.encode()).digest()
        cached = self._verified.get((identity.charge_point_id, stored))
        if cached is not None:
            return hmac.compare_digest(cached, digest)
        # Verified before, by any process (a restart, a reconnect storm): no scrypt.
        check = password_check(self._check_key(), identity.charge_point_id, stored, password)
        if identity.password_check and hmac.compare_digest(identity.password_check, check):
            self._verified[(identity.charge_point_id, stored)] = digest
            return True
        ok = await asyncio.to_thread(verify_password, password, stored)
        if ok:
            self._verified[(identity.charge_point_id, stored)] = digest
            row = {"b_id": identity.id, "b_hash": stored, "b_check": check}
            await self.ctx.batcher.write(
                identity.charge_point_id, [(chargers.PASSWORD_CHECKED, row)]
            )
        return ok

    def _check_key(self) -> bytes:
        if self._key is None:
            secret = load_secret(self.ctx.settings)
            self._key = hashlib.sha256(
                b"ladeflyt charger password check\x00" + secret.encode()
            ).digest()
        return self._key

    # ----------------------------------------------------------------- connection lifetime

    async def _serve_connection(self, ws: ServerConnection) -> None:
        identity = self._handshakes.pop(id(ws), None)
        subprotocol = ws.subprotocol
        if identity is None or subprotocol not in SUBPROTOCOLS:
            await ws.close(1002, "no OCPP subprotocol")
            return
        conn = SUBPROTOCOLS[subprotocol](identity, ws, self.ctx)
        cp_id = identity.charge_point_id
        observe.charge_point_id.set(cp_id)  # on every log line of this connection's task
        connected = observe.CHARGERS_CONNECTED.labels(conn.version)
        connected.inc()
        previous = self.connections.get(cp_id)
        self.connections[cp_id] = conn
        self.ctx.commands.register(cp_id, conn)
        if previous is not None:
            # The charger reconnected before we noticed the old socket died.
            await previous._connection.close(1000, "replaced by a new connection")
        rows, events = chargers.connection_rows(identity.id, cp_id, True, utcnow(), conn.version)
        await self.ctx.batcher.write(cp_id, rows, events)
        log.info("%s connected (%s)", cp_id, subprotocol)
        try:
            await self._receive(conn, ws)
        finally:
            connected.dec()
            self.ctx.commands.unregister(cp_id, conn)
            if self.connections.get(cp_id) is conn:
                del self.connections[cp_id]
                rows, events = chargers.connection_rows(identity.id, cp_id, False, utcnow())
                try:
                    await self.ctx.batcher.write(cp_id, rows, events)
                except Exception:  # the batcher may already be stopping at shutdown
                    log.warning("%s: could not record disconnect", cp_id)
            log.info("%s disconnected", cp_id)

    def _taken_over(self, cp_id: str) -> None:
        conn = self.connections.pop(cp_id, None)
        if conn is None:
            return
        # Not ours any more: its disconnect is not recorded (the new owner keeps `online`).
        self.ctx.commands.unregister(cp_id, conn)
        task = asyncio.create_task(conn._connection.close(1000, "taken over by another gateway"))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _receive(conn: Connection, ws: Any) -> None:
        try:
            async for message in ws:
                await conn.route_message(message)
        except ConnectionClosed:
            pass


def _client_certificate_cn(connection: ServerConnection) -> str | None:
    """The CN of the client certificate the TLS layer verified (profile 3), if any."""
    ssl_object = connection.transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    peer = ssl_object.getpeercert()
    if not peer:
        return None
    for rdn in peer.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None
