"""ISO 15118 through OCPP 2.0.1/2.1: Plug & Charge authorization, the certificate
messages a charger sends (Get15118EVCertificate, GetCertificateStatus, SignCertificate),
and what the car says it needs (NotifyEVChargingNeeds)."""

from __future__ import annotations

import logging
from typing import Any

from core import bus
from core.identity import pnc
from core.identity.tokens import token_key
from core.pki.certs import HashData
from core.pki.ocsp import Revocation
from core.pki.ports import PkiError
from core.sessions import flows
from core.timeutil import utcnow
from core.uow import UnitOfWork
from ocpp_gateway.connection import Connection, handles

log = logging.getLogger(__name__)


def _failed(reason: str, info: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"reasonCode": reason[:20]}
    if info:
        status["additionalInfo"] = info[:500]
    return status


class Iso15118Handlers(Connection):
    """Mixed into the 2.x connection (the handlers are found through the class's MRO)."""

    async def authorize_token(self, p: dict[str, Any]) -> dict[str, Any]:
        from ocpp_gateway.v2 import id_token_info

        given = p["idToken"]
        token = token_key(given["idToken"], given.get("type"))
        now = utcnow()
        wants_contract = (
            given.get("type") == "eMAID"
            or p.get("certificate")
            or p.get("iso15118CertificateHashData")
        )
        if wants_contract and self.ctx.pnc is not None:
            decision = await pnc.authorize_contract(
                self.ctx.payments,
                self.ctx.pnc,
                self.charger_id,
                token,
                now,
                certificate_pem=p.get("certificate"),
                hash_data=p.get("iso15118CertificateHashData") or (),
            )
            answer: dict[str, Any] = {"idTokenInfo": id_token_info(decision.authorization)}
            if decision.certificate_status is not None:
                answer["certificateStatus"] = decision.certificate_status.value
            return answer
        auth = await flows.authorize_start(self.ctx.payments, self.charger_id, token, now)
        answer = {"idTokenInfo": id_token_info(auth)}
        if wants_contract and (p.get("certificate") or p.get("iso15118CertificateHashData")):
            # Plug & Charge is not configured: no certificate can be checked here.
            answer["certificateStatus"] = "NoCertificateAvailable"
        return answer

    @handles("Get15118EVCertificate")
    async def on_get_15118_ev_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        if self.ctx.pnc is None:
            return {"status": "Failed", "exiResponse": "", "statusInfo": _failed("NotEnabled")}
        answer = await pnc.ev_certificate(
            self.ctx.payments,
            self.ctx.pnc,
            p["iso15118SchemaVersion"],
            p["action"],
            p["exiRequest"],
            utcnow(),
        )
        await self._event(
            "Get15118EVCertificate",
            f"{p['action']}: {'Accepted' if answer.accepted else 'Failed'}",
            {"action": p["action"], "schema": p["iso15118SchemaVersion"]},
        )
        result: dict[str, Any] = {
            "status": "Accepted" if answer.accepted else "Failed",
            "exiResponse": answer.exi_response,
        }
        if not answer.accepted:
            result["statusInfo"] = _failed("Rejected", answer.reason or "")
        return result

    @handles("GetCertificateStatus")
    async def on_get_certificate_status(self, p: dict[str, Any]) -> dict[str, Any]:
        if self.ctx.pnc is None:
            return {"status": "Failed", "statusInfo": _failed("NotEnabled")}
        data = HashData.of(p["ocspRequestData"])
        answer = await self.ctx.pnc.ocsp.check(data, utcnow())
        if answer.status == Revocation.UNAVAILABLE or answer.b64 is None:
            return {"status": "Failed", "statusInfo": _failed("OCSPUnavailable")}
        # The signed OCSP response itself: the charger reads good/revoked from it.
        return {"status": "Accepted", "ocspResult": answer.b64}

    @handles("SignCertificate")
    async def on_sign_certificate(self, p: dict[str, Any]) -> dict[str, Any]:
        signer = self.ctx.pnc.station_signer if self.ctx.pnc is not None else None
        if signer is None:
            return {"status": "Rejected", "statusInfo": _failed("NotEnabled")}
        kind = p.get("certificateType") or "ChargingStationCertificate"
        csr = p["csr"]
        now = utcnow()
        try:
            chain = await signer.sign(csr, self.cp_id, kind, now)
        except PkiError as error:
            await self._event("SignCertificate", f"{kind}: rejected", {"reason": str(error)})
            return {"status": "Rejected", "statusInfo": _failed("InvalidCSR", str(error))}

        async def store(uow: UnitOfWork) -> int:
            row = await pnc.record_station_certificate(uow.session, self.charger_id, kind, chain)
            return row.id

        row_id = await self.unit(store)

        async def deliver() -> None:
            command = bus.CertificateSigned(certificate_chain=chain, certificate_type=kind)
            try:
                result = await self.execute(command, self.ctx.settings.ocpp_command_timeout)
                status = result.status
            except bus.CommandError as error:
                status = f"Error: {error}"[:20]

            async def delivered(uow: UnitOfWork) -> None:
                from core.models import StationCertificate

                row = await uow.session.get(StationCertificate, row_id)
                if row is not None:
                    row.delivery_status = status

            await self.unit(delivered)

        self.after_answer(deliver)
        return {"status": "Accepted"}
