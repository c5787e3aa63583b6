"""File drops: the eFaktura distributor's outbox, the EHF file drop (the default access
point: another program or person uploads the files) and the print shop's inbox.

Files are written atomically (a hidden temporary file, then renamed), so a collector never
reads half a file, and named after the document, so delivering it again replaces the file
instead of making a second invoice.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

from core.ports import (
    PEPPOL_DOCUMENT_TYPES,
    PEPPOL_PROCESS,
    DeliveryUnavailable,
    EfakturaDocument,
    PeppolDocument,
)

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def _name(text: str) -> str:
    return _SAFE.sub("_", text)[:120] or "document"


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


async def _write(files: list[tuple[Path, bytes]]) -> None:
    def work() -> None:
        for path, data in files:
            write_atomically(path, data)

    try:
        await asyncio.to_thread(work)
    except OSError as error:
        raise DeliveryUnavailable(f"cannot write {files[0][0].parent}: {error}") from None


class EfakturaFileOutbox:
    """eFaktura files for the distributor to collect: <name>.pdf, then <name>.xml."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    async def deliver(self, document: EfakturaDocument) -> str:
        name = _name(document.name)
        # The PDF first: a collector that sees the XML finds its attachment there.
        await _write(
            [
                (self.directory / f"{name}.pdf", document.pdf),
                (self.directory / f"{name}.xml", document.xml),
            ]
        )
        return f"{name}.xml"


class FileDropAccessPoint:
    """EHF documents as files, with a small JSON envelope naming sender and receiver."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    async def send(self, document: PeppolDocument) -> str:
        name = _name(document.name)
        envelope = {
            "sender": f"iso6523-actorid-upis::{document.sender}",
            "receiver": f"iso6523-actorid-upis::{document.receiver}",
            "documentType": f"busdox-docid-qns::{PEPPOL_DOCUMENT_TYPES[document.kind]}",
            "process": f"cenbii-procid-ubl::{PEPPOL_PROCESS}",
            "file": f"{name}.xml",
        }
        await _write(
            [
                (self.directory / f"{name}.xml", document.xml),
                (self.directory / f"{name}.json", json.dumps(envelope, indent=2).encode()),
            ]
        )
        return f"{name}.xml"


class FilePrintShop:
    """Print batches (one PDF per run) in the print shop's inbox directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    async def submit(self, name: str, pdf: bytes) -> str:
        filename = f"{_name(name)}.pdf"
        await _write([(self.directory / filename, pdf)])
        return filename
