"""Calibration: recover known parameters from synthetic measurements (simulator + noise)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eng_helpers import NOISE_MM, synthetic_batch

from ecmsim.config import load_config
from ecmsim.engineering.calibrate import calibrate
from ecmsim.equilibrium import solve_equilibrium

TRUE_FACTOR = 1.2


@pytest.fixture
def measured(fast_config: Path, tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(7)
    args = []
    for volts in (6.0, 9.0):
        cfg = load_config(
            fast_config, [f"electrolyte.conductivity_factor={TRUE_FACTOR}", f"electrical.voltage_V={volts}"]
        )
        d = solve_equilibrium(cfg).summary()["diameter_mm"]
        path = tmp_path / f"b{volts:g}.h5"
        synthetic_batch(path, d, rng, f"B{volts:g}")
        args.append(f"{path}@electrical.voltage_V={volts}")
    return args


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
    assert r["rms_before_mm"] > 5 * r["rms_after_mm"] and r["rms_after_mm"] < 2 * NOISE_MM
    assert r["n_measurements"] == 2 * 5 * 2 * 2 and r["mode"] == "equilibrium"  # interior stations only
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Calibrated by ecmsim calibrate")
    cfg = load_config(out)
    assert cfg.electrolyte.conductivity_factor == pytest.approx(p["fitted"])
    assert cfg.electrical.voltage_V == 7.0  # the batch conditions are not baked into the config


def test_api_two_parameters_reduce_the_residual(fast_config: Path, measured: list[str]) -> None:
    """Factor and overpotential from two voltages: strongly correlated, the fit says so."""
    calls: list[tuple[int, int]] = []
    r = calibrate(fast_config, measured, fit=["conductivity_factor", "overpotential_V"], max_evaluations=10,
                  progress=lambda done, total, left: calls.append((done, total)))  # fmt: skip
    assert r.rms_after < r.rms_before / 3
    assert r.evaluations <= 10 + 4  # the budget, plus the Jacobian for the intervals
    # The progress callback saw every evaluation once, counting up to the total, never above its bound.
    assert [c[0] for c in calls] == list(range(1, r.evaluations + 1)) and all(d <= t for d, t in calls)
    assert r.correlation.shape == (2, 2) and np.all(np.isfinite(r.ci_low))


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
