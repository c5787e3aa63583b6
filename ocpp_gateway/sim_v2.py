"""OCPP 2.0.1 and 2.1 for the simulated chargers (the two share everything used here).

Each EVSE has one connector (id 1); a transaction is TransactionEvent Started → Updated
(periodic meter values, charging state changes) → Ended, with seqNo counting up from 0.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from ocpp.routing import on
from ocpp.v21 import ChargePoint as ChargePoint21Base
from ocpp.v201 import ChargePoint as ChargePoint201Base

from core.identity.tokens import VEHICLE_PREFIX, vehicle_token
from ocpp_gateway.sim_link import Dialect, SimHandlers
from ocpp_gateway.sim_state import (
    CURRENT,
    ENERGY,
    MEASURANDS,
    POWER,
    SOC,
    VOLTAGE,
    ConnectorState,
    Device,
    Sample,
    Session,
    Variable,
    get_variable,
    limit_from_schedule,
    set_variable,
)

_PHASES = ("L1", "L2", "L3")
_UNITS = {ENERGY: "Wh", POWER: "W", CURRENT: "A", VOLTAGE: "V", SOC: "Percent"}
# 1.6 Reason (the simulator's vocabulary) → 2.x stoppedReason and triggerReason.
_STOP = {
    "Local": ("Local", "StopAuthorized"),
    "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
    "Remote": ("Remote", "RemoteStop"),
    "ImmediateReset": ("ImmediateReset", "ResetCommand"),
    "SoftReset": ("ImmediateReset", "ResetCommand"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "Reboot": ("Reboot", "ResetCommand"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "UnlockCommand": ("Other", "UnlockCommand"),
    "PowerLoss": ("PowerLoss", "AbnormalCondition"),
}


def sampled_values(sample: Sample, measurands: set[str]) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = []

    def add(measurand: str, value: float, **extra: Any) -> None:
        if measurand in measurands:
            values.append(
                {
                    "value": value,
                    "context": sample.context,
                    "measurand": measurand,
                    "unitOfMeasure": {"unit": _UNITS[measurand]},
                    **extra,
                }
            )

    add(ENERGY, sample.energy_wh, location="Outlet")
    add(POWER, sample.power_w, location="Outlet")
    for phase in _PHASES[: sample.phases] or (None,):
        add(CURRENT, sample.current_a, **({"phase": phase} if phase else {}))
    add(VOLTAGE, sample.voltage_v, **({"phase": "L1-N"} if sample.phases else {}))
    if sample.soc is not None:
        add(SOC, sample.soc, location="EV")
    return values


def meter_value(sample: Sample, measurands: set[str]) -> dict[str, Any]:
    return {"timestamp": sample.timestamp, "sampledValue": sampled_values(sample, measurands)}


def _measurands(device: Device, name: str) -> set[str]:
    return {m.strip() for m in (get_variable(device, name) or "").split(",") if m.strip()}


def id_token_of(id_tag: str) -> dict[str, str]:
    """The 2.x IdToken a tag stands for: Autocharge (`VID:<MAC>`) is the car's MAC address,
    sent as `MacAddress` the way DC chargers do; anything else an RFID card."""
    car = vehicle_token(id_tag)
    if car is not None:
        mac = car[len(VEHICLE_PREFIX) :]
        return {"id_token": ":".join(mac[i : i + 2] for i in range(0, 12, 2)), "type": "MacAddress"}
    return {"id_token": id_tag, "type": "ISO14443"}


def _session_token(session: Session) -> dict[str, str]:
    if session.id_token_type == "ISO14443":  # not set by a remote start: the tag decides
        return id_token_of(session.id_tag)
    return {"id_token": session.id_tag, "type": session.id_token_type}


class Handlers2(SimHandlers):
    _call_result: Any

    @on("RequestStartTransaction")
    def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        schedules = (charging_profile or {}).get("charging_schedule") or []
        limit = limit_from_schedule(schedules[0], self.device.kind) if schedules else None
        conn = self.device.reserve_remote_start(
            id_token["id_token"], evse_id, remote_start_id, limit
        )
        if conn is None or conn.session is None:
            return self._call_result.RequestStartTransaction(status="Rejected")
        conn.session.id_token_type = id_token.get("type", "Central")
        self.later(lambda: self.device.begin(conn))
        return self._call_result.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        conn = self.device.by_transaction(transaction_id)
        session = conn.session if conn else None
        if session is None:
            return self._call_result.RequestStopTransaction(status="Rejected")
        self.later(lambda: session.request_stop("Remote"))
        return self._call_result.RequestStopTransaction(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        if evse_id is not None:  # resetting a single EVSE is not supported
            return self._call_result.Reset(status="Rejected")
        status = self.device.request_reset("ImmediateReset", when_idle=type == "OnIdle")
        if status == "Accepted":
            self.later(lambda: self.device.reboot("ImmediateReset"))
        return self._call_result.Reset(status=status)

    @on("UnlockConnector")
    def on_unlock(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        conn = self.device.connector(evse_id)
        if conn is None or connector_id != 1:
            status = "UnknownConnector"
        elif conn.session is not None:
            status = "OngoingAuthorizedTransaction"
        else:
            status = "Unlocked"
        return self._call_result.UnlockConnector(status=status)

    @on("ChangeAvailability")
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        evse_id = int((evse or {}).get("id", 0))
        status = self.device.change_availability(evse_id, operational_status == "Operative")
        self.later(self.device.report_all)
        return self._call_result.ChangeAvailability(status=status)

    @on("TriggerMessage")
    def on_trigger(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        evse_id = (evse or {}).get("id")
        status, work = self.device.trigger(requested_message, evse_id)
        if work is not None:
            self.later(work)
        return self._call_result.TriggerMessage(status=status)

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in get_variable_data:
            name = f"{item['component']['name']}.{item['variable']['name']}"
            result: dict[str, Any] = {
                "component": item["component"],
                "variable": item["variable"],
                "attribute_type": item.get("attribute_type", "Actual"),
            }
            value = get_variable(self.device, name)
            if result["attribute_type"] != "Actual":
                result["attribute_status"] = "NotSupportedAttributeType"
            elif value is None:
                result["attribute_status"] = self._unknown(item["component"]["name"])
            else:
                result.update(attribute_status="Accepted", attribute_value=value)
            results.append(result)
        return self._call_result.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in set_variable_data:
            name = f"{item['component']['name']}.{item['variable']['name']}"
            attribute_type = item.get("attribute_type", "Actual")
            if attribute_type != "Actual":
                status = "NotSupportedAttributeType"
            else:
                status = set_variable(self.device, name, str(item["attribute_value"])) or (
                    self._unknown(item["component"]["name"])
                )
            results.append(
                {
                    "attribute_status": status,
                    "attribute_type": attribute_type,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return self._call_result.SetVariables(set_variable_result=results)

    def _unknown(self, component: str) -> str:
        prefix = f"{component}."
        known = any(name.startswith(prefix) for name in self.device.variables)
        return "UnknownVariable" if known else "UnknownComponent"

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, evse_id: int, charging_profile: dict[str, Any], **_: Any
    ) -> Any:
        schedules = charging_profile.get("charging_schedule") or [{}]
        limit = limit_from_schedule(schedules[0], self.device.kind)
        conn = self.device.connector(evse_id)
        no_tx = conn is None or conn.session is None
        if (
            limit is None
            or (evse_id and conn is None)
            or (charging_profile.get("charging_profile_purpose") == "TxProfile" and no_tx)
        ):
            return self._call_result.SetChargingProfile(status="Rejected")
        self.device.set_limit(int(charging_profile["id"]), evse_id, limit)
        return self._call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        charging_profile_id: int | None = None,
        charging_profile_criteria: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        evse_id = (charging_profile_criteria or {}).get("evse_id")
        cleared = self.device.clear_limits(charging_profile_id, evse_id)
        return self._call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        return self._call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return self._call_result.DataTransfer(status="UnknownVendorId")


class ChargePoint201(Handlers2, ChargePoint201Base):
    pass


class ChargePoint21(Handlers2, ChargePoint21Base):
    pass


class Dialect2(Dialect):
    version = "2.0.1"
    cp_class: ClassVar[type[Any]] = ChargePoint201
    measurands_key = "SampledDataCtrlr.TxUpdatedMeasurands"

    @property
    def _call(self) -> Any:
        return self.cp_class._call

    def variables(self, device: Device) -> dict[str, Variable]:
        return {
            "OCPPCommCtrlr.HeartbeatInterval": Variable(kind="int", bind="heartbeat_interval"),
            "OCPPCommCtrlr.WebSocketPingInterval": Variable("0", kind="int"),
            "SampledDataCtrlr.TxUpdatedInterval": Variable(kind="int", bind="meter_interval"),
            "SampledDataCtrlr.TxUpdatedMeasurands": Variable(
                ",".join(MEASURANDS), kind="measurands"
            ),
            "SampledDataCtrlr.TxStartedMeasurands": Variable(ENERGY, kind="measurands"),
            "SampledDataCtrlr.TxEndedMeasurands": Variable(ENERGY, kind="measurands"),
            "AuthCtrlr.Enabled": Variable("true", kind="bool"),
            "AuthCtrlr.AuthorizeRemoteStart": Variable("false", kind="bool"),
            "TxCtrlr.StopTxOnInvalidId": Variable("true", kind="bool"),
            "TxCtrlr.EVConnectionTimeOut": Variable("120", kind="int"),
            "SmartChargingCtrlr.Enabled": Variable("true", readonly=True),
            "DeviceDataCtrlr.ItemsPerMessage": Variable("50", readonly=True),
            "SecurityCtrlr.Identity": Variable(device.cp_id, readonly=True),
            "ChargingStation.Model": Variable(device.model_name, readonly=True),
            "ChargingStation.VendorName": Variable(device.config.vendor, readonly=True),
        }

    def boot(self, device: Device, reason: str) -> Any:
        return self._call.BootNotification(
            charging_station={
                "vendor_name": device.config.vendor[:50],
                "model": device.model_name[:20],
                "serial_number": device.serial[:25],
                "firmware_version": device.config.firmware_version[:50],
            },
            reason=reason,
        )

    def heartbeat(self) -> Any:
        return self._call.Heartbeat()

    def status_name(self, conn: ConnectorState) -> str:
        if conn.session is not None or conn.finishing:
            return "Occupied"
        return "Available" if conn.operative else "Unavailable"

    def status(self, connector_id: int, name: str, timestamp: str) -> Any:
        return self._call.StatusNotification(
            timestamp=timestamp, connector_status=name, evse_id=connector_id, connector_id=1
        )

    def authorize_remote(self, device: Device) -> bool:
        return get_variable(device, "AuthCtrlr.AuthorizeRemoteStart") == "true"

    def authorize(self, id_tag: str) -> Any:
        return self._call.Authorize(id_token=id_token_of(id_tag))

    def authorized(self, result: Any) -> bool:
        return bool(result.id_token_info.get("status") == "Accepted")

    def _event(
        self,
        event_type: str,
        trigger: str,
        session: Session,
        timestamp: str,
        meter: dict[str, Any] | None,
        info: dict[str, Any] | None = None,
        **extra: Any,
    ) -> Any:
        return self._call.TransactionEvent(
            event_type=event_type,
            timestamp=timestamp,
            trigger_reason=trigger,
            seq_no=session.next_seq(),
            transaction_info={
                "transaction_id": session.transaction_id,
                "charging_state": session.charging_state,
                **(info or {}),
            },
            meter_value=[meter] if meter else None,
            **extra,
        )

    @staticmethod
    def _meter(sample: Sample, measurands: set[str]) -> dict[str, Any] | None:
        return meter_value(sample, measurands) if measurands else None

    def start(self, device: Device, conn: ConnectorState, session: Session, sample: Sample) -> Any:
        session.transaction_id = session.transaction_id or str(uuid.uuid4())
        return self._event(
            "Started",
            "RemoteStart" if session.remote else "Authorized",
            session,
            sample.timestamp,
            self._meter(sample, _measurands(device, "SampledDataCtrlr.TxStartedMeasurands")),
            info={"remote_start_id": session.remote_start_id},
            evse={"id": conn.id, "connector_id": 1},
            id_token=_session_token(session),
        )

    def started(self, session: Session, result: Any) -> bool:
        info = result.id_token_info
        return info is None or info.get("status") == "Accepted"

    def meter(
        self,
        device: Device,
        conn: ConnectorState,
        session: Session | None,
        sample: Sample,
        trigger: str,
    ) -> Any:
        measurands = device.measurands()
        if session is None or not session.started:
            return self._call.MeterValues(
                evse_id=conn.id, meter_value=[meter_value(sample, measurands or {ENERGY})]
            )
        return self._event(
            "Updated", trigger, session, sample.timestamp, self._meter(sample, measurands)
        )

    def charging_state(
        self, device: Device, conn: ConnectorState, session: Session, sample: Sample
    ) -> Any | None:
        return self._event("Updated", "ChargingStateChanged", session, sample.timestamp, None)

    def stop(self, device: Device, conn: ConnectorState, session: Session, sample: Sample) -> Any:
        reason, trigger = _STOP.get(session.stop_reason or "Local", ("Other", "AbnormalCondition"))
        if reason == "EVDisconnected":
            session.charging_state = "Idle"  # the car is gone
        elif session.charging_state == "Charging":
            session.charging_state = "EVConnected"
        token = _session_token(session)
        return self._event(
            "Ended",
            trigger,
            session,
            sample.timestamp,
            self._meter(sample, _measurands(device, "SampledDataCtrlr.TxEndedMeasurands")),
            info={"stopped_reason": reason},
            id_token=token if trigger == "StopAuthorized" else None,
        )

    def idle_notification(self, message: str) -> Any | None:
        if message == "FirmwareStatusNotification":
            return self._call.FirmwareStatusNotification(status="Idle")
        if message == "LogStatusNotification":
            return self._call.LogStatusNotification(status="Idle")
        return None


class Dialect21(Dialect2):
    version = "2.1"
    cp_class = ChargePoint21
