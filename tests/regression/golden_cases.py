"""The golden cases: the bundled STEM example on a coarse grid and a small QC check.

Each case returns a flat mapping of name -> numpy array (numbers only), so the
stored reference and a fresh run compare array by array.  Timing, dates,
paths and hashes of files that carry a creation time are left out: they
change from run to run without any change to the physics or the verdicts.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

# The bundled STEM example (Ø0.8 mm coated tube, 15 % H2SO4) on a 25 µm grid, 0.8 mm deep.
TRANSIENT_OVERRIDES = ["numerics.cell_size_mm=0.025", "motion.depth_mm=0.8"]
# Its equilibrium shape on a 40 µm grid (the rough pass then runs on 80 µm cells).
EQUILIBRIUM_OVERRIDES = ["numerics.cell_size_mm=0.04"]
# Summary keys that are measurements of the machine, not of the hole.
VOLATILE = {"wall_clock_s", "message"}


def _summary_arrays(prefix: str, summary: dict[str, Any]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for key, value in sorted(summary.items()):
        if key in VOLATILE:
            continue
        if isinstance(value, bool):
            out[f"{prefix}/{key}"] = np.array(int(value))
        elif isinstance(value, int | float):
            out[f"{prefix}/{key}"] = np.array(float(value))
        elif value is None:
            out[f"{prefix}/{key}"] = np.array(math.nan)
        elif isinstance(value, str):
            out[f"{prefix}/{key}"] = np.frombuffer(value.encode(), dtype=np.uint8).astype(float)
    return out


def transient_case() -> dict[str, np.ndarray]:
    """Summary, every history column, the final wall profile and level set of a coarse STEM run."""
    from ecmsim.simulation import simulate

    result = simulate("example:stem-in718", overrides=TRANSIENT_OVERRIDES)
    out = _summary_arrays("transient/summary", result.summary())
    for name in (
        "time", "tool_depth", "current", "charge", "frontal_gap", "min_gap", "removed_volume",
        "faraday_volume", "max_current_density", "solver_iterations", "solver_convergence_factor",
    ):  # fmt: skip
        out[f"transient/history/{name}"] = np.asarray(getattr(result, name), dtype=float)
    out["transient/wall_radius"] = np.asarray(result.wall_radius, dtype=float)
    out["transient/snapshot_wall_radius"] = np.asarray(result.snapshot_wall_radius, dtype=float)
    out["transient/psi_w"] = np.asarray(result.psi_w, dtype=float)
    out["transient/potential"] = np.asarray(result.potential, dtype=float)
    out["transient/kind"] = np.asarray(result.kind, dtype=float)
    return out


def equilibrium_case() -> dict[str, np.ndarray]:
    """Summary and wall shape of the coarse equilibrium solve."""
    from ecmsim.config import load_config
    from ecmsim.equilibrium import solve_equilibrium

    eq = solve_equilibrium(load_config("example:stem-in718", EQUILIBRIUM_OVERRIDES))
    out = _summary_arrays("equilibrium/summary", eq.summary())
    out["equilibrium/y"] = np.asarray(eq.y, dtype=float)
    out["equilibrium/radius"] = np.asarray(eq.radius, dtype=float)
    out["equilibrium/history/frontal_gap"] = np.asarray(eq.history["frontal_gap"], dtype=float)
    return out


def _strip(obj: Any) -> Any:
    """The check's JSON without what names this run's files (paths, hashes of dated files)."""
    if isinstance(obj, dict):
        return {
            k: _strip(v)
            for k, v in obj.items()
            if k not in {"path", "sha256", "results_file", "store", "ecmsim_version", "files"}
        }
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def qc_case(workdir: Path) -> dict[str, np.ndarray]:
    """A small synthetic batch around the coarse transient prediction, checked against its spec."""
    from ecmsim.io import write_result
    from ecmsim.qc.check import run_check
    from ecmsim.qc.synth import synthesize, write_synthetic
    from ecmsim.simulation import simulate

    result = simulate("example:stem-in718", overrides=TRANSIENT_OVERRIDES)
    pred = workdir / "prediction.h5"
    write_result(pred, result)
    (workdir / "batch").mkdir()
    files = write_synthetic(
        workdir / "batch", synthesize(n_parts=12, n_holes=10, n_stations=4, seed=3, prediction=pred)
    )
    run = run_check([files["batch"]], files["spec"], [pred], store=workdir / "store", checked_at="2026-01-01T00:00:00Z")
    out: dict[str, np.ndarray] = {}
    for o in run.outcomes:
        out["qc/part_verdict"] = np.asarray(o.part_verdict, dtype=float)
        out["qc/accepted"] = np.asarray(o.accepted, dtype=float)
        out["qc/n_rejected_holes"] = np.asarray(o.n_rejected_holes, dtype=float)
        out["qc/n_rejected_by_char"] = np.asarray(o.n_rejected_by_char, dtype=float)
        out["qc/model_deviation"] = np.asarray(o.model_deviation, dtype=float)
        out["qc/mean_residual"] = np.asarray(o.mean_residual, dtype=float)
        out["qc/max_abs_residual"] = np.asarray(o.max_abs_residual, dtype=float)
    text = json.dumps(_strip(run.to_json()), sort_keys=True)
    out["qc/report_json"] = np.frombuffer(text.encode(), dtype=np.uint8).astype(float)
    return out
