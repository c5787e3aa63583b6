"""eFaktura (B2C) files for the operator's invoice distributor.

eFaktura 2.0 is run by Mastercard Payment Services for the Norwegian banks. An issuer
reaches it through a distributor (the bank's or a print/e-invoice house) under an
agreement; the distributor's file formats and Mastercard's issuer APIs are handed out with
that agreement and are not public. What is public, and what this follows:

- the payer is addressed by an eFaktura identifier, which the bank network reports for
  consenting customers (general consent, "Alltid eFaktura", or consent to one issuer);
- the payer can reserve themselves against an issuer ("blocked"): then no eFaktura;
- an eFaktura carries the issuer, the amount, the due date, a KID and the invoice itself
  as the payer sees it in the bank (here: the PDF).

So each invoice is two files in the distributor's outbox directory, written atomically
(temporary name, then renamed), named after the document so that writing it again
replaces rather than duplicates it:

    <name>.xml   urn:ladeflyt:efaktura:1 (below)    <name>.pdf   the invoice

    <EfakturaInvoice xmlns="urn:ladeflyt:efaktura:1" version="1">
      <Issuer><IssuerId/><Name/><OrganisationNumber/><AccountNumber/></Issuer>
      <Payer><EfakturaIdentifier/><Name/></Payer>
      <Document type="invoice|credit_note">
        <Number/><IssueDate/><DueDate/><KID/>
        <Amount currency="NOK">45.00</Amount><VatAmount currency="NOK">9.00</VatAmount>
        <Text/><Attachment filename="<name>.pdf" mimeType="application/pdf"/>
      </Document>
    </EfakturaInvoice>

The mapping to a distributor's own format is one function away (`efaktura_xml`).
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from core.billing.schemas import CreditNoteView, InvoiceDetail

NS = "urn:ladeflyt:efaktura:1"


def _amount(ore: int) -> str:
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    return f"{sign}{kroner}.{rest:02d}"


def efaktura_xml(
    detail: InvoiceDetail,
    *,
    identifier: str,
    issuer_id: str,
    name: str,
    note: CreditNoteView | None = None,
) -> bytes:
    """The eFaktura file of an invoice (or of one of its credit notes)."""
    ET.register_namespace("", NS)

    def el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{NS}}}{tag}", attrs)
        if text is not None:
            node.text = text
        return node

    s, seller = detail.summary, detail.seller
    root = ET.Element(f"{{{NS}}}EfakturaInvoice", {"version": "1"})
    issuer = el(root, "Issuer")
    el(issuer, "IssuerId", issuer_id)
    el(issuer, "Name", seller.name)
    el(issuer, "OrganisationNumber", seller.org_number or "")
    el(issuer, "AccountNumber", seller.bank_account or "")
    payer = el(root, "Payer")
    el(payer, "EfakturaIdentifier", identifier)
    el(payer, "Name", detail.buyer.name)
    doc = el(root, "Document", type="credit_note" if note else "invoice")
    if note is None:
        el(doc, "Number", str(s.number))
        el(doc, "IssueDate", s.issue_date.isoformat())
        el(doc, "DueDate", s.due_date.isoformat())
        el(doc, "KID", s.kid)
        el(doc, "Amount", _amount(s.amount_due_ore or s.total_ore), currency=s.currency)
        el(doc, "VatAmount", _amount(s.vat_ore), currency=s.currency)
        el(doc, "Text", f"Lading {s.period}, faktura {s.number}")
    else:
        el(doc, "Number", str(note.number))
        el(doc, "IssueDate", note.issue_date.isoformat())
        el(doc, "InvoiceNumber", str(s.number))
        el(doc, "KID", s.kid)
        el(doc, "Amount", _amount(-note.total_ore), currency=s.currency)
        el(doc, "VatAmount", _amount(-note.vat_ore), currency=s.currency)
        el(doc, "Text", f"Kreditnota {note.number} til faktura {s.number}: {note.reason}")
    el(doc, "Attachment", filename=f"{name}.pdf", mimeType="application/pdf")
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode()
