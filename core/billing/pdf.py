"""PDFs of invoices, credit notes and receipts (fpdf2), and print batches of invoices.

The content is that of the HTML invoice (core.billing.invoice_html): seller with
organisation number and address, buyer, number, dates, KID and account, one line per
charging session with date, site, time, kWh, price per kWh and VAT, and the totals. The
text is real text (the core Helvetica font, WinAnsi), so it can be searched, copied and
read back by machines; characters outside Latin-1 are replaced by look-alikes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from core.billing.schemas import CreditNoteView, InvoiceDetail, InvoiceLineView, Party
from core.timeutil import OSLO

_LOOKALIKES = str.maketrans(
    {
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u00a0": " ",
        "\u202f": " ",
        "\u20ac": "EUR",
    }
)
_STATUS = {"open": "Ubetalt", "paid": "Betalt", "overdue": "Forfalt", "credited": "Kreditert"}
LEFT, WIDTH = 15.0, 180.0


def latin1(text: str) -> str:
    """`text` in the core fonts' character set (æøå are in it; dashes become "-")."""
    return text.translate(_LOOKALIKES).encode("latin-1", "replace").decode("latin-1")


def nok(ore: int) -> str:
    """1 234,50 (Norwegian: space for thousands, comma for decimals)."""
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    return f"{sign}{kroner:,}".replace(",", " ") + f",{rest:02d}"


def kwh(energy_wh: int) -> str:
    return f"{energy_wh / 1000:.2f}".replace(".", ",")


def account(number: str | None) -> str:
    if not number:
        return "(kontonummer ikke satt)"
    if len(number) == 11 and number.isdigit():
        return f"{number[:4]}.{number[4:6]}.{number[6:]}"
    return number


def org(number: str) -> str:
    return " ".join((number[:3], number[3:6], number[6:])) if len(number) == 9 else number


def _day(value: date) -> str:
    return f"{value:%d.%m.%Y}"


@dataclass(frozen=True)
class LineWhere:
    """Where a session took place, for the invoice line (site and charger)."""

    site: str
    charger: str


class _Doc(FPDF):
    def __init__(self, title: str, seller: Party) -> None:
        super().__init__(format="A4", unit="mm")
        self.set_margins(LEFT, 15, LEFT)
        self.set_auto_page_break(True, margin=22)
        self.set_title(latin1(title))
        self.set_author(latin1(seller.name))
        self.set_creator("Ladeflyt")
        self.seller = seller

    def footer(self) -> None:
        self.set_y(-16)
        self.set_font("helvetica", size=7.5)
        self.set_text_color(90)
        parts = [self.seller.name]
        if self.seller.org_number:
            parts.append(
                f"Org.nr. {org(self.seller.org_number)}"
                + (" MVA" if self.seller.vat_registered else "")
            )
        address = ", ".join(
            p
            for p in (
                self.seller.street,
                f"{self.seller.postal_code} {self.seller.city}".strip(),
            )
            if p
        )
        if address:
            parts.append(address)
        if self.seller.email:
            parts.append(self.seller.email)
        self.cell(WIDTH, 4, latin1(" - ".join(parts)), align="C")
        self.cell(0, 4, f"{self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0)

    # ------------------------------------------------------------- building blocks

    def text_line(self, text: str, size: float = 9.5, bold: bool = False, h: float = 4.6) -> None:
        self.set_font("helvetica", "B" if bold else "", size)
        self.cell(0, h, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def party(self, p: Party, heading: str | None, x: float, y: float, w: float) -> float:
        self.set_xy(x, y)
        rows: list[tuple[str, bool]] = []
        if heading:
            rows.append((heading, True))
        rows.append((p.name, True))
        if p.street:
            rows.append((p.street, False))
        if p.postal_code or p.city:
            rows.append((f"{p.postal_code} {p.city}".strip(), False))
        if p.org_number:
            rows.append(
                (f"Org.nr. {org(p.org_number)}" + (" MVA" if p.vat_registered else ""), False)
            )
        if p.email:
            rows.append((p.email, False))
        if p.reference:
            rows.append((f"Deres ref.: {p.reference}", False))
        for text, bold in rows:
            self.set_x(x)
            self.set_font("helvetica", "B" if bold else "", 9.5)
            self.cell(w, 4.6, latin1(text), new_x=XPos.LEFT, new_y=YPos.NEXT)
        return self.get_y()

    def meta(self, rows: list[tuple[str, str]], x: float, y: float) -> float:
        for label, value in rows:
            self.set_xy(x, y)
            self.set_font("helvetica", "", 9)
            self.cell(32, 4.8, latin1(label))
            self.set_font("helvetica", "B", 9)
            self.cell(45, 4.8, latin1(value), align="R")
            y += 4.8
        return y

    def grid(
        self,
        headers: list[tuple[str, float, str]],
        rows: Iterable[list[str]],
        strike: Iterable[bool] = (),
    ) -> None:
        self.set_font("helvetica", "B", 8.5)
        self.set_fill_color(235)
        for text, w, align in headers:
            self.cell(w, 6, latin1(text), border="B", align=align, fill=True)
        self.ln(6)
        marks = list(strike)
        for i, row in enumerate(rows):
            self.set_font("helvetica", "", 8.5)
            if i < len(marks) and marks[i]:
                self.set_text_color(130)
            for (_, w, align), text in zip(headers, row, strict=True):
                self.cell(w, 5.4, latin1(text), border="B", align=align)
            self.ln(5.4)
            self.set_text_color(0)

    def totals(self, rows: list[tuple[str, str, bool]]) -> None:
        self.ln(2)
        for label, value, bold in rows:
            self.set_x(LEFT + WIDTH - 85)
            self.set_font("helvetica", "B" if bold else "", 10 if bold else 9.5)
            self.cell(55, 5.6, latin1(label), border="T" if bold else 0)
            self.cell(30, 5.6, latin1(value), border="T" if bold else 0, align="R")
            self.ln(5.6)

    def box(self, text: str) -> None:
        self.ln(4)
        self.set_font("helvetica", "", 10)
        self.set_line_width(0.5)
        self.multi_cell(WIDTH, 6, latin1(text), border=1, padding=3)
        self.set_line_width(0.2)


# --------------------------------------------------------------------------- invoice


def _unit_price(line: InvoiceLineView) -> str:
    """kr per kWh incl. VAT: the energy price if the session had one, else the average."""
    energy = [d for d in line.details if d.unit == "kWh"]
    if len(energy) == 1 and len(line.details) == 1:
        price = energy[0].unit_price_incl_vat_ore
    elif line.energy_wh > 0:
        price = Decimal(line.total_ore) * 1000 / line.energy_wh
    else:
        return "-"
    kroner = (price / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{kroner:f}".replace(".", ",")


def _when(line: InvoiceLineView) -> tuple[str, str]:
    if line.started_at is None:
        return "", ""
    start = line.started_at.astimezone(OSLO)
    stop = (line.stopped_at or line.started_at).astimezone(OSLO)
    end = f"{stop:%H:%M}" if stop.date() == start.date() else f"{stop:%d.%m %H:%M}"
    return f"{start:%d.%m.%Y}", f"{start:%H:%M}-{end}"


def _where(line: InvoiceLineView, where: dict[int, LineWhere]) -> str:
    place = where.get(line.id)
    if place is not None:
        return f"{place.site}, {place.charger}" if place.site else place.charger
    # "Lading <site>, <charger>, <date> <time>, <kWh> kWh": the place is up to the date.
    text = line.description.removeprefix("Lading ")
    parts = text.split(", ")
    return ", ".join(parts[:-2]) if len(parts) > 2 else text


def draw_invoice(
    pdf: _Doc,
    detail: InvoiceDetail,
    where: dict[int, LineWhere] | None = None,
    *,
    pay_url: str | None = None,
) -> None:
    s = detail.summary
    where = where or {}
    pdf.add_page()
    pdf.set_font("helvetica", "B", 20)
    pdf.cell(100, 10, "Faktura", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    seller_end = pdf.party(detail.seller, None, LEFT, pdf.get_y() + 1, 95)
    start = detail.period_start.astimezone(OSLO) if detail.period_start else None
    meta_end = pdf.meta(
        [
            ("Fakturanummer", str(s.number)),
            ("Fakturadato", _day(s.issue_date)),
            ("Forfallsdato", _day(s.due_date)),
            ("Periode", f"{start:%m.%Y}" if start else s.period),
            ("Kundenummer", str(detail.buyer.customer_number or s.user_id)),
            ("KID", s.kid),
            ("Status", _STATUS.get(s.status, s.status)),
        ],
        LEFT + WIDTH - 77,
        25,
    )
    # The buyer's address sits where a window envelope shows it.
    buyer_end = pdf.party(detail.buyer, None, LEFT + 5, max(seller_end + 6, 55), 90)
    pdf.set_y(max(meta_end, buyer_end) + 8)
    headers = [
        ("Dato", 20.0, "L"),
        ("Sted", 58.0, "L"),
        ("Tid", 24.0, "L"),
        ("kWh", 15.0, "R"),
        ("kr/kWh", 15.0, "R"),
        ("Netto", 16.0, "R"),
        ("MVA 25 %", 16.0, "R"),
        ("Sum", 16.0, "R"),
    ]
    rows = []
    for line in detail.lines:
        day, time = _when(line)
        rows.append(
            [
                day,
                _where(line, where)[:40],
                time,
                kwh(line.energy_wh),
                _unit_price(line),
                nok(line.net_ore),
                nok(line.vat_ore),
                nok(line.total_ore),
            ]
        )
    pdf.grid(headers, rows, [line.credited for line in detail.lines])
    totals = [
        ("Sum eks. MVA", nok(s.net_ore), False),
        ("MVA 25 %", nok(s.vat_ore), False),
    ]
    if s.credited_ore:
        totals.append(("Kreditert", nok(-s.credited_ore), False))
    if s.fees_ore:
        totals.append(("Purregebyr (uten MVA)", nok(s.fees_ore), False))
    totals.append(("Å betale (NOK)", nok(s.amount_due_ore), True))
    pdf.totals(totals)
    if s.amount_due_ore:
        text = (
            f"Betal {nok(s.amount_due_ore)} kr til konto {account(detail.seller.bank_account)} "
            f"med KID {s.kid} innen {_day(s.due_date)}."
        )
        if pay_url:
            text += f"\nEller betal med kort eller Vipps: {pay_url}"
    else:
        text = "Fakturaen er betalt. Takk!" if s.status == "paid" else "Ingenting å betale."
    pdf.box(text)
    for note in detail.credit_notes:
        pdf.ln(2)
        pdf.text_line(
            f"Kreditnota {note.number} ({_day(note.issue_date)}): -{nok(note.total_ore)} kr"
            f" - {note.reason}",
            size=8.5,
        )


def invoice_pdf(
    detail: InvoiceDetail,
    where: dict[int, LineWhere] | None = None,
    *,
    pay_url: str | None = None,
) -> bytes:
    pdf = _Doc(f"Faktura {detail.summary.number}", detail.seller)
    draw_invoice(pdf, detail, where, pay_url=pay_url)
    return bytes(pdf.output())


# --------------------------------------------------------------------------- credit note


def credit_note_pdf(detail: InvoiceDetail, note: CreditNoteView) -> bytes:
    pdf = _Doc(f"Kreditnota {note.number}", detail.seller)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 20)
    pdf.cell(100, 10, "Kreditnota", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    seller_end = pdf.party(detail.seller, None, LEFT, pdf.get_y() + 1, 95)
    meta_end = pdf.meta(
        [
            ("Kreditnotanummer", str(note.number)),
            ("Dato", _day(note.issue_date)),
            ("Gjelder faktura", str(detail.summary.number)),
            ("Fakturadato", _day(detail.summary.issue_date)),
            ("Kundenummer", str(detail.buyer.customer_number or detail.summary.user_id)),
        ],
        LEFT + WIDTH - 77,
        25,
    )
    buyer_end = pdf.party(detail.buyer, None, LEFT + 5, max(seller_end + 6, 55), 90)
    pdf.set_y(max(meta_end, buyer_end) + 8)
    pdf.text_line(f"Årsak: {note.reason}")
    pdf.ln(2)
    headers = [
        ("Kreditert", 116.0, "L"),
        ("Netto", 20.0, "R"),
        ("MVA 25 %", 22.0, "R"),
        ("Sum", 22.0, "R"),
    ]
    rows = [
        [line.description[:75], nok(line.net_ore), nok(line.vat_ore), nok(line.total_ore)]
        for line in note.lines
    ]
    pdf.grid(headers, rows)
    pdf.totals(
        [
            ("Sum eks. MVA", nok(-note.net_ore), False),
            ("MVA 25 %", nok(-note.vat_ore), False),
            ("Kreditert (NOK)", nok(-note.total_ore), True),
        ]
    )
    pdf.box(
        f"Beløpet {nok(note.total_ore)} kr trekkes fra faktura {detail.summary.number} "
        f"(KID {detail.summary.kid}). Er fakturaen betalt, betaler vi beløpet tilbake."
    )
    return bytes(pdf.output())


# --------------------------------------------------------------------------- receipt


@dataclass(frozen=True)
class ReceiptLine:
    text: str
    total_ore: int


@dataclass(frozen=True)
class ReceiptDoc:
    """What a receipt shows; built by core.invoicing.documents from the session."""

    session_id: int
    charger: str
    site: str
    evse_id: int | None
    started_at: datetime
    stopped_at: datetime | None
    energy_wh: int
    lines: list[ReceiptLine]
    net_ore: int
    vat_ore: int
    total_ore: int
    paid_ore: int
    method: str | None
    seller: Party
    energy_exported_wh: int = 0
    v2g_credit_ore: int | None = None


_METHODS = {"card": "kort", "vipps": "Vipps"}


def receipt_pdf(r: ReceiptDoc) -> bytes:
    pdf = _Doc(f"Kvittering {r.session_id}", r.seller)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 20)
    pdf.cell(100, 10, "Kvittering", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    seller_end = pdf.party(r.seller, None, LEFT, pdf.get_y() + 1, 95)
    start = r.started_at.astimezone(OSLO)
    stop = r.stopped_at.astimezone(OSLO) if r.stopped_at else None
    meta_end = pdf.meta(
        [
            ("Kvitteringsnr.", str(r.session_id)),
            ("Dato", f"{start:%d.%m.%Y}"),
            ("Tid", f"{start:%H:%M}-{stop:%H:%M}" if stop else f"{start:%H:%M}-"),
            ("Lader", r.charger + (f" #{r.evse_id}" if r.evse_id else "")),
            ("Energi", f"{kwh(r.energy_wh)} kWh"),
        ],
        LEFT + WIDTH - 77,
        25,
    )
    pdf.set_y(max(seller_end, meta_end) + 6)
    if r.site:
        pdf.text_line(f"Sted: {r.site}")
        pdf.ln(2)
    pdf.grid(
        [("Beskrivelse", 150.0, "L"), ("Sum", 30.0, "R")],
        [[line.text[:95], nok(line.total_ore)] for line in r.lines],
    )
    rows = [
        ("Sum eks. MVA", nok(r.net_ore), False),
        ("MVA 25 %", nok(r.vat_ore), False),
        ("Totalt (NOK)", nok(r.total_ore), True),
    ]
    if r.method:
        rows.append((f"Betalt med {_METHODS.get(r.method, r.method)}", nok(r.paid_ore), False))
    if r.energy_exported_wh:
        rows.append(("Tilbakelevert (V2G)", f"{kwh(r.energy_exported_wh)} kWh", False))
    if r.v2g_credit_ore is not None:
        rows.append(("Godskrives neste faktura", nok(-r.v2g_credit_ore), False))
    pdf.totals(rows)
    return bytes(pdf.output())


# --------------------------------------------------------------------------- print batch


@dataclass(frozen=True)
class Letter:
    detail: InvoiceDetail
    where: dict[int, LineWhere]
    kind: str = "invoice"  # invoice | credit_note
    note: CreditNoteView | None = None


def print_batch_pdf(name: str, letters: list[Letter], seller: Party) -> bytes:
    """One PDF for the print shop: a cover sheet listing the letters, then each letter."""
    pdf = _Doc(f"Utskrift {name}", seller)
    pdf.add_page()
    pdf.text_line(f"Utskriftsbunke {name}", size=16, bold=True, h=9)
    pdf.text_line(f"{len(letters)} brev", size=10)
    pdf.ln(3)
    pdf.grid(
        [("Dokument", 40.0, "L"), ("Mottaker", 80.0, "L"), ("Postnr./sted", 60.0, "L")],
        [
            [
                f"{'Faktura' if x.kind == 'invoice' else 'Kreditnota'} "
                f"{x.note.number if x.note else x.detail.summary.number}",
                x.detail.buyer.name[:50],
                f"{x.detail.buyer.postal_code} {x.detail.buyer.city}".strip()
                or "(adresse mangler)",
            ]
            for x in letters
        ],
    )
    for letter in letters:
        if letter.kind == "credit_note" and letter.note is not None:
            # A credit note as its own letter: the same layout as credit_note_pdf.
            draw_credit_note(pdf, letter.detail, letter.note)
        else:
            draw_invoice(pdf, letter.detail, letter.where)
    return bytes(pdf.output())


def draw_credit_note(pdf: _Doc, detail: InvoiceDetail, note: CreditNoteView) -> None:
    pdf.add_page()
    pdf.set_font("helvetica", "B", 20)
    pdf.cell(100, 10, "Kreditnota", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.party(detail.buyer, None, LEFT + 5, 55, 90)
    pdf.set_y(85)
    pdf.text_line(
        f"Kreditnota {note.number} av {_day(note.issue_date)} til faktura "
        f"{detail.summary.number}: -{nok(note.total_ore)} kr"
    )
    pdf.text_line(f"Årsak: {note.reason}")
