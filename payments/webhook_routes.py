"""Signed payment webhooks. Verified on the raw body, stored once, answered 202 at once;
the payment worker does the work (re-fetching the payment from the provider).

No secret configured → 404 (the endpoint does not exist); missing or bad signature → 401;
a signed body that is not an event → 400. Never 2xx for something unverified.
"""

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request, Response

from core.db import transaction
from core.payments.service import Payments
from core.payments.webhooks import store_event
from payments.webhooks_common import WebhookPayloadError, WebhookSignatureError

_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "stored; handled by a job"},
    400: {"description": "signed, but not a readable event"},
    401: {"description": "missing or bad signature"},
    404: {"description": "no webhook secret configured"},
}


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def webhook_router(ctx: Payments, kick: Callable[[], None]) -> APIRouter:
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])

    @router.post(
        "/stripe",
        status_code=202,
        responses=_RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    async def stripe_webhook(request: Request) -> Response:
        """Stripe events (payment_intent.*, checkout.session.*), `Stripe-Signature` checked."""
        secret = ctx.settings.stripe_webhook_secret
        if not secret:
            raise HTTPException(404, "Stripe webhooks are not configured")
        from payments.stripe_provider import verify_stripe_webhook

        raw = await request.body()
        try:
            event = verify_stripe_webhook(raw, request.headers.get("stripe-signature"), secret)
        except WebhookSignatureError as error:
            raise HTTPException(401, str(error)) from None
        except WebhookPayloadError as error:
            raise HTTPException(400, str(error)) from None
        async with transaction(ctx.sessions) as session:
            await store_event(
                session,
                source="stripe",
                external_id=event.id,
                type=event.type,
                object_ref=event.reference or event.object_id,
                payload=_json(raw),
            )
        kick()
        return Response(status_code=202)

    @router.post(
        "/vipps",
        status_code=202,
        responses=_RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    async def vipps_webhook(request: Request) -> Response:
        """Vipps MobilePay ePayment events, HMAC-SHA256 signed (x-ms-date;host;content)."""
        secret = ctx.settings.vipps_webhook_secret
        if not secret:
            raise HTTPException(404, "Vipps webhooks are not configured")
        from payments.vipps import verify_vipps_webhook

        raw = await request.body()
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            event = verify_vipps_webhook(
                "POST", path, request.headers.get("host", ""), request.headers, raw, secret
            )
        except WebhookSignatureError as error:
            raise HTTPException(401, str(error)) from None
        except WebhookPayloadError as error:
            raise HTTPException(400, str(error)) from None
        external_id = f"{event.reference}:{event.name}:{event.psp_reference or ''}"
        async with transaction(ctx.sessions) as session:
            await store_event(
                session,
                source="vipps",
                external_id=external_id,
                type=event.name,
                object_ref=event.reference,
                payload=_json(raw),
            )
        kick()
        return Response(status_code=202)

    return router
