"""EHF (Peppol BIS Billing 3.0, UBL 2.1) invoices and credit notes for business customers.

One UBL line per charging session: quantity 1 (C62) at the session's net price, so the
Peppol rule "line amount = quantity x price" holds exactly; the line's description names
the charger, time and energy. VAT is one category, S 25 %. The document's VAT total is the
invoice's VAT, which is summed per cost line (core.tariffs.engine); EN 16931 (BR-CO-17)
allows it to differ from taxable x 25 % by up to one krone.

Both parties are identified by Norwegian organisation numbers (ICD 0192); the seller's VAT
number is "NO<orgnr>MVA", and "Foretaksregisteret" is stated as Norwegian law requires.
"""

from __future__ import annotations

from datetime import date, datetime
from xml.etree import ElementTree as ET

from core.billing.errors import BillingError
from core.billing.orgnr import valid_org_number
from core.billing.periods import local_date
from core.billing.schemas import CreditNoteView, InvoiceDetail, Party
from core.billing.service import invoice_period_dates

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
ORG_SCHEME = "0192"  # Norwegian organisation number (Enhetsregisteret)
VAT_PERCENT = "25"


def _amount(ore: int) -> str:
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    return f"{sign}{kroner}.{rest:02d}"


class _Doc:
    def __init__(self, root_ns: str, root: str) -> None:
        # ElementTree's prefixes are process-wide; these only name the UBL namespaces.
        ET.register_namespace("", root_ns)
        ET.register_namespace("cac", NS_CAC)
        ET.register_namespace("cbc", NS_CBC)
        self.root = ET.Element(f"{{{root_ns}}}{root}")

    @staticmethod
    def cbc(parent: ET.Element, name: str, text: str, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{NS_CBC}}}{name}", attrs)
        el.text = text
        return el

    @staticmethod
    def cac(parent: ET.Element, name: str) -> ET.Element:
        return ET.SubElement(parent, f"{{{NS_CAC}}}{name}")

    def money(self, parent: ET.Element, name: str, ore: int) -> None:
        self.cbc(parent, name, _amount(ore), currencyID="NOK")

    def bytes(self) -> bytes:
        ET.indent(self.root)
        body = ET.tostring(self.root, encoding="unicode")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode()


def _check(detail: InvoiceDetail) -> None:
    if not valid_org_number(detail.seller.org_number):
        raise BillingError(
            "EHF needs the seller's organisation number: set LADEFLYT_BILLING_SELLER_ORG_NUMBER"
        )
    if not valid_org_number(detail.buyer.org_number):
        raise BillingError(
            f"invoice {detail.summary.number}: EHF is for business customers and needs the "
            "buyer's organisation number (ladeflyt invoices customer --org-number)"
        )


def _address(doc: _Doc, party_el: ET.Element, p: Party) -> None:
    address = doc.cac(party_el, "PostalAddress")
    if p.street:
        doc.cbc(address, "StreetName", p.street)
    if p.city:
        doc.cbc(address, "CityName", p.city)
    if p.postal_code:
        doc.cbc(address, "PostalZone", p.postal_code)
    doc.cbc(doc.cac(address, "Country"), "IdentificationCode", p.country or "NO")


def _tax_scheme(doc: _Doc, parent: ET.Element, scheme: str) -> None:
    doc.cbc(doc.cac(parent, "TaxScheme"), "ID", scheme)


def _seller(doc: _Doc, p: Party) -> None:
    party = doc.cac(doc.cac(doc.root, "AccountingSupplierParty"), "Party")
    assert p.org_number is not None
    doc.cbc(party, "EndpointID", p.org_number, schemeID=ORG_SCHEME)
    doc.cbc(doc.cac(party, "PartyName"), "Name", p.name)
    _address(doc, party, p)
    if p.vat_registered:
        vat = doc.cac(party, "PartyTaxScheme")
        doc.cbc(vat, "CompanyID", f"NO{p.org_number}MVA")
        _tax_scheme(doc, vat, "VAT")
    register = doc.cac(party, "PartyTaxScheme")
    doc.cbc(register, "CompanyID", "Foretaksregisteret")
    _tax_scheme(doc, register, "TAX")
    legal = doc.cac(party, "PartyLegalEntity")
    doc.cbc(legal, "RegistrationName", p.name)
    doc.cbc(legal, "CompanyID", p.org_number, schemeID=ORG_SCHEME)
    if p.email or p.phone:
        contact = doc.cac(party, "Contact")
        if p.phone:
            doc.cbc(contact, "Telephone", p.phone)
        if p.email:
            doc.cbc(contact, "ElectronicMail", p.email)


def _buyer(doc: _Doc, p: Party) -> None:
    party = doc.cac(doc.cac(doc.root, "AccountingCustomerParty"), "Party")
    assert p.org_number is not None
    doc.cbc(party, "EndpointID", p.org_number, schemeID=ORG_SCHEME)
    doc.cbc(doc.cac(party, "PartyName"), "Name", p.name)
    _address(doc, party, p)
    legal = doc.cac(party, "PartyLegalEntity")
    doc.cbc(legal, "RegistrationName", p.name)
    doc.cbc(legal, "CompanyID", p.org_number, schemeID=ORG_SCHEME)
    if p.email:
        doc.cbc(doc.cac(party, "Contact"), "ElectronicMail", p.email)


def _tax_category(doc: _Doc, parent: ET.Element, name: str) -> None:
    category = doc.cac(parent, name)
    doc.cbc(category, "ID", "S")
    doc.cbc(category, "Percent", VAT_PERCENT)
    _tax_scheme(doc, category, "VAT")


def _totals(doc: _Doc, net: int, vat: int) -> None:
    tax = doc.cac(doc.root, "TaxTotal")
    doc.money(tax, "TaxAmount", vat)
    sub = doc.cac(tax, "TaxSubtotal")
    doc.money(sub, "TaxableAmount", net)
    doc.money(sub, "TaxAmount", vat)
    _tax_category(doc, sub, "TaxCategory")
    total = doc.cac(doc.root, "LegalMonetaryTotal")
    doc.money(total, "LineExtensionAmount", net)
    doc.money(total, "TaxExclusiveAmount", net)
    doc.money(total, "TaxInclusiveAmount", net + vat)
    doc.money(total, "PayableAmount", net + vat)


def _line(
    doc: _Doc,
    tag: str,
    quantity_tag: str,
    position: int,
    description: str,
    net: int,
    period: tuple[date, date] | None,
) -> None:
    line = doc.cac(doc.root, tag)
    doc.cbc(line, "ID", str(position))
    # A credit (V2G) is one unit taken back: the price stays positive (BR-27).
    doc.cbc(line, quantity_tag, "-1" if net < 0 else "1", unitCode="C62")
    doc.money(line, "LineExtensionAmount", net)
    if period is not None:
        when = doc.cac(line, "InvoicePeriod")
        doc.cbc(when, "StartDate", period[0].isoformat())
        doc.cbc(when, "EndDate", period[1].isoformat())
    item = doc.cac(line, "Item")
    doc.cbc(item, "Description", description)
    doc.cbc(item, "Name", "Lading / EV charging")
    _tax_category(doc, item, "ClassifiedTaxCategory")
    doc.money(doc.cac(line, "Price"), "PriceAmount", abs(net))


def _header(doc: _Doc, number: int, issued: date) -> None:
    doc.cbc(doc.root, "CustomizationID", CUSTOMIZATION_ID)
    doc.cbc(doc.root, "ProfileID", PROFILE_ID)
    doc.cbc(doc.root, "ID", str(number))
    doc.cbc(doc.root, "IssueDate", issued.isoformat())


def _buyer_reference(detail: InvoiceDetail) -> str:
    customer = detail.buyer.customer_number or detail.summary.user_id
    return detail.buyer.reference or f"Kunde {customer}"


def invoice_xml(detail: InvoiceDetail) -> bytes:
    """The invoice as an EHF Billing 3.0 document."""
    _check(detail)
    s = detail.summary
    doc = _Doc(NS_INVOICE, "Invoice")
    _header(doc, s.number, s.issue_date)
    doc.cbc(doc.root, "DueDate", s.due_date.isoformat())
    doc.cbc(doc.root, "InvoiceTypeCode", "380")
    doc.cbc(doc.root, "DocumentCurrencyCode", s.currency)
    doc.cbc(doc.root, "BuyerReference", _buyer_reference(detail))
    first, last = invoice_period_dates(detail)
    if first and last:
        period = doc.cac(doc.root, "InvoicePeriod")
        doc.cbc(period, "StartDate", first.isoformat())
        doc.cbc(period, "EndDate", last.isoformat())
    _seller(doc, detail.seller)
    _buyer(doc, detail.buyer)
    means = doc.cac(doc.root, "PaymentMeans")
    doc.cbc(means, "PaymentMeansCode", "30")
    doc.cbc(means, "PaymentID", s.kid)
    if detail.seller.bank_account:
        doc.cbc(doc.cac(means, "PayeeFinancialAccount"), "ID", detail.seller.bank_account)
    terms = doc.cac(doc.root, "PaymentTerms")
    doc.cbc(terms, "Note", f"Forfall {s.due_date:%d.%m.%Y}, KID {s.kid}")
    _totals(doc, s.net_ore, s.vat_ore)
    for line in detail.lines:
        _line(
            doc,
            "InvoiceLine",
            "InvoicedQuantity",
            line.position,
            line.description,
            line.net_ore,
            _dates(line.started_at, line.stopped_at),
        )
    return doc.bytes()


def credit_note_xml(detail: InvoiceDetail, note: CreditNoteView) -> bytes:
    """A credit note for (part of) an invoice as an EHF Billing 3.0 document."""
    _check(detail)
    doc = _Doc(NS_CREDIT_NOTE, "CreditNote")
    _header(doc, note.number, note.issue_date)
    doc.cbc(doc.root, "CreditNoteTypeCode", "381")
    doc.cbc(doc.root, "Note", note.reason)
    doc.cbc(doc.root, "DocumentCurrencyCode", detail.summary.currency)
    doc.cbc(doc.root, "BuyerReference", _buyer_reference(detail))
    ref = doc.cac(doc.cac(doc.root, "BillingReference"), "InvoiceDocumentReference")
    doc.cbc(ref, "ID", str(detail.summary.number))
    doc.cbc(ref, "IssueDate", detail.summary.issue_date.isoformat())
    _seller(doc, detail.seller)
    _buyer(doc, detail.buyer)
    _totals(doc, note.net_ore, note.vat_ore)
    lines = {line.id: line for line in detail.lines}
    for position, credited in enumerate(note.lines, start=1):
        original = lines.get(credited.invoice_line_id)
        period = _dates(original.started_at, original.stopped_at) if original else None
        _line(
            doc,
            "CreditNoteLine",
            "CreditedQuantity",
            position,
            credited.description,
            credited.net_ore,
            period,
        )
    return doc.bytes()


def _dates(start: datetime | None, stop: datetime | None) -> tuple[date, date] | None:
    if start is None or stop is None:
        return None
    return local_date(start), local_date(stop)
