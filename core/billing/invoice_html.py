"""A printable HTML invoice (A4; the browser's "save as PDF" gives the PDF)."""

from __future__ import annotations

from decimal import Decimal
from html import escape
from string import Template

from core import l10n
from core.billing.schemas import InvoiceDetail, InvoiceLineView, Party
from core.operator import Operator
from core.timeutil import OSLO


def format_nok(ore: int) -> str:
    """An amount in the Norwegian format, `1 234,56` (Babel; no-break space)."""
    return l10n.amount(ore, "nb")


_STATUS = {
    "open": "Ubetalt",
    "paid": "Betalt",
    "overdue": "Forfalt",
    "credited": "Kreditert",
}

_PAGE = Template("""<!doctype html>
<html lang="nb">
<head>
<meta charset="utf-8">
<title>Faktura $number</title>
<style>
  @page { size: A4; margin: 18mm; }
  body { font-family: system-ui, sans-serif; font-size: 10pt; color: #111; }
  header { display: flex; justify-content: space-between; align-items: flex-start; }
  h1 { font-size: 20pt; margin: 0 0 4mm; }
  table { width: 100%; border-collapse: collapse; margin-top: 6mm; }
  th, td { text-align: left; padding: 1.5mm 2mm; border-bottom: 0.3mm solid #ddd; }
  th.n, td.n { text-align: right; white-space: nowrap; }
  td.sub { color: #555; font-size: 8.5pt; padding-top: 0; }
  .meta td { border: none; padding: 0.5mm 2mm; }
  .totals td { border: none; }
  .totals tr.total td { font-weight: bold; border-top: 0.5mm solid #111; }
  .pay { margin-top: 8mm; padding: 4mm; border: 0.5mm solid #111; }
  .status { font-weight: bold; }
  .credited { color: #888; text-decoration: line-through; }
  footer { margin-top: 10mm; color: #555; font-size: 8.5pt; }
</style>
</head>
<body>
<header>
  <div><h1>Faktura</h1>$seller</div>
  <table class="meta" style="width:auto">
    <tr><td>Fakturanummer</td><td>$number</td></tr>
    <tr><td>Fakturadato</td><td>$issue_date</td></tr>
    <tr><td>Forfallsdato</td><td>$due_date</td></tr>
    <tr><td>Periode</td><td>$period</td></tr>
    <tr><td>Kundenummer</td><td>$customer</td></tr>
    <tr><td>Status</td><td class="status">$status</td></tr>
  </table>
</header>
<section><h2>Til</h2>$buyer</section>
<table>
  <thead><tr><th>#</th><th>Lading</th><th class="n">kWh</th><th class="n">Netto</th>
  <th class="n">MVA 25 %</th><th class="n">Sum</th></tr></thead>
  <tbody>
$lines
  </tbody>
</table>
<table class="totals" style="width:auto;margin-left:auto">
  <tr><td>Sum eks. MVA</td><td class="n">$net</td></tr>
  <tr><td>MVA 25 %</td><td class="n">$vat</td></tr>
$credited
  <tr class="total"><td>Å betale (NOK)</td><td class="n">$due</td></tr>
</table>
<div class="pay">
  <div>Betal til konto <strong>$account</strong> med KID <strong>$kid</strong>
  innen <strong>$due_date</strong>.</div>
</div>
$credit_notes
$support
</body>
</html>
""")


def _party(p: Party) -> str:
    rows = [f"<strong>{escape(p.name)}</strong>"]
    if p.street:
        rows.append(escape(p.street))
    if p.postal_code or p.city:
        rows.append(escape(f"{p.postal_code} {p.city}".strip()))
    if p.org_number:
        org = " ".join((p.org_number[:3], p.org_number[3:6], p.org_number[6:]))
        rows.append(f"Org.nr. {escape(org)}{' MVA' if p.vat_registered else ''}")
    if p.email:
        rows.append(escape(p.email))
    if p.reference:
        rows.append(f"Deres ref.: {escape(p.reference)}")
    return "<div>" + "<br>".join(rows) + "</div>"


def _line(line: InvoiceLineView) -> str:
    css = ' class="credited"' if line.credited else ""
    kwh = l10n.number(Decimal(line.energy_wh) / 1000, "nb", decimals=2)
    row = (
        f"    <tr{css}><td>{line.position}</td><td>{escape(line.description)}</td>"
        f'<td class="n">{kwh}</td>'
        f'<td class="n">{format_nok(line.net_ore)}</td>'
        f'<td class="n">{format_nok(line.vat_ore)}</td>'
        f'<td class="n">{format_nok(line.total_ore)}</td></tr>'
    )
    details = "; ".join(
        f"{d.description_nb}: {_decimal(d.quantity)} {d.unit} {l10n.money(d.total_ore)}"
        for d in line.details
    )
    if details:
        row += f'\n    <tr><td></td><td class="sub" colspan="5">{escape(details)}</td></tr>'
    return row


def _decimal(value: Decimal) -> str:
    return l10n.number(value, "nb", max_decimals=3)


def _support(operator: Operator | None) -> str:
    """Who answers questions about the invoice (the operator's support, as configured)."""
    contact = operator.contact("nb") if operator else ""
    if not contact:
        return ""
    return (
        f"<footer>Spørsmål om fakturaen? {escape(operator.name if operator else '')} "
        f"kundeservice: {escape(contact)}</footer>"
    )


def render_invoice_html(detail: InvoiceDetail, operator: Operator | None = None) -> str:
    s = detail.summary
    start = detail.period_start.astimezone(OSLO) if detail.period_start else None
    credited = ""
    if s.credited_ore:
        credited = f'  <tr><td>Kreditert</td><td class="n">-{format_nok(s.credited_ore)}</td></tr>'
    notes = ""
    if detail.credit_notes:
        items = "".join(
            f"<li>Kreditnota {n.number} ({n.issue_date:%d.%m.%Y}): "
            f"{l10n.money(n.total_ore)} &ndash; {escape(n.reason)}</li>"
            for n in detail.credit_notes
        )
        notes = f"<section><h2>Kreditnotaer</h2><ul>{items}</ul></section>"
    return _PAGE.substitute(
        number=s.number,
        issue_date=f"{s.issue_date:%d.%m.%Y}",
        due_date=f"{s.due_date:%d.%m.%Y}",
        period=f"{start:%m.%Y}" if start else escape(s.period),
        customer=detail.buyer.customer_number or s.user_id,
        status=_STATUS.get(s.status, escape(s.status)),
        seller=_party(detail.seller),
        buyer=_party(detail.buyer),
        lines="\n".join(_line(line) for line in detail.lines),
        net=format_nok(s.net_ore),
        vat=format_nok(s.vat_ore),
        credited=credited,
        due=format_nok(s.amount_due_ore),
        account=escape(_account(detail.seller.bank_account)),
        kid=escape(s.kid),
        credit_notes=notes,
        support=_support(operator),
    )


def _account(account: str | None) -> str:
    if not account:
        return "(kontonummer ikke satt)"
    if len(account) == 11 and account.isdigit():
        return f"{account[:4]}.{account[4:6]}.{account[6:]}"
    return account
