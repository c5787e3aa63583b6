"""REST request and response shapes (pydantic), separate from the ORM models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unavailable"]
    chargers_connected: int


class RemoteStartIn(BaseModel):
    command: Literal["remote_start"]
    id_token: Annotated[str, Field(min_length=1, max_length=20)]
    evse_id: Annotated[int | None, Field(ge=1, le=32)] = None


class RemoteStopIn(BaseModel):
    command: Literal["remote_stop"]
    transaction_id: Annotated[str, Field(min_length=1, max_length=36)]


class ResetIn(BaseModel):
    command: Literal["reset"]
    kind: Literal["soft", "hard"] = "soft"


class UnlockIn(BaseModel):
    command: Literal["unlock_connector"]
    evse_id: Annotated[int, Field(ge=1, le=32)]


class AvailabilityIn(BaseModel):
    command: Literal["change_availability"]
    operative: bool
    evse_id: Annotated[int, Field(ge=0, le=32)] = 0


class TriggerIn(BaseModel):
    command: Literal["trigger_message"]
    message: Literal[
        "BootNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
        "FirmwareStatusNotification",
        "DiagnosticsStatusNotification",
        # 2.x: the station sends a CSR (SignCertificate) to renew its certificate.
        "SignChargingStationCertificate",
        "SignV2GCertificate",
    ]
    evse_id: Annotated[int | None, Field(ge=1, le=32)] = None


class GetConfigurationIn(BaseModel):
    command: Literal["get_configuration"]
    keys: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=50)]], Field(max_length=50)
    ] = []
    component: Annotated[str, Field(min_length=1, max_length=50)] = "OCPPCommCtrlr"


class SetConfigurationIn(BaseModel):
    command: Literal["set_configuration"]
    key: Annotated[str, Field(min_length=1, max_length=50)]
    value: Annotated[str, Field(max_length=500)]
    component: Annotated[str, Field(min_length=1, max_length=50)] = "OCPPCommCtrlr"


class SetChargingProfileIn(BaseModel):
    command: Literal["set_charging_profile"]
    evse_id: Annotated[int, Field(ge=0, le=32)]
    profile: dict[str, Any]


class SetV2xLimitsIn(BaseModel):
    """OCPP 2.1 bidirectional charging at one EVSE (core.power.v2x): charge up to
    `charge_limit_w`, give back up to `discharge_limit_w`, at `setpoint_w` (negative gives
    back; default: all it may give back)."""

    command: Literal["set_v2x_limits"]
    evse_id: Annotated[int, Field(ge=1, le=32)]
    charge_limit_w: Annotated[int, Field(ge=0, le=1_000_000)]
    discharge_limit_w: Annotated[int, Field(ge=0, le=1_000_000)]
    setpoint_w: Annotated[int | None, Field(ge=-1_000_000, le=1_000_000)] = None
    transaction_id: Annotated[str | None, Field(min_length=1, max_length=36)] = None
    duration_s: Annotated[int | None, Field(ge=1, le=7 * 24 * 3600)] = None
    profile_id: Annotated[int, Field(ge=1, le=2**31 - 1)] = 2100


class ClearChargingProfileIn(BaseModel):
    command: Literal["clear_charging_profile"]
    profile_id: int | None = None
    evse_id: Annotated[int | None, Field(ge=0, le=32)] = None


class InstallCertificateIn(BaseModel):
    command: Literal["install_certificate"]
    certificate_type: Literal[
        "V2GRootCertificate",
        "MORootCertificate",
        "CSMSRootCertificate",
        "ManufacturerRootCertificate",
    ]
    certificate: Annotated[str, Field(min_length=1, max_length=5500)]


class GetInstalledCertificateIdsIn(BaseModel):
    command: Literal["get_installed_certificate_ids"]
    certificate_types: Annotated[
        list[
            Literal[
                "V2GRootCertificate",
                "MORootCertificate",
                "CSMSRootCertificate",
                "V2GCertificateChain",
                "ManufacturerRootCertificate",
            ]
        ],
        Field(max_length=5),
    ] = []


class CertificateHashDataIn(BaseModel):
    hash_algorithm: Literal["SHA256", "SHA384", "SHA512"]
    issuer_name_hash: Annotated[str, Field(min_length=1, max_length=128)]
    issuer_key_hash: Annotated[str, Field(min_length=1, max_length=128)]
    serial_number: Annotated[str, Field(min_length=1, max_length=40)]


class DeleteCertificateIn(BaseModel):
    command: Literal["delete_certificate"]
    certificate: CertificateHashDataIn


CommandIn = Annotated[
    RemoteStartIn
    | RemoteStopIn
    | ResetIn
    | UnlockIn
    | AvailabilityIn
    | TriggerIn
    | GetConfigurationIn
    | SetConfigurationIn
    | SetChargingProfileIn
    | SetV2xLimitsIn
    | ClearChargingProfileIn
    | InstallCertificateIn
    | GetInstalledCertificateIdsIn
    | DeleteCertificateIn,
    Field(discriminator="command"),
]


class CommandOut(BaseModel):
    status: str
    accepted: bool
    payload: dict[str, Any]
