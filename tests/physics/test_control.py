"""Machine control: a current-controlled supply and a servo feed.

The runs are the bundled examples on a coarse grid (25 µm) and a short travel,
shared by the tests of this module.  Current control is checked against the
voltage-controlled run (holding that run's steady current must bring back its
voltage), the voltage limit from both sides, the servo against its targets and
its bounds, and the servo law against the first-order lag it is built to be.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecmsim.config import load_config
from ecmsim.control import Control
from ecmsim.equilibrium import solve_equilibrium
from ecmsim.errors import ConfigError
from ecmsim.simulation import simulate
from ecmsim.units import MM, MM_PER_MIN

COARSE = ["numerics.cell_size_mm=0.025", "motion.depth_mm=1.5"]
CURRENT = ['electrical.control="current"', "electrical.max_voltage_V=30"]
SERVO = ['motion.feed_control="servo"', "motion.min_feed_rate_mm_per_min=0.5", "motion.max_feed_rate_mm_per_min=5"]


def run(example: str, *overrides: str):
    return simulate(f"example:{example}", overrides=[*COARSE, *overrides])


@pytest.fixture(scope="module")
def stem_voltage():
    """The STEM example as it is: 7 V, 2 mm/min."""
    return run("stem-in718")


@pytest.fixture(scope="module")
def stem_current(stem_voltage):
    """The STEM example holding the steady current of the 7 V run."""
    return run("stem-in718", *CURRENT, f"electrical.current_A={float(stem_voltage.current[-1])}")


def _relative_error(current: np.ndarray, target: float) -> float:
    return float(np.max(np.abs(current / target - 1.0)))


def test_voltage_control_records_the_set_voltage_and_feed(stem_voltage) -> None:
    """The default keeps the supply and the feed constant (the golden test checks the numbers)."""
    r = stem_voltage
    assert np.all(r.voltage == 7.0)
    moving = r.tool_depth < 1.5 * MM - 1e-12
    assert np.all(r.feed_rate[moving] == 2.0 * MM_PER_MIN)
    assert "mean_voltage_V" not in r.summary() and "mean_feed_rate_mm_per_min" not in r.summary()


def test_current_control_holds_the_set_current_on_the_stem_example(stem_voltage, stem_current) -> None:
    target = float(stem_voltage.current[-1])
    r = stem_current
    assert r.status == "completed"
    assert _relative_error(r.current[1:], target) < 0.005
    # the voltage follows the gap: high while the tool approaches, then settling
    assert r.voltage[0] > r.voltage[-1]
    # Faraday's law with the held current: charge and removed metal follow I* t
    np.testing.assert_allclose(r.charge[-1], target * r.time[-1], rtol=0.005)
    s = r.summary()
    assert s["mean_voltage_V"] == pytest.approx(np.sum(r.voltage * np.diff(r.time, prepend=0.0)) / r.time[-1])
    assert s["mean_feed_rate_mm_per_min"] == pytest.approx(2.0, rel=0.01)  # the feed stays constant


def test_holding_the_steady_current_of_a_voltage_run_brings_back_its_voltage(stem_voltage, stem_current) -> None:
    """Same geometry and κ: the current that 7 V drives at the end needs 7 V again at the end."""
    assert stem_current.voltage[-1] == pytest.approx(7.0, rel=0.01)
    # and the hole comes out the same once both runs have settled
    assert stem_current.frontal_gap[-1] == pytest.approx(stem_voltage.frontal_gap[-1], abs=5e-6)


def test_current_control_holds_the_set_current_on_a_pulsed_nitrate_config() -> None:
    """ECD in Inconel 625 with NaNO3: pulsed supply, threshold efficiency."""
    r = run("ecd-in625-nano3", *CURRENT, "electrical.current_A=3.0")
    assert r.status == "completed"
    assert _relative_error(r.current[1:], 3.0) < 0.005
    assert np.ptp(r.voltage) > 0.1  # the voltage did adapt


def test_current_control_with_secondary_physics_holds_the_current() -> None:
    """The conductivity changes along the gap and from step to step; the current still holds."""
    r = run("stem-in718", *CURRENT, "electrical.current_A=2.0", "physics.secondary=true", "flow.inlet_pressure_MPa=0.5")
    assert r.status == "completed"
    assert np.ptp(r.tip_conductivity) > 0.5  # S/m: κ did move
    assert _relative_error(r.current[1:], 2.0) < 0.005


def test_voltage_limit_ends_the_run_when_max_voltage_is_too_low(stem_current) -> None:
    target = float(stem_current.current[-1])
    needed = float(stem_current.voltage.min())
    r = run("stem-in718", *CURRENT, f"electrical.current_A={target}", f"electrical.max_voltage_V={needed - 0.05}")
    assert r.status == "voltage_limit"
    assert "max_voltage_V" in r.message
    assert r.event_time is not None and r.event_depth is not None
    s = r.summary()
    assert s["status"] == "voltage_limit" and s["event_depth_mm"] == pytest.approx(r.event_depth / MM)


def test_a_voltage_limit_above_what_is_needed_does_not_trip(stem_current) -> None:
    target = float(stem_current.current[-1])
    needed = float(stem_current.voltage.max())
    r = run("stem-in718", *CURRENT, f"electrical.current_A={target}", f"electrical.max_voltage_V={needed + 0.05}")
    assert r.status == "completed"


def test_servo_holds_the_frontal_gap_within_its_feed_bounds() -> None:
    r = run("stem-in718", *SERVO, 'motion.servo_target="frontal_gap"', "motion.target_frontal_gap_mm=0.15")
    assert r.status == "completed"
    steady = r.tool_depth > 0.75 * MM
    assert np.max(np.abs(r.frontal_gap[steady] - 0.15 * MM)) < 3e-6
    moving = r.feed_rate > 0
    assert np.all(r.feed_rate[moving] >= 0.5 * MM_PER_MIN) and np.all(r.feed_rate <= 5 * MM_PER_MIN)
    # the feed differs from the 2 mm/min it starts at: a narrower gap than the 7 V, 2 mm/min equilibrium
    assert r.summary()["mean_feed_rate_mm_per_min"] > 2.2


def test_servo_feed_saturates_at_its_maximum_when_the_target_is_out_of_reach() -> None:
    """At most 1 mm/min the gap cannot close to 0.15 mm: the feed sits at its bound, the gap stays wider."""
    r = run(
        "stem-in718", *SERVO, "motion.feed_rate_mm_per_min=1", "motion.max_feed_rate_mm_per_min=1",
        'motion.servo_target="frontal_gap"', "motion.target_frontal_gap_mm=0.15",
    )  # fmt: skip
    steady = r.tool_depth > 0.5 * MM
    assert np.all(r.feed_rate[steady & (r.feed_rate > 0)] == 1 * MM_PER_MIN)
    assert np.all(r.frontal_gap[steady] > 0.2 * MM)


def test_servo_holds_a_target_current() -> None:
    r = run("stem-in718", *SERVO, 'motion.servo_target="current"', "motion.target_current_A=2.5")
    assert r.status == "completed"
    steady = r.tool_depth > 0.75 * MM
    assert abs(float(np.mean(r.current[steady])) / 2.5 - 1) < 0.01
    assert _relative_error(r.current[steady], 2.5) < 0.03


def test_servo_law_is_a_first_order_lag_with_its_time_constant() -> None:
    """dh/dt = v_b − f with the law's f: the gap error decays as exp(−t/τ), the feed stays clipped."""
    tau, v_b, dt = 2.0, 3e-5, 0.01
    c = Control(feed="servo", servo_target="frontal_gap", target_gap=1e-4, max_feed=1.0, time_constant=tau)
    h = 1.5e-4
    for _ in range(100):  # 1 s
        f = c.servo_feed(0.0, h, v_b, 0.0, dt)
        h += (v_b - f) * dt
    assert h - 1e-4 == pytest.approx(5e-5 * (1 - dt / tau) ** 100, rel=1e-9)
    assert h - 1e-4 == pytest.approx(5e-5 * math.exp(-1.0 / tau), rel=0.01)
    clipped = Control(feed="servo", servo_target="frontal_gap", target_gap=1e-4, min_feed=1e-5, max_feed=2e-5)
    assert clipped.servo_feed(0.0, 1.0, v_b, 0.0, dt) == 2e-5
    assert clipped.servo_feed(0.0, 0.0, 0.0, 0.0, dt) == 1e-5
    # a step longer than τ/2 does not overshoot: the correction acts over two steps
    assert c.servo_feed(0.0, 1.5e-4, 0.0, 0.0, 10.0) * 10.0 == pytest.approx(0.5 * 5e-5)


def test_equilibrium_refuses_current_control_and_servo_feed() -> None:
    for extra in (
        [*CURRENT, "electrical.current_A=2"],
        [*SERVO, 'motion.servo_target="frontal_gap"', "motion.target_frontal_gap_mm=0.15"],
    ):
        with pytest.raises(ConfigError, match=r'equilibrium mode .* control = "voltage"'):
            solve_equilibrium(load_config("example:stem-in718", extra))


def test_cli_reports_the_control_and_writes_its_histories(tmp_path) -> None:
    """The bundled current-control example through ``ecmsim simulate``: summary lines, JSON keys, file histories."""
    import json

    from click.testing import CliRunner

    from ecmsim.cli.main import cli
    from ecmsim.io.result import read_result

    args = ["simulate", "example:stem-in718-current-control", "--set", "numerics.cell_size_mm=0.04",
            "--set", "motion.depth_mm=0.3", "--no-progress"]  # fmt: skip
    text = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "a.h5")])
    assert text.exit_code == 0, text.output
    assert "mean voltage" in text.output and "mean feed rate" in text.output
    out = CliRunner().invoke(cli, [*args, "--json", "-o", str(tmp_path / "b.h5")])
    summary = json.loads(out.output)
    res = read_result(tmp_path / "b.h5")
    assert _relative_error(res.history["current"][1:], 2.0) < 0.005
    dt = np.diff(res.history["time"], prepend=0.0)
    assert summary["mean_voltage_V"] == pytest.approx(float(np.sum(res.history["voltage"] * dt) / np.sum(dt)))
    assert res.summary["mean_voltage_V"] == summary["mean_voltage_V"]
