"""Charging physics for the simulated chargers: cars, their batteries and charging curves.

Pure functions, no I/O: a `Vehicle` is charged for a span of simulated seconds at what the
connector, the car and any charging limit allow. AC charging is flat at the lower of the
connector's and the car's onboard-charger power until ~90 % SoC and then tapers; DC
fast charging peaks early and tapers from ~50 % SoC, as real batteries do.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from typing import Literal

ChargerKind = Literal["AC", "DC"]

AC_VOLTAGE = 230.0  # phase to neutral
# Share of the metered energy that ends up in the battery (charger and battery losses).
EFFICIENCY: dict[ChargerKind, float] = {"AC": 0.92, "DC": 0.95}
# DC charging curve: (SoC %, share of the peak power), linearly interpolated.
_DC_CURVE = ((0.0, 0.75), (10.0, 1.0), (50.0, 1.0), (80.0, 0.45), (90.0, 0.25), (100.0, 0.05))
_DC_SOC = [soc for soc, _ in _DC_CURVE]
# Integration step: the curve is evaluated at least once per this many seconds.
_STEP_S = 30.0


@dataclass(frozen=True)
class CarModel:
    name: str
    capacity_wh: float
    ac_max_w: float
    dc_max_w: float
    pack_voltage: float
    ac_phases: int


CARS = (
    CarModel("Tesla Model Y", 75_000, 11_000, 250_000, 400, 3),
    CarModel("Volkswagen ID.4", 77_000, 11_000, 135_000, 400, 3),
    CarModel("Hyundai Ioniq 5", 74_000, 11_000, 220_000, 800, 3),
    CarModel("Kia EV6", 77_000, 11_000, 233_000, 800, 3),
    CarModel("Renault Zoe", 52_000, 22_000, 50_000, 400, 3),
    CarModel("Nissan Leaf", 40_000, 6_600, 50_000, 360, 1),
    CarModel("Polestar 2", 78_000, 11_000, 155_000, 400, 3),
    CarModel("Skoda Enyaq", 77_000, 11_000, 135_000, 400, 3),
)


@dataclass
class Vehicle:
    """A car plugged in: its model, state of charge and the SoC it stops charging at."""

    model: CarModel
    soc: float  # percent, 0..100
    target_soc: float  # percent, soc < target_soc <= 100

    @property
    def full(self) -> bool:
        return self.soc >= self.target_soc - 1e-6


@dataclass(frozen=True)
class Reading:
    """The electrical state at one moment, as a meter would report it."""

    power_w: float
    current_a: float
    voltage_v: float
    phases: int  # 0 for DC


def random_vehicle(rng: random.Random, kind: ChargerKind) -> Vehicle:
    model = rng.choice(CARS)
    soc = rng.uniform(8.0, 60.0)
    # Drivers at fast chargers stop at 80 %; at home or at work many charge fuller.
    target = 80.0 if kind == "DC" else rng.choice((80.0, 80.0, 90.0, 100.0))
    return Vehicle(model, soc, max(target, soc + 5.0))


def dwell_seconds(rng: random.Random, kind: ChargerKind) -> float:
    """How long the driver leaves the car plugged in (simulated seconds)."""
    if kind == "DC":
        return min(max(rng.lognormvariate(math.log(35 * 60), 0.35), 10 * 60), 2 * 3600)
    return min(max(rng.lognormvariate(math.log(3 * 3600), 0.6), 20 * 60), 14 * 3600)


def _dc_share(soc: float) -> float:
    i = bisect.bisect_right(_DC_SOC, soc)
    if i >= len(_DC_CURVE):
        return _DC_CURVE[-1][1]
    (s0, f0), (s1, f1) = _DC_CURVE[i - 1], _DC_CURVE[i]
    return f0 + (f1 - f0) * (soc - s0) / (s1 - s0)


def peak_power_w(kind: ChargerKind, vehicle: Vehicle, connector_max_w: float) -> float:
    car = vehicle.model.ac_max_w if kind == "AC" else vehicle.model.dc_max_w
    return max(min(connector_max_w, car), 0.0)


def power_w(
    kind: ChargerKind, vehicle: Vehicle, connector_max_w: float, limit_w: float | None = None
) -> float:
    """What the car draws right now: never above the connector, the car or the limit."""
    if vehicle.full:
        return 0.0
    peak = peak_power_w(kind, vehicle, connector_max_w)
    if kind == "AC":
        share = 1.0 if vehicle.soc < 90.0 else max((100.0 - vehicle.soc) / 10.0, 0.1)
    else:
        share = _dc_share(vehicle.soc)
    power = peak * min(share, 1.0)
    if limit_w is not None:
        power = min(power, max(limit_w, 0.0))
    return power


def charge(
    kind: ChargerKind,
    vehicle: Vehicle,
    connector_max_w: float,
    seconds: float,
    limit_w: float | None = None,
) -> float:
    """Charge `vehicle` for `seconds`; return the metered energy in Wh (>= 0).

    The SoC never passes the target (and so never 100 %): the car stops drawing there.
    """
    energy = 0.0
    left = max(seconds, 0.0)
    capacity = vehicle.model.capacity_wh
    efficiency = EFFICIENCY[kind]
    while left > 1e-9 and not vehicle.full:
        step = min(left, _STEP_S)
        power = power_w(kind, vehicle, connector_max_w, limit_w)
        if power <= 0.0:
            break
        room_wh = (vehicle.target_soc - vehicle.soc) / 100.0 * capacity / efficiency
        metered = min(power * step / 3600.0, room_wh)
        energy += metered
        vehicle.soc = min(vehicle.soc + metered * efficiency / capacity * 100.0, vehicle.target_soc)
        left -= step
    return energy


def reading(kind: ChargerKind, vehicle: Vehicle | None, power: float) -> Reading:
    """Current and voltage that go with `power` (idle connector: vehicle None, power 0)."""
    if kind == "DC":
        nominal = vehicle.model.pack_voltage if vehicle else 400.0
        soc = vehicle.soc if vehicle else 50.0
        voltage = nominal * (0.88 + 0.2 * soc / 100.0)
        return Reading(power, power / voltage, voltage, 0)
    phases = vehicle.model.ac_phases if vehicle else 3
    return Reading(power, power / (phases * AC_VOLTAGE), AC_VOLTAGE, phases)
