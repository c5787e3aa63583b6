"""The real `twilio` SDK, its HTTP client replaced by a fake at the network edge."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from twilio.http import AsyncHttpClient
from twilio.http.response import Response

from core.ports import OutboundSms, SmsRejected
from notifications.twilio_sms import TwilioSmsSender


class FakeTwilio(AsyncHttpClient):
    """Records each request and answers like Twilio's Messages API."""

    def __init__(self, status: int = 201, body: dict[str, Any] | None = None) -> None:
        super().__init__(logging.getLogger("twilio.fake"), is_async=True)
        self.requests: list[dict[str, Any]] = []
        self.status = status
        self.body = body

    async def request(
        self,
        method: str,
        uri: str,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = False,
    ) -> Response:
        self.requests.append({"method": method, "uri": uri, "data": dict(data or {}), "auth": auth})
        body = self.body or {
            "sid": "SM0123456789abcdef0123456789abcdef",
            "status": "queued",
            "to": data["To"],
            "from": data["From"],
            "body": data["Body"],
        }
        return Response(self.status, json.dumps(body))


async def test_send_posts_the_message_with_status_callback():
    fake = FakeTwilio()
    sender = TwilioSmsSender(
        "ACxxxxxxxx",
        "secret",
        "Ladeflyt",
        "https://ladeflyt.example.no/sms/status",
        http_client=fake,
    )
    sid = await sender.send(OutboundSms(to="+4791234567", body="Lading ferdig: 12,30 kWh"))
    assert sid == "SM0123456789abcdef0123456789abcdef"
    (request,) = fake.requests
    assert request["method"] == "POST"
    assert request["uri"] == "https://api.twilio.com/2010-04-01/Accounts/ACxxxxxxxx/Messages.json"
    assert request["auth"] == ("ACxxxxxxxx", "secret")
    assert request["data"] == {
        "To": "+4791234567",
        "From": "Ladeflyt",
        "Body": "Lading ferdig: 12,30 kWh",
        "StatusCallback": "https://ladeflyt.example.no/sms/status",
    }


async def test_landline_is_rejected_for_good():
    fake = FakeTwilio(
        400, {"code": 21614, "message": "'To' number is not a valid mobile number", "status": 400}
    )
    sender = TwilioSmsSender("ACx", "secret", "Ladeflyt", None, http_client=fake)
    with pytest.raises(SmsRejected) as caught:
        await sender.send(OutboundSms(to="+4722000000", body="x"))
    assert caught.value.code == "21614"


async def test_server_errors_are_left_for_a_retry():
    from twilio.base.exceptions import TwilioRestException

    fake = FakeTwilio(503, {"code": 20500, "message": "Internal Server Error", "status": 503})
    sender = TwilioSmsSender("ACx", "secret", "Ladeflyt", None, http_client=fake)
    with pytest.raises(TwilioRestException):
        await sender.send(OutboundSms(to="+4791234567", body="x"))
