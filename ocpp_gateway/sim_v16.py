"""OCPP 1.6J for the simulated chargers: the charger's messages and its answers to commands."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call, call_result

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


def sampled_values(sample: Sample, measurands: set[str]) -> list[dict[str, Any]]:
    ctx = sample.context
    values: list[dict[str, Any]] = []
    if ENERGY in measurands:
        values.append(
            {
                "value": str(sample.energy_wh),
                "context": ctx,
                "measurand": ENERGY,
                "location": "Outlet",
                "unit": "Wh",
            }
        )
    if POWER in measurands:
        values.append(
            {
                "value": str(sample.power_w),
                "context": ctx,
                "measurand": POWER,
                "location": "Outlet",
                "unit": "W",
            }
        )
    if CURRENT in measurands:
        for phase in _PHASES[: sample.phases] or (None,):
            value = {"value": f"{sample.current_a:.1f}", "context": ctx, "measurand": CURRENT}
            values.append({**value, "unit": "A", **({"phase": phase} if phase else {})})
    if VOLTAGE in measurands:
        value = {"value": f"{sample.voltage_v:.1f}", "context": ctx, "measurand": VOLTAGE}
        values.append({**value, "unit": "V", **({"phase": "L1-N"} if sample.phases else {})})
    if SOC in measurands and sample.soc is not None:
        values.append(
            {
                "value": str(sample.soc),
                "context": ctx,
                "measurand": SOC,
                "location": "EV",
                "unit": "Percent",
            }
        )
    return values


def meter_value(sample: Sample, measurands: set[str]) -> dict[str, Any]:
    return {"timestamp": sample.timestamp, "sampledValue": sampled_values(sample, measurands)}


class ChargePoint(SimHandlers, ChargePoint16):
    @on("RemoteStartTransaction")
    def on_remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        schedule = (charging_profile or {}).get("charging_schedule")
        limit = limit_from_schedule(schedule, self.device.kind) if schedule else None
        conn = self.device.reserve_remote_start(id_tag, connector_id, None, limit)
        if conn is None:
            return call_result.RemoteStartTransaction(status="Rejected")
        self.later(lambda: self.device.begin(conn))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        conn = self.device.by_transaction(str(transaction_id))
        session = conn.session if conn else None
        if session is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        self.later(lambda: session.request_stop("Remote"))
        return call_result.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    def on_reset(self, type: str, **_: Any) -> Any:
        reason = "HardReset" if type == "Hard" else "SoftReset"
        status = self.device.request_reset(reason, when_idle=False)
        if status == "Accepted":
            self.later(lambda: self.device.reboot(reason))
        return call_result.Reset(status="Accepted" if status != "Rejected" else "Rejected")

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int, **_: Any) -> Any:
        conn = self.device.connector(connector_id)
        if conn is None:
            return call_result.UnlockConnector(status="NotSupported")
        session = conn.session
        if session is not None:  # unlocking the cable ends the transaction
            self.later(lambda: session.request_stop("UnlockCommand"))
        return call_result.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        status = self.device.change_availability(connector_id, type == "Operative")
        self.later(self.device.report_all)
        return call_result.ChangeAvailability(status=status)

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str, connector_id: int | None = None, **_: Any) -> Any:
        status, work = self.device.trigger(requested_message, connector_id)
        if work is not None:
            self.later(work)
        return call_result.TriggerMessage(status=status)

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        names = key or list(self.device.variables)
        known = [
            {
                "key": name,
                "readonly": self.device.variables[name].readonly,
                "value": get_variable(self.device, name),
            }
            for name in names
            if name in self.device.variables
        ]
        unknown = [name for name in names if name not in self.device.variables]
        return call_result.GetConfiguration(
            configuration_key=known or None, unknown_key=unknown or None
        )

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        status = set_variable(self.device, key, value)
        return call_result.ChangeConfiguration(status=status or "NotSupported")

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        profile = cs_charging_profiles
        limit = limit_from_schedule(profile.get("charging_schedule") or {}, self.device.kind)
        conn = self.device.connector(connector_id)
        no_tx = conn is None or conn.session is None
        if (
            limit is None
            or (connector_id and conn is None)
            or (profile.get("charging_profile_purpose") == "TxProfile" and no_tx)
        ):
            return call_result.SetChargingProfile(status="Rejected")
        self.device.set_limit(int(profile["charging_profile_id"]), connector_id, limit)
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self, id: int | None = None, connector_id: int | None = None, **_: Any
    ) -> Any:
        cleared = self.device.clear_limits(id, connector_id)
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on("ClearCache")
    def on_clear_cache(self, **_: Any) -> Any:
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")


class Dialect16(Dialect):
    version = "1.6"
    cp_class = ChargePoint
    measurands_key = "MeterValuesSampledData"
    station_status = True

    def variables(self, device: Device) -> dict[str, Variable]:
        return {
            "HeartbeatInterval": Variable(kind="int", bind="heartbeat_interval"),
            "MeterValueSampleInterval": Variable(kind="int", bind="meter_interval"),
            "MeterValuesSampledData": Variable(",".join(MEASURANDS), kind="measurands"),
            "StopTxnSampledData": Variable(ENERGY, kind="measurands"),
            "NumberOfConnectors": Variable(str(len(device.connectors)), readonly=True),
            "AuthorizeRemoteTxRequests": Variable("false", kind="bool"),
            "LocalPreAuthorize": Variable("false", kind="bool"),
            "StopTransactionOnInvalidId": Variable("true", kind="bool"),
            "ConnectionTimeOut": Variable("120", kind="int"),
            "ClockAlignedDataInterval": Variable("0", kind="int"),
            "ResetRetries": Variable("3", kind="int"),
            "WebSocketPingInterval": Variable("0", kind="int"),
            "ChargeProfileMaxStackLevel": Variable("8", readonly=True),
            "SupportedFeatureProfiles": Variable("Core,RemoteTrigger,SmartCharging", readonly=True),
        }

    def boot(self, device: Device, reason: str) -> Any:
        return call.BootNotification(
            charge_point_vendor=device.config.vendor[:20],
            charge_point_model=device.model_name[:20],
            charge_point_serial_number=device.serial[:25],
            firmware_version=device.config.firmware_version[:50],
            meter_type="SimMeter",
            meter_serial_number=f"M{device.serial}"[:25],
        )

    def heartbeat(self) -> Any:
        return call.Heartbeat()

    def status_name(self, conn: ConnectorState) -> str:
        session = conn.session
        if session is not None:
            if not session.started:
                return "Preparing"
            if session.charging_state in ("SuspendedEV", "SuspendedEVSE"):
                return session.charging_state
            return "Charging"
        if conn.finishing:
            return "Finishing"
        return "Available" if conn.operative else "Unavailable"

    def status(self, connector_id: int, name: str, timestamp: str) -> Any:
        return call.StatusNotification(
            connector_id=connector_id, error_code="NoError", status=name, timestamp=timestamp
        )

    def authorize_remote(self, device: Device) -> bool:
        return get_variable(device, "AuthorizeRemoteTxRequests") == "true"

    def authorize(self, id_tag: str) -> Any:
        return call.Authorize(id_tag=id_tag)

    def authorized(self, result: Any) -> bool:
        return bool(result.id_tag_info.get("status") == "Accepted")

    def start(self, device: Device, conn: ConnectorState, session: Session, sample: Sample) -> Any:
        return call.StartTransaction(
            connector_id=conn.id,
            id_tag=session.id_tag,
            meter_start=sample.energy_wh,
            timestamp=sample.timestamp,
        )

    def started(self, session: Session, result: Any) -> bool:
        session.transaction_id = str(result.transaction_id)
        return bool(result.id_tag_info.get("status") == "Accepted")

    def meter(
        self,
        device: Device,
        conn: ConnectorState,
        session: Session | None,
        sample: Sample,
        trigger: str,
    ) -> Any:
        tx = session.transaction_id if session is not None and session.started else None
        return call.MeterValues(
            connector_id=conn.id,
            transaction_id=int(tx) if tx is not None else None,
            meter_value=[meter_value(sample, device.measurands())],
        )

    def stop(self, device: Device, conn: ConnectorState, session: Session, sample: Sample) -> Any:
        reason = session.stop_reason or "Local"
        if reason not in _REASONS:
            reason = "Other"
        stop_measurands = get_variable(device, "StopTxnSampledData") or ""
        measurands = {m.strip() for m in stop_measurands.split(",") if m.strip()}
        return call.StopTransaction(
            meter_stop=sample.energy_wh,
            timestamp=sample.timestamp,
            transaction_id=int(session.transaction_id or 0),
            reason=reason,
            id_tag=session.id_tag if reason in ("Local", "DeAuthorized") else None,
            transaction_data=[meter_value(sample, measurands)] if measurands else None,
        )

    def idle_notification(self, message: str) -> Any | None:
        if message == "FirmwareStatusNotification":
            return call.FirmwareStatusNotification(status="Idle")
        if message == "DiagnosticsStatusNotification":
            return call.DiagnosticsStatusNotification(status="Idle")
        return None


_REASONS = frozenset(
    {
        "EmergencyStop",
        "EVDisconnected",
        "HardReset",
        "Local",
        "Other",
        "PowerLoss",
        "Reboot",
        "Remote",
        "SoftReset",
        "UnlockCommand",
        "DeAuthorized",
    }
)
