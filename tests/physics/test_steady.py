"""The steady-segment jump (ecmsim.steady): the same hole as a full march, and off where it must be."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecmsim.config import load_config
from ecmsim.domain import Domain
from ecmsim.process import resolve
from ecmsim.simulation import simulate
from ecmsim.steady import SAMPLE_FRACTION, SteadyJump, _Sample, off_reason, shift_rows
from ecmsim.testing import tube_tool_overrides

TUBE = [*tube_tool_overrides(cell_size_mm=0.02, depth_mm=8.0)]
SUMMARY = (
    "depth_mm", "entry_diameter_mm", "min_diameter_mm", "max_diameter_mm", "side_gap_mm", "frontal_gap_mm",
    "machining_time_s", "charge_C", "removed_volume_mm3", "peak_current_A",
)  # fmt: skip


@pytest.fixture(scope="module")
def pair():
    """The same 8 mm Ø1 mm STEM hole at 20 µm cells, with the jump (default) and marched all the way."""
    jumped = simulate("example:stem-in718", overrides=TUBE)
    marched = simulate("example:stem-in718", overrides=[*TUBE, "numerics.steady_jump=false"])
    return jumped, marched


def test_jump_crosses_the_steady_segment(pair) -> None:
    jumped, marched = pair
    s = jumped.summary()
    assert marched.summary()["steady_jump_from_mm"] is None
    assert s["steady_jump_from_mm"] is not None
    assert s["steady_jump_to_mm"] - s["steady_jump_from_mm"] > 1.0  # mm crossed without time steps
    assert s["steps"] < 0.85 * marched.summary()["steps"]
    # the march resumes after the jump and ends at depth
    assert s["steady_jump_to_mm"] < s["tool_depth_mm"] == pytest.approx(8.0)


def test_jump_gives_the_marched_hole(pair) -> None:
    jumped, marched = pair
    a, b = jumped.wall_radius, marched.wall_radius
    assert np.array_equal(np.isfinite(a), np.isfinite(b))
    ok = np.isfinite(a)
    assert np.max(np.abs(a[ok] - b[ok])) < 1e-6  # m: the final wall within 1 µm
    sa, sb = jumped.summary(), marched.summary()
    for key in SUMMARY:
        assert sa[key] == pytest.approx(sb[key], rel=1e-3), key


def test_jump_histories_are_consistent(pair) -> None:
    jumped, marched = pair
    h = jumped.history
    dt = np.diff(h["time"], prepend=0.0)
    assert np.all(dt > 0) and np.all(np.diff(h["tool_depth"]) >= -1e-15)
    # charge is the integral of the current, over the jump as over the steps
    assert np.allclose(np.cumsum(h["current"] * dt), h["charge"], rtol=1e-9, atol=0)
    # Faraday's volume balance closes as in the march
    ratio = h["faraday_volume"][-1] / h["removed_volume"][-1]
    assert ratio == pytest.approx(marched.faraday_volume[-1] / marched.removed_volume[-1], rel=1e-3)
    # the jump's rows carry the settled current of the march at the same depths
    rec = jumped.steady_jump
    rows = slice(rec.first_row, rec.first_row + rec.rows)
    depth = h["tool_depth"][rows]
    # the march's mean current over a gap of travel around the same depths (its sawtooth is ±0.3 %)
    half = 0.5 * jumped.process.equilibrium_gap

    def at(z: np.ndarray, name: str) -> np.ndarray:
        return np.interp(z, marched.tool_depth, marched.history[name])

    march_current = (at(depth + half, "charge") - at(depth - half, "charge")) / (
        at(depth + half, "time") - at(depth - half, "time")
    )
    assert np.allclose(h["current"][rows], march_current, rtol=1e-3)
    assert np.all(h["solver_iterations"][rows] == 0)
    # snapshots keep their spacing across the jump
    snaps = np.diff(jumped.snapshot_tool_depth)
    assert np.all(snaps > 0) and snaps[:-1].max() < 2 * jumped.process.output_interval


def test_shift_rows_moves_and_extrudes() -> None:
    a = np.arange(2 * 8, dtype=float).reshape(2, 8)
    b = a.copy()
    shift_rows(b, 3, 2)
    assert np.array_equal(b[:, :3], a[:, :3])
    assert np.array_equal(b[:, 3], a[:, 3]) and np.array_equal(b[:, 4], a[:, 3])
    assert np.array_equal(b[:, 5:], a[:, 3:6])


def _domain(name: str, *overrides: str) -> Domain:
    return Domain.build(resolve(load_config(name, ["numerics.cell_size_mm=0.04", *overrides])))


@pytest.mark.parametrize(
    ("name", "overrides", "reason"),
    [
        ("example:stem-in718", ("numerics.steady_jump=false",), "steady_jump = false"),
        ("example:stem-in718-current-control", (), "current control"),
        (
            "example:stem-in718",
            ("motion.feed_control=servo", "motion.servo_target=frontal_gap", "motion.target_frontal_gap_mm=0.15",
             "motion.max_feed_rate_mm_per_min=4"),
            "servo",
        ),
        ("example:stem-in718", ("physics.secondary=true", "flow.inlet_pressure_MPa=0.5"), "secondary physics"),
        ("example:ecd-marm509-nacl-bare", (), "no window"),
        ("example:stem-in718", ("numerics.window=off",), "no window"),
    ],
)  # fmt: skip
def test_off_where_the_state_need_not_be_steady(name: str, overrides: tuple[str, ...], reason: str) -> None:
    d = _domain(name, *overrides)
    why = off_reason(d)
    assert why is not None and reason in why
    assert not SteadyJump(d).active


def test_on_by_default_for_a_coated_tool() -> None:
    d = _domain("example:stem-in718")
    assert off_reason(d) is None and SteadyJump(d).active


def test_plate_jump_stops_before_the_far_face() -> None:
    d = _domain("example:stem-in718", "workpiece.thickness_mm=6", "motion.depth_mm=6")
    j = SteadyJump(d)
    assert j.target() < 6e-3 - d.window_ahead


def _samples(jump: SteadyJump, trend: float, noise: float) -> float | None:
    """Feed the detector frame profiles with a trend (m per settling travel) and noise (m); return its drift."""
    rng = np.random.default_rng(1)
    n = jump.offsets.size + 1
    step = SAMPLE_FRACTION * jump.settle
    drift = None
    for i in range(round(4 / SAMPLE_FRACTION)):
        z = i * step
        profile = np.full(n, 4e-4) + trend * z / jump.settle + rng.normal(0.0, noise, n)
        jump.samples.append(_Sample(z, z, 0.0, 0.0, i, profile))
        drift = jump._drift(jump.samples[-1])
    return drift


def test_detector_sees_a_slow_trend_and_not_the_noise() -> None:
    d = _domain("example:stem-in718")
    tol = SteadyJump(d).tolerance
    # a trend of 0.6 tolerances per settling travel: over two travels it is more than the tolerance
    trend = _samples(SteadyJump(d), 0.6 * tol, 0.0)
    assert trend is not None and trend > tol
    # no trend, sawtooth-like noise of twice the tolerance: the means over the travels agree
    quiet = _samples(SteadyJump(d), 0.0, 0.5 * tol)
    assert quiet is not None and quiet < tol
    assert math.isfinite(quiet)
