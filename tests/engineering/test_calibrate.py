"""Calibration: recover known parameters from synthetic measurements (simulator + noise)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from eng_helpers import NOISE_MM, STATIONS_MM, synthetic_batch

from ecmsim.config import config_from_dict, load_config
from ecmsim.engineering.calibrate import (
    ENTRY_GAPS,
    MeasurementSet,
    calibrate,
    choose_calibration_mode,
    equilibrium_window,
)
from ecmsim.equilibrium import solve_equilibrium
from ecmsim.process import resolve
from ecmsim.simulation import Simulation
from ecmsim.testing import FAST_STEM_TOML

TRUE_FACTOR = 1.2
TRUE_OVERPOTENTIAL_V = 2.5
VOLTS = (6.0, 9.0)


def transient_diameters(config: Path | str, changes: list[str], stations: np.ndarray = STATIONS_MM) -> np.ndarray:
    """Diameters (mm) of a transient run of ``config`` under ``changes`` at ``stations`` (mm deep)."""
    cfg = load_config(config, changes) if isinstance(config, Path) else config_from_dict(tomllib.loads(config),
                                                                                       overrides=changes)  # fmt: skip
    depth, dia = Simulation(resolve(cfg)).run().profile()
    return np.interp(stations, depth * 1e3, dia * 1e3)


def truth(config: Path, cell_mm: float | None = None) -> dict[float, np.ndarray]:
    """The noiseless measurements: transient runs at the true parameters, one per voltage."""
    cell = [] if cell_mm is None else [f"numerics.cell_size_mm={cell_mm}"]
    return {
        v: transient_diameters(
            config,
            [
                f"electrolyte.conductivity_factor={TRUE_FACTOR}",
                f"electrical.overpotential_V={TRUE_OVERPOTENTIAL_V}",
                f"electrical.voltage_V={v}",
                *cell,
            ],
        )
        for v in VOLTS
    }


def batches(folder: Path, exact: dict[float, np.ndarray], seed: int, noise_mm: float = NOISE_MM) -> list[str]:
    """One synthetic batch per voltage: the exact diameters plus Gaussian noise of ``noise_mm``."""
    rng = np.random.default_rng(seed)
    args = []
    for volts, d in exact.items():
        path = folder / f"s{seed}-b{volts:g}.h5"
        synthetic_batch(path, d, rng, f"B{volts:g}", noise_mm=noise_mm)
        args.append(f"{path}@electrical.voltage_V={volts}")
    return args


@pytest.fixture
def measured(fast_config: Path, tmp_path: Path) -> list[str]:
    return batches(tmp_path, truth(fast_config), 7)


def test_conductivity_factor_is_recovered_within_its_interval(
    fast_config: Path, measured: list[str], tmp_path: Path, run_main
) -> None:
    out = tmp_path / "cal.toml"
    args = ["calibrate", fast_config, "--fit", "conductivity_factor", "-o", out, "--json"]
    for m in measured:
        args += ["--measurements", m]
    code, stdout, err = run_main(args)
    assert code == 0, err
    r = json.loads(stdout)
    (p,) = r["parameters"]
    assert p["name"] == "electrolyte.conductivity_factor"
    lo, hi = p["ci95"]
    assert lo <= TRUE_FACTOR <= hi, p
    assert hi - lo < 0.1  # informative, not just wide
    assert r["rms_before_mm"] > 5 * r["rms_after_mm"] and r["rms_after_mm"] < 1.5 * NOISE_MM
    # Stations from 0.1 mm below the entry to the bottom of a 1 mm hole: no wall at equilibrium, so the
    # default is the transient model, compared at every station.
    assert r["n_measurements"] == 2 * 5 * 2 * 4 and r["mode"] == "transient"
    assert "set B6" in r["mode_reason"] and "no wall at equilibrium" in r["mode_reason"]
    # 40 µm cells have no coarser level resolving h_e: the fit runs on them, checked at 20 µm.
    assert r["cell_size_mm"] == r["fit_cell_size_mm"] == 0.04
    dep = r["cell_size_dependence"]
    assert dep["cell_size_mm"] == 0.02 and dep["fitted_minus_values"][0] == pytest.approx(
        p["fitted"] - dep["values"][0]
    )
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Calibrated by ecmsim calibrate")
    assert "Model: transient (set B6 was measured at" in text
    assert "hold for [numerics] cell_size_mm = 0.04" in text and "At 0.02 mm cells" in text
    cfg = load_config(out)
    assert cfg.electrolyte.conductivity_factor == pytest.approx(p["fitted"])
    assert cfg.numerics.cell_size_mm == 0.04 and "cell_size_mm" in cfg.raw["numerics"]
    assert cfg.electrical.voltage_V == 7.0  # the batch conditions are not baked into the config


def test_api_two_parameters_reduce_the_residual(fast_config: Path, measured: list[str]) -> None:
    """Factor and overpotential from two voltages: correlated, both recovered."""
    calls: list[tuple[int, int]] = []
    r = calibrate(fast_config, measured, fit=["conductivity_factor", "overpotential_V"], max_evaluations=10,
                  progress=lambda done, total, left: calls.append((done, total)), cell_check=False)  # fmt: skip
    assert r.rms_after < r.rms_before / 3
    assert r.evaluations <= 10 + 1  # the budget (Jacobians included) and the start
    assert r.model_runs == 2 * r.evaluations  # one run per set and point
    # The progress callback saw every evaluation once, counting up to the total, never above its bound.
    assert [c[0] for c in calls] == list(range(1, r.evaluations + 1)) and all(d <= t for d, t in calls)
    assert r.correlation.shape == (2, 2) and np.all(np.isfinite(r.ci_low))
    assert np.all(r.ci_low <= [TRUE_FACTOR, TRUE_OVERPOTENTIAL_V]) and np.all(
        [TRUE_FACTOR, TRUE_OVERPOTENTIAL_V] <= r.ci_high
    )
    assert r.second_cell_size_mm is None and r.summary()["cell_size_dependence"] is None


def test_intervals_cover_the_truth_over_seeds(fast_config: Path, tmp_path: Path) -> None:
    """20 seeds of noise (σ = 5 µm) on the same exact batches: the 95 % intervals hold the truth in ≥ 85 %.

    The statistic tested is the interval construction, so the fit runs on the coarse grid the truth was
    simulated on (no second cell size); the runs at the common start point are shared between seeds.
    """
    exact = truth(fast_config)
    cache: dict = {}
    true = np.array([TRUE_FACTOR, TRUE_OVERPOTENTIAL_V])
    fitted, se, covered = [], [], []
    for seed in range(20):
        r = calibrate(fast_config, batches(tmp_path, exact, 100 + seed), cell_check=False, start=[1.15, 2.45],
                      cache=cache)  # fmt: skip
        assert r.success and r.mode == "transient"
        fitted.append(r.fitted)
        se.append(r.std_error)
        covered.append((r.ci_low <= true) & (true <= r.ci_high))
    coverage = np.mean(covered, axis=0)
    assert np.all(coverage >= 0.85), coverage
    # Not by wide intervals: the scatter of the estimates is of the size of the reported standard errors
    # (the standard deviation of 20 estimates is itself uncertain by about 16 %).
    scatter, mean_se = np.std(fitted, axis=0, ddof=1), np.mean(se, axis=0)
    assert np.all(scatter > 0.4 * mean_se) and np.all(scatter < 1.6 * mean_se), (scatter, mean_se)
    assert np.all(np.abs(np.mean(fitted, axis=0) - true) < 3 * mean_se / np.sqrt(20))


def test_coarse_fit_with_a_step_on_the_config_grid(fast_config: Path, tmp_path: Path) -> None:
    """At 20 µm cells the fit iterates on 40 µm cells and takes one Gauss–Newton step on 20 µm cells."""
    exact = truth(fast_config, cell_mm=0.02)
    r = calibrate(fast_config, batches(tmp_path, exact, 3), fit=["conductivity_factor"],
                  overrides=["numerics.cell_size_mm=0.02"])  # fmt: skip
    assert r.fit_cell_size_mm == 0.04 and r.cell_size_mm == 0.02 and r.second_cell_size_mm == 0.04
    assert r.ci_low[0] <= TRUE_FACTOR <= r.ci_high[0], (r.fitted, r.ci_low, r.ci_high)
    assert r.config_doc["numerics"]["cell_size_mm"] == 0.02
    # The at_second_cell values are the coarse fit; the step moved them towards the truth on this grid.
    assert abs(r.fitted[0] - TRUE_FACTOR) < abs(r.at_second_cell[0] - TRUE_FACTOR) + 2 * r.std_error[0]
    assert r.rms_after < 1.5 * NOISE_MM


def test_auto_mode_follows_where_the_wall_is_at_equilibrium() -> None:
    """The equilibrium model only for stations 5 h_e below the entry to bare tip + 3 h_e above the bottom.

    The window is checked against the physics: a transient run's wall matches the equilibrium diameter
    inside it and not outside.
    """
    cfg = config_from_dict(tomllib.loads(FAST_STEM_TOML), overrides=["motion.depth_mm=3.0"])
    h_e = resolve(cfg).equilibrium_gap * 1e3
    top, bottom = equilibrium_window(cfg)
    assert top == pytest.approx(ENTRY_GAPS * h_e) and bottom == pytest.approx(3.0 - 0.3 - 3 * h_e)
    z = np.linspace(0.05, 2.95, 59)
    wall = transient_diameters(FAST_STEM_TOML, ["motion.depth_mm=3.0"], z)
    d_eq = solve_equilibrium(cfg).summary()["diameter_mm"]
    inside = (z >= top) & (z <= bottom)
    assert inside.sum() >= 10 and np.max(np.abs(wall[inside] - d_eq)) < 0.006, wall[inside] - d_eq
    assert abs(wall[0] - d_eq) > 0.03 and abs(wall[-1] - d_eq) > 0.03

    def set_at(depths: list[float]) -> MeasurementSet:
        d = np.asarray(depths, float)
        return MeasurementSet("b.h5", [], "B1", d, np.full(d.size, 1.5), 1)

    mid = [top + 0.1, bottom - 0.1]
    assert choose_calibration_mode(cfg, "auto", [set_at(mid)])[0] == "equilibrium"
    mode, why = choose_calibration_mode(cfg, "auto", [set_at(mid), set_at([0.2, 1.0])])
    assert mode == "transient" and "0.20-1.00 mm" in why
    assert choose_calibration_mode(cfg, "auto", [set_at([top + 0.1, bottom + 0.1])])[0] == "transient"
    assert choose_calibration_mode(cfg, "equilibrium", [set_at([0.2])]) == ("equilibrium", "as requested")
    assert "equilibrium only from" in why
    short = cfg.replace({"motion.depth_mm": 1.0})  # 5 h_e below the entry is deeper than the bare tip's reach
    assert equilibrium_window(short)[0] > equilibrium_window(short)[1]
    mode, why = choose_calibration_mode(short, "auto", [set_at([0.5])])
    assert mode == "transient" and "no wall at equilibrium" in why
    bare = cfg.replace({"tool.coating_thickness_mm": 0.0})
    assert choose_calibration_mode(bare, "auto", [set_at(mid)])[0] == "transient"


def test_calibrate_input_errors(fast_config: Path, measured: list[str], tmp_path: Path, run_main) -> None:
    code, _, err = run_main(["calibrate", fast_config, "--measurements", measured[0], "--fit", "conductivity_factr"])
    assert code == 2 and "did you mean 'electrolyte.conductivity_factor'" in err
    code, _, err = run_main(
        ["calibrate", fast_config, "--measurements", tmp_path / "missing.h5", "--fit", "conductivity_factor"]
    )
    assert code == 2 and "missing.h5" in err and "Traceback" not in err
    code, _, err = run_main(
        ["calibrate", fast_config, "--measurements", measured[0].split("@")[0] + "@electrical.voltag=8"]
    )
    assert code == 2 and "did you mean 'voltage_V'" in err
