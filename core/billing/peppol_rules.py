"""EHF checks that need no rule files: a few Peppol BIS Billing 3.0 rules, by their ids.

The real check is the official Schematron (core.billing.schematron, with
LADEFLYT_EHF_RULES_DIR). These are the rules our documents could break when the data
behind them is wrong (totals, references, identifiers); they run always, before every
EHF is sent, and on their own where the rule files are not installed.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree as ET

from core.billing.orgnr import valid_org_number
from core.billing.schematron import Finding

NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}


def _dec(root: ET.Element, path: str) -> Decimal | None:
    node = root.find(path, NS)
    if node is None or node.text is None:
        return None
    try:
        return Decimal(node.text.strip())
    except InvalidOperation:
        return None


def _text(root: ET.Element, path: str) -> str:
    node = root.find(path, NS)
    return (node.text or "").strip() if node is not None else ""


def check_ehf(xml: bytes) -> list[Finding]:
    """Findings of the built-in subset (all fatal in the official rules but NO-R-002)."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        return [Finding("XML", "fatal", f"not well-formed: {error}", "/")]
    out: list[Finding] = []

    def fail(rule: str, message: str, flag: str = "fatal") -> None:
        out.append(Finding(rule, flag, message, "/", "built-in"))

    credit = root.tag.endswith("CreditNote")
    line_tag = "cac:CreditNoteLine" if credit else "cac:InvoiceLine"
    for rule, path, what in (
        ("BR-01", "cbc:CustomizationID", "specification identifier"),
        ("BR-02", "cbc:ID", "document number"),
        ("BR-03", "cbc:IssueDate", "issue date"),
        ("BR-05", "cbc:DocumentCurrencyCode", "currency"),
        ("BR-06", "cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName",
         "seller name"),
        ("BR-07", "cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName",
         "buyer name"),
        ("PEPPOL-EN16931-R020", "cac:AccountingSupplierParty/cac:Party/cbc:EndpointID",
         "seller electronic address"),
        ("PEPPOL-EN16931-R010", "cac:AccountingCustomerParty/cac:Party/cbc:EndpointID",
         "buyer electronic address"),
    ):  # fmt: skip
        if not _text(root, path):
            fail(rule, f"the document has no {what}")
    if not _text(root, "cbc:BuyerReference") and not _text(root, "cac:OrderReference/cbc:ID"):
        fail("PEPPOL-EN16931-R003", "a buyer reference or an order reference is required")
    if root.find(line_tag, NS) is None:
        fail("BR-16", "the document has no lines")
    lines = [_dec(line, "cbc:LineExtensionAmount") for line in root.findall(line_tag, NS)]
    total_lines = _dec(root, "cac:LegalMonetaryTotal/cbc:LineExtensionAmount")
    exclusive = _dec(root, "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount")
    inclusive = _dec(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount")
    payable = _dec(root, "cac:LegalMonetaryTotal/cbc:PayableAmount")
    tax = _dec(root, "cac:TaxTotal/cbc:TaxAmount")
    if None in lines or total_lines is None or sum(x or 0 for x in lines) != total_lines:
        fail("BR-CO-10", "the sum of the line amounts is not the document's line total")
    if exclusive is None or total_lines is None or exclusive != total_lines:
        fail("BR-CO-13", "the total without VAT is not the line total")
    if inclusive is None or exclusive is None or tax is None or inclusive != exclusive + tax:
        fail("BR-CO-15", "the total with VAT is not the total without VAT plus the VAT")
    if payable is None or inclusive is None or payable != inclusive:
        fail("BR-CO-16", "the amount due is not the total with VAT")
    for sub in root.findall("cac:TaxTotal/cac:TaxSubtotal", NS):
        if _text(sub, "cac:TaxCategory/cbc:ID") == "S":
            taxable = _dec(sub, "cbc:TaxableAmount")
            amount = _dec(sub, "cbc:TaxAmount")
            percent = _dec(sub, "cac:TaxCategory/cbc:Percent")
            if taxable is None or amount is None or percent is None:
                fail("BR-S-09", "a VAT breakdown lacks its amounts")
            elif abs(taxable * percent / 100 - amount) > 1:
                # EN 16931 lets the VAT differ from the rate x base by rounding per line.
                fail("BR-S-09", "the VAT of category S is not the taxable amount times the rate")
    seller = root.find("cac:AccountingSupplierParty/cac:Party", NS)
    if (
        seller is not None
        and _text(seller, "cac:PostalAddress/cac:Country/cbc:IdentificationCode") == "NO"
    ):
        vat = [
            _text(s, "cbc:CompanyID")
            for s in seller.findall("cac:PartyTaxScheme", NS)
            if _text(s, "cac:TaxScheme/cbc:ID") == "VAT"
        ]
        for number in vat:
            digits = number[2:11]
            if not (
                number.startswith("NO") and number.endswith("MVA") and valid_org_number(digits)
            ):
                fail("NO-R-001", f"{number!r} is not a Norwegian VAT number (NO + orgnr + MVA)")
        register = [
            _text(s, "cbc:CompanyID")
            for s in seller.findall("cac:PartyTaxScheme", NS)
            if _text(s, "cac:TaxScheme/cbc:ID") == "TAX"
        ]
        if "Foretaksregisteret" not in register:
            fail("NO-R-002", 'a Norwegian seller states "Foretaksregisteret"', "warning")
    return out
