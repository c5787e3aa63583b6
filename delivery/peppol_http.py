"""A Peppol access point over HTTP, in the shape the common Norwegian access points offer:
the UBL document is POSTed as it is, the Peppol envelope (sender, receiver, document type,
process) goes in headers, and an Idempotency-Key makes a repeated send the same send.

    POST <LADEFLYT_PEPPOL_AP_URL>            Content-Type: application/xml
    Authorization: Bearer <LADEFLYT_PEPPOL_AP_API_KEY>
    Idempotency-Key: <document name>
    X-Peppol-Sender: iso6523-actorid-upis::0192:<our org number>
    X-Peppol-Receiver: iso6523-actorid-upis::0192:<their org number>
    X-Peppol-Document-Type: busdox-docid-qns::urn:oasis:...Invoice-2::Invoice##...::2.1
    X-Peppol-Process: cenbii-procid-ubl::urn:fdc:peppol.eu:2017:poacc:billing:01:1.0

    201/202 {"id": "<transmission id>", ...}   accepted (409 with an id: sent before)
    400/404/422                                 refused for good (the receiver is not in
                                                Peppol, the document is invalid)
    401/403/429/5xx, timeouts                   try again later
"""

from __future__ import annotations

from typing import Any

import httpx

from core.ports import (
    PEPPOL_DOCUMENT_TYPES,
    PEPPOL_PROCESS,
    DeliveryRejected,
    DeliveryUnavailable,
    PeppolDocument,
)


class HttpAccessPoint:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url:
            raise ValueError("LADEFLYT_PEPPOL_AP_URL is needed for the http access point")
        self.url = url
        self.api_key = api_key
        self.timeout = timeout
        self._transport = transport

    def headers(self, document: PeppolDocument) -> dict[str, str]:
        headers = {
            "Content-Type": "application/xml",
            "Accept": "application/json",
            "Idempotency-Key": document.name,
            "X-Peppol-Sender": f"iso6523-actorid-upis::{document.sender}",
            "X-Peppol-Receiver": f"iso6523-actorid-upis::{document.receiver}",
            "X-Peppol-Document-Type": f"busdox-docid-qns::{PEPPOL_DOCUMENT_TYPES[document.kind]}",
            "X-Peppol-Process": f"cenbii-procid-ubl::{PEPPOL_PROCESS}",
        }
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    async def send(self, document: PeppolDocument) -> str:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport) as http:
                response = await http.post(
                    self.url, content=document.xml, headers=self.headers(document)
                )
        except httpx.HTTPError as error:
            raise DeliveryUnavailable(f"access point unreachable: {error}") from None
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = {}
        ref = (
            str(body.get("id") or body.get("transmissionId") or "")
            if isinstance(body, dict)
            else ""
        )
        status = response.status_code
        if status in (200, 201, 202) or (status == 409 and ref):
            return ref or document.name
        detail = body.get("message") or body.get("detail")
        text = f"access point answered {status}: {detail or response.text[:200]}"
        if status in (400, 404, 409, 410, 413, 415, 422):
            raise DeliveryRejected(str(status), text)
        raise DeliveryUnavailable(text)
