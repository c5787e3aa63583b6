"""OCPP 1.6J: Core profile messages from the charger, and commands to it."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call as call16
from ocpp.v16 import call_result as call_result16
from ocpp.v16.enums import Action

from core import bus
from core.chargers import service as chargers
from core.identity.tokens import token_key
from core.sessions import flows, meter_rows
from core.sessions import service as sessions
from core.timeutil import format_ocpp_datetime, parse_ocpp_datetime, utcnow
from core.users.service import Authorization, AuthorizationStatus
from ocpp_gateway.connection import Connection, handles
from ocpp_gateway.meter import readings_from_v16


def id_tag_info(auth: Authorization) -> dict[str, Any]:
    # 1.6 has no NoCredit (and no display message): a driver who cannot pay is Blocked.
    status = (
        AuthorizationStatus.BLOCKED if auth.status == AuthorizationStatus.NO_CREDIT else auth.status
    )
    info: dict[str, Any] = {"status": status.value}
    if auth.expires_at is not None:
        info["expiryDate"] = format_ocpp_datetime(auth.expires_at)
    return info


class V16Connection(Connection):
    version = "1.6"
    known_actions = frozenset(a.value for a in Action)
    _call = call16
    _call_result = call_result16

    @handles("BootNotification")
    async def on_boot_notification(self, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        info = chargers.BootInfo(
            vendor=p["chargePointVendor"],
            model=p["chargePointModel"],
            serial_number=p.get("chargePointSerialNumber") or p.get("chargeBoxSerialNumber"),
            firmware_version=p.get("firmwareVersion"),
            iccid=p.get("iccid"),
            imsi=p.get("imsi"),
            meter_type=p.get("meterType"),
            meter_serial_number=p.get("meterSerialNumber"),
        )
        self.registration_status = await self.record_boot(info, now)
        return {
            "status": self.registration_status,
            "currentTime": format_ocpp_datetime(now),
            "interval": self.ctx.settings.ocpp_heartbeat_interval,
        }

    @handles("Heartbeat")
    async def on_heartbeat(self, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        await self.ctx.batcher.write(self.cp_id, [chargers.seen_row(self.charger_id, now)])
        return {"currentTime": format_ocpp_datetime(now)}

    @handles("StatusNotification")
    async def on_status_notification(self, p: dict[str, Any]) -> dict[str, Any]:
        connector = p["connectorId"]
        at = parse_ocpp_datetime(p["timestamp"]) if p.get("timestamp") else None
        at, _ = sessions.plausible_time(at, utcnow())
        if connector > self.ctx.settings.ocpp_max_connectors:
            await self._suspicious("StatusNotification", f"connectorId {connector}", p)
            return {}
        error_code = p["errorCode"]
        await self.unit(
            lambda uow: chargers.set_connector_status(
                uow,
                self.charger_id,
                self.cp_id,
                evse_id=connector,
                connector_id=1 if connector else 0,
                status=p["status"],
                error_code=None if error_code == "NoError" else error_code,
                info=p.get("info"),
                vendor_error_code=p.get("vendorErrorCode"),
                at=at,
            )
        )
        return {}

    @handles("Authorize")
    async def on_authorize(self, p: dict[str, Any]) -> dict[str, Any]:
        tag = token_key(p["idTag"])
        auth = await flows.authorize_start(self.ctx.payments, self.charger_id, tag, utcnow())
        return {"idTagInfo": id_tag_info(auth)}

    @handles("StartTransaction")
    async def on_start_transaction(self, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        connector = p["connectorId"]
        tag = token_key(p["idTag"])
        if not 1 <= connector <= self.ctx.settings.ocpp_max_connectors:
            await self._suspicious("StartTransaction", f"connectorId {connector}", p)
        # Decided (and a hold placed, for a card payer) before the write: a provider call
        # never runs inside the charger's transaction.
        auth = await flows.decide_start_transaction(
            self.ctx.payments,
            self.charger_id,
            connector_id=connector,
            id_tag=tag,
            meter_start_wh=p["meterStart"],
            timestamp_raw=p["timestamp"],
            at=now,
        )
        result = await self.session_unit(
            lambda uow: sessions.start_transaction(
                uow,
                self.charger_id,
                self.cp_id,
                connector_id=connector,
                id_tag=tag,
                meter_start_wh=p["meterStart"],
                timestamp_raw=p["timestamp"],
                timestamp=parse_ocpp_datetime(p["timestamp"]),
                received_at=now,
                auth=auth,
            )
        )
        return {
            "transactionId": result.transaction_id,
            "idTagInfo": id_tag_info(result.authorization),
        }

    @handles("StopTransaction")
    async def on_stop_transaction(self, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        readings = readings_from_v16(p.get("transactionData") or [])
        auth = await self.session_unit(
            lambda uow: sessions.stop_transaction(
                uow,
                self.charger_id,
                self.cp_id,
                transaction_id=p["transactionId"],
                id_tag=token_key(p["idTag"]) if p.get("idTag") else None,
                meter_stop_wh=p["meterStop"],
                timestamp_raw=p["timestamp"],
                timestamp=parse_ocpp_datetime(p["timestamp"]),
                reason=p.get("reason"),
                readings=readings,
                received_at=now,
            )
        )
        return {"idTagInfo": id_tag_info(auth)} if auth is not None else {}

    @handles("MeterValues")
    async def on_meter_values(self, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        connector = p["connectorId"]
        if connector > self.ctx.settings.ocpp_max_connectors:
            await self._suspicious("MeterValues", f"connectorId {connector}", p)
            return {}
        tx = p.get("transactionId")
        tx_id = str(tx) if tx is not None else None
        readings = readings_from_v16(p["meterValue"])
        open_tx = await self.live_tx(tx_id) if tx_id is not None else None
        if tx_id is None or open_tx is not None:
            plan = meter_rows.plan_meter_values(
                open_tx, self.charger_id, self.cp_id, connector, readings, now, self.ctx.events
            )
            if plan is not None:
                await self.write_plan(plan, tx_id)
                return {}
        await self.session_unit(
            lambda uow: sessions.record_meter_values(
                uow,
                self.charger_id,
                self.cp_id,
                evse_id=connector,
                transaction_id=tx_id,
                readings=readings,
                received_at=now,
            )
        )
        return {}

    @handles("DiagnosticsStatusNotification")
    async def on_diagnostics_status(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._event("DiagnosticsStatusNotification", p["status"], p)
        return {}

    @handles("SignedFirmwareStatusNotification")
    async def on_signed_firmware_status(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._event("FirmwareStatusNotification", p["status"], p)
        return {}

    async def _suspicious(self, action: str, what: str, payload: dict[str, Any]) -> None:
        await self._event("Suspicious", f"{action}: {what}", {"action": action})

    # ----------------------------------------------------------------- commands

    def build_call(self, command: bus.Command) -> Any:
        match command:
            case bus.RemoteStart():
                return call16.RemoteStartTransaction(
                    id_tag=command.id_token,
                    connector_id=command.evse_id,
                    charging_profile=command.charging_profile,
                )
            case bus.RemoteStop():
                return call16.RemoteStopTransaction(transaction_id=int(command.transaction_id))
            case bus.Reset():
                return call16.Reset(type="Hard" if command.kind == "hard" else "Soft")
            case bus.UnlockConnector():
                return call16.UnlockConnector(connector_id=command.evse_id or command.connector_id)
            case bus.ChangeAvailability():
                return call16.ChangeAvailability(
                    connector_id=command.evse_id
                    if command.evse_id is not None
                    else command.connector_id,
                    type="Operative" if command.operative else "Inoperative",
                )
            case bus.TriggerMessage():
                return call16.TriggerMessage(
                    requested_message=command.message,
                    connector_id=command.evse_id or command.connector_id,
                )
            case bus.GetConfiguration():
                return call16.GetConfiguration(key=list(command.keys) or None)
            case bus.SetConfiguration():
                return call16.ChangeConfiguration(key=command.key, value=command.value)
            case bus.SetChargingProfile():
                return call16.SetChargingProfile(
                    connector_id=command.evse_id, cs_charging_profiles=command.profile
                )
            case bus.ClearChargingProfile():
                return call16.ClearChargingProfile(
                    id=command.profile_id,
                    connector_id=command.evse_id,
                    charging_profile_purpose=command.purpose,
                    stack_level=command.stack_level,
                )
        return None
