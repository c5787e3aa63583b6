"""The SmsSender port on Twilio's Programmable Messaging, with the real `twilio` SDK."""

from __future__ import annotations

from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from core.ports import OutboundSms, SmsRejected

# Twilio errors that no retry will fix: invalid or landline numbers, opted out, blocked.
PERMANENT = {21211, 21408, 21610, 21612, 21614, 30004, 30005, 30006}


class TwilioSmsSender:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        status_callback: str | None,
        *,
        http_client: AsyncHttpClient | None = None,
    ) -> None:
        self._client = Client(
            account_sid, auth_token, http_client=http_client or AsyncTwilioHttpClient()
        )
        self._from = sender
        self._status_callback = status_callback

    async def send(self, message: OutboundSms) -> str:
        try:
            created = await self._client.messages.create_async(
                to=message.to,
                from_=self._from,
                body=message.body,
                status_callback=self._status_callback or None,
            )
        except TwilioRestException as error:
            if error.code in PERMANENT or 400 <= error.status < 500:
                raise SmsRejected(str(error.code), error.msg) from error
            raise
        return str(created.sid)
