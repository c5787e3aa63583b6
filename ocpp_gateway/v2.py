"""OCPP 2.0.1 and 2.1: the charger's messages and commands to it (the two share handlers)."""

from __future__ import annotations

from typing import Any

from ocpp.v21 import call as call21
from ocpp.v21 import call_result as call_result21
from ocpp.v21.enums import Action as Action21
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201
from ocpp.v201.enums import Action as Action201

from core import bus
from core.chargers import service as chargers
from core.identity.tokens import token_key
from core.sessions import flows, meter_rows
from core.sessions import service as sessions
from core.sessions.schemas import TransactionEventIn
from core.timeutil import format_ocpp_datetime, parse_ocpp_datetime, utcnow
from core.uow import UnitOfWork
from core.users.service import Authorization
from ocpp_gateway.connection import handles
from ocpp_gateway.iso15118 import Iso15118Handlers
from ocpp_gateway.meter import readings_from_v2

# 1.6 TriggerMessage names → 2.x MessageTriggerEnumType
_TRIGGERS = {
    "BootNotification": "BootNotification",
    "Heartbeat": "Heartbeat",
    "MeterValues": "MeterValues",
    "StatusNotification": "StatusNotification",
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "DiagnosticsStatusNotification": "LogStatusNotification",
    "LogStatusNotification": "LogStatusNotification",
    "TransactionEvent": "TransactionEvent",
    "SignChargingStationCertificate": "SignChargingStationCertificate",
    "SignV2GCertificate": "SignV2GCertificate",
}


def id_token_info(auth: Authorization) -> dict[str, Any]:
    info: dict[str, Any] = {"status": auth.status.value}
    if auth.expires_at is not None:
        info["cacheExpiryDateTime"] = format_ocpp_datetime(auth.expires_at)
    if auth.message:
        # Shown on the charger's display: why the tag was refused.
        info["personalMessage"] = {"format": "UTF8", "content": auth.message[:512]}
    return info


class V2Connection(Iso15118Handlers):
    _call: Any
    _call_result: Any

    @handles("BootNotification")
    async def on_boot_notification(self, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        station = p["chargingStation"]
        modem = station.get("modem") or {}
        info = chargers.BootInfo(
            vendor=station["vendorName"],
            model=station["model"],
            serial_number=station.get("serialNumber"),
            firmware_version=station.get("firmwareVersion"),
            iccid=modem.get("iccid"),
            imsi=modem.get("imsi"),
            reason=p.get("reason"),
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
        evse, connector = p["evseId"], p["connectorId"]
        at, _ = sessions.plausible_time(parse_ocpp_datetime(p["timestamp"]), utcnow())
        limit = self.ctx.settings.ocpp_max_connectors
        if evse > limit or connector > limit:
            await self._event("Suspicious", f"StatusNotification: evse {evse}/{connector}", {})
            return {}
        await self.unit(
            lambda uow: chargers.set_connector_status(
                uow,
                self.charger_id,
                self.cp_id,
                evse_id=evse,
                connector_id=connector,
                status=p["connectorStatus"],
                error_code=None,
                info=None,
                vendor_error_code=None,
                at=at,
            )
        )
        return {}

    @handles("Authorize")
    async def on_authorize(self, p: dict[str, Any]) -> dict[str, Any]:
        # An RFID tag, a car's vehicle id, or a Plug & Charge contract (iso15118).
        return await self.authorize_token(p)

    @handles("TransactionEvent")
    async def on_transaction_event(self, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        info = p["transactionInfo"]
        evse = p.get("evse") or {}
        id_token = p.get("idToken") or {}
        token = (
            token_key(id_token["idToken"], id_token.get("type"))
            if id_token.get("idToken")
            else None
        )
        limit = self.ctx.settings.ocpp_max_connectors
        evse_id = evse.get("id")
        if evse_id is not None and evse_id > limit:
            await self._event("Suspicious", f"TransactionEvent: evse {evse_id}", {})
            evse_id = None
        event = TransactionEventIn(
            event_type=p["eventType"],
            timestamp=parse_ocpp_datetime(p["timestamp"]),
            trigger_reason=p["triggerReason"],
            seq_no=p["seqNo"],
            transaction_id=info["transactionId"],
            charging_state=info.get("chargingState"),
            stopped_reason=info.get("stoppedReason"),
            remote_start_id=info.get("remoteStartId"),
            offline=bool(p.get("offline", False)),
            evse_id=evse_id,
            connector_id=evse.get("connectorId") if evse_id is not None else None,
            id_token=token,
            readings=readings_from_v2(p.get("meterValue") or []),
        )
        if event.event_type == "Updated" and not token:
            open_tx = await self.live_tx(event.transaction_id)
            plan = (
                meter_rows.plan_transaction_event(
                    open_tx, self.charger_id, self.cp_id, event, now, self.ctx.events
                )
                if open_tx is not None
                else None
            )
            if plan is not None:
                await self.write_plan(plan, event.transaction_id)
                return {}
        decided = await flows.decide_transaction_event(
            self.ctx.payments, self.charger_id, event, now
        )
        auth = await self.session_unit(
            lambda uow: sessions.apply_transaction_event(
                uow, self.charger_id, self.cp_id, event, now, decided
            )
        )
        return {"idTokenInfo": id_token_info(auth)} if auth is not None else {}

    @handles("MeterValues")
    async def on_meter_values(self, p: dict[str, Any]) -> dict[str, Any]:
        now = utcnow()
        evse = p["evseId"]
        if evse > self.ctx.settings.ocpp_max_connectors:
            await self._event("Suspicious", f"MeterValues: evse {evse}", {})
            return {}
        readings = readings_from_v2(p["meterValue"])
        plan = meter_rows.plan_meter_values(
            None, self.charger_id, self.cp_id, evse, readings, now, self.ctx.events
        )
        if plan is not None:
            await self.write_plan(plan, None)
            return {}
        await self.unit(
            lambda uow: sessions.record_meter_values(
                uow,
                self.charger_id,
                self.cp_id,
                evse_id=evse,
                transaction_id=None,
                readings=readings,
                received_at=now,
            )
        )
        return {}

    @handles("NotifyEvent")
    async def on_notify_event(self, p: dict[str, Any]) -> dict[str, Any]:
        items = p["eventData"]
        summary = "; ".join(
            f"{e['component']['name']}.{e['variable']['name']}={e.get('actualValue', '')}"
            f" ({e.get('trigger', '')})"
            for e in items[:5]
        )
        await self._event("NotifyEvent", summary, p, p.get("generatedAt"))
        return {}

    @handles("NotifyReport")
    async def on_notify_report(self, p: dict[str, Any]) -> dict[str, Any]:
        reports: list[chargers.VariableReport] = []
        for item in p.get("reportData") or []:
            component, variable = item["component"], item["variable"]
            evse = component.get("evse") or {}
            for attr in item.get("variableAttribute") or []:
                reports.append(
                    chargers.VariableReport(
                        component=component["name"],
                        component_instance=component.get("instance", ""),
                        evse_id=evse.get("id", 0),
                        connector_id=evse.get("connectorId", 0),
                        variable=variable["name"],
                        variable_instance=variable.get("instance", ""),
                        attribute_type=attr.get("type", "Actual"),
                        value=attr.get("value"),
                        readonly=attr.get("mutability") == "ReadOnly",
                    )
                )

        async def work(uow: UnitOfWork) -> None:
            await chargers.upsert_variables(uow, self.charger_id, reports)
            await chargers.record_event(
                uow,
                self.charger_id,
                "NotifyReport",
                occurred_at=parse_ocpp_datetime(p["generatedAt"]),
                summary=f"request {p['requestId']} seq {p['seqNo']}: {len(reports)} values",
                payload={
                    "requestId": p["requestId"],
                    "seqNo": p["seqNo"],
                    "tbc": p.get("tbc", False),
                },
            )

        await self.unit(work)
        return {}

    def build_call(self, command: bus.Command) -> Any:
        c = self._call
        match command:
            case bus.RemoteStart():
                return c.RequestStartTransaction(
                    id_token={"id_token": command.id_token, "type": "Central"},
                    remote_start_id=command.remote_start_id or 1,
                    evse_id=command.evse_id,
                    charging_profile=command.charging_profile,
                )
            case bus.RemoteStop():
                return c.RequestStopTransaction(transaction_id=command.transaction_id)
            case bus.Reset():
                return c.Reset(type="Immediate" if command.kind == "hard" else "OnIdle")
            case bus.UnlockConnector():
                return c.UnlockConnector(
                    evse_id=command.evse_id or command.connector_id,
                    connector_id=command.connector_id if command.evse_id else 1,
                )
            case bus.ChangeAvailability():
                evse_id = command.evse_id if command.evse_id is not None else command.connector_id
                return c.ChangeAvailability(
                    operational_status="Operative" if command.operative else "Inoperative",
                    evse={"id": evse_id} if evse_id else None,
                )
            case bus.TriggerMessage():
                trigger_evse = command.evse_id or command.connector_id
                return c.TriggerMessage(
                    requested_message=_TRIGGERS.get(command.message, command.message),
                    evse={"id": trigger_evse} if trigger_evse else None,
                )
            case bus.GetConfiguration():
                keys = command.keys or ("HeartbeatInterval",)
                return c.GetVariables(
                    get_variable_data=[
                        {"component": {"name": command.component}, "variable": {"name": k}}
                        for k in keys
                    ]
                )
            case bus.SetConfiguration():
                return c.SetVariables(
                    set_variable_data=[
                        {
                            "attribute_value": command.value,
                            "component": {"name": command.component},
                            "variable": {"name": command.key},
                        }
                    ]
                )
            case bus.SetChargingProfile():
                return c.SetChargingProfile(
                    evse_id=command.evse_id, charging_profile=command.profile
                )
            case bus.GetTransactionStatus():
                return c.GetTransactionStatus(transaction_id=command.transaction_id)
            case bus.InstallCertificate():
                return c.InstallCertificate(
                    certificate_type=command.certificate_type, certificate=command.certificate
                )
            case bus.GetInstalledCertificateIds():
                return c.GetInstalledCertificateIds(
                    certificate_type=list(command.certificate_types) or None
                )
            case bus.DeleteCertificate():
                return c.DeleteCertificate(
                    certificate_hash_data={
                        "hash_algorithm": command.hash_data["hashAlgorithm"],
                        "issuer_name_hash": command.hash_data["issuerNameHash"],
                        "issuer_key_hash": command.hash_data["issuerKeyHash"],
                        "serial_number": command.hash_data["serialNumber"],
                    }
                )
            case bus.CertificateSigned():
                return c.CertificateSigned(
                    certificate_chain=command.certificate_chain,
                    certificate_type=command.certificate_type,
                )
            case bus.ClearChargingProfile():
                criteria = {
                    k: v
                    for k, v in {
                        "evse_id": command.evse_id,
                        "charging_profile_purpose": command.purpose,
                        "stack_level": command.stack_level,
                    }.items()
                    if v is not None
                }
                return c.ClearChargingProfile(
                    charging_profile_id=command.profile_id,
                    charging_profile_criteria=criteria or None,
                )
        return None

    def parse_result(self, command: bus.Command, result: Any) -> bus.CommandResult:
        parsed = super().parse_result(command, result)
        if isinstance(command, bus.GetConfiguration | bus.SetConfiguration):
            rows = (
                parsed.payload.get("get_variable_result")
                or parsed.payload.get("set_variable_result")
                or []
            )
            statuses = {r.get("attribute_status") for r in rows}
            status = (
                "Accepted"
                if statuses <= {"Accepted"}
                else ("RebootRequired" if "RebootRequired" in statuses else "Rejected")
            )
            return bus.CommandResult(status, parsed.payload)
        return parsed


class V201Connection(V2Connection):
    version = "2.0.1"
    known_actions = frozenset(a.value for a in Action201)
    _call = call201
    _call_result = call_result201


class V21Connection(V2Connection):
    version = "2.1"
    known_actions = frozenset(a.value for a in Action21)
    _call = call21
    _call_result = call_result21
