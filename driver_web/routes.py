"""Serving the driver app: its shell for every /app path (the app routes in the browser, so
SMS links such as /app/payment open the right screen), its assets, the manifest and the
service worker. No data is served here: the app asks /graphql for everything."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

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


def app_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    index = (STATIC / "index.html").read_text(encoding="utf-8")
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
        return HTMLResponse(index, headers=NO_CACHE)

    return router
