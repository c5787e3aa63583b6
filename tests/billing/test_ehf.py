"""EHF (Peppol BIS Billing 3.0) documents: the fields and sums a Peppol validator checks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from xml.etree import ElementTree as ET

import pytest

from core.billing.credit import credit_invoice
from core.billing.ehf import (
    CUSTOMIZATION_ID,
    NS_CAC,
    NS_CBC,
    NS_CREDIT_NOTE,
    NS_INVOICE,
    PROFILE_ID,
    credit_note_xml,
    invoice_xml,
)
from core.billing.errors import BillingError
from core.billing.orgnr import valid_org_number
from core.billing.service import get_invoice
from tests.billing.scenario import ORG_NUMBER, march
from tests.billing.test_invoices import run
from tests.tariffs.builders import database, transaction

NS = {"cac": NS_CAC, "cbc": NS_CBC, "inv": NS_INVOICE, "cn": NS_CREDIT_NOTE}


def text(root: ET.Element, path: str) -> str:
    found = root.find(path, NS)
    assert found is not None, path
    return found.text or ""


def amount(root: ET.Element, path: str) -> Decimal:
    found = root.find(path, NS)
    assert found is not None and found.get("currencyID") == "NOK", path
    return Decimal(found.text or "")


def check_sums(root: ET.Element, line_tag: str) -> None:
    """BR-CO-10, -13, -15, BR-CO-17 (with its one-krone tolerance), PEPPOL-EN16931-R120."""
    lines = root.findall(f"cac:{line_tag}", NS)
    assert lines
    line_sum = sum((amount(line, "cbc:LineExtensionAmount") for line in lines), Decimal(0))
    for line in lines:
        quantity = line.find("cbc:InvoicedQuantity", NS)
        if quantity is None:
            quantity = line.find("cbc:CreditedQuantity", NS)
        assert quantity is not None and quantity.get("unitCode") == "C62"
        price = amount(line, "cac:Price/cbc:PriceAmount")
        assert Decimal(quantity.text or "") * price == amount(line, "cbc:LineExtensionAmount")
        assert text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID") == "S"
    totals = "cac:LegalMonetaryTotal/cbc:"
    assert amount(root, totals + "LineExtensionAmount") == line_sum
    assert amount(root, totals + "TaxExclusiveAmount") == line_sum
    tax = amount(root, "cac:TaxTotal/cbc:TaxAmount")
    taxable = amount(root, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount")
    assert taxable == line_sum
    assert amount(root, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount") == tax
    assert abs(tax - taxable * Decimal("0.25")) < 1
    assert amount(root, totals + "TaxInclusiveAmount") == line_sum + tax
    assert amount(root, totals + "PayableAmount") == line_sum + tax


def check_parties(root: ET.Element) -> None:
    seller = "cac:AccountingSupplierParty/cac:Party/"
    assert text(root, seller + "cbc:EndpointID") == "923609016"
    assert root.find(seller + "cbc:EndpointID", NS).get("schemeID") == "0192"  # type: ignore[union-attr]
    tax_ids = [e.text for e in root.findall(seller + "cac:PartyTaxScheme/cbc:CompanyID", NS)]
    assert tax_ids == ["NO923609016MVA", "Foretaksregisteret"]
    assert text(root, seller + "cac:PostalAddress/cac:Country/cbc:IdentificationCode") == "NO"
    buyer = "cac:AccountingCustomerParty/cac:Party/"
    assert text(root, buyer + "cbc:EndpointID") == ORG_NUMBER
    assert text(root, buyer + "cac:PartyLegalEntity/cbc:RegistrationName") == "Hansen Transport AS"
    assert text(root, buyer + "cac:PostalAddress/cbc:CityName") == "Sætre"


async def _ola_invoice(s):
    m = await march(s)
    ola = next(inv for inv in (await run(s)).invoices if inv.user_id == m.ola.id)
    return m, ola


async def test_ehf_invoice_has_peppol_ids_parties_kid_and_consistent_sums(db_url):
    async with database(db_url) as db, transaction(db) as s:
        _, ola = await _ola_invoice(s)
        detail = await get_invoice(s, ola.id, None)
        root = ET.fromstring(invoice_xml(detail))
        assert root.tag == f"{{{NS_INVOICE}}}Invoice"
        assert text(root, "cbc:CustomizationID") == CUSTOMIZATION_ID
        assert text(root, "cbc:ProfileID") == PROFILE_ID
        assert (text(root, "cbc:ID"), text(root, "cbc:InvoiceTypeCode")) == (str(ola.number), "380")
        assert (text(root, "cbc:IssueDate"), text(root, "cbc:DueDate")) == (
            "2026-04-01",
            "2026-04-15",
        )
        assert text(root, "cbc:BuyerReference") == "Ola H."
        assert (
            text(root, "cac:InvoicePeriod/cbc:StartDate"),
            text(root, "cac:InvoicePeriod/cbc:EndDate"),
        ) == ("2026-03-01", "2026-03-31")
        assert text(root, "cac:PaymentMeans/cbc:PaymentMeansCode") == "30"
        assert text(root, "cac:PaymentMeans/cbc:PaymentID") == ola.kid
        assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "12345678903"
        check_parties(root)
        check_sums(root, "InvoiceLine")
        assert amount(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == Decimal("21.00")
        # UBL is a sequence: the header comes before the parties, totals before lines.
        order = [child.tag.split("}")[1] for child in root]
        assert order.index("BuyerReference") < order.index("AccountingSupplierParty")
        assert order.index("PaymentMeans") < order.index("TaxTotal") < order.index("InvoiceLine")


async def test_ehf_credit_note_references_the_invoice(db_url):
    async with database(db_url) as db, transaction(db) as s:
        _, ola = await _ola_invoice(s)
        note = await credit_invoice(s, ola.id, "Feil pris", issue_date=date(2026, 4, 10))
        detail = await get_invoice(s, ola.id, None)
        root = ET.fromstring(credit_note_xml(detail, note))
        assert root.tag == f"{{{NS_CREDIT_NOTE}}}CreditNote"
        assert text(root, "cbc:CreditNoteTypeCode") == "381"
        assert text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == str(
            ola.number
        )
        check_parties(root)
        check_sums(root, "CreditNoteLine")
        assert amount(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == Decimal("21.00")


async def test_ehf_needs_organisation_numbers(db_url):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        kari = next(inv for inv in (await run(s)).invoices if inv.user_id == m.kari.id)
        with pytest.raises(BillingError, match="business customers"):
            invoice_xml(await get_invoice(s, kari.id, None))


@pytest.mark.parametrize(
    ("number", "valid"),
    [("974760673", True), ("923609016", True), ("974760672", False), ("12345678", False)],
)
def test_organisation_numbers_are_checked_with_mod11(number, valid):
    assert valid_org_number(number) is valid
