"""`ladeflyt tariff|invoices|spot|report|share-bill`: tariffs, pricing and billing commands.

Prices on the command line are øre incl. 25 % VAT (what drivers see) unless --excl-vat is
given; they are stored excl. VAT. Amounts printed are NOK with two decimals.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.billing import credit as credit_service
from core.billing import ehf, reports, sharing
from core.billing import service as billing
from core.billing.errors import BillingError
from core.billing.invoice_html import render_invoice_html
from core.billing.periods import PeriodError, unfinished
from core.config import Settings
from core.models import Charger, Connector
from core.operator import Operator
from core.tariffs import admin
from core.tariffs.errors import TariffError
from core.tariffs.service import quote
from core.tariffs.spot import CsvSpotPriceFeed, import_spot_prices
from core.timeutil import OSLO, utcnow
from core.users.service import get_user_by_phone
from ladeflyt.console import in_transaction as _run

T = TypeVar("T")
__all__ = ["BillingError", "TariffError", "register"]  # the errors: exit code 2 in cli.main
NET = Decimal("0.8")  # incl. VAT -> excl. VAT


def _nok(ore: int) -> str:
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    return f"{sign}{kroner}.{rest:02d}"


def _json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TariffError(f"not a timestamp: {text!r} (ISO 8601)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=OSLO)
    return parsed.astimezone(UTC)


def _net(value: str, excl_vat: bool) -> Decimal:
    """An øre amount from the command line, excl. VAT."""
    try:
        number = Decimal(value.replace(",", "."))
    except ArithmeticError:
        raise TariffError(f"not a number: {value!r}") from None
    return number if excl_vat else number * NET


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise BillingError(f"not a date: {text!r} (YYYY-MM-DD)") from None


async def _user_id(session: AsyncSession, phone: str) -> int:
    user = await get_user_by_phone(session, phone)
    if user is None:
        raise BillingError(f"no user with phone {phone}")
    return user.id


# ------------------------------------------------------------------------- tariff


def cmd_tariff_create(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> int:
        return (await admin.create_tariff(session, args.name, args.description)).id

    print(f"tariff {args.name!r} created (id {_run(settings, work)})")


def cmd_tariff_add_component(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await admin.add_component(
            session,
            args.tariff,
            kind=args.kind,
            price_ore=_net(args.price, args.excl_vat),
            unit=args.unit,
            days=args.days,
            start=args.start,
            end=args.end,
            grace_minutes=args.grace_min,
            cap_ore=None if args.cap is None else _net(args.cap, args.excl_vat),
            min_power_kw=args.min_kw,
            max_power_kw=args.max_kw,
            spot_area=args.area,
            spot_fallback_ore=None
            if args.fallback_spot is None
            else _net(args.fallback_spot, True),
            spot_negative=args.negative,
        )

    c = _run(settings, work)
    window = f" ({c.window_en})" if c.window_en else ""
    print(
        f"{c.kind} component added to {args.tariff}: {c.price_incl_vat_ore.normalize():f} øre/"
        f"{c.unit} incl. VAT{window}"
    )


def cmd_tariff_attach(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await admin.attach_tariff(
            session,
            args.tariff,
            site=args.site,
            charger=args.charger,
            group=args.group,
            valid_from=_when(args.valid_from),
        )

    a = _run(settings, work)
    where = f"site {a.site}" if a.site else f"charger {a.charger}"
    print(f"tariff {args.tariff} attached to {where} for group {a.customer_group}")


def cmd_tariff_detach(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> int:
        return await admin.detach_tariff(
            session, site=args.site, charger=args.charger, group=args.group
        )

    print(f"{_run(settings, work)} assignment(s) ended")


def cmd_tariff_list_price(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> None:
        await admin.set_list_price(session, args.site, None if args.clear else args.ore)

    if not args.clear and args.ore is None:
        raise TariffError("give --ore N or --clear")
    _run(settings, work)
    print(f"list price of {args.site}: " + ("none" if args.clear else f"{args.ore} øre/kWh"))


def _print_tariff(t: Any) -> None:
    print(f"{t.id:>4}  {t.name}" + (f" - {t.description}" if t.description else ""))
    if not t.components:
        print("        free (no components)")
    for c in t.components:
        extras = [
            x
            for x in (
                c.window_en,
                f"grace {c.grace_minutes} min" if c.grace_minutes else None,
                f"cap {(c.cap_ore * Decimal('1.25')).normalize():f} øre" if c.cap_ore else None,
                f"{c.min_power_kw or 0}-{c.max_power_kw or ''} kW"
                if c.min_power_kw is not None or c.max_power_kw is not None
                else None,
                f"spot {c.spot_area} (negative: {c.spot_negative})" if c.spot_area else None,
            )
            if x
        ]
        print(
            f"        {c.kind:<12} {c.price_incl_vat_ore.normalize():f} øre/{c.unit} incl. VAT"
            + (f"  [{'; '.join(extras)}]" if extras else "")
        )
    for a in t.assignments:
        where = f"site {a.site}" if a.site else f"charger {a.charger}"
        until = f" until {a.valid_to:%Y-%m-%d %H:%M}" if a.valid_to else ""
        print(
            f"        -> {where}, group {a.customer_group}, from {a.valid_from:%Y-%m-%d %H:%M}"
            f"{until} UTC"
        )


def cmd_tariff_list(args: argparse.Namespace, settings: Settings) -> None:
    tariffs = _run(settings, admin.list_tariffs)
    if args.json:
        _json([asdict(t) for t in tariffs])
        return
    if not tariffs:
        print("no tariffs")
    for t in tariffs:
        _print_tariff(t)


def cmd_tariff_show(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await admin.get_tariff(session, args.tariff)

    t = _run(settings, work)
    if args.json:
        _json(asdict(t))
    else:
        _print_tariff(t)


def cmd_tariff_quote(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        pk = (
            await session.execute(
                select(Connector.id)
                .join(Charger, Charger.id == Connector.charger_id)
                .where(Charger.charge_point_id == args.charger, Connector.evse_id == args.connector)
                .order_by(Connector.connector_id)
                .limit(1)
            )
        ).scalar()
        if pk is None:
            raise TariffError(f"no connector {args.connector} on charger {args.charger}")
        user_id = await _user_id(session, args.user) if args.user else None
        return await quote(session, pk, user_id, _when(args.at) or datetime.now(UTC))

    q = _run(settings, work)
    if args.json:
        _json(asdict(q))
        return
    name = q.tariff_name or ("-" if q.price_configured else "no price configured")
    print(f"group {q.customer_group}: {name}" + (f" ({q.message_en})" if q.message_en else ""))
    for c in q.components:
        now = "" if c.applies_now else "  (not now)"
        print(f"  {c.unit_price_ore.normalize():f} øre/{c.unit}  {c.description_en}{now}")
    if q.headline_ore_per_kwh is not None:
        print(f"now: {q.headline_ore_per_kwh} øre/kWh incl. VAT")


# ------------------------------------------------------------------------- invoices


def cmd_invoices_run(args: argparse.Namespace, settings: Settings) -> None:
    from core.invoicing.runs import issue_and_queue
    from ladeflyt.console import ProgressBar

    try:
        ends = None if args.force else unfinished(args.period, utcnow())
    except PeriodError as error:
        raise BillingError(str(error)) from None
    if ends is not None:
        raise BillingError(
            f"{args.period.strip()} is not over until {ends} (Oslo): sessions may still come "
            "in; --force invoices it now (later sessions then get an invoice of their own)"
        )
    bar = None if args.json else ProgressBar("customers")

    async def work(session: AsyncSession) -> Any:
        return await issue_and_queue(
            session,
            args.period,
            due_days=args.due_days,
            issue_date=_date(args.issue_date),
            progress=bar,
        )

    outcome = _run(settings, work)
    result = outcome.result
    if args.json:
        _json(asdict(result) | {"deliveries": outcome.channels, "run_id": outcome.run_id})
        return
    for inv in result.invoices:
        print(
            f"invoice {inv.number}  {inv.buyer_name:<24} {_nok(inv.total_ore):>10} NOK  "
            f"KID {inv.kid}  due {inv.due_date}"
        )
    print(
        f"{len(result.invoices)} invoice(s), {result.sessions_invoiced} session(s) for "
        f"{result.period}; {result.marked_overdue} invoice(s) now overdue"
    )
    if outcome.channels:
        ways = ", ".join(f"{n} by {channel}" for channel, n in sorted(outcome.channels.items()))
        print(f"queued for delivery: {ways} (sent by `ladeflyt serve` or `invoices deliver`)")
    if result.unpriced_session_ids:
        ids = ", ".join(str(i) for i in result.unpriced_session_ids)
        print(f"not invoiced, no price yet: session(s) {ids}", file=sys.stderr)


def _print_invoices(rows: list[Any]) -> None:
    if not rows:
        print("no invoices")
        return
    print(
        f"{'id':>5} {'number':>7}  {'period':<7}  {'customer':<24} {'total NOK':>10}  "
        f"{'due':<10}  status"
    )
    for r in rows:
        print(
            f"{r.id:>5} {r.number:>7}  {r.period:<7}  {r.buyer_name[:24]:<24} "
            f"{_nok(r.total_ore):>10}  {r.due_date}  {r.status}"
        )


def cmd_invoices_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[Any]:
        if args.user:
            rows = await billing.list_invoices(session, await _user_id(session, args.user))
            return [
                r
                for r in rows
                if (not args.period or r.period == args.period)
                and (not args.status or r.status == args.status)
            ]
        return await billing.list_all_invoices(session, period=args.period, status=args.status)

    rows = _run(settings, work)
    if args.json:
        _json([asdict(r) | {"amount_due_ore": r.amount_due_ore} for r in rows])
    else:
        _print_invoices(rows)


async def _detail(session: AsyncSession, invoice_id: int) -> Any:
    detail = await billing.get_invoice(session, invoice_id, None)
    if detail is None:
        raise BillingError(f"no invoice {invoice_id}")
    return detail


def _write(data: str | bytes, out: str | None) -> None:
    if out is None:
        if isinstance(data, bytes):
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        return
    path = Path(out)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    print(f"wrote {path}")


def cmd_invoices_show(args: argparse.Namespace, settings: Settings) -> None:
    detail = _run(settings, lambda s: _detail(s, args.id))
    if args.html:
        _write(render_invoice_html(detail, Operator.from_settings(settings)), args.out)
        return
    if args.json:
        _json(asdict(detail))
        return
    s = detail.summary
    print(f"invoice {s.number} ({s.status}) to {detail.buyer.name}, period {s.period}")
    print(f"issued {s.issue_date}, due {s.due_date}, KID {s.kid}")
    for line in detail.lines:
        mark = " (credited)" if line.credited else ""
        print(f"  {line.position:>3}. {line.description}  {_nok(line.total_ore)}{mark}")
    print(f"net {_nok(s.net_ore)}  VAT {_nok(s.vat_ore)}  total {_nok(s.total_ore)} NOK")
    for note in detail.credit_notes:
        print(f"credit note {note.number}: -{_nok(note.total_ore)} NOK ({note.reason})")


def cmd_invoices_export_ehf(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> bytes:
        detail = await _detail(session, args.invoice)
        if args.credit_note is None:
            return ehf.invoice_xml(detail)
        note = next((n for n in detail.credit_notes if n.id == args.credit_note), None)
        if note is None:
            raise BillingError(f"invoice {args.invoice} has no credit note {args.credit_note}")
        return ehf.credit_note_xml(detail, note)

    _write(_run(settings, work), args.out)


def cmd_invoices_paid(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await billing.mark_paid(session, args.id, _when(args.at))

    inv = _run(settings, work)
    print(f"invoice {inv.number} paid")


def cmd_invoices_credit(args: argparse.Namespace, settings: Settings) -> None:
    from core.invoicing.outbox import queue_credit_note

    async def work(session: AsyncSession) -> Any:
        note = await credit_service.credit_invoice(
            session, args.id, args.reason, line_ids=args.line or None
        )
        await queue_credit_note(session, note.id)  # to the customer, like the invoice
        return note

    note = _run(settings, work)
    print(
        f"credit note {note.number} (id {note.id}) for invoice {note.invoice_number}: "
        f"-{_nok(note.total_ore)} NOK, {len(note.lines)} line(s)"
    )


def cmd_invoices_customer(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> None:
        await billing.set_billing_profile(
            session,
            await _user_id(session, args.phone),
            company_name=args.company,
            org_number=args.org_number,
            street=args.street,
            postal_code=args.postal_code,
            city=args.city,
            email=args.email,
            buyer_reference=args.reference,
            invoice_billing=args.invoice_billing,
        )

    _run(settings, work)
    print(f"billing details of {args.phone} saved")


# ------------------------------------------------------------------------- spot, reports


def cmd_spot_import(args: argparse.Namespace, settings: Settings) -> None:
    feed = CsvSpotPriceFeed(Path(args.csv), resolution_minutes=args.resolution)

    async def work(session: AsyncSession) -> Any:
        return await import_spot_prices(session, feed, args.area)

    r = _run(settings, work)
    span = f" from {r.first:%Y-%m-%d %H:%M} to {r.last:%Y-%m-%d %H:%M} UTC" if r.first else ""
    print(f"{r.stored} quarter-hour prices stored for {r.area}{span}")
    if r.missing:
        shown = ", ".join(f"{m:%Y-%m-%d %H:%M}" for m in r.missing[:8])
        more = f" and {len(r.missing) - 8} more" if len(r.missing) > 8 else ""
        print(f"missing prices (UTC): {shown}{more}", file=sys.stderr)


def cmd_report(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[Any]:
        return await reports.period_report(session, args.period, args.by)

    rows = _run(settings, work)
    if args.json:
        _json([asdict(r) for r in rows])
        return
    print(f"{args.by:<24} {'sessions':>8} {'kWh':>10} {'net NOK':>10} {'VAT':>9} {'total NOK':>10}")
    for r in rows:
        unpriced = f"  ({r.unpriced_sessions} unpriced)" if r.unpriced_sessions else ""
        print(
            f"{r.label[:24]:<24} {r.sessions:>8} {r.energy_wh / 1000:>10.3f} "
            f"{_nok(r.net_ore):>10} {_nok(r.vat_ore):>9} {_nok(r.total_ore):>10}{unpriced}"
        )


def cmd_share_bill(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        return await sharing.share_bill(
            session, args.site, args.period, args.amount_ore, replace=args.replace
        )

    split = _run(settings, work)
    if args.json:
        _json(asdict(split))
        return
    print(
        f"{split.site} {split.period}: {_nok(split.amount_ore)} NOK over "
        f"{split.energy_wh / 1000:.3f} kWh"
    )
    for share in split.shares:
        print(
            f"  {share.name[:28]:<28} {share.energy_wh / 1000:>10.3f} kWh "
            f"{_nok(share.amount_ore):>10} NOK"
        )


# ------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Add the tariff and billing commands to the `ladeflyt` parser's subcommands."""
    tariff = sub.add_parser("tariff", help="tariffs").add_subparsers(dest="tc", required=True)
    p = tariff.add_parser("create", help="create an (empty = free) tariff")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_tariff_create)

    p = tariff.add_parser("add-component", help="add a price component to a tariff")
    p.add_argument("tariff", help="tariff name or id")
    p.add_argument(
        "--kind", required=True, choices=["energy", "spot_energy", "time", "parking", "session"]
    )
    p.add_argument(
        "--price", required=True, help="øre per unit incl. VAT (for spot_energy: the markup)"
    )
    p.add_argument("--excl-vat", action="store_true", help="--price and --cap are excl. VAT")
    p.add_argument("--unit", default=None, help="kWh | min | h | session (default by kind)")
    p.add_argument("--days", default="all", help="mon-fri, sat,sun, weekdays, weekend, all")
    p.add_argument("--from", dest="start", default=None, help="HH:MM local time")
    p.add_argument("--to", dest="end", default=None, help="HH:MM local time (24:00 ok)")
    p.add_argument("--grace-min", type=int, default=0, help="parking: free minutes first")
    p.add_argument("--cap", default=None, help="most øre per session for this component")
    p.add_argument("--min-kw", default=None, help="applies from this max session power")
    p.add_argument("--max-kw", default=None, help="applies below this max session power")
    p.add_argument("--area", default=None, help="spot price area NO1..NO5")
    p.add_argument(
        "--fallback-spot",
        default=None,
        help="spot price (øre/kWh excl. VAT) for quarter hours without one",
    )
    p.add_argument(
        "--negative",
        choices=["floor", "pass"],
        default="floor",
        help="negative spot prices count as 0 (floor) or lower the price (pass)",
    )
    p.set_defaults(func=cmd_tariff_add_component)

    for name, func, help_ in (
        ("attach", cmd_tariff_attach, "make a tariff the price of a group at a site/charger"),
        ("detach", cmd_tariff_detach, "end the tariff of a group at a site/charger"),
    ):
        p = tariff.add_parser(name, help=help_)
        if name == "attach":
            p.add_argument("tariff", help="tariff name or id")
            p.add_argument(
                "--from", dest="valid_from", default=None, help="ISO time (Oslo); default now"
            )
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("--site", default=None)
        target.add_argument("--charger", default=None, help="charge point id")
        p.add_argument(
            "--group",
            default="public",
            help="customer group: member, tenant, employee, service, public...",
        )
        p.set_defaults(func=func)

    p = tariff.add_parser("list", help="list tariffs, components and where they apply")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tariff_list)
    p = tariff.add_parser("show", help="show one tariff")
    p.add_argument("tariff")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tariff_show)
    p = tariff.add_parser("quote", help="the price a driver would see at a connector")
    p.add_argument("--charger", required=True)
    p.add_argument("--connector", type=int, default=1)
    p.add_argument("--user", default=None, help="driver's phone; default a guest")
    p.add_argument("--at", default=None, help="ISO time (Oslo); default now")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tariff_quote)
    p = tariff.add_parser("list-price", help="a site's plain price where no tariff applies")
    p.add_argument("--site", required=True)
    p.add_argument("--ore", type=int, default=None, help="øre/kWh incl. VAT")
    p.add_argument("--clear", action="store_true")
    p.set_defaults(func=cmd_tariff_list_price)

    inv = sub.add_parser("invoices", help="invoices").add_subparsers(dest="ic", required=True)
    p = inv.add_parser("run", help="invoice a month for every invoice customer")
    p.add_argument("--period", required=True, help="YYYY-MM")
    p.add_argument("--due-days", type=int, default=None)
    p.add_argument("--issue-date", default=None, help="YYYY-MM-DD; default today")
    p.add_argument("--json", action="store_true")
    p.add_argument("--force", action="store_true", help="invoice a month that is not over yet")
    p.set_defaults(func=cmd_invoices_run)
    p = inv.add_parser("list", help="list invoices, newest first")
    p.add_argument("--user", default=None, help="a customer's phone")
    p.add_argument("--period", default=None)
    p.add_argument("--status", default=None, choices=["open", "paid", "overdue", "credited"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_invoices_list)
    p = inv.add_parser("show", help="show an invoice")
    p.add_argument("id", type=int)
    p.add_argument("--html", action="store_true", help="the printable HTML invoice")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default=None, help="write to a file")
    p.set_defaults(func=cmd_invoices_show)
    p = inv.add_parser("export-ehf", help="EHF (Peppol BIS Billing 3.0) XML")
    p.add_argument("invoice", type=int, help="invoice id")
    p.add_argument("--credit-note", type=int, default=None, help="export this credit note")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_invoices_export_ehf)
    p = inv.add_parser("paid", help="mark an invoice paid")
    p.add_argument("id", type=int)
    p.add_argument("--at", default=None)
    p.set_defaults(func=cmd_invoices_paid)
    p = inv.add_parser("credit", help="issue a credit note")
    p.add_argument("id", type=int)
    p.add_argument("--reason", required=True)
    p.add_argument("--line", type=int, action="append", help="invoice line id (repeatable)")
    p.set_defaults(func=cmd_invoices_credit)
    p = inv.add_parser("customer", help="invoice address, org number and billing mode")
    p.add_argument("phone")
    for flag in (
        "--company",
        "--org-number",
        "--street",
        "--postal-code",
        "--city",
        "--email",
        "--reference",
    ):
        p.add_argument(flag, default=None)
    p.add_argument("--invoice-billing", action=argparse.BooleanOptionalAction, default=None)
    p.set_defaults(func=cmd_invoices_customer)

    spot = sub.add_parser("spot", help="spot prices").add_subparsers(dest="sc", required=True)
    p = spot.add_parser("import", help="import day-ahead prices from a CSV file")
    p.add_argument("csv")
    p.add_argument("--area", required=True, help="NO1..NO5")
    p.add_argument(
        "--resolution",
        type=int,
        choices=[15, 60],
        default=15,
        help="minutes per row when the file has no end column",
    )
    p.set_defaults(func=cmd_spot_import)

    p = sub.add_parser("report", help="energy and cost per user, group, site or month")
    p.add_argument("--period", required=True, help="YYYY-MM or YYYY")
    p.add_argument("--by", choices=list(reports.GROUPINGS), default="user")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("share-bill", help="split a site's electricity bill by metered energy")
    p.add_argument("--site", required=True)
    p.add_argument("--period", required=True, help="YYYY-MM")
    p.add_argument("--amount-ore", type=int, required=True, help="the bill, øre incl. VAT")
    p.add_argument("--replace", action="store_true", help="redo an earlier split")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_share_bill)
