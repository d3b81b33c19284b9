"""A tight return annulus: the flow falls as the hole deepens, and the faults come part-way down.

The STEM example with a 0.30 mm coating on its Ø0.8 mm tube leaves a return annulus of
30-50 µm between the coating and the wall; with a 2 mm bore, 0.13 MPa at the inlet and no
minor losses, the annulus takes over the pressure drop once the coating enters the hole
and the flow falls to a third by 1 mm of depth.  Every expectation here comes from an
estimate written in this module, independently of ``ecmsim.channel``: the pressure drop of
the bore (Hagen-Poiseuille, or Blasius above Re = 2300), the frontal gap (radial flow
between discs) and the side gaps (the exact laminar annulus on the run's wall profile,
the two-phase mixture at the local pressure), adiabatic heating ρ c_p Q ΔT = I U and the
ideal-gas void fraction of the Faraday gas at the exit.  The 2D field enters it only
through the run's current and frontal gap at each step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecmsim.simulation import simulate

FARADAY = 96485.33212  # C/mol
R_GAS = 8.314462618  # J/(mol K)
T_SAT_1ATM = 373.124  # K, water at 101.325 kPa (IAPWS-IF97)
ETA = 0.95  # the H2SO4 example's current efficiency

TIGHT = [
    "numerics.cell_size_mm=0.02", "motion.depth_mm=1.0", "physics.secondary=true", "tool.coating_thickness_mm=0.3",
    "flow.tube_length_mm=2", "flow.inlet_pressure_MPa=0.13", "flow.bore_entrance_loss=0", "flow.tip_turn_loss=0",
    "flow.exit_loss=0",
]  # fmt: skip
NO_LIMITS = ["flow.min_flow_rate_l_per_min=0", "flow.max_void_fraction=0.95", "flow.boiling_margin_K=0"]


def _annulus_resistance(r1, r2):
    """Laminar dp/ds / (μ Q) of a concentric annulus, 1/m⁴."""
    return 8.0 / (math.pi * (r2**4 - r1**4 - (r2**2 - r1**2) ** 2 / np.log(r2 / r1)))


def estimate(run, k: int) -> tuple[float, float, float]:
    """Liquid flow (m³/s), exit void fraction and exit temperature (K) at step ``k`` of ``run``."""
    proc, tool, grid = run.process, run.tool, run.grid
    supply, fluid = proc.supply, proc.supply.fluid

    def mu(t):  # Vogel's law for water, scaled to the electrolyte's viscosity
        return fluid.viscosity * 10.0 ** (247.8 / (t - 140.0) - 247.8 / (fluid.viscosity_temperature - 140.0))

    depth, current, front = run.tool_depth[k], run.current[k], run.frontal_gap[k]
    moles = ETA * current / (2 * FARADAY) + (1 - ETA) * current / (4 * FARADAY)
    ri, ro, rc, bare = tool.r_inner, tool.r_outer, tool.r_outer + tool.coating, tool.bare_tip
    z, wall = grid.z, run.wall_radius
    ok = np.isfinite(wall)
    coated = _annulus_resistance(rc, wall[ok & (z >= 0) & (z <= depth - bare)])
    beside_tip = _annulus_resistance(ro, wall[ok & (z > depth - bare) & (z <= depth)])
    t_in, p_out, rho = supply.inlet_temperature, supply.outlet_pressure, fluid.density

    def inlet(q):
        t_out = t_in + current * proc.u_eff / (rho * fluid.specific_heat * q)
        p = p_out
        for res in coated:  # rows from the exit down to the coating's end, the mixture at the local pressure
            p += mu(t_out) * res * (q + moles * R_GAS * t_out / p) * grid.h
        p += mu(t_out) * beside_tip.sum() * grid.h * (q + 0.5 * moles * R_GAS * t_out / p)  # gas made along it
        p += mu(t_in) * 6.0 * q * math.log(ro / ri) / (math.pi * front**3)
        area, dia = math.pi * ri**2, 2.0 * ri
        re = rho * q * dia / (area * mu(t_in))
        laminar = mu(t_in) * 128.0 * supply.tube_length * q / (math.pi * dia**4)
        blasius = 0.316 * re**-0.25 * supply.tube_length / dia * 0.5 * rho * (q / area) ** 2 if re > 2300 else 0.0
        return p + max(laminar, blasius), t_out

    lo, hi = 1e-12, 1e-3
    for _ in range(80):  # bisection in log q: the drop rises with the flow
        q = math.sqrt(lo * hi)
        lo, hi = (lo, q) if inlet(q)[0] > supply.inlet_pressure else (q, hi)
    t_out = inlet(q)[1]
    gas = moles * R_GAS * t_out / p_out
    return q, gas / (gas + q), t_out


@pytest.fixture(scope="module")
def reference():
    """The tight annulus drilled 1 mm deep with no fault limits, and the estimate at every step."""
    run = simulate("example:stem-in718", overrides=[*TIGHT, *NO_LIMITS])
    assert run.status == "completed"
    est = np.array([estimate(run, k) for k in range(run.time.size)])
    return run, est


def test_the_estimate_follows_the_coupled_run(reference) -> None:
    """Flow, exit temperature and void along the whole run against the independent estimate."""
    run, est = reference
    # the run's annulus is cells of about two grid rows with the mean wall of each: where the wall is
    # tightest its flow moves by a few per cent from step to step as those cells change with depth
    np.testing.assert_allclose(est[:, 0], run.flow_rate, rtol=0.07)
    np.testing.assert_allclose(np.median(est[:, 0] / run.flow_rate), 1.0, atol=0.02)
    t_in = run.process.supply.inlet_temperature
    np.testing.assert_allclose(est[:, 2] - t_in, run.outlet_temperature - t_in, rtol=0.1)  # the heating, 1-2.5 K
    np.testing.assert_allclose(est[:, 1], run.max_void_fraction, rtol=0.08)
    assert run.flow_rate[-1] < 0.45 * run.flow_rate.max()  # the tight annulus chokes the flow


def _crossing(depth, values, limit, rising: bool) -> float:
    """Tool depth where ``values`` first pass ``limit`` past the coating's entry (linear between steps)."""
    v = values if rising else -values
    lim = limit if rising else -limit
    k = int(np.flatnonzero(v > lim)[0])
    return float(depth[k - 1] + (lim - v[k - 1]) * (depth[k] - depth[k - 1]) / (v[k] - v[k - 1]))


@pytest.mark.parametrize("fault", ["flow_starvation", "gas_choking", "boiling"])
def test_faults_trip_part_way_at_the_estimated_depth_and_time(reference, fault) -> None:
    """Each limit set halfway between the estimate at the coating's entry and at 1 mm: the run ends
    with that fault part-way down, at a depth within 10 % of the estimate's and at the time the feed
    takes there."""
    run, est = reference
    depth = run.tool_depth
    entry = int(np.searchsorted(depth, run.tool.bare_tip))
    column = {"flow_starvation": 0, "gas_choking": 1, "boiling": 2}[fault]
    limit = float(0.5 * (est[entry, column] + est[-1, column]))
    expected = _crossing(depth, est[:, column], limit, rising=fault != "flow_starvation")
    setting = {
        "flow_starvation": f"flow.min_flow_rate_l_per_min={limit * 6e4!r}",
        "gas_choking": f"flow.max_void_fraction={limit!r}",
        # exit pressure = outlet pressure (no exit loss): the boiling point there is T_sat(1 atm) + elevation
        "boiling": f"flow.boiling_margin_K={float(T_SAT_1ATM + run.process.supply.boiling_elevation - limit)!r}",
    }[fault]
    limits = [s for s in NO_LIMITS if s.split("=")[0] != setting.split("=")[0]]
    faulty = simulate("example:stem-in718", overrides=[*TIGHT, *limits, setting])
    s = faulty.summary()
    assert s["status"] == fault, s["message"]
    assert s["event_depth_mm"] > run.tool.bare_tip * 1e3  # after the coating entered, not at the first step
    assert s["event_depth_mm"] == pytest.approx(expected * 1e3, rel=0.10)
    feed = run.process.feed
    start = depth[0] - feed * run.time[0]
    assert s["event_time_s"] == pytest.approx((expected - start) / feed, rel=0.10 * expected / (expected - start))
    # the run stopped at the start of the step that crossed: depth and time of the last step recorded
    assert s["event_time_s"] == pytest.approx(faulty.time[-1], abs=1e-9)
    assert s["event_depth_mm"] == pytest.approx(faulty.tool_depth[-1] * 1e3, abs=1e-9)
