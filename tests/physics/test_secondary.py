"""Secondary physics coupled to the drilling run: flow, heating and gas set the conductivity.

All runs are the STEM example on a coarse grid (20 µm) and a short travel (0.6 mm, the
bare tip and a little coated annulus in the hole), shared by the tests of this module.
"""

from __future__ import annotations

import math
import re

import h5py
import numpy as np
import pytest

from ecmsim import channel as ch
from ecmsim.config import load_config
from ecmsim.errors import ConfigError
from ecmsim.io.result import read_result, write_result
from ecmsim.simulation import simulate
from ecmsim.units import FARADAY

COARSE = ["numerics.cell_size_mm=0.02", "motion.depth_mm=0.6"]
SECONDARY = [*COARSE, "physics.secondary=true"]


def run(*overrides: str):
    return simulate("example:stem-in718", overrides=[*overrides])


@pytest.fixture(scope="module")
def primary():
    return run(*COARSE)


@pytest.fixture(scope="module")
def coupled():
    return run(*SECONDARY, "flow.inlet_pressure_MPa=0.5")


def _same_run(a, b) -> None:
    for name in a.history:
        np.testing.assert_array_equal(a.history[name], b.history[name], err_msg=name)
    np.testing.assert_array_equal(a.psi_w, b.psi_w)
    sa, sb = a.summary(), b.summary()
    sa.pop("wall_clock_s"), sb.pop("wall_clock_s")
    assert sa == sb


def test_secondary_off_reproduces_the_primary_model_exactly(primary) -> None:
    off = run(*COARSE, "physics.secondary=false", "flow.inlet_pressure_MPa=0.5", "flow.tube_length_mm=50")
    _same_run(primary, off)
    assert "flow_rate" not in off.history and "flow_rate_l_per_min" not in off.summary()
    assert off.flow_path is None


def test_without_heating_and_gas_the_coupled_run_is_the_primary_one(primary) -> None:
    """Verification case 1: no temperature rise and no gas leave κ at its primary value."""
    plain = run(*SECONDARY, "flow.inlet_pressure_MPa=0.5", "physics.heating=false", "physics.gas=false")
    assert plain.history.n_steps == primary.history.n_steps
    for name in primary.history:
        np.testing.assert_allclose(plain.history[name], primary.history[name], rtol=1e-9, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(plain.flow_path.conductivity, primary.process.conductivity, rtol=1e-14)


def test_coupled_energy_balance(coupled) -> None:
    """ρ c_p Q ΔT at the exit against the ohmic power of the 2D field, I (U − ΔU), within 1 %."""
    fluid = coupled.process.supply.fluid
    prof = coupled.flow_path
    carried = fluid.density * fluid.specific_heat * prof.flow_rate * (prof.outlet_temperature - prof.temperature[0])
    ohmic = coupled.current[-1] * coupled.process.u_eff
    assert carried == pytest.approx(ohmic, rel=1e-2)
    # every step after the first few (the lag settles): the heating follows the field's ohmic power
    np.testing.assert_allclose(coupled.joule_power[5:], coupled.current[5:] * coupled.process.u_eff, rtol=1e-2)
    assert 0.5 < prof.outlet_temperature - prof.temperature[0] < 10.0  # a few kelvin (gap-physics.md: 1-5 K)


def test_coupled_gas_outflow_matches_faraday_and_ideal_gas(coupled) -> None:
    """Gas leaving the hole: η_c I/(2F) (H₂) + (1 − η) I/(4F) (O₂), times R T/p, within 1 %."""
    prof = coupled.flow_path
    current, eta = coupled.current[-1], 0.95  # H2SO4: constant efficiency
    moles = current / (2 * FARADAY) + (1 - eta) * current / (4 * FARADAY)
    expected = moles * ch.GAS_CONSTANT * prof.outlet_temperature / prof.pressure[-1]
    assert prof.gas_flow[-1] == pytest.approx(expected, rel=1e-2)
    # the gap carries a real void: conductivity falls at the tip (gap-physics.md: 12-24 % void, κ 8-15 % lower)
    s = coupled.summary()
    assert 0.05 < s["max_void_fraction"] < 0.5
    assert s["tip_conductivity_S_per_m"] < coupled.process.conductivity
    assert s["tip_pressure_MPa"] < 0.2 < s["inlet_pressure_MPa"] == pytest.approx(0.5)


def test_gas_narrows_the_hole_and_pressure_widens_it(primary, coupled) -> None:
    """Trend: less conductivity in the gap gives a smaller hole; a higher inlet pressure compresses
    the gas and gives a larger one."""
    high = run(*SECONDARY, "flow.inlet_pressure_MPa=1.0")
    d = [r.summary()["entry_diameter_mm"] for r in (coupled, high, primary)]
    assert d[0] < d[1] < d[2]
    assert high.summary()["max_void_fraction"] < coupled.summary()["max_void_fraction"]
    assert high.summary()["flow_rate_l_per_min"] > coupled.summary()["flow_rate_l_per_min"]

    # less gas at the tip: the void where the bare tip ends and the mean κ under the face
    def tip_void(r):
        return r.flow_path.void_fraction[r.flow_path.channel.first_cell(ch.ANNULUS)]

    assert tip_void(high) < tip_void(coupled)
    assert high.summary()["tip_conductivity_S_per_m"] > coupled.summary()["tip_conductivity_S_per_m"]


def test_given_flow_rate_is_held(coupled) -> None:
    q = coupled.summary()["flow_rate_l_per_min"]
    fixed = run(*SECONDARY, f"flow.flow_rate_l_per_min={q}", "motion.depth_mm=0.4")
    np.testing.assert_allclose(fixed.flow_rate, q / 6e4, rtol=1e-14)
    assert math.isfinite(fixed.summary()["inlet_pressure_MPa"])


def test_result_file_holds_the_flow_histories_and_path(coupled, tmp_path) -> None:
    out = tmp_path / "sec.h5"
    write_result(out, coupled)
    back = read_result(out)
    np.testing.assert_array_equal(back.history["tip_pressure"], coupled.tip_pressure)
    assert back.summary["joule_power_W"] == pytest.approx(coupled.summary()["joule_power_W"])
    with h5py.File(out) as f:
        g = f["flow_path"]
        assert g["pressure"].attrs["units"] == "Pa" and g["temperature"].attrs["units"] == "K"
        np.testing.assert_array_equal(g["void_fraction"][()], coupled.flow_path.void_fraction)
        assert g["conductivity"].shape == (coupled.flow_path.channel.size,)
        assert f["history/flow_rate"].attrs["units"] == "m^3/s"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["physics.secondary=true"],
            r"secondary = true needs the supply: give \[flow\] inlet_pressure_MPa or flow_rate",
        ),
        (
            ["flow.inlet_pressure_MPa=0.5", "flow.flow_rate_l_per_min=0.1"],
            r"inlet_pressure_MPa = 0.5 MPa and flow_rate_l_per_min = 0.1 L/min are both given: give exactly one",
        ),
        (
            ["physics.secondary=true", "flow.inlet_pressure_MPa=0.1"],
            r"inlet_pressure_MPa = 0.1 MPa must exceed outlet_pressure_MPa = 0.101325 MPa",
        ),
        (
            ["physics.secondary=true", "flow.inlet_pressure_MPa=0.5", "tool.inner_diameter_mm=0"],
            r"needs a tube tool .*inner_diameter_mm = 0 is a solid rod",
        ),
        (
            ["physics.secondary=true", "flow.inlet_pressure_MPa=0.5", "flow.tube_length_mm=1"],
            r"tube_length_mm = 1.0 mm is shorter than \[motion\] depth_mm",
        ),
        (["physics.secondary=yes"], r"\[physics\] secondary = 'yes' is not allowed: expected true or false"),
        (
            ["flow.inlet_pressur_MPa=0.5"],
            r"unknown key 'inlet_pressur_MPa' in \[flow\]; did you mean 'inlet_pressure_MPa'",
        ),
    ],
)
def test_bad_flow_settings_are_named(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("example:stem-in718", overrides)


@pytest.mark.parametrize(
    ("overrides", "status", "words"),
    [
        (
            ["flow.max_void_fraction=0.15"],
            "gas_choking",
            r"gas fills \d+ % of the gap .* above \[flow\] max_void_fraction = 0.15",
        ),
        (
            ["flow.boiling_margin_K=78"],
            "boiling",
            r"reaches 2\d\.\d °C .* within 78 K of its boiling point 10\d\.\d °C",
        ),
        (["flow.min_flow_rate_l_per_min=0.1"], "flow_starvation", r"flow fell to 0.0\d+ L/min, below"),
        (["flow.inlet_pressure_MPa=0.1014"], "flow_starvation", r"0.1014 MPa cannot drive the electrolyte"),
    ],
)
def test_faults_end_the_run_with_time_and_depth(coupled, overrides, status, words) -> None:
    """The example's own limits hold; tighter ones end the run at once, naming the fault and where it is."""
    assert coupled.status == "completed"
    faulty = run(*SECONDARY, "flow.inlet_pressure_MPa=0.5", "motion.depth_mm=0.4", *overrides)
    s = faulty.summary()
    assert s["status"] == status
    assert s["event_time_s"] == 0.0 and s["event_depth_mm"] == pytest.approx(-0.1)  # the tool's start
    assert re.search(rf"^{status.replace('_', ' ')} at t = 0.00 s, tool depth -0.1000 mm: .*{words}", s["message"])
