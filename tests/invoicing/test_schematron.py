"""Schematron rule files run with Saxon; the official Peppol rules when they are at hand."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import pytest

from core.billing import ehf
from core.billing.peppol_rules import check_ehf
from core.billing.schemas import (
    CreditNoteLineView,
    CreditNoteView,
    InvoiceDetail,
    InvoiceLineView,
    InvoiceSummary,
    Party,
)
from core.billing.schematron import SchematronRunner, compile_schematron, rule_files
from core.timeutil import OSLO

RULES_ENV = "LADEFLYT_TEST_PEPPOL_RULES_DIR"

SCHEMA = """<?xml version="1.0" encoding="UTF-8"?>
<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">
  <ns prefix="o" uri="urn:test:order"/>
  <ns prefix="u" uri="urn:test:utils"/>
  <let name="limit" value="100"/>
  <function xmlns="http://www.w3.org/1999/XSL/Transform" name="u:even" as="xs:boolean">
    <param name="n"/>
    <value-of select="number($n) mod 2 = 0"/>
  </function>
  <pattern>
    <rule context="o:line[@kind = 'free']">
      <assert id="T-01" flag="warning" test="number(o:amount) = 0">a free line costs
        <value-of select="o:amount"/></assert>
    </rule>
    <rule context="o:line">
      <let name="amount" value="number(o:amount)"/>
      <assert id="T-02" flag="fatal" test="$amount &lt;= $limit">line of
        <name/> over the limit</assert>
      <assert id="T-03" flag="fatal" test="u:even(o:amount)">odd amount</assert>
    </rule>
  </pattern>
  <pattern>
    <rule context="o:order">
      <report id="T-04" flag="information" test="count(o:line) &gt; 2">many lines</report>
    </rule>
  </pattern>
</schema>
"""


def findings(xml: str) -> list[tuple[str, str, str]]:
    runner = SchematronRunner([_write(SCHEMA)])
    try:
        return [(f.rule_id, f.flag, f.message) for f in runner.validate(xml.encode())]
    finally:
        runner.close()


def _write(text: str) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "TEST-UBL.sch"
    path.write_text(text)
    return path


def test_the_first_matching_rule_of_a_pattern_fires_with_its_lets_and_functions():
    xml = """<order xmlns="urn:test:order">
      <line kind="free"><amount>3</amount></line>
      <line><amount>150</amount></line>
      <line><amount>7</amount></line>
    </order>"""
    assert findings(xml) == [
        # The free line is checked by the first rule only (not T-03, though 3 is odd).
        ("T-01", "warning", "a free line costs 3"),
        ("T-02", "fatal", "line of line over the limit"),
        ("T-03", "fatal", "odd amount"),
        ("T-04", "information", "many lines"),
    ]
    assert findings('<order xmlns="urn:test:order"><line><amount>8</amount></line></order>') == []


def test_a_file_that_is_not_schematron_is_refused():
    with pytest.raises(ValueError, match="not a Schematron schema"):
        compile_schematron(b"<xsl:stylesheet xmlns:xsl='http://www.w3.org/1999/XSL/Transform'/>")


def detail() -> InvoiceDetail:
    summary = InvoiceSummary(
        id=2, number=2, user_id=2, period="2026-03", issue_date=date(2026, 4, 1),
        due_date=date(2026, 4, 15), kid="0000002000000022", status="open", net_ore=1680,
        vat_ore=420, total_ore=2100, credited_ore=0, paid_at=None,
        buyer_name="Hansen Transport AS",
    )  # fmt: skip
    lines = [
        InvoiceLineView(
            id=i,
            position=i,
            session_id=i,
            description=f"Lading Solsiden borettslag, SOL-1 #2, 04.03.2026, {kwh} kWh",
            started_at=datetime(2026, 3, 4, 10, tzinfo=OSLO),
            stopped_at=datetime(2026, 3, 4, 11, tzinfo=OSLO),
            energy_wh=kwh * 1000,
            net_ore=net,
            vat_ore=vat,
            total_ore=net + vat,
            details=[],
        )
        for i, (kwh, net, vat) in enumerate([(11, 880, 220), (5, 800, 200)], start=1)
    ]
    return InvoiceDetail(
        summary=summary,
        buyer=Party(name="Hansen Transport AS", org_number="974760673", street="Storgata 1",
                    postal_code="3475", city="Sætre", reference="Ola H.", customer_number=2),
        seller=Party(name="Solsiden Lading AS", org_number="923609016", street="Solsiden 1",
                     postal_code="3475", city="Sætre", bank_account="12345678903"),
        lines=lines,
        period_start=datetime(2026, 3, 1, tzinfo=OSLO),
        period_end=datetime(2026, 4, 1, tzinfo=OSLO),
    )  # fmt: skip


def credit_note() -> CreditNoteView:
    return CreditNoteView(
        id=1, number=3, invoice_id=2, invoice_number=2, issue_date=date(2026, 4, 3),
        reason="Avtalt rabatt", net_ore=880, vat_ore=220, total_ore=1100,
        lines=[CreditNoteLineView(1, "Lading Solsiden borettslag, SOL-1 #2", 880, 220, 1100)],
    )  # fmt: skip


def tampered() -> dict[str, bytes]:
    xml = ehf.invoice_xml(detail()).decode()
    changed = {
        "BR-CO-16": xml.replace(">21.00</cbc:PayableAmount>", ">22.00</cbc:PayableAmount>"),
        "PEPPOL-EN16931-R003": xml.replace("<cbc:BuyerReference>Ola H.</cbc:BuyerReference>", ""),
        "NO-R-001": xml.replace("NO923609016MVA", "NO923609016"),
    }
    return {rule: text.encode() for rule, text in changed.items()}


def test_the_built_in_checks_pass_our_documents_and_catch_what_could_go_wrong():
    assert check_ehf(ehf.invoice_xml(detail())) == []
    assert check_ehf(ehf.credit_note_xml(detail(), credit_note())) == []
    for rule, xml in tampered().items():
        assert [f.rule_id for f in check_ehf(xml)] == [rule]


@pytest.mark.skipif(
    not os.environ.get(RULES_ENV),
    reason=f"{RULES_ENV} names no folder with the official Peppol Schematron files "
    "(rules/sch of github.com/OpenPEPPOL/peppol-bis-invoice-3)",
)
def test_our_ehf_passes_the_official_peppol_bis_billing_3_rules():
    runner = SchematronRunner(rule_files(os.environ[RULES_ENV]))
    try:
        for xml in (ehf.invoice_xml(detail()), ehf.credit_note_xml(detail(), credit_note())):
            problems = [f for f in runner.validate(xml) if f.fatal]
            assert problems == []
        for rule, xml in tampered().items():
            found = {f.rule_id for f in runner.validate(xml) if f.fatal}
            assert rule in found
    finally:
        runner.close()
