"""The trip physics: polylines, great-circle paths, charging curves and charge times."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.chargers.search import haversine_km
from core.routeplan.model import (
    ChargeTimeTable,
    ChargingCurve,
    CurveShape,
    PolylineError,
    Route,
    Vehicle,
    canonical_connector,
    connector_spellings,
    decode_polyline,
    encode_polyline,
    great_circle_path,
    is_dc,
)

# The example from Google's "Encoded Polyline Algorithm Format" page.
GOOGLE_POINTS = [(38.5, -120.2), (40.7, -120.95), (43.252, -126.453)]
GOOGLE_ENCODED = "_p~iF~ps|U_ulLnnqC_mqNvxq`@"


def flat(points):
    return [v for point in points for v in point]


def test_polyline_matches_googles_reference_example():
    assert encode_polyline(GOOGLE_POINTS) == GOOGLE_ENCODED
    assert flat(decode_polyline(GOOGLE_ENCODED)) == pytest.approx(flat(GOOGLE_POINTS))


def test_polyline6_keeps_six_decimals_and_misread_as_polyline5_is_rejected():
    points = [(59.913901, 10.752201), (63.430501, 10.395101)]
    encoded = encode_polyline(points, precision=6)
    assert flat(decode_polyline(encoded, precision=6)) == pytest.approx(flat(points), abs=1e-7)
    with pytest.raises(PolylineError):
        decode_polyline(encoded, precision=5)  # ten times too far north


@pytest.mark.parametrize("bad", ["_p~iF~ps|U_ulL", "_p~iF~ps|U_", "abc def", "\u00e6\u00f8"])
def test_malformed_polylines_are_rejected(bad):
    with pytest.raises(PolylineError):
        decode_polyline(bad)


def test_polyline_off_the_globe_is_rejected():
    with pytest.raises(PolylineError):
        decode_polyline(encode_polyline([(0.0, 0.0), (95.0, 0.0)]))


coordinates = st.tuples(
    st.floats(-89.99999, 89.99999, allow_nan=False), st.floats(-179.99999, 179.99999)
)


@settings(max_examples=150, deadline=None)
@given(st.lists(coordinates, max_size=30), st.sampled_from([5, 6]))
def test_polyline_round_trips_to_its_precision(points, precision):
    decoded = decode_polyline(encode_polyline(points, precision), precision)
    assert len(decoded) == len(points)
    for (lat, lon), (dlat, dlon) in zip(points, decoded, strict=True):
        assert abs(lat - dlat) <= 0.51 / 10**precision
        assert abs(lon - dlon) <= 0.51 / 10**precision


def test_great_circle_path_has_short_steps_and_the_right_length():
    oslo, trondheim = (59.9139, 10.7522), (63.4305, 10.3951)
    path = great_circle_path([oslo, trondheim], step_km=10.0)
    assert path[0] == oslo and path[-1] == trondheim
    route = Route.through(path, road_factor=1.3)
    direct = haversine_km(*oslo, *trondheim)
    assert route.geometric_km == pytest.approx(direct, rel=1e-6)
    assert route.length_km == pytest.approx(1.3 * direct, rel=1e-6)
    steps = [haversine_km(*a, *b) for a, b in itertools.pairwise(path)]
    assert max(steps) <= 10.0 + 1e-6


def test_great_circle_path_passes_through_via_points():
    a, via, b = (59.91, 10.75), (60.79, 11.07), (61.12, 10.47)
    path = great_circle_path([a, via, b], step_km=25.0)
    assert via in path
    route = Route.through(path)
    expected = haversine_km(*a, *via) + haversine_km(*via, *b)
    assert route.length_km == pytest.approx(expected, rel=1e-6)


def test_curve_from_points_is_held_flat_beyond_its_ends_and_interpolated_between():
    curve = ChargingCurve.from_points([(50, 100), (10, 150), (80, 40)])
    assert curve.points[0] == (0.0, 150.0) and curve.points[-1] == (100.0, 40.0)
    assert curve.power_kw(5) == 150
    assert curve.power_kw(30) == pytest.approx(125.0)
    assert curve.power_kw(90) == 40
    assert curve.peak_kw == 150


@pytest.mark.parametrize(
    "points",
    [[], [(10, 0), (50, 10)], [(-5, 10), (50, 10)], [(50, 10), (50.01, 100)]],
)
def test_nonsense_curves_are_rejected(points):
    with pytest.raises(ValueError):
        ChargingCurve.from_points(points)


def test_default_shapes_scale_to_the_peak_power():
    for shape in CurveShape:
        curve = ChargingCurve.from_shape(shape, 200.0)
        assert curve.peak_kw == pytest.approx(200.0)
        assert all(0 < kw <= 200 for _, kw in curve.points)


def test_charge_time_at_constant_power_is_energy_over_power():
    curve = ChargingCurve.from_points([(0, 100), (100, 100)])
    table = ChargeTimeTable(curve, battery_kwh=60, cap_kw=50)
    # 10 -> 80 % of 60 kWh is 42 kWh; the charger caps at 50 kW.
    assert table.hours(10, 80) == pytest.approx(42 / 50)


def test_charge_time_is_the_exact_integral_of_the_clipped_curve():
    curve = ChargingCurve.from_shape(CurveShape.TYPICAL, 150)
    table = ChargeTimeTable(curve, battery_kwh=75, cap_kw=120)
    n = 20_000
    numeric = sum(
        0.75 * (70 / n) / min(curve.power_kw(10 + (k + 0.5) * 70 / n), 120) for k in range(n)
    )
    assert table.exact_hours_to(80) - table.exact_hours_to(10) == pytest.approx(numeric, rel=1e-6)
    assert table.hours(10, 80) == pytest.approx(numeric, rel=1e-5)


@settings(max_examples=100, deadline=None)
@given(
    st.floats(0, 100),
    st.floats(0, 100),
    st.floats(0, 100),
    st.floats(5, 400),
)
def test_charge_times_add_up_and_grow_with_the_target(a, b, c, cap):
    a, b, c = sorted((a, b, c))
    table = ChargeTimeTable(ChargingCurve.from_shape(CurveShape.TYPICAL, 200), 80, cap)
    assert table.hours(a, b) + table.hours(b, c) == pytest.approx(table.hours(a, c), abs=1e-9)
    assert table.hours(a, c) >= table.hours(a, b) >= 0


def test_vehicle_uses_soc_points_per_km_from_consumption_and_factor():
    curve = ChargingCurve.from_shape(CurveShape.FLAT, 100)
    car = Vehicle(60, 180, 11, 100, curve, frozenset({"CCS2"}), consumption_factor=1.25)
    # 180 Wh/km * 1.25 = 225 Wh/km of 60 kWh: 0.375 % per km.
    assert car.soc_per_km == pytest.approx(0.375)
    assert car.power_limit_kw(dc=True) == 100 and car.power_limit_kw(dc=False) == 11
    assert car.accepts("cCCS2") and not car.accepts("CHAdeMO")


def test_connector_names_are_canonical_across_ocpp_spellings():
    assert canonical_connector("cCCS2") == "CCS2"
    assert canonical_connector("sType2") == "Type2"
    assert canonical_connector("cG105") == "CHAdeMO"
    assert is_dc("ccs2") and is_dc("CHAdeMO") and not is_dc("Type2")
    assert {"ccs2", "cccs2", "ccs"} <= connector_spellings(["CCS2"])
    assert connector_spellings([]) == set()
