"""`ladeflyt qr` and `ladeflyt payments ...`: QR codes for chargers, payments support."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.chargers.service import find_by_code
from core.config import Settings
from core.db import create_engine, session_factory
from core.models import Payment
from core.ports import PaymentDeclined


class PaymentCliError(Exception):
    pass


def _qr(args: argparse.Namespace, settings: Settings) -> None:
    import segno

    async def code() -> str:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                charger = await find_by_code(session, args.charger)
                if charger is None:
                    raise PaymentCliError(f"no charger {args.charger}")
                return charger.public_code or charger.charge_point_id
        finally:
            await engine.dispose()

    printed = asyncio.run(code())
    url = f"{settings.public_base_url.rstrip('/')}/pay/{printed}"
    qr = segno.make(url, error="m")
    out = Path(args.out or f"qr-{printed}.{args.format}")
    qr.save(str(out), kind=args.format, scale=10, border=2)
    print(f"{out}: QR code for {url}")


async def _with_session(settings: Settings, work: Any) -> Any:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return await work(session)
    finally:
        await engine.dispose()


def _list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[Payment]:
        query = select(Payment).order_by(Payment.id.desc()).limit(args.limit)
        return list((await session.execute(query)).scalars())

    rows = asyncio.run(_with_session(settings, work))
    print(
        f"{'reference':<24} {'purpose':<8} {'provider':<14} {'status':<10} "
        f"{'amount':>9} {'refunded':>9}  session/invoice"
    )
    for p in rows:
        target = (
            f"session {p.session_id}"
            if p.session_id
            else (f"invoice {p.invoice_id}" if p.invoice_id else "-")
        )
        # What the payment is worth now: captured once captured, else what is held.
        amount = p.amount_captured_ore if p.amount_captured_ore else p.amount_authorized_ore
        print(
            f"{p.reference:<24} {p.purpose:<8} {p.provider:<14} {p.status:<10} "
            f"{amount / 100:>9.2f} {p.amount_refunded_ore / 100:>9.2f}  {target}"
        )


def _check(args: argparse.Namespace, settings: Settings) -> None:
    """Every finished session settled, energy, price and money in agreement (exit 1 if not)."""
    from datetime import timedelta

    from core.payments.audit import AuditReport, audit

    async def work(session: AsyncSession) -> AuditReport:
        return await audit(session, grace=timedelta(minutes=args.grace_minutes))

    report: AuditReport = asyncio.run(_with_session(settings, work))
    if args.json:
        print(
            json.dumps(
                {
                    "checked": report.checked,
                    "problems": [vars(f) for f in report.problems],
                    "unpaid": [vars(f) for f in report.unpaid],
                },
                indent=2,
            )
        )
    else:
        for f in report.problems:
            target = f"session {f.session_id}" if f.session_id is not None else "payment"
            print(f"{target}: {f.kind}: {f.detail}")
        for f in report.unpaid:
            print(f"session {f.session_id}: {f.detail}")
        print(
            f"{report.checked} finished session(s) checked: "
            f"{len(report.problems)} problem(s), {len(report.unpaid)} unpaid"
        )
    if not report.clean:
        sys.exit(1)


def _refund(args: argparse.Namespace, settings: Settings) -> None:
    from core.bus import InProcessCommandBus
    from core.payments.service import Payments, refund
    from ladeflyt.runtime import payment_setup

    async def run() -> Payment:
        engine = create_engine(settings.database_url)
        providers, vault, _ = payment_setup(settings)
        ctx = Payments(settings, session_factory(engine), providers, InProcessCommandBus(), vault)
        try:
            return await refund(ctx, args.reference, args.amount_ore, args.reason)
        finally:
            await engine.dispose()

    try:
        payment = asyncio.run(run())
    except PaymentDeclined as error:
        raise PaymentCliError(str(error)) from None
    print(
        f"refunded {args.amount_ore / 100:.2f} NOK on {payment.reference} "
        f"(refunded in all {payment.amount_refunded_ore / 100:.2f})"
    )


def register(sub: Any) -> None:
    p = sub.add_parser("qr", help="write the QR code that opens a charger's guest pay page")
    p.add_argument("charger", help="charger code (as printed) or charge point id")
    p.add_argument("--format", choices=["svg", "png"], default="svg")
    p.add_argument("--out", default=None)
    p.set_defaults(func=_qr)

    payments = sub.add_parser("payments", help="payments").add_subparsers(dest="pay", required=True)
    p = payments.add_parser("list", help="newest payments first")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(func=_list)
    p = payments.add_parser(
        "check",
        help="every finished session settled; energy, price and money agree (exit 1 if not)",
    )
    p.add_argument(
        "--grace-minutes",
        type=float,
        default=10,
        help="skip sessions that finished this recently (settlement takes a moment)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_check)
    p = payments.add_parser("refund", help="refund (part of) a captured payment")
    p.add_argument("reference")
    p.add_argument("--amount-ore", type=int, required=True)
    p.add_argument("--reason", default="")
    p.set_defaults(func=_refund)
