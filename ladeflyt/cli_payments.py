"""`ladeflyt qr` and `ladeflyt payments ...`: QR codes for chargers, payments support."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.chargers.service import find_by_code
from core.config import Settings
from core.db import create_engine, session_factory
from core.models import ChargingSession, Payment, SessionStatus
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
        f"{'held':>9} {'captured':>9} {'refunded':>9}  session/invoice"
    )
    for p in rows:
        target = (
            f"session {p.session_id}"
            if p.session_id
            else (f"invoice {p.invoice_id}" if p.invoice_id else "-")
        )
        print(
            f"{p.reference:<24} {p.purpose:<8} {p.provider:<14} {p.status:<10} "
            f"{p.amount_authorized_ore / 100:>9.2f} {p.amount_captured_ore / 100:>9.2f} "
            f"{p.amount_refunded_ore / 100:>9.2f}  {target}"
        )


def _check(args: argparse.Namespace, settings: Settings) -> None:
    """Money in = money captured: every completed, paid session's capture equals its cost."""

    async def work(session: AsyncSession) -> list[tuple[int, int | None, int, str]]:
        query = (
            select(
                ChargingSession.id,
                ChargingSession.cost_ore,
                func.coalesce(
                    func.sum(Payment.amount_captured_ore - Payment.amount_refunded_ore), 0
                ),
                ChargingSession.payment_state,
            )
            .join(Payment, Payment.id_token_pk == ChargingSession.id_token_pk)
            .where(ChargingSession.status == SessionStatus.COMPLETED.value)
            .group_by(ChargingSession.id, ChargingSession.cost_ore, ChargingSession.payment_state)
        )
        return [tuple(r) for r in await session.execute(query)]  # type: ignore[misc]

    rows = asyncio.run(_with_session(settings, work))
    wrong = [r for r in rows if (r[1] or 0) != r[2] and r[3] not in ("unpriced",)]
    for session_id, cost, captured, state in wrong:
        print(f"session {session_id}: cost {cost} øre, captured {captured} øre ({state})")
    print(f"{len(rows)} paid session(s) checked, {len(wrong)} mismatch(es)")
    if wrong:
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
    p = payments.add_parser("check", help="money in = money captured, per paid session")
    p.set_defaults(func=_check)
    p = payments.add_parser("refund", help="refund (part of) a captured payment")
    p.add_argument("reference")
    p.add_argument("--amount-ore", type=int, required=True)
    p.add_argument("--reason", default="")
    p.set_defaults(func=_refund)
