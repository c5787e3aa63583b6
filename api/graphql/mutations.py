"""Mutation resolvers. Expected failures come back as union members (see results.py)."""

from __future__ import annotations

from typing import assert_never

import strawberry
from strawberry.types import Info

from api.graphql import results as r
from api.graphql.app_api import AppMutation
from api.graphql.context import Context
from api.graphql.permissions import IsSignedIn, signed_in
from api.graphql.queries import session_view
from api.graphql.types import (
    InvoiceSettings,
    Me,
    PaymentMethodType,
    RfidTag,
    VehicleInput,
    VehicleType,
)
from api.graphql.vehicle_identity import VehicleIdentityMutation
from core.models import StartChannel, User
from core.payments import methods
from core.sessions import driver, flows
from core.users import account
from core.users.auth import AuthError, Tokens


def _refusal(refused: driver.Refused) -> r.Problem:
    """Every refusal of a start or stop, as its GraphQL result type."""
    kind, message = refused.kind, refused.message
    match kind:
        case driver.Refusal.CHARGER_OFFLINE:
            return r.ChargerOffline(message=message)
        case driver.Refusal.CONNECTOR_UNAVAILABLE:
            return r.ConnectorUnavailable(message=message)
        case driver.Refusal.PAYMENT_METHOD_REQUIRED:
            return r.PaymentMethodRequired(message=message)
        case driver.Refusal.NOT_ALLOWED:
            return r.NotAllowed(message=message)
        case driver.Refusal.NOT_YOUR_SESSION:
            return r.NotYourSession(message=message)
        case driver.Refusal.SESSION_NOT_ACTIVE:
            return r.SessionNotActive(message=message)
        case _:
            assert_never(kind)


_PROBLEMS: dict[str, type[r.Problem]] = {
    "NotFound": r.NotFound,
    "RfidTagTaken": r.RfidTagTaken,
    "rate_limited": r.RateLimited,
    "invalid_code": r.InvalidCode,
    "code_expired": r.CodeExpired,
    "invalid_token": r.InvalidToken,
}


def _problem(kind: str, message: str, field: str | None = None) -> r.Problem:
    if kind in ("InvalidInput", "invalid_input"):
        return r.InvalidInput(message=message, field=field)
    return _PROBLEMS[kind](message=message)


def _pk(value: strawberry.ID) -> int | None:
    return int(value) if str(value).isdigit() else None


async def _signed_in_result(ctx: Context, tokens: Tokens) -> r.SignedIn:
    user = await ctx.session.get_one(User, tokens.user_id)
    return r.SignedIn(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        access_token_expires_at=tokens.access_expires_at,
        new_user=tokens.new_user,
        me=Me.of(user),
    )


def _vehicle_data(data: VehicleInput) -> account.VehicleInput:
    return account.VehicleInput(
        make=data.make,
        model=data.model,
        battery_kwh=data.battery_kwh,
        max_ac_kw=data.max_ac_kw,
        max_dc_kw=data.max_dc_kw,
        connector_types=tuple(data.connector_types),
    )


@strawberry.type
class Mutation(VehicleIdentityMutation, AppMutation):
    # ------------------------------------------------------------- sign-in

    @strawberry.mutation(description="Send a one-time sign-in code by SMS.")
    async def request_sign_in_code(
        self, info: Info[Context, None], phone: str
    ) -> r.RequestSignInCodeResult:
        ctx = info.context
        try:
            normalized = await ctx.services.auth.request_code(ctx.session, phone, ctx.ip)
        except AuthError as error:
            return _problem(error.reason, str(error), "phone")  # type: ignore[return-value]
        return r.SignInCodeSent(
            phone=normalized, expires_in_seconds=ctx.services.settings.login_code_ttl_s
        )

    @strawberry.mutation(description="Exchange the SMS code for tokens; creates the account.")
    async def sign_in(self, info: Info[Context, None], phone: str, code: str) -> r.SignInResult:
        ctx = info.context
        try:
            tokens = await ctx.services.auth.sign_in(ctx.session, phone, code)
        except AuthError as error:
            return _problem(error.reason, str(error), "code")  # type: ignore[return-value]
        return await _signed_in_result(ctx, tokens)

    @strawberry.mutation(description="A new access token (the refresh token is rotated).")
    async def refresh_session(
        self, info: Info[Context, None], refresh_token: str
    ) -> r.RefreshResult:
        ctx = info.context
        try:
            tokens = await ctx.services.auth.refresh(ctx.session, refresh_token)
        except AuthError as error:
            return (
                r.InvalidToken(message=str(error))
                if error.reason
                else r.InvalidToken(message="invalid token")
            )
        return await _signed_in_result(ctx, tokens)

    @strawberry.mutation(
        permission_classes=[IsSignedIn], description="Revoke every token of this account."
    )
    async def sign_out_everywhere(self, info: Info[Context, None]) -> r.SignedOut:
        user = await signed_in(info)
        await info.context.services.auth.sign_out_everywhere(info.context.session, user.id)
        return r.SignedOut(message="signed out on every device")

    # ------------------------------------------------------------- charging

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def start_charging(
        self,
        info: Info[Context, None],
        connector_id: strawberry.ID,
        vehicle_id: strawberry.ID | None = None,
    ) -> r.StartChargingResult:
        ctx = info.context
        user = await signed_in(info)
        connector_pk = _pk(connector_id)
        if connector_pk is None:
            return r.ConnectorUnavailable(message="no such connector")
        outcome = await flows.start_remote(
            ctx.services.payments,
            user.id,
            connector_pk,
            StartChannel.APP,
            vehicle_id=_pk(vehicle_id) if vehicle_id is not None else None,
        )
        if isinstance(outcome, flows.ApproveInVipps):
            return r.PaymentPending(
                message="Approve the payment in Vipps; charging starts when it is approved.",
                redirect_url=outcome.redirect_url,
                status_url=outcome.status_url,
                session_id=strawberry.ID(str(outcome.session_id)),
            )
        if isinstance(outcome, driver.Refused):
            return _refusal(outcome)  # type: ignore[return-value]
        assert outcome.session_id is not None
        # The session was written by the start flow's own transaction: read it fresh.
        async with ctx.services.sessions() as db:
            cs = await driver.session_for_user(db, user.id, outcome.session_id)
            assert cs is not None
            view = await session_view(ctx, cs, db)
        return r.ChargingStarted(
            message="The charger accepted the start; follow the session until it charges.",
            session_id=strawberry.ID(str(outcome.session_id)),
            session=view,
            connector_id=strawberry.ID(str(outcome.connector_pk)),
            charger_code=outcome.charge_point_id,
            evse_id=outcome.evse_id,
            transaction_id=outcome.transaction_id,
        )

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def stop_charging(
        self, info: Info[Context, None], session_id: strawberry.ID
    ) -> r.StopChargingResult:
        ctx = info.context
        user = await signed_in(info)
        pk = _pk(session_id)
        if pk is None:
            return r.NotYourSession(message="no such session of yours")
        outcome = await flows.stop_for_driver(ctx.services.payments, user.id, pk)
        if isinstance(outcome, driver.Refused):
            return _refusal(outcome)  # type: ignore[return-value]
        async with ctx.services.sessions() as db:
            cs = await driver.session_for_user(db, user.id, outcome.session_id)
            assert cs is not None
            view = await session_view(ctx, cs, db)
        message = (
            "The start was cancelled."
            if cs.status == "failed"
            else "The charger is stopping the session."
        )
        return r.ChargingStopping(message=message, session=view)

    # ------------------------------------------------------------- account

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def update_profile(
        self,
        info: Info[Context, None],
        name: str | None = None,
        email: str | None = None,
        language: str | None = None,
    ) -> r.UpdateProfileResult:
        user = await signed_in(info)
        try:
            await account.update_profile(
                info.context.session, user, name=name, email=email, language=language
            )
        except account.AccountError as error:
            return _problem(error.kind, str(error), error.field)  # type: ignore[return-value]
        return r.ProfileUpdated(me=Me.of(user))

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def update_invoice_settings(
        self,
        info: Info[Context, None],
        receipt_by_email: bool | None = None,
        invoice_channel: str | None = None,
    ) -> r.UpdateInvoiceSettingsResult:
        user = await signed_in(info)
        try:
            await account.update_invoice_settings(
                info.context.session,
                user,
                receipt_by_email=receipt_by_email,
                invoice_channel=invoice_channel,
            )
        except account.AccountError as error:
            return _problem(error.kind, str(error), error.field)  # type: ignore[return-value]
        from core.invoicing.channels import delivery_decision

        decision = await delivery_decision(info.context.session, user.id)
        return r.InvoiceSettingsUpdated(invoice_settings=InvoiceSettings.of(user, decision))

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def register_rfid_tag(
        self, info: Info[Context, None], uid: str, label: str = ""
    ) -> r.RegisterRfidTagResult:
        user = await signed_in(info)
        try:
            tag = await account.register_rfid_tag(info.context.session, user, uid, label)
        except account.AccountError as error:
            return _problem(error.kind, str(error), error.field)  # type: ignore[return-value]
        return r.RfidTagRegistered(tag=RfidTag.of(tag))

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def remove_rfid_tag(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> r.RemoveRfidTagResult:
        user = await signed_in(info)
        pk = _pk(id)
        try:
            if pk is None:
                raise account.AccountError("NotFound", "no such tag of yours")
            await account.remove_rfid_tag(info.context.session, user, pk)
        except account.AccountError as error:
            return _problem(error.kind, str(error))  # type: ignore[return-value]
        return r.RfidTagRemoved(id=id)

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def add_vehicle(
        self, info: Info[Context, None], vehicle: VehicleInput
    ) -> r.SaveVehicleResult:
        user = await signed_in(info)
        try:
            row = await account.add_vehicle(info.context.session, user, _vehicle_data(vehicle))
        except account.AccountError as error:
            return _problem(error.kind, str(error), error.field)  # type: ignore[return-value]
        return r.VehicleSaved(vehicle=VehicleType.of(row))

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def update_vehicle(
        self, info: Info[Context, None], id: strawberry.ID, vehicle: VehicleInput
    ) -> r.SaveVehicleResult:
        user = await signed_in(info)
        pk = _pk(id)
        try:
            if pk is None:
                raise account.AccountError("NotFound", "no such vehicle of yours")
            row = await account.update_vehicle(
                info.context.session, user, pk, _vehicle_data(vehicle)
            )
        except account.AccountError as error:
            return _problem(error.kind, str(error), error.field)  # type: ignore[return-value]
        return r.VehicleSaved(vehicle=VehicleType.of(row))

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def remove_vehicle(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> r.RemoveVehicleResult:
        user = await signed_in(info)
        pk = _pk(id)
        try:
            if pk is None:
                raise account.AccountError("NotFound", "no such vehicle of yours")
            await account.remove_vehicle(info.context.session, user, pk)
        except account.AccountError as error:
            return _problem(error.kind, str(error))  # type: ignore[return-value]
        return r.VehicleRemoved(id=id)

    # ------------------------------------------------------------- payment methods

    @strawberry.mutation(
        permission_classes=[IsSignedIn],
        description="Start saving a card: a SetupIntent for the app to confirm.",
    )
    async def add_card(self, info: Info[Context, None]) -> r.AddCardResult:
        ctx = info.context
        user = await signed_in(info)
        try:
            setup = await methods.begin_card_setup(ctx.services.payments, ctx.session, user)
        except account.AccountError as error:
            return r.NotAllowed(message=str(error))
        return r.CardSetupStarted(
            client_secret=setup.client_secret, customer_ref=setup.customer_ref
        )

    @strawberry.mutation(
        permission_classes=[IsSignedIn],
        description="Keep the card the app just confirmed (pm_...).",
    )
    async def save_card(
        self, info: Info[Context, None], payment_method_ref: str
    ) -> r.SavePaymentMethodResult:
        ctx = info.context
        user = await signed_in(info)
        try:
            row = await methods.save_card(
                ctx.services.payments, ctx.session, user, payment_method_ref
            )
        except account.AccountError as error:
            return _problem(error.kind, str(error), error.field)  # type: ignore[return-value]
        return r.PaymentMethodSaved(payment_method=PaymentMethodType.of(row))

    @strawberry.mutation(
        permission_classes=[IsSignedIn],
        description="Pay with Vipps: each session is approved in Vipps.",
    )
    async def add_vipps(self, info: Info[Context, None]) -> r.SavePaymentMethodResult:
        ctx = info.context
        user = await signed_in(info)
        try:
            row = await methods.add_vipps(ctx.services.payments, ctx.session, user)
        except account.AccountError as error:
            return _problem(error.kind, str(error), error.field)  # type: ignore[return-value]
        return r.PaymentMethodSaved(payment_method=PaymentMethodType.of(row))

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def remove_payment_method(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> r.RemovePaymentMethodResult:
        ctx = info.context
        user = await signed_in(info)
        pk = _pk(id)
        try:
            if pk is None:
                raise account.AccountError("NotFound", "no such payment method of yours")
            await methods.remove(ctx.services.payments, ctx.session, user, pk)
        except account.AccountError as error:
            return _problem(error.kind, str(error))  # type: ignore[return-value]
        return r.PaymentMethodRemoved(id=id)

    @strawberry.mutation(permission_classes=[IsSignedIn])
    async def set_default_payment_method(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> r.SavePaymentMethodResult:
        ctx = info.context
        user = await signed_in(info)
        pk = _pk(id)
        try:
            if pk is None:
                raise account.AccountError("NotFound", "no such payment method of yours")
            row = await methods.set_default(ctx.session, user, pk)
        except account.AccountError as error:
            return r.NotAllowed(message=str(error))
        return r.PaymentMethodSaved(payment_method=PaymentMethodType.of(row))
