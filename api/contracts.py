"""Write or check the checked-in API contracts: `python -m api.contracts --write|--check`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from api.app import create_app
from api.deps import Services
from core.bus import InProcessCommandBus
from core.config import Settings
from core.db import create_engine, session_factory

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_PATH = ROOT / "openapi" / "openapi.json"


def openapi_document() -> dict[str, Any]:
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:")
    # The engine is never connected: only the routes are read.
    services = Services(
        settings, session_factory(create_engine(settings.database_url)), InProcessCommandBus()
    )
    return create_app(services).openapi()


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = render(openapi_document())
    if args.write:
        OPENAPI_PATH.parent.mkdir(exist_ok=True)
        OPENAPI_PATH.write_text(text)
        print(f"wrote {OPENAPI_PATH.relative_to(ROOT)}")
        return 0
    if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != text:
        print("openapi/openapi.json is out of date: run `make contracts`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
