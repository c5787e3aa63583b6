"""Meter values from OCPP 1.6 (strings, Wh/kWh) and 2.x (numbers, unit + multiplier)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from core.sessions.schemas import MeterReading
from core.timeutil import parse_ocpp_datetime

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
SOC = "SoC"
EXPORT = "Energy.Active.Export.Register"
# Anything beyond this is a broken meter, not a reading (and would overflow a BIGINT).
_LIMIT = Decimal(10) ** 12
_SCALE = {"varh": 1, "wh": 1, "kwh": 1000, "w": 1, "kw": 1000, "a": 1, "v": 1, "percent": 1}


def _number(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or abs(number) > _LIMIT:
        return None
    return number


def readings_from_v16(meter_values: list[dict[str, Any]]) -> list[MeterReading]:
    return [_reading(mv, v16=True) for mv in meter_values]


def readings_from_v2(meter_values: list[dict[str, Any]]) -> list[MeterReading]:
    return [_reading(mv, v16=False) for mv in meter_values]


def _reading(mv: dict[str, Any], *, v16: bool) -> MeterReading:
    energy = power = current = voltage = soc = export = None
    context = "Sample.Periodic"
    samples = mv.get("sampledValue") or []
    for sv in samples:
        if sv.get("format") == "SignedData":
            continue
        measurand = sv.get("measurand", ENERGY)
        context = sv.get("context", context)
        if v16:
            unit = sv.get("unit", "Wh" if measurand == ENERGY else "")
            number = _number(sv.get("value"))
            multiplier = 0
        else:
            uom = sv.get("unitOfMeasure") or {}
            unit = uom.get("unit", "Wh" if measurand == ENERGY else "")
            multiplier = int(uom.get("multiplier", 0))
            number = _number(sv.get("value"))
        if number is None or not -9 <= multiplier <= 9:
            continue
        number = number * _SCALE.get(str(unit).lower(), 1) * (Decimal(10) ** multiplier)
        phase = sv.get("phase")
        if measurand == ENERGY and sv.get("location", "Outlet") in ("Outlet", "EV") and not phase:
            energy = int(number)
        elif measurand == POWER and not phase:
            power = int(number)
        elif measurand == CURRENT:
            # Per-phase currents: the highest phase is what limits the circuit.
            current = max(float(number), current or 0.0)
        elif measurand == VOLTAGE and voltage is None:
            voltage = float(number)
        elif measurand == SOC:
            soc = int(number)
        elif measurand == EXPORT and sv.get("location", "Outlet") in ("Outlet", "EV") and not phase:
            export = int(number)
    return MeterReading(
        sampled_at=parse_ocpp_datetime(str(mv.get("timestamp", ""))),
        context=context,
        energy_wh=energy,
        power_w=power,
        current_a=current,
        voltage_v=voltage,
        soc=soc,
        export_wh=export,
    )
