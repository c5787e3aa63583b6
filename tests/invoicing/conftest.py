"""Fixtures for invoice delivery: the seller, delivery folders, a real SMTP server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from core.billing.settings import get_billing_settings
from core.config import Settings
from tests.invoicing.smtp import Inbox, smtp_server

SELLER_ENV = {
    "SELLER_NAME": "Solsiden Lading AS",
    "SELLER_ORG_NUMBER": "923609016",
    "SELLER_STREET": "Solsiden 1",
    "SELLER_POSTAL_CODE": "3475",
    "SELLER_CITY": "Sætre",
    "SELLER_EMAIL": "faktura@solsiden.example",
    "BANK_ACCOUNT": "12345678903",
}


@pytest.fixture
def seller(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The invoices' seller, as LADEFLYT_BILLING_* variables."""
    for name, value in SELLER_ENV.items():
        monkeypatch.setenv(f"LADEFLYT_BILLING_{name}", value)
    get_billing_settings.cache_clear()
    yield
    get_billing_settings.cache_clear()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, str]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def delivery_settings(db_url: str, tmp_path: Path, smtp: tuple[Inbox, str]) -> Settings:
    return Settings(
        database_url=db_url,
        smtp_url=smtp[1],
        mail_from="Solsiden Lading <faktura@solsiden.example>",
        delivery_dir=str(tmp_path / "delivery"),
        efaktura_issuer_id="LADEFLYT-TEST",
        jwt_secret="test-secret-for-links",
        public_base_url="https://lading.example",
        delivery_retry_base_s=60,
    )


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)
