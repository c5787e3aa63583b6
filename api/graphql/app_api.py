"""What the driver app (/app) needs besides charging: its configuration, receipts to show,
invoices to pay and places to search. Every client may use them; the web app uses nothing
else (it proves the API is complete)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.graphql import results as r
from api.graphql.context import Context
from api.graphql.errors import InputError
from api.graphql.permissions import IsSignedIn, signed_in
from api.graphql.types import InvoiceType, Money
from core.billing.service import summary_of
from core.invoicing.documents import invoice_pdf_url
from core.models import Invoice
from core.operator import Operator
from core.payments import invoices
from core.payments.receipts import receipt, receipt_url
from core.places import search_places
from core.ports import PaymentDeclined
from core.sessions import driver


@strawberry.type(description="How this server is set up, for the app's screens.")
class AppConfig:
    operator_name: str
    short_number: str
    support_phone: str | None
    support_email: str | None
    card_provider: str = strawberry.field(description="sandbox | stripe | off")
    stripe_publishable_key: str | None = strawberry.field(
        description="For Stripe.js (only when cardProvider is stripe)."
    )
    vipps: bool = strawberry.field(description="Vipps can be added as a payment method.")
    map_tile_url: str | None = strawberry.field(
        description="Map tiles ({z}/{x}/{y}); null: no tiles, show the list."
    )
    map_attribution: str


@strawberry.type
class ReceiptLine:
    kind: str
    description: str
    quantity: float
    unit: str = strawberry.field(description="kWh | min | session")
    unit_price_ore: float = strawberry.field(description="incl. 25 % VAT")
    total: Money


@strawberry.type(description="What a finished session sold, as on the printed receipt.")
class Receipt:
    number: int = strawberry.field(description="The receipt's number (the session's id).")
    charger_code: str
    site_name: str | None
    site_address: str | None
    started_at: datetime
    stopped_at: datetime | None
    energy_kwh: float
    lines: list[ReceiptLine]
    net: Money
    vat: Money
    total: Money
    paid: Money = strawberry.field(description="Captured from the card or Vipps.")
    method: str | None = strawberry.field(description="card | vipps | null (invoice, free)")
    completed: bool
    url: str = strawberry.field(description="The receipt page (a signed link).")
    pdf_url: str
    energy_exported_wh: int = strawberry.field(
        default=0, description="V2G: energy the car gave back."
    )
    v2g_credit: Money | None = strawberry.field(
        default=None, description="V2G: credited on the next invoice."
    )


@strawberry.type(description="A searched place: one of our sites, or a town.")
class Place:
    name: str
    kind: str = strawberry.field(description="site | town")
    detail: str
    latitude: float
    longitude: float


@strawberry.type(description="Send the payer here; they come back to the app.")
class PaymentRedirect:
    redirect_url: str


@strawberry.type
class InvoiceRefreshed:
    invoice: InvoiceType


PayInvoiceResult = Annotated[
    PaymentRedirect | r.NotFound | r.NotAllowed | r.InvalidInput,
    strawberry.union("PayInvoiceResult"),
]
RefreshInvoiceResult = Annotated[
    InvoiceRefreshed | r.NotFound, strawberry.union("RefreshInvoicePaymentResult")
]


@strawberry.type
class AppQuery:
    @strawberry.field(description="How this server is set up (payment providers, map tiles).")
    def app_config(self, info: Info[Context, None]) -> AppConfig:
        settings = info.context.services.settings
        operator = Operator.from_settings(settings)
        methods = info.context.services.payments.methods
        card = settings.card_provider if "card" in methods else "off"
        return AppConfig(
            operator_name=operator.name,
            short_number=operator.short_number,
            support_phone=operator.support_phone,
            support_email=operator.support_email,
            card_provider=card,
            stripe_publishable_key=(settings.stripe_publishable_key or None)
            if card == "stripe"
            else None,
            vipps="vipps" in methods,
            map_tile_url=settings.app_map_tile_url or None,
            map_attribution=settings.app_map_attribution,
        )

    @strawberry.field(permission_classes=[IsSignedIn], description="A session's receipt.")
    async def receipt(self, info: Info[Context, None], session_id: strawberry.ID) -> Receipt | None:
        user = await signed_in(info)
        ctx = info.context
        if not str(session_id).isdigit():
            return None
        cs = await driver.session_for_user(ctx.session, user.id, int(session_id))
        if cs is None:
            return None
        found = await receipt(ctx.session, cs.id)
        if found is None:
            return None
        english = user.language == "en"
        url = receipt_url(ctx.services.settings, cs.id)
        path, _, query = url.partition("?")
        return Receipt(
            number=found.session_id,
            charger_code=found.charger_code,
            site_name=found.site_name,
            site_address=found.site_address,
            started_at=found.started_at,
            stopped_at=found.stopped_at,
            energy_kwh=round(found.energy_wh / 1000, 3),
            lines=[
                ReceiptLine(
                    kind=line.kind,
                    description=line.description_en if english else line.description_nb,
                    quantity=float(line.quantity),
                    unit=line.unit,
                    unit_price_ore=float(line.unit_price_incl_vat_ore),
                    total=Money(amount_ore=line.total_ore),
                )
                for line in found.lines
            ],
            net=Money(amount_ore=found.net_ore),
            vat=Money(amount_ore=found.vat_ore),
            total=Money(amount_ore=found.total_ore),
            paid=Money(amount_ore=found.paid_ore),
            method=found.method,
            completed=found.completed,
            url=url,
            pdf_url=f"{path}/pdf?{query}",
            energy_exported_wh=found.energy_exported_wh,
            v2g_credit=None
            if found.v2g_credit_ore is None
            else Money(amount_ore=found.v2g_credit_ore),
        )

    @strawberry.field(description="Sites and towns whose name matches, for from/to and near.")
    async def places(self, info: Info[Context, None], query: str, first: int = 8) -> list[Place]:
        if len(query) > 100 or not 1 <= first <= 20:
            raise InputError("query is at most 100 characters, first 1..20")
        found = await search_places(info.context.session, query, first)
        return [
            Place(
                name=p.name,
                kind=p.kind,
                detail=p.detail,
                latitude=p.latitude,
                longitude=p.longitude,
            )
            for p in found
        ]


def _invoice_pk(value: strawberry.ID) -> int | None:
    return int(value) if str(value).isdigit() else None


@strawberry.type
class AppMutation:
    @strawberry.mutation(
        permission_classes=[IsSignedIn],
        description="Pay one of my invoices by card or Vipps: send the payer to redirectUrl; "
        "they come back to /app/invoices, then call refreshInvoicePayment.",
    )
    async def pay_invoice(
        self, info: Info[Context, None], id: strawberry.ID, method: str
    ) -> PayInvoiceResult:
        ctx = info.context
        user = await signed_in(info)
        pk = _invoice_pk(id)
        if pk is None:
            return r.NotFound(message="no such invoice of yours")
        if method not in ("card", "vipps"):
            return r.InvalidInput(message="method is card or vipps", field="method")
        base = ctx.services.settings.public_base_url.rstrip("/")
        try:
            redirect = await invoices.pay_own(
                ctx.services.payments, user.id, pk, method, f"{base}/app/invoices?paid={pk}"
            )
        except PaymentDeclined as error:
            return r.NotAllowed(message=str(error))
        except invoices.InvoiceLinkError as error:
            if "of yours" in str(error):
                return r.NotFound(message=str(error))
            return r.NotAllowed(message=str(error))
        return PaymentRedirect(redirect_url=redirect)

    @strawberry.mutation(
        permission_classes=[IsSignedIn],
        description="Back from paying an invoice: ask the provider how it went.",
    )
    async def refresh_invoice_payment(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> RefreshInvoiceResult:
        ctx = info.context
        user = await signed_in(info)
        pk = _invoice_pk(id)
        if pk is None or not await invoices.refresh_own(ctx.services.payments, user.id, pk):
            return r.NotFound(message="no such invoice of yours")
        async with ctx.services.sessions() as db:
            row = await db.get_one(Invoice, pk)
            summary = summary_of(row)
        settings = ctx.services.settings
        return InvoiceRefreshed(invoice=InvoiceType.of(summary, invoice_pdf_url(settings, pk)))
