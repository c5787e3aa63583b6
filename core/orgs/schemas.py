"""Shapes of the organisation domain for every transport (REST /api/v1, dashboard, CLI).

Inputs validate what can be validated without the database; the services check the rest
(unknown groups, other organisations' objects). Outputs are built from ORM rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from core.models.orgs import Role

T = TypeVar("T")

Name = Annotated[str, Field(min_length=1, max_length=120)]
ShortText = Annotated[str, Field(max_length=200)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
OrgKind = Literal["borettslag", "sameie", "business", "municipality", "operator", "other"]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _sensible_time(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give a UTC offset, e.g. 2026-03-01T00:00:00+01:00")
    if not 2000 <= value.year <= 2200:
        raise ValueError("a time between the years 2000 and 2200")
    return value


# An instant: with a UTC offset, in a plausible range (stored as UTC).
When = Annotated[datetime, AfterValidator(_sensible_time)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _no_nul(self) -> Any:
        # PostgreSQL cannot store NUL in text; refuse it here rather than fail there.
        for value in self.__dict__.values():
            if isinstance(value, str) and "\x00" in value:
                raise ValueError("text may not contain NUL characters")
        return self


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """A page of a list, oldest first (sessions and the audit log: newest first); pass
    `next_cursor` as `cursor` for the next page. None: this was the last page."""

    items: list[T]
    next_cursor: str | None


# --------------------------------------------------------------------------- organisations


class OrganisationIn(_In):
    name: Name
    org_number: Annotated[str | None, Field(max_length=11)] = None
    kind: OrgKind = "other"
    street: ShortText = ""
    postal_code: Annotated[str, Field(max_length=10)] = ""
    city: Annotated[str, Field(max_length=80)] = ""
    country: Annotated[str, Field(min_length=2, max_length=2)] = "NO"
    invoice_email: Annotated[str | None, Field(max_length=254)] = None
    contact_name: Annotated[str, Field(max_length=120)] = ""
    contact_email: Annotated[str | None, Field(max_length=254)] = None
    contact_phone: Annotated[str | None, Field(max_length=20)] = None

    _strip = field_validator("*", mode="before")(_strip)


class OrganisationPatch(_In):
    name: Name | None = None
    org_number: Annotated[str | None, Field(max_length=11)] = None
    kind: OrgKind | None = None
    street: ShortText | None = None
    postal_code: Annotated[str | None, Field(max_length=10)] = None
    city: Annotated[str | None, Field(max_length=80)] = None
    invoice_email: Annotated[str | None, Field(max_length=254)] = None
    contact_name: Annotated[str | None, Field(max_length=120)] = None
    contact_email: Annotated[str | None, Field(max_length=254)] = None
    contact_phone: Annotated[str | None, Field(max_length=20)] = None


class OrganisationOut(_Out):
    id: int
    name: str
    org_number: str | None
    kind: str
    street: str
    postal_code: str
    city: str
    country: str
    invoice_email: str | None
    contact_name: str
    contact_email: str | None
    contact_phone: str | None
    created_at: datetime


class GroupIn(_In):
    name: Annotated[str, Field(min_length=1, max_length=40)]
    description: ShortText = ""


class GroupOut(BaseModel):
    name: str
    description: str
    builtin: bool


# --------------------------------------------------------------------------- sites


class SiteIn(_In):
    name: Name
    organisation_id: Id | None = None
    address: ShortText = ""
    postal_code: Annotated[str, Field(max_length=10)] = ""
    city: Annotated[str, Field(max_length=80)] = ""
    latitude: Annotated[float | None, Field(ge=-90, le=90)] = None
    longitude: Annotated[float | None, Field(ge=-180, le=180)] = None
    public: bool = True
    list_price_ore_per_kwh: Annotated[int | None, Field(ge=0, le=100_000)] = None


class SitePatch(_In):
    name: Name | None = None
    organisation_id: Id | None = None
    address: ShortText | None = None
    postal_code: Annotated[str | None, Field(max_length=10)] = None
    city: Annotated[str | None, Field(max_length=80)] = None
    latitude: Annotated[float | None, Field(ge=-90, le=90)] = None
    longitude: Annotated[float | None, Field(ge=-180, le=180)] = None
    public: bool | None = None
    list_price_ore_per_kwh: Annotated[int | None, Field(ge=0, le=100_000)] = None


class SiteOut(_Out):
    id: int
    name: str
    organisation_id: int | None
    address: str
    postal_code: str
    city: str
    latitude: float | None
    longitude: float | None
    public: bool
    list_price_ore_per_kwh: int | None
    grid_capacity_a: int | None
    created_at: datetime


# --------------------------------------------------------------------------- chargers


class ConnectorOut(_Out):
    id: int
    evse_id: int
    connector_id: int
    connector_type: str
    max_power_w: int
    status: str
    error_code: str | None
    status_at: datetime | None


class ChargerOut(BaseModel):
    id: int
    charge_point_id: str
    public_code: str | None
    site_id: int | None
    organisation_id: int | None
    vendor: str | None
    model: str | None
    firmware_version: str | None
    ocpp_version: str | None
    registration_status: str
    status: str
    online: bool
    last_seen_at: datetime | None
    max_power_w: int | None
    connectors: list[ConnectorOut]


class ChargerIn(_In):
    charge_point_id: Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[^/\s]+$")]
    site_id: Id
    connectors: Annotated[int, Field(ge=1, le=32)] = 1
    max_power_w: Annotated[int, Field(ge=1000, le=1_000_000)] = 22_000
    connector_type: Literal["Type2", "CCS2", "CHAdeMO", "Type1", "Schuko"] = "Type2"
    public_code: Annotated[str | None, Field(min_length=1, max_length=48)] = None
    password: Annotated[str | None, Field(min_length=16, max_length=200)] = None


class ChargerPatch(_In):
    site_id: Id | None = None
    public_code: Annotated[str | None, Field(min_length=1, max_length=48)] = None
    max_power_w: Annotated[int | None, Field(ge=1000, le=1_000_000)] = None
    registration_status: Literal["Accepted", "Pending", "Rejected"] | None = None


class CommandOut(BaseModel):
    status: str
    accepted: bool
    payload: dict[str, Any]


# --------------------------------------------------------------------------- people


class MembershipIn(_In):
    organisation_id: Id
    site_id: Id | None = None
    group: Annotated[str, Field(min_length=1, max_length=40)]
    # Either an existing driver or a phone number (a driver is created if unknown).
    driver_id: Id | None = None
    phone: Annotated[str | None, Field(min_length=8, max_length=20)] = None
    name: Annotated[str, Field(max_length=120)] = ""
    valid_from: When | None = None
    valid_to: When | None = None
    reference: Annotated[str, Field(max_length=60)] = ""


class MembershipPatch(_In):
    group: Annotated[str | None, Field(min_length=1, max_length=40)] = None
    site_id: Id | None = None
    valid_from: When | None = None
    valid_to: When | None = None
    reference: Annotated[str | None, Field(max_length=60)] = None


class MembershipOut(_Out):
    id: int
    driver_id: int
    organisation_id: int
    site_id: int | None
    group: str
    valid_from: datetime | None
    valid_to: datetime | None
    reference: str
    created_at: datetime


class DriverOut(BaseModel):
    id: int
    phone: str
    name: str
    email: str | None
    memberships: list[MembershipOut]


class IdTokenIn(_In):
    driver_id: Id
    token: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[0-9A-Za-z_-]+$")]
    label: Annotated[str, Field(max_length=80)] = ""
    expires_at: When | None = None


class IdTokenPatch(_In):
    status: Literal["active", "blocked"] | None = None
    label: Annotated[str | None, Field(max_length=80)] = None
    expires_at: When | None = None


class IdTokenOut(_Out):
    id: int
    token: str
    kind: str
    status: str
    label: str
    expires_at: datetime | None
    driver_id: int | None


# --------------------------------------------------------------------------- prices


class TariffComponentIn(_In):
    kind: Literal["energy", "spot_energy", "time", "parking", "session"]
    # Excl. VAT, øre per unit (4 decimals at most).
    price_ore: Annotated[Decimal, Field(ge=-100_000, le=100_000, decimal_places=4)]
    unit: Literal["kWh", "min", "h", "session"] | None = None
    days: Annotated[str, Field(max_length=40)] = "all"
    start: Annotated[str | None, Field(pattern=r"^\d{1,2}(:\d{2})?$")] = None
    end: Annotated[str | None, Field(pattern=r"^\d{1,2}(:\d{2})?$")] = None
    grace_minutes: Annotated[int, Field(ge=0, le=1440)] = 0
    cap_ore: Annotated[Decimal | None, Field(ge=0, le=10_000_000, decimal_places=4)] = None
    min_power_kw: Annotated[Decimal | None, Field(ge=0, le=10_000, decimal_places=2)] = None
    max_power_kw: Annotated[Decimal | None, Field(ge=0, le=10_000, decimal_places=2)] = None
    spot_area: Literal["NO1", "NO2", "NO3", "NO4", "NO5"] | None = None


class TariffIn(_In):
    name: Annotated[str, Field(min_length=1, max_length=80)]
    description: Annotated[str, Field(max_length=300)] = ""
    # None: an operator tariff (operator admins only).
    organisation_id: Id | None = None
    components: Annotated[list[TariffComponentIn], Field(max_length=20)] = []


class TariffComponentOut(BaseModel):
    id: int
    kind: str
    price_ore: Decimal
    unit: str
    window: str
    grace_minutes: int
    cap_ore: Decimal | None


class TariffOut(BaseModel):
    id: int
    name: str
    description: str
    organisation_id: int | None
    currency: str
    components: list[TariffComponentOut]


class AssignmentIn(_In):
    tariff_id: Id
    site_id: Id | None = None
    charger_id: Id | None = None
    group: Annotated[str, Field(min_length=1, max_length=40)] = "public"
    valid_from: When | None = None


class AssignmentOut(_Out):
    id: int
    tariff_id: int
    site_id: int | None
    charger_id: int | None
    group: str
    valid_from: datetime
    valid_to: datetime | None


# --------------------------------------------------------------------------- sessions


class SessionOut(BaseModel):
    id: int
    charger_id: int
    charge_point_id: str
    site_id: int | None
    evse_id: int | None
    driver_id: int | None
    id_token: str | None
    status: str
    started_at: datetime
    stopped_at: datetime | None
    energy_wh: int
    cost_ore: int | None
    vat_ore: int | None
    price_group: str | None
    payment_state: str
    stop_reason: str | None
    flags: list[str]


class EnergyRow(BaseModel):
    key: str
    label: str
    sessions: int
    energy_wh: int
    total_ore: int
    vat_ore: int


class EnergyReport(BaseModel):
    start: datetime
    end: datetime
    by: str
    rows: list[EnergyRow]
    total_energy_wh: int
    total_ore: int


# --------------------------------------------------------------------------- access


class AuditOut(_Out):
    id: int
    at: datetime
    actor_kind: str
    actor_id: int | None
    actor_label: str
    organisation_id: int | None
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ApiKeyIn(_In):
    role: Role
    organisation_id: Id | None = None
    name: Annotated[str, Field(max_length=80)] = ""


class ApiKeyOut(_Out):
    id: int
    prefix: str
    name: str
    role: str
    organisation_id: int | None
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """Only here, once: the key itself. Store it now; only its hash is kept."""

    key: str


class GrantOut(BaseModel):
    role: str
    organisation_id: int | None


class MeOut(BaseModel):
    kind: str
    id: int | None
    label: str
    grants: list[GrantOut]
