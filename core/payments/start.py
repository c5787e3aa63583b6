"""Starting a paid session for a driver: invoice customers start at once; card drivers get
a hold first (its own id token ties the session to it); Vipps drivers approve in Vipps."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select

from core.models import IdTokenKind, PaymentMethod, User
from core.payments import guest
from core.payments.service import Hold, Payments, hold_for_start, release
from core.sessions import driver


@dataclass(frozen=True)
class ApproveInVipps:
    """The driver approves the hold in Vipps; charging starts when they have."""

    redirect_url: str
    status_url: str


async def start_paid(
    ctx: Payments,
    plan: driver.StartPlan,
    user_id: int,
    token_kind: IdTokenKind,
    *,
    description: str,
) -> driver.Started | driver.Refused | ApproveInVipps:
    async with ctx.sessions() as session:
        user = await session.get_one(User, user_id)
        method = (
            await session.execute(
                select(PaymentMethod.kind)
                .where(PaymentMethod.user_id == user_id)
                .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        invoice, phone, email, language = (
            user.invoice_billing,
            user.phone,
            user.email,
            user.language,
        )
    timeout = ctx.settings.remote_start_timeout_s
    if invoice:
        return await driver.send_start(ctx.commands, plan, timeout=timeout)
    if method == "vipps":
        try:
            token, redirect = await guest.start_checkout(
                ctx,
                plan.charge_point_id,
                plan.evse_id,
                "vipps",
                phone=phone,
                email=email,
                language=language,
                user_id=user_id,
            )
        except guest.GuestError as error:
            return driver.Refused("NotAllowed", str(error))
        base = ctx.settings.public_base_url.rstrip("/")
        return ApproveInVipps(redirect, f"{base}/pay/c/{token}")
    hold = await hold_for_start(ctx, user_id, token_kind, description)
    if not isinstance(hold, Hold):
        return driver.Refused("PaymentMethodRequired", hold)
    outcome = await driver.send_start(
        ctx.commands, replace(plan, id_token=hold.id_token), timeout=timeout
    )
    if isinstance(outcome, driver.Refused) and not outcome.uncertain:
        await release(ctx, hold.payment_id)
    return outcome
