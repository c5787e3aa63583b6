"""Operator REST endpoints for invoices that reach people: a customer's invoice channel
(and why), deliveries with their attempts, resend, PDFs, runs and the overdue list."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.problems import problem_responses
from api.v1.deps import Caller, Db
from core.billing.errors import BillingError
from core.billing.periods import local_today
from core.billing.settings import get_billing_settings
from core.invoicing import channels, documents, dunning, outbox, schedule
from core.models import DeliveryAttempt, Invoice, User
from core.orgs.errors import Forbidden
from core.orgs.scope import Access
from core.users.account import AccountError
from core.users.service import UserError, get_user_by_phone


async def _operator_staff(request: Request, caller: Caller) -> None:
    """Invoices are the operator's business with its customers: operator roles only
    (support staff may change and resend, not only read)."""
    access = Access.READ if request.method in ("GET", "HEAD") else Access.SUPPORT
    if not caller.everywhere(access):
        raise Forbidden("invoices are handled by the operator's staff")


router = APIRouter(prefix="/api/v1", tags=["invoices"], dependencies=[Depends(_operator_staff)])
_ERRORS = problem_responses(401, 403, 404)
Channel = Literal["email", "efaktura", "ehf", "paper"]
InvoiceId = Annotated[int, Path(ge=1, le=2_147_483_647)]


class InvoiceDeliveryOut(BaseModel):
    phone: str
    email: str | None
    receipt_by_email: bool
    chosen_channel: str = Field(description="what the customer chose")
    channel: str = Field(description="what their invoices go by now")
    recipient: str
    reason: str


class InvoiceDeliveryIn(BaseModel):
    email: Annotated[str | None, Field(max_length=254)] = None
    invoice_channel: Channel | None = None
    receipt_by_email: bool | None = None


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    detail: str


class DeliveryOut(BaseModel):
    id: int
    document: str
    channel: str
    recipient: str
    reason: str
    status: str
    attempts: list[AttemptOut]
    external_ref: str | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class ResendIn(BaseModel):
    channel: Channel | None = None


class OverdueOut(BaseModel):
    invoice_id: int
    number: int
    kid: str
    name: str
    phone: str
    due_date: date
    days_overdue: int
    amount_due_ore: int
    fees_ore: int
    reminders_sent: int
    exported_at: datetime | None


class RunOut(BaseModel):
    id: int
    period: str
    trigger: str
    status: str
    owner: str
    started_at: datetime
    finished_at: datetime | None
    customers: int
    invoices: int
    sessions: int
    deliveries: int
    total_ore: int
    error: str | None


async def _customer(db: Db, phone: str) -> User:
    try:
        user = await get_user_by_phone(db, phone)
    except UserError:  # not a phone number: no such customer
        user = None
    if user is None:
        raise HTTPException(404, f"no customer with phone {phone}")
    return user


async def _delivery_out(db: Db, user: User) -> InvoiceDeliveryOut:
    seller = get_billing_settings().seller_org_number.replace(" ", "") or None
    decision = await channels.decision_for(db, user.id, seller)
    assert decision is not None
    return InvoiceDeliveryOut(
        phone=user.phone,
        email=user.email,
        receipt_by_email=user.receipt_by_email,
        chosen_channel=decision.requested,
        channel=decision.channel,
        recipient=decision.recipient,
        reason=decision.reason,
    )


@router.get(
    "/customers/{phone}/invoice-delivery", response_model=InvoiceDeliveryOut, responses=_ERRORS
)
async def get_invoice_delivery(db: Db, phone: str) -> InvoiceDeliveryOut:
    """Which channel this customer's invoices go by, and why."""
    return await _delivery_out(db, await _customer(db, phone))


@router.put(
    "/customers/{phone}/invoice-delivery",
    response_model=InvoiceDeliveryOut,
    responses={**_ERRORS, **problem_responses(422)},
)
async def put_invoice_delivery(db: Db, phone: str, body: InvoiceDeliveryIn) -> InvoiceDeliveryOut:
    """Change a customer's e-mail, invoice channel or receipts by e-mail."""
    user = await _customer(db, phone)
    try:
        await channels.update_invoice_delivery(
            db,
            user,
            email=body.email,
            invoice_channel=body.invoice_channel,
            receipt_by_email=body.receipt_by_email,
        )
    except AccountError as error:
        raise HTTPException(422, str(error)) from None
    return await _delivery_out(db, user)


async def _deliveries(db: Db, invoice_id: int) -> list[DeliveryOut]:
    out = []
    for d in await outbox.deliveries_of(db, invoice_id):
        attempts = await db.execute(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id == d.id)
            .order_by(DeliveryAttempt.number)
        )
        out.append(
            DeliveryOut(
                id=d.id,
                document=d.document,
                channel=d.channel,
                recipient=d.recipient,
                reason=d.reason,
                status=d.status,
                attempts=[
                    AttemptOut(
                        number=a.number,
                        started_at=a.started_at,
                        finished_at=a.finished_at,
                        outcome=a.outcome,
                        detail=a.detail,
                    )
                    for a in attempts.scalars()
                ],
                external_ref=d.external_ref,
                last_error=d.last_error,
                created_at=d.created_at,
                delivered_at=d.delivered_at,
            )
        )
    return out


async def _invoice(db: Db, invoice_id: int) -> Invoice:
    invoice = await db.get(Invoice, invoice_id)
    if invoice is None:
        raise HTTPException(404, f"no invoice {invoice_id}")
    return invoice


@router.get(
    "/invoices/{invoice_id}/deliveries", response_model=list[DeliveryOut], responses=_ERRORS
)
async def invoice_deliveries(db: Db, invoice_id: InvoiceId) -> list[DeliveryOut]:
    """How the invoice (and its credit notes) were delivered: every attempt."""
    await _invoice(db, invoice_id)
    return await _deliveries(db, invoice_id)


@router.post(
    "/invoices/{invoice_id}/resend",
    response_model=list[DeliveryOut],
    status_code=202,
    responses=_ERRORS,
)
async def resend_invoice(db: Db, invoice_id: InvoiceId, body: ResendIn) -> list[DeliveryOut]:
    """Queue the invoice again (optionally by another channel)."""
    await _invoice(db, invoice_id)
    count = len(await outbox.deliveries_of(db, invoice_id))
    await outbox.queue_invoice(db, invoice_id, channel=body.channel, suffix=f":resend:{count}")
    await db.flush()
    return await _deliveries(db, invoice_id)


@router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={**_ERRORS, 200: {"content": {"application/pdf": {}}}},
)
async def invoice_pdf(db: Db, invoice_id: InvoiceId) -> Response:
    try:
        detail, pdf = await documents.invoice_pdf_bytes(db, invoice_id)
    except BillingError:
        raise HTTPException(404, f"no invoice {invoice_id}") from None
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{documents.invoice_name(detail)}.pdf"'},
    )


@router.get(
    "/invoices/overdue",
    response_model=list[OverdueOut],
    responses={**_ERRORS, 200: {"content": {"text/csv": {}}}},
)
async def overdue_invoices(
    db: Db,
    min_days: Annotated[int, Query(ge=0, le=3650)] = 1,
    format: Literal["json", "csv"] = "json",
) -> list[OverdueOut] | Response:
    """Unpaid invoices past due; `format=csv` is the export for a debt collector."""
    rows = await dunning.overdue(db, local_today(), min_days=min_days)
    if format == "csv":
        return Response(
            dunning.collection_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="forfalte-fakturaer.csv"'},
        )
    return [
        OverdueOut(
            invoice_id=r.invoice_id,
            number=r.number,
            kid=r.kid,
            name=r.name,
            phone=r.phone,
            due_date=r.due_date,
            days_overdue=r.days_overdue,
            amount_due_ore=r.amount_due_ore,
            fees_ore=r.fees_ore,
            reminders_sent=r.reminders_sent,
            exported_at=r.exported_at,
        )
        for r in rows
    ]


@router.get("/invoice-runs", response_model=list[RunOut], responses=_ERRORS)
async def invoice_runs(db: Db, limit: Annotated[int, Query(ge=1, le=500)] = 20) -> list[RunOut]:
    """Invoice runs, manual and scheduled, newest first, with their summaries."""
    return [
        RunOut(
            id=r.id,
            period=r.period,
            trigger=r.trigger,
            status=r.status,
            owner=r.owner,
            started_at=r.started_at,
            finished_at=r.finished_at,
            customers=r.customers,
            invoices=r.invoices,
            sessions=r.sessions,
            deliveries=r.deliveries,
            total_ore=r.total_ore,
            error=r.error,
        )
        for r in await schedule.recent_runs(db, limit)
    ]
