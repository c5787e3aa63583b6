"""A driver's payment methods: saved cards (via the CardVault) and Vipps."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import PaymentMethod, User
from core.payments.service import Payments
from core.ports import CardSetup, PaymentDeclined, PaymentProviderUnavailable
from core.users.account import AccountError


async def begin_card_setup(ctx: Payments, session: AsyncSession, user: User) -> CardSetup:
    if ctx.vault is None:
        raise AccountError("NotAllowed", "card payments are not available")
    try:
        setup = await ctx.vault.setup(user.payment_customer_ref, user.email, user.phone)
    except (PaymentDeclined, PaymentProviderUnavailable) as error:
        raise AccountError("NotAllowed", f"the card service refused: {error}") from None
    user.payment_customer_ref = setup.customer_ref
    await session.flush()
    return setup


async def _methods(session: AsyncSession, user_id: int) -> list[PaymentMethod]:
    return list(
        (
            await session.execute(
                select(PaymentMethod)
                .where(PaymentMethod.user_id == user_id)
                .order_by(PaymentMethod.id)
            )
        ).scalars()
    )


async def _add(session: AsyncSession, user: User, method: PaymentMethod) -> PaymentMethod:
    existing = await _methods(session, user.id)
    if len(existing) >= 10:
        raise AccountError("InvalidInput", "at most 10 payment methods", "paymentMethod")
    method.is_default = not existing
    session.add(method)
    await session.flush()
    return method


async def save_card(
    ctx: Payments, session: AsyncSession, user: User, payment_method_ref: str
) -> PaymentMethod:
    """After the app confirmed the SetupIntent: keep the card the provider now holds."""
    if ctx.vault is None:
        raise AccountError("NotAllowed", "card payments are not available")
    for method in await _methods(session, user.id):
        if method.provider_ref == payment_method_ref:
            return method
    try:
        card = await ctx.vault.card(payment_method_ref)
        provider = ctx.for_method("card")
    except (PaymentDeclined, PaymentProviderUnavailable) as error:
        raise AccountError("InvalidInput", str(error), "paymentMethodRef") from None
    return await _add(
        session,
        user,
        PaymentMethod(
            user_id=user.id,
            provider=provider.name,
            kind="card",
            provider_ref=card.payment_method_ref,
            brand=card.brand[:20],
            last4=card.last4[:4],
            label=f"{card.brand.title()} •••• {card.last4} "
            f"({card.exp_month:02d}/{card.exp_year % 100:02d})",
        ),
    )


async def add_vipps(ctx: Payments, session: AsyncSession, user: User) -> PaymentMethod:
    try:
        provider = ctx.for_method("vipps")
    except PaymentDeclined:
        raise AccountError("NotAllowed", "Vipps is not available") from None
    for method in await _methods(session, user.id):
        if method.kind == "vipps":
            return method
    return await _add(
        session,
        user,
        PaymentMethod(
            user_id=user.id,
            provider=provider.name,
            kind="vipps",
            provider_ref=user.phone,
            label=f"Vipps {user.phone}",
        ),
    )


async def remove(ctx: Payments, session: AsyncSession, user: User, method_id: int) -> None:
    method = await session.get(PaymentMethod, method_id)
    if method is None or method.user_id != user.id:
        raise AccountError("NotFound", "no such payment method of yours")
    if method.kind == "card" and ctx.vault is not None and method.provider_ref:
        try:
            await ctx.vault.detach(method.provider_ref)
        except PaymentDeclined:
            pass  # already gone at the provider
        except PaymentProviderUnavailable as error:
            raise AccountError("NotAllowed", f"the card service is unavailable: {error}") from None
    was_default = method.is_default
    await session.delete(method)
    await session.flush()
    if was_default:
        rest = await _methods(session, user.id)
        if rest:
            rest[0].is_default = True
            await session.flush()


async def set_default(session: AsyncSession, user: User, method_id: int) -> PaymentMethod:
    method = await session.get(PaymentMethod, method_id)
    if method is None or method.user_id != user.id:
        raise AccountError("NotFound", "no such payment method of yours")
    await session.execute(
        update(PaymentMethod).where(PaymentMethod.user_id == user.id).values(is_default=False)
    )
    method.is_default = True
    await session.flush()
    return method
