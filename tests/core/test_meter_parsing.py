"""Meter values from both OCPP generations become the same base-unit readings."""

from __future__ import annotations

from ocpp_gateway.meter import readings_from_v2, readings_from_v16


def test_16_units_phases_and_defaults():
    (r,) = readings_from_v16(
        [
            {
                "timestamp": "2026-11-29T10:00:00Z",
                "sampledValue": [
                    {
                        "value": "12.345",
                        "unit": "kWh",
                        "measurand": "Energy.Active.Import.Register",
                    },
                    {"value": "100", "measurand": "Energy.Active.Import.Register", "phase": "L1"},
                    {"value": "7.4", "unit": "kW", "measurand": "Power.Active.Import"},
                    {"value": "15.9", "unit": "A", "measurand": "Current.Import", "phase": "L1"},
                    {"value": "16.1", "unit": "A", "measurand": "Current.Import", "phase": "L2"},
                    {"value": "231", "unit": "V", "measurand": "Voltage", "phase": "L1-N"},
                    {
                        "value": "54",
                        "unit": "Percent",
                        "measurand": "SoC",
                        "context": "Sample.Periodic",
                    },
                ],
            }
        ]
    )
    assert (r.energy_wh, r.power_w, r.current_a, r.voltage_v, r.soc) == (
        12_345,
        7_400,
        16.1,
        231.0,
        54,
    )
    assert r.sampled_at is not None and r.sampled_at.year == 2026


def test_16_default_measurand_is_the_energy_register_in_wh():
    (r,) = readings_from_v16(
        [{"timestamp": "2026-11-29T10:00:00Z", "sampledValue": [{"value": "9001"}]}]
    )
    assert r.energy_wh == 9001


def test_garbage_values_are_dropped_not_fatal():
    (r,) = readings_from_v16(
        [
            {
                "timestamp": "garbage",
                "sampledValue": [
                    {"value": "NaN"},
                    {"value": "1e30", "measurand": "Power.Active.Import"},
                    {"value": "abc", "measurand": "SoC"},
                    {"value": "x", "format": "SignedData"},
                ],
            }
        ]
    )
    assert (r.sampled_at, r.energy_wh, r.power_w, r.soc) == (None, None, None, None)


def test_2x_unit_of_measure_multiplier():
    (r,) = readings_from_v2(
        [
            {
                "timestamp": "2026-11-29T10:00:00+01:00",
                "sampledValue": [
                    {"value": 12.5, "unitOfMeasure": {"unit": "Wh", "multiplier": 3}},
                    {
                        "value": 11,
                        "measurand": "Power.Active.Import",
                        "unitOfMeasure": {"unit": "W", "multiplier": 3},
                    },
                ],
            }
        ]
    )
    assert (r.energy_wh, r.power_w) == (12_500, 11_000)
    assert r.sampled_at is not None and r.sampled_at.hour == 9
