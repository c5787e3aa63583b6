"""Ports to the certificate services of a Plug & Charge operator, with local adapters for
tests and the demo (the operator's real ones are configuration, see README)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import orjson
from cryptography import x509

from core.pki import certs
from core.pki.certs import Issuer


class PkiError(Exception):
    """A certificate request that cannot be served (bad CSR, unknown contract...)."""


@dataclass(frozen=True)
class EvCertificateAnswer:
    accepted: bool
    exi_response: str  # base64, passed to the car as is
    certificate_chain: str | None = None  # PEM, when the service tells us (to store it)
    reason: str | None = None


class ContractCertificateService(Protocol):
    """Installs or updates a contract certificate in a car (ISO 15118-2/-20
    CertificateInstallation and CertificateUpdate, carried by Get15118EVCertificate). A
    real one is the operator's contract-certificate pool (a PKI platform); the EXI streams
    pass through untouched."""

    async def ev_certificate(
        self, schema_version: str, action: str, exi_request: str, at: datetime
    ) -> EvCertificateAnswer: ...


class StationCertificateSigner(Protocol):
    """The operator's sub-CA that signs charging-station certificates from their CSRs."""

    async def sign(self, csr_pem: str, charge_point_id: str, kind: str, at: datetime) -> str:
        """The signed certificate chain (PEM, leaf first)."""
        ...


class LocalStationSigner:
    def __init__(self, issuer: Issuer, days: int = 365) -> None:
        self.issuer = issuer
        self.days = days

    async def sign(self, csr_pem: str, charge_point_id: str, kind: str, at: datetime) -> str:
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise PkiError("not a PEM certificate signing request") from None
        # The CSMS-facing certificate names the station: CN = its charge point id.
        must_be = charge_point_id if kind == "ChargingStationCertificate" else None
        try:
            cert = self.issuer.sign_csr(
                csr,
                at,
                self.days,
                common_name_must_be=must_be,
                client_auth=True,
                server_auth=kind == "V2GCertificate",
            )
        except ValueError as error:
            raise PkiError(str(error)) from None
        return certs.to_pem(cert, *self.issuer.chain[:-1])


class LocalContractService:
    """The demo's contract-certificate service. Real EXI is not encoded here: its
    `exiRequest` is base64 of JSON {"emaid", "csr"} (the car's new key), and its answer
    base64 of JSON {"certificateChain"}. The simulator speaks the same."""

    def __init__(self, issuer: Issuer, days: int = 730) -> None:
        self.issuer = issuer
        self.days = days

    async def ev_certificate(
        self, schema_version: str, action: str, exi_request: str, at: datetime
    ) -> EvCertificateAnswer:
        try:
            request = orjson.loads(base64.b64decode(exi_request, validate=True))
            emaid = str(request["emaid"])
            csr = x509.load_pem_x509_csr(str(request["csr"]).encode())
            cert = self.issuer.sign_csr(csr, at, self.days, common_name_must_be=emaid)
        except (ValueError, KeyError, TypeError) as error:
            return EvCertificateAnswer(False, "", reason=f"bad request: {error}"[:200])
        chain = certs.to_pem(cert, *self.issuer.chain[:-1])
        body = orjson.dumps({"certificateChain": chain})
        return EvCertificateAnswer(True, base64.b64encode(body).decode(), chain)


def demo_exi_request(emaid: str, csr_pem: str) -> str:
    return base64.b64encode(orjson.dumps({"emaid": emaid, "csr": csr_pem})).decode()


def demo_exi_chain(exi_response: str) -> str:
    return str(orjson.loads(base64.b64decode(exi_response))["certificateChain"])
