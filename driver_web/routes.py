"""Serving the driver app: its shell for every /app path (the app routes in the browser, so
SMS links such as /app/payment open the right screen), its assets, the manifest and the
service worker. No data is served here: the app asks /graphql for everything."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from core.config import Settings

STATIC = Path(__file__).parent / "static"
VENDOR = Path(__file__).parent.parent / "api" / "static" / "vendor"
# What the service worker keeps for offline use (the shell; data is kept by the app).
VENDOR_FILES = (
    "preact/preact.module.js",
    "preact/hooks.module.js",
    "htm/htm.module.js",
    "leaflet/leaflet.js",
    "leaflet/leaflet.css",
)
NO_CACHE = {"Cache-Control": "no-cache"}


def _assets() -> list[str]:
    return sorted(
        p.relative_to(STATIC).as_posix()
        for p in STATIC.rglob("*")
        if p.is_file() and p.name not in ("index.html", "sw.js", "manifest.webmanifest")
    )


def shell_files() -> list[str]:
    """Every URL the service worker caches on install."""
    return (
        ["/app", "/app/manifest.webmanifest"]
        + [f"/app/assets/{name}" for name in _assets()]
        + [f"/static/vendor/{name}" for name in VENDOR_FILES]
    )


def _version() -> str:
    """Changes whenever a file of the shell does, so browsers fetch the new shell."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")) + [VENDOR / name for name in VENDOR_FILES]:
        if path.is_file():
            digest.update(path.as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _tile_source(url: str) -> str | None:
    """The img-src for a tile URL template: https://{s}.tile.example → https://*.tile.example."""
    if not url:
        return None
    parts = urlsplit(url.replace("{s}", "tiles-subdomain"))
    if not parts.scheme or not parts.hostname:
        return None
    host = parts.hostname.replace("tiles-subdomain", "*")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def content_security_policy(settings: Settings, index: str) -> str:
    """What the app's page may load, enforced by the browser: its own origin (the assets,
    /graphql over HTTP and websocket), the map tiles, and Stripe only when Stripe is the
    card provider. The inline import map is allowed by its hash, nothing else inline."""
    found = re.search(r'<script type="importmap">(.*?)</script>', index, re.S)
    assert found is not None, "index.html has no import map"
    digest = base64.b64encode(hashlib.sha256(found.group(1).encode()).digest()).decode()
    stripe = settings.card_provider == "stripe"
    tiles = _tile_source(settings.app_map_tile_url)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'sha256-{digest}'"]
        + (["https://js.stripe.com"] if stripe else []),
        "connect-src": ["'self'"] + (["https://api.stripe.com"] if stripe else []),
        "img-src": ["'self'", "data:"] + ([tiles] if tiles else []),
        "style-src": ["'self'", "'unsafe-inline'"],  # Leaflet and Stripe position by style
        "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com"]
        if stripe
        else ["'none'"],
        "worker-src": ["'self'"],
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def app_router(settings: Settings) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    index = (STATIC / "index.html").read_text(encoding="utf-8")
    page_headers = {**NO_CACHE, "Content-Security-Policy": content_security_policy(settings, index)}
    version = _version()
    worker = (
        (STATIC / "sw.js")
        .read_text(encoding="utf-8")
        .replace("__VERSION__", version)
        .replace('"__SHELL__"', ", ".join(f'"{url}"' for url in shell_files()))
    )
    root = STATIC.resolve()

    @router.get("/me")
    async def me() -> RedirectResponse:
        """The address on the operator's tag instructions ("i appen eller på .../me")."""
        return RedirectResponse("/app/account", status_code=307)

    @router.get("/app/sw.js")
    async def service_worker() -> Response:
        return Response(
            worker,
            media_type="text/javascript",
            headers={**NO_CACHE, "Service-Worker-Allowed": "/app/"},
        )

    @router.get("/app/manifest.webmanifest")
    async def manifest() -> FileResponse:
        return FileResponse(
            STATIC / "manifest.webmanifest",
            media_type="application/manifest+json",
            headers=NO_CACHE,
        )

    @router.get("/app/assets/{name:path}")
    async def asset(name: str) -> FileResponse:
        path = (STATIC / name).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise HTTPException(404)
        return FileResponse(path, headers=NO_CACHE)

    @router.get("/app")
    @router.get("/app/{screen:path}")
    async def shell(screen: str = "") -> HTMLResponse:
        return HTMLResponse(index, headers=page_headers)

    return router
