"""`ladeflyt invoices deliver|deliveries|resend|pdf|channel|schedule|runs|overdue|validate-ehf`
and `ladeflyt efaktura ...`: invoices that reach people (`user update` sets the channel)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.errors import BillingError
from core.billing.periods import local_today
from core.config import Settings
from core.db import create_engine, session_factory
from core.invoicing import channels as channel_rules
from core.invoicing import consent, dunning, outbox, schedule
from core.invoicing import documents as docs
from core.invoicing.dispatcher import RoundResult
from core.models import DeliveryAttempt, DocumentDelivery, User
from core.timeutil import OSLO
from core.users.service import get_user_by_phone
from ladeflyt.console import in_transaction as _run

T = TypeVar("T")


class InvoiceCliError(Exception):
    pass


def nok(ore: int) -> str:
    """12.50, like the other invoice commands."""
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    return f"{sign}{kroner}.{rest:02d}"


async def _user(session: AsyncSession, phone: str) -> User:
    user = await get_user_by_phone(session, phone)
    if user is None:
        raise InvoiceCliError(f"no user with phone {phone}")
    return user


# --------------------------------------------------------------------------- channels


async def delivery_decision(
    session: AsyncSession, user_id: int
) -> channel_rules.ChannelDecision | None:
    from core.billing.settings import get_billing_settings

    seller = get_billing_settings().seller_org_number.replace(" ", "") or None
    return await channel_rules.decision_for(session, user_id, seller)


def cmd_channel(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> channel_rules.ChannelDecision | None:
        return await delivery_decision(session, (await _user(session, args.phone)).id)

    d = _run(settings, work)
    assert d is not None
    print(f"chosen: {d.requested}  invoices go by: {d.channel}  to: {d.recipient or '-'}")
    print(f"why: {d.reason}")


# --------------------------------------------------------------------------- delivering


def deliver_now(settings: Settings) -> RoundResult:
    """One round of what `serve` does all the time: receipts and consent files, then
    every delivery due."""
    from ladeflyt.runtime import invoice_delivery

    async def run() -> RoundResult:
        engine = create_engine(settings.database_url)
        try:
            deliveries, _ = invoice_delivery(settings, session_factory(engine))
            await deliveries.housekeeping()
            return await deliveries.run_once()
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_deliver(args: argparse.Namespace, settings: Settings) -> None:
    result = deliver_now(settings)
    shown = _run(settings, lambda s: _describe([o[0] for o in result.outcomes], s))
    for line in shown:
        print(line)
    if result.print_batch:
        print(f"print batch: {result.print_batch}")
    print(f"{result.delivered} delivered, {result.retried} to retry, {result.failed} failed")
    if result.failed:
        sys.exit(1)


async def _describe(ids: list[int], session: AsyncSession) -> list[str]:
    if not ids:
        return []
    rows = await session.execute(
        select(DocumentDelivery).where(DocumentDelivery.id.in_(ids)).order_by(DocumentDelivery.id)
    )
    return [_line(d) for d in rows.scalars()]


def _line(d: DocumentDelivery) -> str:
    what = {"invoice": "invoice", "credit_note": "credit note", "receipt": "receipt"}[d.document]
    ref = d.dedup_key.split(":")[1]
    detail = d.external_ref if d.status == "delivered" else (d.last_error or "")
    return (
        f"{what} {ref:<5} {d.channel:<8} {d.status:<9} {d.recipient[:34]:<34} {(detail or '')[:60]}"
    ).rstrip()


def cmd_deliveries(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[tuple[DocumentDelivery, list[DeliveryAttempt]]]:
        query = select(DocumentDelivery).order_by(DocumentDelivery.id.desc()).limit(args.limit)
        if args.invoice is not None:
            query = query.where(DocumentDelivery.invoice_id == args.invoice)
        if args.status:
            query = query.where(DocumentDelivery.status == args.status)
        out = []
        for d in (await session.execute(query)).scalars():
            attempts = await session.execute(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == d.id)
                .order_by(DeliveryAttempt.number)
            )
            out.append((d, list(attempts.scalars())))
        return out

    rows = _run(settings, work)
    if not rows:
        print("no deliveries")
    for d, attempts in rows:
        print(_line(d) + f"  (attempts {d.attempts}; {d.reason})")
        for a in attempts:
            when = a.started_at.astimezone(OSLO)
            print(f"    #{a.number} {when:%Y-%m-%d %H:%M:%S} {a.outcome} {a.detail[:80]}".rstrip())


def cmd_resend(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> tuple[int | None, str]:
        count = len(await outbox.deliveries_of(session, args.invoice))
        if args.credit_note is not None:
            delivery, decision = await outbox.queue_credit_note(
                session, args.credit_note, channel=args.channel, suffix=f":resend:{count}"
            )
        else:
            delivery, decision = await outbox.queue_invoice(
                session, args.invoice, channel=args.channel, suffix=f":resend:{count}"
            )
        return delivery, f"{decision.channel} to {decision.recipient or '-'}"

    try:
        delivery, where = _run(settings, work)
    except ValueError as error:
        raise InvoiceCliError(str(error)) from None
    if delivery is None:
        print("already queued")
        return
    print(f"queued again ({where}); `ladeflyt invoices deliver` sends it now")


def cmd_pdf(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> tuple[str, bytes]:
        if args.credit_note is not None:
            _, note, pdf = await docs.credit_note_parts(session, args.credit_note)
            return docs.credit_note_name(note), pdf
        detail, pdf = await docs.invoice_pdf_bytes(session, args.invoice)
        return docs.invoice_name(detail), pdf

    name, pdf = _run(settings, work)
    out = Path(args.out or f"{name}.pdf")
    out.write_bytes(pdf)
    print(f"wrote {out}")


def cmd_validate_ehf(args: argparse.Namespace, settings: Settings) -> None:
    from core.billing import ehf
    from core.billing.peppol_rules import check_ehf
    from core.billing.schematron import SchematronRunner, rule_files

    async def work(session: AsyncSession) -> bytes:
        detail = await docs.invoice_detail(session, args.invoice)
        if args.credit_note is None:
            return ehf.invoice_xml(detail)
        note = next((n for n in detail.credit_notes if n.id == args.credit_note), None)
        if note is None:
            raise BillingError(f"invoice {args.invoice} has no credit note {args.credit_note}")
        return ehf.credit_note_xml(detail, note)

    xml = _run(settings, work)
    findings = check_ehf(xml)
    rules = args.rules or settings.ehf_rules_dir
    if rules:
        runner = SchematronRunner(rule_files(rules))
        try:
            findings += runner.validate(xml)
        finally:
            runner.close()
    for f in findings:
        print(f"{f.flag or 'fatal':<8} {f.rule_id:<22} {f.message}  ({f.source})")
    fatal = [f for f in findings if f.fatal]
    checked = "the official Peppol rules and the built-in checks" if rules else "built-in checks"
    print(f"{len(fatal)} error(s), {len(findings) - len(fatal)} warning(s) ({checked})")
    if fatal:
        sys.exit(1)


# --------------------------------------------------------------------------- schedule


def cmd_schedule_set(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> schedule.ScheduleView:
        return await schedule.set_schedule(
            session,
            organisation_id=args.organisation,
            day_of_month=args.day,
            hour=args.hour,
            due_days=args.due_days,
            enabled=not args.disable,
        )

    try:
        view = _run(settings, work)
    except schedule.ScheduleError as error:
        raise InvoiceCliError(str(error)) from None
    print(f"schedule {view.describe()}")


def cmd_schedule_show(args: argparse.Namespace, settings: Settings) -> None:
    views = _run(settings, schedule.schedules)
    if not views:
        print("no invoice schedule: invoices are made by `ladeflyt invoices run` only")
    for v in views:
        print(v.describe())


def cmd_runs(args: argparse.Namespace, settings: Settings) -> None:
    runs = _run(settings, lambda s: schedule.recent_runs(s, args.limit))
    if not runs:
        print("no invoice runs")
    for r in runs:
        when = r.started_at.astimezone(OSLO)
        print(
            f"{r.id:>4}  {r.period}  {r.trigger:<8} {r.status:<7} {when:%Y-%m-%d %H:%M}  "
            f"{r.invoices} invoice(s), {r.sessions} session(s), {nok(r.total_ore)} NOK, "
            f"{r.deliveries} delivery(ies)  {r.owner}" + (f"  error: {r.error}" if r.error else "")
        )


# --------------------------------------------------------------------------- dunning


def cmd_overdue(args: argparse.Namespace, settings: Settings) -> None:
    today = date.fromisoformat(args.today) if args.today else local_today()

    async def work(session: AsyncSession) -> list[dunning.OverdueInvoice]:
        rows = await dunning.overdue(
            session, today, min_days=args.min_days, include_exported=not args.new_only
        )
        if args.mark_exported and rows:
            at = datetime.combine(today, time(12), tzinfo=OSLO).astimezone(UTC)
            await dunning.mark_exported(session, [r.invoice_id for r in rows], at)
        return rows

    rows = _run(settings, work)
    if args.csv:
        text = dunning.collection_csv(rows)
        if args.csv == "-":
            sys.stdout.write(text)
        else:
            Path(args.csv).write_text(text, encoding="utf-8")
            print(f"wrote {args.csv}: {len(rows)} invoice(s)")
        return
    if not rows:
        print("no overdue invoices")
        return
    for r in rows:
        print(
            f"invoice {r.number:<6} {r.name[:24]:<24} due {r.due_date} ({r.days_overdue:>3} days) "
            f"{nok(r.amount_due_ore):>10} NOK  reminders {r.reminders_sent}"
            + ("  exported" if r.exported_at else "")
        )
    total = sum(r.amount_due_ore for r in rows)
    print(f"{len(rows)} overdue invoice(s), {nok(total)} NOK")


# --------------------------------------------------------------------------- eFaktura


def cmd_import_consents(args: argparse.Namespace, settings: Settings) -> None:
    text = Path(args.file).read_text(encoding="utf-8-sig")

    async def work(session: AsyncSession) -> consent.ConsentImport:
        return await consent.import_consents(
            session, text, source=Path(args.file).name, full=args.full
        )

    try:
        result = _run(settings, work)
    except consent.ConsentFileError as error:
        raise InvoiceCliError(str(error)) from None
    print(
        f"{result.updated} consent(s) updated, {result.unchanged} unchanged, "
        f"{result.withdrawn} withdrawn, {len(result.unknown)} not our customers"
    )


def cmd_consent(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> None:
        user = await _user(session, args.phone)
        await consent.set_consent(session, user.id, args.status, args.identifier or "")

    try:
        _run(settings, work)
    except consent.ConsentFileError as error:
        raise InvoiceCliError(str(error)) from None
    print(f"eFaktura consent of {args.phone}: {args.status}")


# --------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Adds to `ladeflyt invoices` (made by cli_billing) and adds `ladeflyt efaktura`."""
    invoices = sub.choices["invoices"]
    inv = next(a for a in invoices._actions if isinstance(a, argparse._SubParsersAction))
    p = inv.add_parser("deliver", help="send every invoice, credit note and receipt due now")
    p.set_defaults(func=cmd_deliver)
    p = inv.add_parser("deliveries", help="deliveries and their attempts, newest first")
    p.add_argument("--invoice", type=int, default=None, help="invoice id")
    p.add_argument("--status", default=None, choices=["queued", "sending", "delivered", "failed"])
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=cmd_deliveries)
    p = inv.add_parser("resend", help="queue an invoice (or a credit note) again")
    p.add_argument("invoice", type=int, help="invoice id")
    p.add_argument("--credit-note", type=int, default=None)
    p.add_argument("--channel", default=None, choices=list(channel_rules.CHANNELS))
    p.set_defaults(func=cmd_resend)
    p = inv.add_parser("pdf", help="write an invoice or credit note as PDF")
    p.add_argument("invoice", type=int, help="invoice id")
    p.add_argument("--credit-note", type=int, default=None, help="credit note id")
    p.add_argument("--out", default=None)
    p.set_defaults(func=cmd_pdf)
    p = inv.add_parser("channel", help="which channel a customer's invoices go by, and why")
    p.add_argument("phone")
    p.set_defaults(func=cmd_channel)
    p = inv.add_parser("validate-ehf", help="check an invoice's EHF against the Peppol rules")
    p.add_argument("invoice", type=int)
    p.add_argument("--credit-note", type=int, default=None)
    p.add_argument("--rules", default=None, help="folder of the official Schematron files")
    p.set_defaults(func=cmd_validate_ehf)
    sched = inv.add_parser("schedule", help="automatic invoicing").add_subparsers(
        dest="isc", required=True
    )
    p = sched.add_parser("set", help="invoice the previous month on a day each month")
    p.add_argument("--day", type=int, default=1, help="day of the month, 1-28")
    p.add_argument("--hour", type=int, default=6, help="hour, Oslo time")
    p.add_argument("--due-days", type=int, default=None)
    p.add_argument("--organisation", type=int, default=None, help="organisation id")
    p.add_argument("--disable", action="store_true")
    p.set_defaults(func=cmd_schedule_set)
    p = sched.add_parser("show", help="the invoice schedules")
    p.set_defaults(func=cmd_schedule_show)
    p = inv.add_parser("runs", help="invoice runs (manual and scheduled), newest first")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_runs)
    p = inv.add_parser("overdue", help="unpaid invoices past due; export for a debt collector")
    p.add_argument("--min-days", type=int, default=1)
    p.add_argument("--csv", default=None, help="write the debt collector's CSV (- = stdout)")
    p.add_argument("--new-only", action="store_true", help="leave out invoices exported before")
    p.add_argument("--mark-exported", action="store_true")
    p.add_argument("--today", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_overdue)

    ef = sub.add_parser("efaktura", help="eFaktura consents").add_subparsers(
        dest="ef", required=True
    )
    p = ef.add_parser("import-consents", help="read the bank network's consent file (CSV)")
    p.add_argument("file")
    p.add_argument("--full", action="store_true", help="the file is complete: withdraw others")
    p.set_defaults(func=cmd_import_consents)
    p = ef.add_parser("consent", help="set one customer's eFaktura consent")
    p.add_argument("phone")
    p.add_argument("--status", required=True, choices=["always", "issuer", "blocked", "none"])
    p.add_argument("--identifier", default=None, help="the payer's eFaktura identifier")
    p.set_defaults(func=cmd_consent)
