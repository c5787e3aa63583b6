"""ISO 15118 through OCPP 2.0.1/2.1: Plug & Charge authorization, the certificate
messages a charger sends (Get15118EVCertificate, GetCertificateStatus, SignCertificate),
and what the car says it needs (NotifyEVChargingNeeds)."""

from __future__ import annotations

import logging
from typing import Any

from core import bus
from core.identity import needs, pnc
from core.identity.tokens import token_key
from core.pki.certs import HashData
from core.pki.ocsp import Revocation
from core.pki.ports import PkiError
from core.sessions import flows
from core.timeutil import parse_ocpp_datetime, utcnow
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

    @handles("NotifyEVChargingNeeds")
    async def on_notify_ev_charging_needs(self, p: dict[str, Any]) -> dict[str, Any]:
        evse_id = p["evseId"]
        if not 1 <= evse_id <= self.ctx.settings.ocpp_max_connectors:
            await self._event("Suspicious", f"NotifyEVChargingNeeds: evse {evse_id}", {})
            return {"status": "Rejected"}
        parsed = charging_needs(p["chargingNeeds"])
        now = utcnow()
        await self.unit(
            lambda uow: needs.record_needs(uow, self.charger_id, self.cp_id, evse_id, parsed, now)
        )
        # Accepted: the CSMS will send a charging schedule (the allocator's, when it runs).
        return {"status": "Accepted"}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and abs(value) < 2**31 else None


def charging_needs(n: dict[str, Any]) -> needs.ChargingNeeds:
    """ChargingNeedsType (2.0.1 and 2.1) in the CSMS's units: Wh, W, A, V, %."""
    ac = n.get("acChargingParameters") or {}
    dc = n.get("dcChargingParameters") or {}
    v2x = n.get("v2xChargingParameters") or {}
    departure = n.get("departureTime")
    energy = dc.get("energyAmount", ac.get("energyAmount", v2x.get("evTargetEnergyRequest")))
    discharge = v2x.get("maxDischargePower")
    return needs.ChargingNeeds(
        requested_energy_transfer=n["requestedEnergyTransfer"],
        energy_amount_wh=_int(energy),
        departure_at=parse_ocpp_datetime(departure) if departure else None,
        soc=_int(dc.get("stateOfCharge")),
        target_soc=_int(v2x.get("targetSoC") or dc.get("fullSoC")),
        min_soc=None,
        ev_min_current_a=_int(ac.get("evMinCurrent")),
        ev_max_current_a=_int(ac.get("evMaxCurrent", dc.get("evMaxCurrent"))),
        ev_max_voltage_v=_int(ac.get("evMaxVoltage", dc.get("evMaxVoltage"))),
        ev_max_power_w=_int(dc.get("evMaxPower", v2x.get("maxChargePower"))),
        ev_capacity_wh=_int(dc.get("evEnergyCapacity")),
        max_discharge_power_w=_int(abs(discharge)) if discharge is not None else None,
        v2x_energy_wh=_int(v2x.get("evMaxV2XEnergyRequest")),
        control_mode=n.get("controlMode"),
        energy_transfer_modes=tuple(n.get("availableEnergyTransfer") or ()),
        raw=n,
    )
