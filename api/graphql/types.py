"""GraphQL types, separate from the ORM models; built from domain objects."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum

import strawberry

from core import l10n
from core.billing.schemas import InvoiceSummary
from core.chargers.search import ChargerHit, ConnectorHit, usable
from core.identity.needs import V2xModes
from core.invoicing.channels import ChannelDecision
from core.models import ChargingSession, IdToken, PaymentMethod, User, Vehicle
from core.timeutil import utcnow


@strawberry.type(description="An amount of money in NOK, as integer øre.")
class Money:
    amount_ore: int
    currency: str = "NOK"

    @strawberry.field(description="Norwegian formatting, e.g. 'kr 1 234,50'.")
    def formatted(self) -> str:
        return l10n.money(self.amount_ore, "nb")


@strawberry.type
class PriceComponent:
    kind: str = strawberry.field(description="energy | time | idle | session | power")
    description: str
    unit: str = strawberry.field(description="kWh | min | session")
    unit_price_ore: float = strawberry.field(description="incl. 25 % VAT, may have decimals")


@strawberry.type(description="What this driver would pay here, shown before starting.")
class Price:
    currency: str
    per_kwh_ore: int | None
    components: list[PriceComponent]
    configured: bool


@strawberry.enum
class ConnectorState(Enum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    OCCUPIED = "Occupied"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"
    UNKNOWN = "Unknown"

    @classmethod
    def of(cls, value: str) -> ConnectorState:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


@strawberry.type
class Connector:
    id: strawberry.ID
    evse_id: int
    connector_id: int
    type: str
    max_kw: float
    status: ConnectorState
    available: bool
    price: Price

    @classmethod
    def from_hit(cls, c: ConnectorHit, online: bool, price: Price) -> Connector:
        return cls(
            id=strawberry.ID(str(c.id)),
            evse_id=c.evse_id,
            connector_id=c.connector_id,
            type=c.connector_type,
            max_kw=c.max_power_w / 1000,
            status=ConnectorState.of(c.status),
            available=usable(c, online),
            price=price,
        )


@strawberry.type
class Site:
    id: strawberry.ID
    name: str
    address: str
    city: str
    latitude: float
    longitude: float


@strawberry.type
class Charger:
    id: strawberry.ID
    code: str = strawberry.field(description="The id printed on the charger.")
    online: bool
    site: Site
    distance_km: float | None
    connectors: list[Connector]

    @classmethod
    def from_hit(cls, hit: ChargerHit, prices: dict[int, Price], with_distance: bool) -> Charger:
        return cls(
            id=strawberry.ID(str(hit.charger_id)),
            code=hit.charge_point_id,
            online=hit.online,
            site=Site(
                id=strawberry.ID(str(hit.site_id)),
                name=hit.site_name,
                address=hit.address,
                city=hit.city,
                latitude=hit.latitude,
                longitude=hit.longitude,
            ),
            distance_km=round(hit.distance_km, 3) if with_distance else None,
            connectors=[Connector.from_hit(c, hit.online, prices[c.id]) for c in hit.connectors],
        )


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ChargerEdge:
    node: Charger
    cursor: str


@strawberry.type
class ChargerConnection:
    edges: list[ChargerEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class ChargerFilter:
    min_power_kw: float | None = None
    connector_types: list[str] | None = None
    available_only: bool = False
    public_only: bool = True


@strawberry.enum
class SessionState(Enum):
    STARTING = "starting"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    FAILED = "failed"


@strawberry.type(name="ChargingSession")
class ChargingSessionType:
    id: strawberry.ID
    state: SessionState
    charger_code: str
    evse_id: int | None
    started_at: datetime
    stopped_at: datetime | None
    duration_seconds: int
    energy_wh: int
    energy_kwh: float
    power_kw: float | None
    soc: int | None
    stop_reason: str | None
    status_reason: str | None = strawberry.field(
        description="Why the session FAILED or is SUSPENDED."
    )
    channel: str | None = strawberry.field(description="app, sms, rfid, guest, autocharge")
    cost: Money | None
    payment_state: str
    payment_note: str | None = strawberry.field(description="Why a session is unpaid.")
    receipt_url: str | None
    energy_exported_wh: int = strawberry.field(
        default=0, description="V2G: energy the car gave back to the grid."
    )
    v2g_credit: Money | None = strawberry.field(
        default=None,
        description="V2G: what the energy given back earns the owner, credited on the next "
        "invoice (null until the session is settled, or when nothing was given back).",
    )

    v2x_control_mode: str | None = strawberry.field(
        default=None,
        description="V2X control mode the charger reports for this car (OCPP 2.1 "
        "NotifyEVChargingNeeds): ScheduledControl | DynamicControl.",
    )
    energy_transfer_modes: list[str] = strawberry.field(
        default_factory=list,
        description="Energy transfer modes the charger offers this car (e.g. DC, DC_BPT; "
        "BPT = bidirectional).",
    )

    @classmethod
    def build(
        cls,
        cs: ChargingSession,
        charger_code: str,
        cost_ore: int | None,
        receipt: str | None,
        v2g_credit_ore: int | None = None,
        v2x: V2xModes | None = None,
    ) -> ChargingSessionType:
        end = cs.stopped_at or utcnow()
        completed = cs.status in ("completed", "failed")
        return cls(
            id=strawberry.ID(str(cs.id)),
            state=SessionState(cs.status),
            charger_code=charger_code,
            evse_id=cs.evse_id,
            started_at=cs.started_at,
            stopped_at=cs.stopped_at,
            duration_seconds=max(int((end - cs.started_at).total_seconds()), 0),
            energy_wh=cs.energy_wh,
            energy_kwh=round(cs.energy_wh / 1000, 3),
            power_kw=None if completed or cs.last_power_w is None else cs.last_power_w / 1000,
            soc=cs.last_soc,
            stop_reason=cs.stop_reason,
            status_reason=cs.status_reason,
            channel=cs.channel,
            cost=Money(amount_ore=cost_ore) if cost_ore is not None else None,
            payment_state=cs.payment_state or "none",
            payment_note=cs.payment_note,
            receipt_url=receipt,
            energy_exported_wh=cs.energy_exported_wh or 0,
            v2g_credit=None if v2g_credit_ore is None else Money(amount_ore=v2g_credit_ore),
            v2x_control_mode=v2x.control_mode if v2x else None,
            energy_transfer_modes=list(v2x.energy_transfer_modes) if v2x else [],
        )


@strawberry.type
class SessionEdge:
    node: ChargingSessionType
    cursor: str


@strawberry.type
class SessionConnection:
    edges: list[SessionEdge]
    page_info: PageInfo


@strawberry.type
class Me:
    id: strawberry.ID
    phone: str
    name: str
    email: str | None
    language: str
    customer_group: str

    @classmethod
    def of(cls, user: User) -> Me:
        return cls(
            id=strawberry.ID(str(user.id)),
            phone=user.phone,
            name=user.name,
            email=user.email,
            language=user.language,
            customer_group=user.customer_group,
        )


@strawberry.type
class RfidTag:
    id: strawberry.ID
    uid: str
    label: str
    active: bool

    @classmethod
    def of(cls, tag: IdToken) -> RfidTag:
        return cls(
            id=strawberry.ID(str(tag.id)),
            uid=tag.token,
            label=tag.label,
            active=tag.status == "active",
        )


@strawberry.type(name="Vehicle")
class VehicleType:
    id: strawberry.ID
    make: str
    model: str
    battery_kwh: float
    max_ac_kw: float
    max_dc_kw: float
    connector_types: list[str]

    @classmethod
    def of(cls, v: Vehicle) -> VehicleType:
        return cls(
            id=strawberry.ID(str(v.id)),
            make=v.make,
            model=v.model,
            battery_kwh=v.battery_wh / 1000,
            max_ac_kw=v.max_ac_w / 1000,
            max_dc_kw=v.max_dc_w / 1000,
            connector_types=list(v.connector_types),
        )


@strawberry.type(name="PaymentMethod")
class PaymentMethodType:
    id: strawberry.ID
    kind: str
    provider: str
    brand: str
    last4: str
    label: str
    is_default: bool

    @classmethod
    def of(cls, p: PaymentMethod) -> PaymentMethodType:
        return cls(
            id=strawberry.ID(str(p.id)),
            kind=p.kind,
            provider=p.provider,
            brand=p.brand,
            last4=p.last4,
            label=p.label,
            is_default=p.is_default,
        )


@strawberry.type
class InvoiceSettings:
    receipt_by_email: bool
    invoice_channel: str
    invoice_billing: bool = strawberry.field(
        description="Billed monthly by invoice instead of paying per session."
    )
    delivered_by: str = strawberry.field(
        default="",
        description="The channel invoices actually go by: email | efaktura | ehf | paper "
        "(the chosen one, or a fallback when it cannot be used).",
    )
    delivery_reason: str = strawberry.field(default="", description="Why, in words.")

    @classmethod
    def of(cls, user: User, decision: ChannelDecision | None = None) -> InvoiceSettings:
        return cls(
            receipt_by_email=user.receipt_by_email,
            invoice_channel=user.invoice_channel,
            invoice_billing=user.invoice_billing,
            delivered_by=decision.channel if decision else user.invoice_channel,
            delivery_reason=decision.reason if decision else "",
        )


@strawberry.input
class VehicleInput:
    make: str
    model: str
    battery_kwh: float
    max_ac_kw: float = 11.0
    max_dc_kw: float = 50.0
    connector_types: list[str] = strawberry.field(default_factory=lambda: ["Type2", "CCS2"])


@strawberry.type
class SessionUpdate:
    session_id: strawberry.ID
    state: SessionState
    power_kw: float | None
    energy_kwh: float
    elapsed_seconds: int
    cost_so_far: Money | None
    soc: int | None
    at: datetime


@strawberry.type
class ConnectorStatusUpdate:
    charger_id: strawberry.ID
    online: bool
    evse_id: int | None
    connector_id: int | None
    status: ConnectorState | None
    at: datetime


@strawberry.type(name="Invoice")
class InvoiceType:
    id: strawberry.ID
    number: int
    period: str
    issue_date: date
    due_date: date
    kid: str
    status: str = strawberry.field(description="open | paid | overdue | credited")
    total: Money
    vat: Money
    amount_due: Money
    paid_at: datetime | None
    pdf_url: str | None = strawberry.field(
        default=None, description="The invoice as a PDF (a signed link, no sign-in needed)."
    )

    @classmethod
    def of(cls, inv: InvoiceSummary, pdf_url: str | None = None) -> InvoiceType:
        return cls(
            id=strawberry.ID(str(inv.id)),
            number=inv.number,
            period=inv.period,
            issue_date=inv.issue_date,
            due_date=inv.due_date,
            kid=inv.kid,
            status=inv.status,
            total=Money(amount_ore=inv.total_ore),
            vat=Money(amount_ore=inv.vat_ore),
            amount_due=Money(amount_ore=inv.amount_due_ore),
            paid_at=inv.paid_at,
            pdf_url=pdf_url,
        )
