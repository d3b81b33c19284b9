"""Tests of ecmsim.kernels.curve: distances to a polyline and the wall's march, against
NumPy twins and closed forms."""

from __future__ import annotations

import math

import kernel_twins as tw
import numpy as np
from ecmsim.kernels import curve
from hypothesis import given, settings
from hypothesis import strategies as st

from ecmsim.testing import assert_observed_order


@settings(deadline=None, max_examples=40, database=None)
@given(n=st.integers(1, 12), seed=st.integers(0, 2**31), reach=st.floats(0.05, 0.6))
def test_polyline_distance_matches_twin(n, seed, reach) -> None:
    rng = np.random.default_rng(seed)
    h, z0, nr, nz = 0.05, -0.4, 23, 31
    # vertices inside and outside the grid, some segments of zero length
    pr = rng.uniform(-0.2, 1.3, n)
    pz = rng.uniform(-0.6, 1.3, n)
    if n > 2:
        pr[1], pz[1] = pr[0], pz[0]
    out = np.empty((nr, nz))
    curve.polyline_distance(pr, pz, z0, h, reach, out)
    np.testing.assert_allclose(out, tw.polyline_distance(pr, pz, z0, h, reach, nr, nz), atol=1e-12)


def test_polyline_distance_to_a_corner_is_exact() -> None:
    # an L: down the line r = 0.3 to z = 0.5, then out along z = 0.5
    h, nr, nz = 0.01, 80, 90
    out = np.empty((nr, nz))
    curve.polyline_distance(np.array([0.3, 0.3, 0.8]), np.array([0.0, 0.5, 0.5]), 0.0, h, 0.2, out)
    assert math.isclose(out[20, 20], 0.1, abs_tol=1e-12)  # beside the vertical leg
    assert math.isclose(out[50, 60], 0.1, abs_tol=1e-12)  # below the horizontal leg
    assert math.isclose(out[20, 60], math.hypot(0.1, 0.1), abs_tol=1e-12)  # off the corner
    assert out[79, 10] == 0.2  # beyond the reach: capped


def _speed_field(nr, nz, h, z0, feed, a, b):
    """v = f (a + b z), linear in z (bilinear interpolation reproduces it exactly)."""
    z = z0 + h * np.arange(nz)
    return np.ascontiguousarray(np.broadcast_to(feed * (a + b * z), (nr, nz)))


@settings(deadline=None, max_examples=30, database=None)
@given(seed=st.integers(0, 2**31), r0=st.floats(0.0, 0.5), z_top=st.floats(0.0, 0.3))
def test_march_wall_matches_twin(seed, r0, z_top) -> None:
    rng = np.random.default_rng(seed)
    h, z0, nr, nz, feed = 0.02, -0.1, 40, 45, 2.0
    speed = np.ascontiguousarray(rng.uniform(0.0, 1.5 * feed, (nr, nz)))
    out_r, out_z = np.empty(400), np.empty(400)
    n = curve.march_wall(speed, z0, h, r0, 0.7, feed, z_top, out_r, out_z)
    twin_r, twin_z = tw.march_wall(speed, z0, h, r0, 0.7, feed, z_top, 400)
    assert n == twin_r.size
    np.testing.assert_allclose(out_r[:n], twin_r, atol=1e-12)
    np.testing.assert_allclose(out_z[:n], twin_z, atol=1e-12)


def test_march_wall_stops_when_full() -> None:
    h, feed = 0.02, 1.0
    speed = np.full((30, 30), 2.0)  # v > f: the surface is horizontal and never rises
    out_r, out_z = np.empty(17), np.empty(17)
    assert curve.march_wall(speed, 0.0, h, 0.0, 0.5, feed, 0.1, out_r, out_z) == 17
    np.testing.assert_allclose(out_z, 0.5)
    np.testing.assert_allclose(np.diff(out_r), 0.5 * h)


def test_march_wall_converges_at_second_order() -> None:
    # v/f = a + b z: dr/dz = -s / sqrt(1 - s^2) gives r(z) - r(z0) = (sqrt(1 - s(z)^2) - sqrt(1 - s(z0)^2)) / b
    a, b, feed, z_start, z_top = 0.1, 1.2, 1.0, 0.6, 0.05
    s = lambda z: a + b * z  # noqa: E731
    errors, hs = [], [0.04, 0.02, 0.01, 0.005]
    for h in hs:
        nr, nz = int(1.0 / h) + 2, int(0.8 / h) + 2
        speed = _speed_field(nr, nz, h, 0.0, feed, a, b)
        out_r, out_z = np.empty(10_000), np.empty(10_000)
        n = curve.march_wall(speed, 0.0, h, 0.1, z_start, feed, z_top, out_r, out_z)
        assert out_z[n - 1] == z_top and np.all(np.diff(out_z[:n]) < 0)
        # compare at every point but the last (clamped to z_top)
        r, z = out_r[: n - 1], out_z[: n - 1]
        exact = 0.1 + (np.sqrt(1 - s(z) ** 2) - math.sqrt(1 - s(z_start) ** 2)) / b
        errors.append(float(np.abs(r - exact).max()))
    assert errors[-1] < 1e-5
    assert_observed_order(hs, errors, expected=2.0, tol=0.2)
