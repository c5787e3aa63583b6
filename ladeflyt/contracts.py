"""Write or check the checked-in API contracts: `python -m ladeflyt.contracts --write|--check`.

Built from the composed app (REST, SMS webhooks, payments), exactly as `ladeflyt serve`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.config import Settings

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_PATH = ROOT / "openapi" / "openapi.json"
GRAPHQL_PATH = ROOT / "openapi" / "schema.graphql"


def openapi_document() -> dict[str, Any]:
    from ladeflyt.runtime import Runtime
    from notifications.console import ConsoleSmsSender

    # The engine is never connected: only the routes are read.
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", jwt_secret="contracts")
    return Runtime.build(settings, sms=ConsoleSmsSender()).http_app().openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def graphql_sdl() -> str:
    """The driver schema as the app team sees it (introspection on, default limits)."""
    from api.graphql.schema import build_schema

    return build_schema(Settings(graphql_introspection=True)).as_str() + "\n"


def contracts() -> dict[Path, str]:
    return {OPENAPI_PATH: render(openapi_document()), GRAPHQL_PATH: graphql_sdl()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    for path, text in contracts().items():
        if args.write:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
        elif not path.exists() or path.read_text() != text:
            stale.append(str(path.relative_to(ROOT)))
    if stale:
        print(f"{', '.join(stale)} out of date: run `make contracts`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
