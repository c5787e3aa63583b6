"""What the tariff services hand out: quotes, cost breakdowns and tariff views (frozen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


def incl_vat(net: Decimal) -> Decimal:
    """A unit price incl. 25 % VAT, to 1/100 øre (display only; lines use whole øre)."""
    return (net * Decimal("1.25")).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class QuoteComponent:
    """One price element as shown before a session starts (unit prices incl. VAT)."""

    kind: str  # energy | time | parking | session
    description_nb: str
    description_en: str
    unit_price_ore: Decimal
    unit: str  # kWh | min | h | session
    window_nb: str | None = None  # e.g. "hverdager 08:00-16:00"; None = always
    window_en: str | None = None
    applies_now: bool = True
    grace_minutes: int = 0
    cap_ore: int | None = None  # most per session, incl. VAT
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    spot_area: str | None = None  # set when the price follows the area's spot price

    @property
    def description(self) -> str:
        return self.description_nb


@dataclass(frozen=True)
class Quote:
    """The full price a driver would pay at a connector, in AFIR order (kWh, minute, session).

    `price_configured` is False when neither a tariff nor a list price is set: the driver is
    told so, and no price is invented. A tariff without components is free.
    """

    customer_group: str
    components: list[QuoteComponent]
    headline_ore_per_kwh: int | None
    tariff_name: str | None
    tariff_id: int | None = None
    currency: str = "NOK"
    price_configured: bool = True
    source: str = "tariff"  # tariff | list_price | none
    message_nb: str = ""
    message_en: str = ""

    @property
    def free(self) -> bool:
        return self.price_configured and not self.components


@dataclass(frozen=True)
class CostLine:
    kind: str  # energy | time | parking | session
    description_nb: str
    description_en: str
    quantity: Decimal  # in `unit`, rounded to 3 decimals for display
    unit: str
    unit_price_ore: Decimal  # excl. VAT; for spot prices the session's average
    net_ore: int
    vat_ore: int
    total_ore: int
    capped: bool = False
    spot_area: str | None = None

    @property
    def description(self) -> str:
        return self.description_nb

    @property
    def unit_price_incl_vat_ore(self) -> Decimal:
        return incl_vat(self.unit_price_ore)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "description_nb": self.description_nb,
            "description_en": self.description_en,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "unit_price_ore": str(self.unit_price_ore),
            "net_ore": self.net_ore,
            "vat_ore": self.vat_ore,
            "total_ore": self.total_ore,
            "capped": self.capped,
            "spot_area": self.spot_area,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CostLine:
        return cls(
            kind=data["kind"],
            description_nb=data["description_nb"],
            description_en=data["description_en"],
            quantity=Decimal(data["quantity"]),
            unit=data["unit"],
            unit_price_ore=Decimal(data["unit_price_ore"]),
            net_ore=int(data["net_ore"]),
            vat_ore=int(data["vat_ore"]),
            total_ore=int(data["total_ore"]),
            capped=bool(data.get("capped", False)),
            spot_area=data.get("spot_area"),
        )


@dataclass(frozen=True)
class CostBreakdown:
    """What a session costs: lines, and totals that are exactly the sums of the lines."""

    lines: list[CostLine]
    net_ore: int
    vat_ore: int
    total_ore: int
    currency: str = "NOK"
    price_configured: bool = True
    final: bool = False
    source: str = "tariff"  # tariff | list_price | none
    tariff_id: int | None = None
    tariff_name: str | None = None
    customer_group: str | None = None
    energy_wh: int = 0
    duration_s: int = 0
    charging_s: int = 0
    idle_s: int = 0
    max_power_w: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "lines": [line.to_json() for line in self.lines],
            "net_ore": self.net_ore,
            "vat_ore": self.vat_ore,
            "total_ore": self.total_ore,
            "currency": self.currency,
            "price_configured": self.price_configured,
            "final": self.final,
            "source": self.source,
            "tariff_id": self.tariff_id,
            "tariff_name": self.tariff_name,
            "customer_group": self.customer_group,
            "energy_wh": self.energy_wh,
            "duration_s": self.duration_s,
            "charging_s": self.charging_s,
            "idle_s": self.idle_s,
            "max_power_w": self.max_power_w,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CostBreakdown:
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            lines=[CostLine.from_json(line) for line in data.get("lines", [])],
            net_ore=int(data["net_ore"]),
            vat_ore=int(data["vat_ore"]),
            total_ore=int(data["total_ore"]),
            currency=data.get("currency", "NOK"),
            price_configured=bool(data.get("price_configured", True)),
            final=bool(data.get("final", False)),
            source=data.get("source", "tariff"),
            tariff_id=data.get("tariff_id"),
            tariff_name=data.get("tariff_name"),
            customer_group=data.get("customer_group"),
            energy_wh=int(data.get("energy_wh", 0)),
            duration_s=int(data.get("duration_s", 0)),
            charging_s=int(data.get("charging_s", 0)),
            idle_s=int(data.get("idle_s", 0)),
            max_power_w=data.get("max_power_w"),
            started_at=when(data.get("started_at")),
            ended_at=when(data.get("ended_at")),
            notes=list(data.get("notes", [])),
        )


@dataclass(frozen=True)
class ComponentView:
    id: int
    kind: str
    price_ore: Decimal  # excl. VAT
    unit: str
    window_nb: str | None
    window_en: str | None
    grace_minutes: int
    cap_ore: Decimal | None
    min_power_kw: Decimal | None
    max_power_kw: Decimal | None
    spot_area: str | None
    spot_fallback_ore: Decimal | None
    spot_negative: str

    @property
    def price_incl_vat_ore(self) -> Decimal:
        return incl_vat(self.price_ore)


@dataclass(frozen=True)
class AssignmentView:
    id: int
    customer_group: str
    site: str | None
    charger: str | None
    valid_from: datetime
    valid_to: datetime | None


@dataclass(frozen=True)
class TariffView:
    id: int
    name: str
    description: str
    currency: str
    components: list[ComponentView]
    assignments: list[AssignmentView]
