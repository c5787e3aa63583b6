"""Words drivers see for price components, in Norwegian (nb) and English (en)."""

from __future__ import annotations

from decimal import Decimal

from core.models.billing import ComponentKind
from core.tariffs.windows import DASH

_LABELS = {
    ComponentKind.ENERGY: ("Energi", "Energy"),
    ComponentKind.SPOT_ENERGY: ("Energi", "Energy"),
    ComponentKind.TIME: ("Ladetid", "Charging time"),
    ComponentKind.PARKING: ("Parkering etter lading", "Idle fee after charging"),
    ComponentKind.SESSION: ("Startavgift", "Session fee"),
}

# AFIR order: price per kWh first, then per minute, then per session.
ORDER = {
    ComponentKind.ENERGY: 0,
    ComponentKind.SPOT_ENERGY: 0,
    ComponentKind.TIME: 1,
    ComponentKind.PARKING: 2,
    ComponentKind.SESSION: 3,
}


def public_kind(kind: ComponentKind) -> str:
    """The kind shown outside: spot-following energy is energy with a spot area."""
    return ComponentKind.ENERGY.value if kind == ComponentKind.SPOT_ENERGY else kind.value


def _kw(value: Decimal) -> str:
    return f"{value.normalize():f}"


def power_band(lo: Decimal | None, hi: Decimal | None, lang: str) -> str | None:
    if lo is None and hi is None:
        return None
    if lo is not None and hi is not None:
        return f"{_kw(lo)}{DASH}{_kw(hi)} kW"
    if lo is not None:
        return f"{'fra' if lang == 'nb' else 'from'} {_kw(lo)} kW"
    assert hi is not None
    return f"{'under' if lang == 'nb' else 'below'} {_kw(hi)} kW"


def describe(
    kind: ComponentKind,
    lang: str,
    *,
    window: str | None = None,
    spot_area: str | None = None,
    grace_minutes: int = 0,
    min_power_kw: Decimal | None = None,
    max_power_kw: Decimal | None = None,
) -> str:
    """E.g. "Energi (spotpris NO1 + påslag), hverdager 08:00-16:00, 0-22 kW"."""
    nb, en = _LABELS[kind]
    text = nb if lang == "nb" else en
    if kind == ComponentKind.SPOT_ENERGY:
        text += (
            f" (spotpris {spot_area} + påslag)" if lang == "nb" else f" ({spot_area} spot + markup)"
        )
    extras = [e for e in (window, power_band(min_power_kw, max_power_kw, lang)) if e is not None]
    if kind == ComponentKind.PARKING and grace_minutes:
        extras.append(
            f"etter {grace_minutes} min" if lang == "nb" else f"after {grace_minutes} min"
        )
    return ", ".join([text, *extras])


def format_nok(ore: int) -> str:
    """Norwegian money format: 1 234,56 (a narrow no-break space groups thousands)."""
    sign = "-" if ore < 0 else ""
    kroner, rest = divmod(abs(ore), 100)
    grouped = f"{kroner:,}".replace(",", "\u202f")
    return f"{sign}{grouped},{rest:02d}"
