"""Twilio webhooks: inbound SMS commands (answered with TwiML) and delivery receipts.

Both verify `X-Twilio-Signature` with Twilio's RequestValidator against the public URL
Twilio called (LADEFLYT_PUBLIC_BASE_URL + path). No auth token configured: the endpoints
do not exist (404). A missing or wrong signature: 403, and nothing is done.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from core.db import transaction
from core.messaging import outbox
from notifications.inbound import InboundSmsHandler, InboundSmsServices


def sms_router(services: InboundSmsServices) -> APIRouter:
    router = APIRouter(prefix="/sms", tags=["sms"])
    handler = InboundSmsHandler(services)

    async def verified_form(
        request: Request,
        x_twilio_signature: Annotated[str | None, Header()] = None,
    ) -> dict[str, str]:
        token = services.settings.twilio_auth_token
        if not token:
            raise HTTPException(404, "SMS webhooks are not configured")
        form = await request.form()
        params = {key: str(value) for key, value in form.multi_items()}
        url = services.settings.public_base_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        if not x_twilio_signature or not RequestValidator(token).validate(
            url, params, x_twilio_signature
        ):
            raise HTTPException(403, "invalid Twilio signature")
        return params

    Form = Annotated[dict[str, str], Depends(verified_form)]

    @router.post(
        "/inbound",
        response_class=Response,
        responses={
            200: {"content": {"application/xml": {}}, "description": "TwiML reply"},
            403: {"description": "bad or missing signature"},
            404: {"description": "SMS webhooks not configured"},
            422: {"description": "not a Twilio message"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["MessageSid", "From", "Body"],
                            "properties": {
                                "MessageSid": {"type": "string"},
                                "From": {"type": "string"},
                                "To": {"type": "string"},
                                "Body": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def inbound(form: Form) -> Response:
        """An SMS to the short number (Twilio's incoming-message webhook)."""
        sid, sender = form.get("MessageSid", ""), form.get("From", "")
        if not sid or not sender or "Body" not in form:
            raise HTTPException(422, "MessageSid, From and Body are required")
        reply = await handler.handle(sid, sender, form.get("To", ""), form["Body"])
        twiml = MessagingResponse()
        if reply:
            twiml.message(reply)
        return Response(str(twiml), media_type="application/xml")

    @router.post(
        "/status",
        status_code=204,
        response_class=Response,
        responses={
            403: {"description": "bad or missing signature"},
            404: {"description": "SMS webhooks not configured"},
            422: {"description": "not a Twilio status callback"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["MessageSid", "MessageStatus"],
                            "properties": {
                                "MessageSid": {"type": "string"},
                                "MessageStatus": {"type": "string"},
                                "ErrorCode": {"type": "string"},
                            },
                        }
                    }
                },
            }
        },
    )
    async def status(form: Form) -> Response:
        """Delivery receipt for an SMS we sent; statuses only ever move forward."""
        sid, state = form.get("MessageSid", ""), form.get("MessageStatus", "")
        if not sid or not state:
            raise HTTPException(422, "MessageSid and MessageStatus are required")
        async with transaction(services.sessions) as session:
            await outbox.apply_status(session, sid, state, form.get("ErrorCode") or None)
        return Response(status_code=204)

    return router
