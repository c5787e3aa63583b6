"""Revocation by OCSP (RFC 6960): ask a responder about a certificate named by its hash
data, and tell good, revoked, unknown, or no answer at all."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.x509 import Certificate, ocsp

from core.pki.certs import HASHES, HashData, verify_chain

log = logging.getLogger(__name__)


class Revocation(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    UNAVAILABLE = "unavailable"  # no responder, or no valid answer from it


@dataclass(frozen=True)
class OcspAnswer:
    status: Revocation
    der: bytes | None = None  # the signed OCSP response, to pass on to a charger

    @property
    def b64(self) -> str | None:
        return base64.b64encode(self.der).decode() if self.der is not None else None


class OcspClient(Protocol):
    async def check(self, data: HashData, at: datetime) -> OcspAnswer: ...


def request_der(data: HashData) -> bytes:
    from cryptography.hazmat.primitives import serialization

    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            bytes.fromhex(data.issuer_name_hash),
            bytes.fromhex(data.issuer_key_hash),
            int(data.serial_number, 16),
            HASHES[data.hash_algorithm](),
        )
        .build()
    )
    return request.public_bytes(serialization.Encoding.DER)


class HttpOcspClient:
    """Asks the responder named in the hash data (or `default_url`) over HTTP POST. An
    answer counts only when signed by a responder whose certificate chains to `roots`.

    OCPP 2.0.1 C07.FR.05 has the CSMS verify a contract "via real-time or cached OCSP
    data": a good answer is kept until its nextUpdate (at most `cache_max_s`), and stands
    in when the responder cannot be reached. A revoked or unknown answer is never cached
    over, and nothing is served from the cache while the responder answers."""

    def __init__(
        self,
        roots: list[Certificate],
        *,
        default_url: str | None = None,
        timeout_s: float = 5,
        cache_max_s: float = 24 * 3600,
    ) -> None:
        self.roots = roots
        self.default_url = default_url
        self.timeout_s = timeout_s
        self.cache_max_s = cache_max_s
        self._good: dict[tuple[str, str, str], tuple[datetime, bytes]] = {}

    async def check(self, data: HashData, at: datetime) -> OcspAnswer:
        answer = await self._ask(data, at)
        key = (data.issuer_name_hash, data.issuer_key_hash, data.serial_number)
        if answer.status == Revocation.UNAVAILABLE:
            cached = self._good.get(key)
            if cached is not None and at < cached[0]:
                log.warning("OCSP responder unavailable; cached answer for %s", data.serial_number)
                return OcspAnswer(Revocation.GOOD, cached[1])
            return answer
        self._good.pop(key, None)
        if answer.status == Revocation.GOOD and answer.der is not None:
            until = at + timedelta(seconds=self.cache_max_s)
            next_update = _next_update(answer.der, data)
            self._good[key] = (min(until, next_update) if next_update else until, answer.der)
        return answer

    async def _ask(self, data: HashData, at: datetime) -> OcspAnswer:
        url = data.responder_url or self.default_url
        if not url:
            return OcspAnswer(Revocation.UNAVAILABLE)
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                reply = await client.post(
                    url,
                    content=request_der(data),
                    headers={"Content-Type": "application/ocsp-request"},
                )
        except httpx.HTTPError as error:
            log.warning("OCSP responder %s unreachable: %s", url, error)
            return OcspAnswer(Revocation.UNAVAILABLE)
        if reply.status_code != 200:
            return OcspAnswer(Revocation.UNAVAILABLE)
        return self.read(reply.content, data, at)

    def read(self, der: bytes, data: HashData, at: datetime) -> OcspAnswer:
        try:
            response = ocsp.load_der_ocsp_response(der)
        except ValueError:
            return OcspAnswer(Revocation.UNAVAILABLE)
        if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            return OcspAnswer(Revocation.UNAVAILABLE)
        signer = response.certificates[0] if response.certificates else None
        if signer is None or verify_chain(response.certificates, self.roots, at) != "Accepted":
            log.warning("OCSP answer for %s not signed by a trusted responder", data.serial_number)
            return OcspAnswer(Revocation.UNAVAILABLE)
        if not _signed_by(signer, response):
            return OcspAnswer(Revocation.UNAVAILABLE)
        for single in response.responses:
            if format(single.serial_number, "x") != data.serial_number:
                continue
            if single.certificate_status == ocsp.OCSPCertStatus.GOOD:
                return OcspAnswer(Revocation.GOOD, der)
            if single.certificate_status == ocsp.OCSPCertStatus.REVOKED:
                return OcspAnswer(Revocation.REVOKED, der)
            return OcspAnswer(Revocation.UNKNOWN, der)
        return OcspAnswer(Revocation.UNKNOWN, der)


def _next_update(der: bytes, data: HashData) -> datetime | None:
    for single in ocsp.load_der_ocsp_response(der).responses:
        if format(single.serial_number, "x") == data.serial_number:
            return single.next_update_utc
    return None


def _signed_by(signer: Certificate, response: ocsp.OCSPResponse) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    key = signer.public_key()
    algorithm = response.signature_hash_algorithm
    if algorithm is None:
        return False
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(
                response.signature, response.tbs_response_bytes, padding.PKCS1v15(), algorithm
            )
        else:
            return False
    except InvalidSignature:
        return False
    return True
