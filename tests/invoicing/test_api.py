"""Operator REST endpoints for invoice delivery, over the real ASGI app."""

from __future__ import annotations

import csv
import io
from datetime import date

import httpx
import pytest

from api.app import create_app
from api.deps import Services
from core.bus import InProcessCommandBus
from core.config import Settings
from core.invoicing.runs import issue_and_queue
from core.models import Role
from core.orgs import apikeys
from core.orgs.schemas import ApiKeyIn
from core.orgs.scope import Actor
from tests.billing.scenario import march
from tests.invoicing.conftest import pdf_text
from tests.tariffs.builders import database, transaction


@pytest.fixture
async def api(db_url, seller):
    settings = Settings(database_url=db_url)
    async with database(db_url) as db:
        async with transaction(db) as s:
            key = await apikeys.create_key(s, Actor.cli(), ApiKeyIn(role=Role.OPERATOR_ADMIN))
        auth = {"Authorization": f"Bearer {key.key}"}
        app = create_app(Services(settings, db, InProcessCommandBus()))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            yield client, db, auth


async def test_a_customers_invoice_channel_is_shown_and_changed(api):
    client, db, auth = api
    async with transaction(db) as s:
        await march(s)
    url = "/api/v1/customers/+4791000002/invoice-delivery"
    assert (await client.get(url)).status_code == 401
    assert (
        await client.get("/api/v1/customers/+4799999999/invoice-delivery", headers=auth)
    ).status_code == 404
    shown = (await client.get(url, headers=auth)).json()
    assert shown == {
        "phone": "+4791000002",
        "email": None,
        "receipt_by_email": False,
        "chosen_channel": "email",
        "channel": "paper",
        "recipient": "Storgata 1, 3475 Sætre",
        "reason": "no e-mail address; on paper",
    }
    changed = await client.put(url, headers=auth, json={"invoice_channel": "ehf"})
    assert changed.status_code == 200
    assert (changed.json()["channel"], changed.json()["recipient"]) == ("ehf", "0192:974760673")
    bad = await client.put(url, headers=auth, json={"email": "not-an-address"})
    assert bad.status_code == 422 and bad.json()["detail"] == "not an e-mail address"
    fax = await client.put(url, headers=auth, json={"invoice_channel": "fax"})
    assert fax.status_code == 422


async def test_deliveries_pdf_resend_runs_and_the_overdue_export(api):
    client, db, auth = api
    async with transaction(db) as s:
        m = await march(s)
        m.kari.email = "kari@example.no"
        outcome = await issue_and_queue(s, "2026-03", issue_date=date(2026, 4, 1), due_days=14)
    kari = next(i for i in outcome.result.invoices if i.user_id == m.kari.id)

    deliveries = (await client.get(f"/api/v1/invoices/{kari.id}/deliveries", headers=auth)).json()
    assert [(d["channel"], d["status"], d["recipient"], d["attempts"]) for d in deliveries] == [
        ("email", "queued", "kari@example.no", [])
    ]
    again = await client.post(
        f"/api/v1/invoices/{kari.id}/resend", headers=auth, json={"channel": "paper"}
    )
    assert again.status_code == 202
    assert [(d["channel"], d["reason"]) for d in again.json()] == [
        ("email", "chose e-mail"),
        ("paper", "chosen by operator"),
    ]
    assert (await client.get("/api/v1/invoices/999/deliveries", headers=auth)).status_code == 404

    pdf = await client.get(f"/api/v1/invoices/{kari.id}/pdf", headers=auth)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "Kari Nordmann" in pdf_text(pdf.content)

    runs = (await client.get("/api/v1/invoice-runs", headers=auth)).json()
    assert [(r["trigger"], r["status"], r["invoices"], r["deliveries"]) for r in runs] == [
        ("manual", "done", 2, 2)
    ]

    overdue = (await client.get("/api/v1/invoices/overdue", headers=auth)).json()
    assert sorted(r["number"] for r in overdue) == [1, 2]  # due 15 April 2026: long past
    exported = await client.get("/api/v1/invoices/overdue?format=csv", headers=auth)
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(exported.text), delimiter=";"))
    assert sorted(r["navn"] for r in rows) == ["Hansen Transport AS", "Kari Nordmann"]
