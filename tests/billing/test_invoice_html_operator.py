"""The printable invoice names the operator's support and writes Norwegian numbers (Babel)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from core.billing.invoice_html import render_invoice_html
from core.billing.schemas import InvoiceDetail, InvoiceLineView, InvoiceSummary, Party
from core.billing.settings import BillingSettings
from core.config import Settings
from core.operator import Operator
from core.tariffs.schemas import CostLine


def _detail() -> InvoiceDetail:
    energy = CostLine(
        kind="energy",
        description_nb="Energi",
        description_en="Energy",
        quantity=Decimal("1234.567"),
        unit="kWh",
        unit_price_ore=Decimal("200"),
        net_ore=246_913,
        vat_ore=61_728,
        total_ore=308_641,
    )
    return InvoiceDetail(
        summary=InvoiceSummary(
            id=1,
            number=7,
            user_id=3,
            period="2026-03",
            issue_date=date(2026, 4, 1),
            due_date=date(2026, 4, 15),
            kid="0000003000000071",
            status="open",
            net_ore=246_913,
            vat_ore=61_728,
            total_ore=308_641,
            credited_ore=0,
            paid_at=None,
            buyer_name="Kari Nordmann",
        ),
        buyer=Party(name="Kari Nordmann"),
        seller=Party(name="Fjordlys AS", org_number="923609016", bank_account="12345678903"),
        lines=[
            InvoiceLineView(
                id=1,
                position=1,
                session_id=9,
                description="Lading SOL-1",
                started_at=None,
                stopped_at=None,
                energy_wh=1_234_567,
                net_ore=246_913,
                vat_ore=61_728,
                total_ore=308_641,
                details=[energy],
            )
        ],
    )


def test_invoice_shows_support_and_norwegian_numbers():
    settings = Settings(
        billing=BillingSettings(
            seller_name="Fjordlys AS", seller_phone="22 12 34 56", seller_email="hei@fjordlys.no"
        ),
        support_hours="mon-fri 08:00-16:00",
    )
    page = render_invoice_html(_detail(), Operator.from_settings(settings))
    assert (
        "Fjordlys AS kundeservice: 22 12 34 56 (hverdager 08:00\u201316:00), hei@fjordlys.no"
        in page
    )
    assert '<td class="n">1\u00a0234,57</td>' in page  # kWh, two decimals as on the line
    assert '<td class="n">3\u00a0086,41</td>' in page  # the line's sum
    assert "Energi: 1\u00a0234,567 kWh kr 3\u00a0086,41" in page
    assert "Org.nr. 923 609 016 MVA" in page
    assert "kundeservice" not in render_invoice_html(_detail())  # nothing configured to say
