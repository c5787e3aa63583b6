"""Plug & Charge (ISO 15118 via OCPP 2.0.1/2.1): a car's contract certificate is checked
(chain to a trusted V2G/MO root, revocation by OCSP, the contract itself), and its eMAID
then goes through the one start flow (core.sessions.flows.authorize_start) like any token.

OCSP responder down: OCPP 2.0.1 C07.FR.05 has the CSMS verify the chain "via real-time
or cached OCSP data", so a good answer cached before the outage (core.pki.ocsp) still
counts. Without one, the contract's validity cannot be established: the answer is
`certificateStatus = NoCertificateAvailable` with `idTokenInfo.status = Invalid`.
`LADEFLYT_PNC_OCSP_UNAVAILABLE=accept` is the operator's deliberate deviation from
C07.FR.05 (the car charges on the chain alone, the session flagged); it never covers a
responder that answered "unknown" for the certificate. A revoked chain is
`CertificateRevoked` with `idTokenInfo.status = Invalid` (C07.FR.16).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.identity.tokens import normalize_emaid
from core.models import (
    ChargingContract,
    ContractStatus,
    IdToken,
    IdTokenKind,
    StationCertificate,
    User,
)
from core.payments.service import Payments
from core.pki import certs
from core.pki.certs import ChainStatus, HashData
from core.pki.ocsp import OcspClient, Revocation
from core.pki.ports import ContractCertificateService, EvCertificateAnswer, StationCertificateSigner
from core.sessions import flows
from core.users.service import Authorization, AuthorizationStatus, UserError, add_id_token

log = logging.getLogger(__name__)


@dataclass
class PlugAndCharge:
    """What the gateway needs for the certificate flows (built in ladeflyt.runtime)."""

    roots: list[x509.Certificate]
    ocsp: OcspClient
    contracts: ContractCertificateService | None = None
    station_signer: StationCertificateSigner | None = None
    ocsp_unavailable: Literal["refuse", "accept"] = "refuse"


@dataclass(frozen=True)
class ContractDecision:
    authorization: Authorization
    certificate_status: ChainStatus | None


# The idTokenInfo status that goes with a refused certificate.
_TOKEN_STATUS = {
    ChainStatus.CERTIFICATE_EXPIRED: AuthorizationStatus.EXPIRED,
    ChainStatus.CONTRACT_CANCELLED: AuthorizationStatus.BLOCKED,
}


def _refuse(status: ChainStatus) -> ContractDecision:
    token_status = _TOKEN_STATUS.get(status, AuthorizationStatus.INVALID)
    return ContractDecision(Authorization(token_status), status)


async def authorize_contract(
    ctx: Payments,
    pnc: PlugAndCharge,
    charger_id: int,
    emaid: str,
    at: datetime,
    *,
    certificate_pem: str | None = None,
    hash_data: Sequence[dict[str, Any]] = (),
    evse_id: int | None = None,
) -> ContractDecision:
    """Authorize a car by its contract: the certificate (sent whole, or named by hash data
    when the charger checked the chain itself), then the contract, then the start flow."""
    emaid = normalize_emaid(emaid)
    entries = [HashData.of(d) for d in hash_data]
    if certificate_pem:
        chain = certs.load_chain(certificate_pem)
        status = certs.verify_chain(chain, pnc.roots, at)
        if status != ChainStatus.ACCEPTED:
            return _refuse(status)
        if normalize_emaid(certs.common_name(chain[0])) != emaid:
            return _refuse(ChainStatus.CERT_CHAIN_ERROR)
        issuer = chain[1] if len(chain) > 1 else _root_of(chain[0], pnc.roots)
        if issuer is not None:
            # The leaf's revocation, asked where its own certificate says.
            entries = [certs.hash_data(chain[0], issuer)]
    flags: list[str] = []
    for entry in entries[:4]:
        answer = await pnc.ocsp.check(entry, at)
        if answer.status == Revocation.REVOKED:
            return _refuse(ChainStatus.CERTIFICATE_REVOKED)
        if answer.status != Revocation.GOOD:
            # "unknown": the responder answered and does not vouch for the certificate.
            if pnc.ocsp_unavailable == "refuse" or answer.status != Revocation.UNAVAILABLE:
                return _refuse(ChainStatus.NO_CERTIFICATE_AVAILABLE)
            flags.append("ocsp_unavailable")
    async with ctx.sessions() as session:
        contract = await contract_by_emaid(session, emaid)
        if contract is not None:
            if contract.status == ContractStatus.CANCELLED.value:
                return _refuse(ChainStatus.CONTRACT_CANCELLED)
            if contract.not_after is not None and contract.not_after <= at:
                return _refuse(ChainStatus.CERTIFICATE_EXPIRED)
    auth = await flows.authorize_start(ctx, charger_id, emaid, at, evse_id=evse_id)
    if flags:
        log.warning("contract %s accepted without OCSP (responder unavailable)", emaid)
    # Under the `accept` policy the chain alone decides: the charger must not refuse.
    return ContractDecision(auth, ChainStatus.ACCEPTED if (certificate_pem or entries) else None)


def _root_of(cert: x509.Certificate, roots: list[x509.Certificate]) -> x509.Certificate | None:
    return next((r for r in roots if r.subject == cert.issuer), None)


async def contract_by_emaid(session: AsyncSession, emaid: str) -> ChargingContract | None:
    return (
        await session.execute(
            select(ChargingContract).where(ChargingContract.emaid == normalize_emaid(emaid))
        )
    ).scalar_one_or_none()


async def add_contract(
    session: AsyncSession,
    user: User,
    emaid: str,
    certificate_pem: str | None = None,
) -> ChargingContract:
    """A driver's Plug & Charge contract: the eMAID becomes one of her tokens."""
    emaid = normalize_emaid(emaid)
    if not 14 <= len(emaid) <= 18 or not emaid.isalnum():
        raise UserError("an eMAID is 14-18 letters and digits (e.g. NO-LFT-C12345678-9)")
    token = await add_id_token(
        session, emaid, user, kind=IdTokenKind.CONTRACT, label="Plug & Charge"
    )
    contract = ChargingContract(emaid=emaid, id_token_pk=token.id, user_id=user.id)
    session.add(contract)
    if certificate_pem:
        record_certificate(contract, certificate_pem)
    await session.flush()
    return contract


def record_certificate(contract: ChargingContract, chain_pem: str) -> None:
    chain = certs.load_chain(chain_pem)
    if not chain:
        return
    leaf = chain[0]
    contract.certificate_pem = certs.to_pem(leaf)
    contract.serial_number = format(leaf.serial_number, "x")
    contract.not_after = leaf.not_valid_after_utc


async def cancel_contract(session: AsyncSession, emaid: str) -> ChargingContract | None:
    contract = await contract_by_emaid(session, emaid)
    if contract is not None:
        contract.status = ContractStatus.CANCELLED.value
        token = await session.get(IdToken, contract.id_token_pk)
        if token is not None:
            token.status = "blocked"
        await session.flush()
    return contract


async def ev_certificate(
    ctx: Payments,
    pnc: PlugAndCharge,
    schema_version: str,
    action: str,
    exi_request: str,
    at: datetime,
) -> EvCertificateAnswer:
    """Get15118EVCertificate: the contract-certificate service answers; a chain it issued
    for one of our contracts is recorded on the contract."""
    if pnc.contracts is None:
        return EvCertificateAnswer(False, "", reason="no contract certificate service")
    answer = await pnc.contracts.ev_certificate(schema_version, action, exi_request, at)
    if answer.accepted and answer.certificate_chain:
        chain = certs.load_chain(answer.certificate_chain)
        emaid = normalize_emaid(certs.common_name(chain[0])) if chain else ""
        async with transaction(ctx.sessions) as session:
            contract = await contract_by_emaid(session, emaid)
            if contract is not None:
                record_certificate(contract, answer.certificate_chain)
    return answer


async def record_station_certificate(
    session: AsyncSession, charger_id: int, kind: str, chain_pem: str
) -> StationCertificate:
    leaf = certs.load_chain(chain_pem)[0]
    row = StationCertificate(
        charger_id=charger_id,
        certificate_type=kind,
        serial_number=format(leaf.serial_number, "x"),
        subject=leaf.subject.rfc4514_string()[:300],
        certificate_pem=chain_pem,
        not_after=leaf.not_valid_after_utc,
    )
    session.add(row)
    await session.flush()
    return row
