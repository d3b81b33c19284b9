"""Synthetic inspection batches with injected faults and a ground-truth file.

A batch of ``n_parts`` parts, each with ``n_holes`` holes in two groups
(``A``: electrode E1, ``B``: electrode E2) measured at ``n_stations``
depths by one CT device.  The hole profile follows a simulation result when
one is given (measured = predicted + noise) or a slightly tapered synthetic
profile.  Noise: part-to-part 1 µm, hole-to-hole 1 µm, station 1.5 µm
(standard deviations); position deviations 8 µm per axis at the entry
station; depth 10 µm.  Values are rounded to 0.1 µm, as a CMM/CT export.

Injected faults (with ``faults=True``, at fixed fractions of the batch):

* an out-of-tolerance hole (diameter +2.2 × tolerance at every station);
* a hole out of true position (1.5 × the position tolerance);
* a blocked hole (no depth, no diameters below half depth);
* an outlier (one station +0.25 mm: a gross measurement error);
* a part in the uncertainty zone (second-station diameter at the upper limit − U/2:
  conforming under simple acceptance, conditional pass under the
  non-binary rule, rejected under guarded acceptance);
* a drifting electrode: holes of group ``B`` grow by up to 16 µm from the
  first to the last part, inside the tolerance but beyond the model bound.

The ground truth (:attr:`Synthetic.truth`) lists the faults and, for every
part, the expected verdict under the generated spec.
"""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecmsim.errors import InputDataError
from ecmsim.io.batch import Batch, Design

DEVICE = "CT-1 (synthetic)"
DEVICE_U_MM = 0.005
SIGMA_PART, SIGMA_HOLE, SIGMA_STATION = 0.001, 0.001, 0.0015
SIGMA_XY, SIGMA_DEPTH = 0.008, 0.01
DRIFT_MAX_MM = 0.016
POSITION_TOL_MM = 0.10
MAX_RESIDUAL_MM = 0.015
MAX_MEAN_RESIDUAL_MM = 0.008


@dataclass
class Synthetic:
    """A synthetic batch, its spec (TOML text) and the ground truth."""

    batch: Batch
    spec_text: str
    truth: dict[str, Any]


def _profile(prediction: str | Path | None, n_stations: int) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Station depths (mm), true diameters there (mm), design depth (mm), origin."""
    if prediction is None:
        depth = 3.0
        z = np.round(np.linspace(0.1 * depth, 0.9 * depth, n_stations), 3)
        return z, 1.0 + 0.006 * (1.0 - 2.0 * z / depth), depth, "synthetic tapered profile"
    from ecmsim.io import read_result

    r = read_result(prediction)
    prof = r.profile
    finished = np.asarray(prof.hole_depth, float) * 1e3
    lf = float(np.nanmax(finished)) if finished.size else 0.0
    zf, rw = np.asarray(prof.depth, float) * 1e3, np.asarray(prof.wall_radius, float)
    ok = np.isfinite(rw)
    if lf <= 0 or not ok.any():
        raise InputDataError(f"{prediction}: the simulated hole has no finished wall to synthesise from")
    z = np.round(np.linspace(0.25 * lf, 0.70 * lf, n_stations), 3)
    d = np.interp(z, zf[ok], 2e3 * rw[ok])
    depth = float(r.summary.get("depth_mm") or lf)
    return z, d, round(depth, 2), f"simulation result {Path(prediction).name}"


def synthesize(
    n_parts: int = 20,
    n_holes: int = 30,
    n_stations: int = 6,
    seed: int = 1,
    prediction: str | Path | None = None,
    faults: bool = True,
) -> Synthetic:
    """Generate a synthetic batch (vectorised: 11 M values take a few seconds).

    Parameters
    ----------
    n_parts, n_holes, n_stations
        Batch size: parts, holes per part (half in group A, half in B), stations per hole.
    seed
        Seed of the random generator: the same seed gives the same batch.
    prediction
        Simulation result file whose profile the holes follow (None: a synthetic tapered profile).
    faults
        Inject the faults listed in the module docstring (and the drift of group B).
    """
    _check_size(n_parts, n_holes, n_stations, faults)
    rng = np.random.default_rng(seed)
    z, true_d, depth, origin = _profile(prediction, n_stations)
    nominal, tol = _drawing_tolerance(true_d)
    length = float(z[-1] - z[0])
    taper0 = math.degrees(math.atan((true_d[0] - true_d[-1]) / (2.0 * length)))
    n_a = n_holes // 2
    hole_id = [f"H{i + 1:03d}" for i in range(n_holes)]
    is_b = np.arange(n_holes) >= n_a
    drift = DRIFT_MAX_MM * (np.arange(n_parts) / max(n_parts - 1, 1)) if faults else np.zeros(n_parts)
    m = _measure(rng, true_d, depth, drift, is_b, n_stations)
    serials = [f"SN{seed % 100:02d}-{i + 1:05d}" for i in range(n_parts)]
    fault_list = _inject_faults(m, serials, hole_id, n_a, z, depth, nominal, tol) if faults else []
    expected = _expected_verdicts(serials, fault_list, drift, prediction is not None and faults)
    times = _inspection_times(n_parts)
    design = Design(
        hole_id=hole_id,
        group=["A"] * n_a + ["B"] * (n_holes - n_a),
        nominal_diameter=np.full(n_holes, nominal),
        nominal_x=np.round(np.where(is_b, 2.0 * (np.arange(n_holes) - n_a), 2.0 * np.arange(n_holes)), 3),
        nominal_y=np.where(is_b, 3.0, 0.0),
        depth=np.full(n_holes, depth),
        station_depth=z.astype(float),
        station_mask=np.ones((n_holes, n_stations), bool),
    )
    batch = _batch(m, design, serials, times, seed)
    spec = SPEC_TEMPLATE.format(
        tol=round(tol, 4),
        pos=POSITION_TOL_MM,
        res=MAX_RESIDUAL_MM,
        mean=MAX_MEAN_RESIDUAL_MM,
        tmin=round(taper0 - 1.5, 2),
        tmax=round(taper0 + 1.5, 2),
    )
    truth = _truth(seed, origin, nominal, tol, taper0, faults, fault_list, expected)
    return Synthetic(batch=batch, spec_text=spec, truth=truth)


def _check_size(n_parts: int, n_holes: int, n_stations: int, faults: bool) -> None:
    if n_parts < 1 or n_holes < 2 or n_stations < 2:
        raise InputDataError("synthetic batch: need at least 1 part, 2 holes and 2 stations")
    if faults and (n_parts < 10 or n_holes < 10 or n_stations < 3):
        raise InputDataError(
            "synthetic batch with faults: need at least 10 parts, 10 holes and 3 stations (or no faults)"
        )


def _drawing_tolerance(true_d: np.ndarray) -> tuple[float, float]:
    """Nominal diameter (mm) and ± tolerance (mm) of the drawing.

    A drawing-style tolerance, widened (in 5 µm steps) when the predicted
    profile varies more than it allows.
    """
    nominal = round(float(np.mean(true_d)), 3)
    half_range = float(np.ptp(true_d - nominal)) / 2 + abs(float(np.mean(true_d)) - nominal)
    tol = max(0.025 if nominal <= 0.8 else 0.05, math.ceil((half_range + 0.035) / 0.005) * 0.005)
    return nominal, tol


@dataclass
class _Measured:
    """The simulated measurements before rounding: parts × holes (× stations), mm."""

    dia: np.ndarray  # (P, H, S)
    x_dev: np.ndarray  # (P, H, S), NaN below the entry station
    y_dev: np.ndarray  # (P, H, S)
    hole_depth: np.ndarray  # (P, H)
    blocked: np.ndarray  # (P, H) bool


def _measure(
    rng: np.random.Generator, true_d: np.ndarray, depth: float, drift: np.ndarray, is_b: np.ndarray, n_stations: int
) -> _Measured:
    """Noisy measurements of the true profile; group B grows by ``drift`` (mm per part).

    The draws come in a fixed order (part, hole, station noise, x, y, depth):
    the same seed gives the same batch.
    """
    p_, h_, s_ = drift.size, is_b.size, n_stations
    noise = (
        rng.normal(0.0, SIGMA_PART, (p_, 1, 1))
        + rng.normal(0.0, SIGMA_HOLE, (p_, h_, 1))
        + rng.normal(0.0, SIGMA_STATION, (p_, h_, s_))
    )
    dia = true_d[None, None, :] + noise + (drift[:, None] * is_b[None, :])[:, :, None]
    x_dev = np.full((p_, h_, s_), np.nan)
    y_dev = np.full((p_, h_, s_), np.nan)
    x_dev[:, :, 0] = rng.normal(0.0, SIGMA_XY, (p_, h_))
    y_dev[:, :, 0] = rng.normal(0.0, SIGMA_XY, (p_, h_))
    hole_depth = depth + rng.normal(0.0, SIGMA_DEPTH, (p_, h_))
    return _Measured(dia, x_dev, y_dev, hole_depth, np.zeros((p_, h_), bool))


def _inject_faults(
    m: _Measured,
    serials: list[str],
    hole_id: list[str],
    n_a: int,
    z: np.ndarray,
    depth: float,
    nominal: float,
    tol: float,
) -> list[dict[str, Any]]:
    """Put the five faults of the module docstring into ``m``; return their descriptions (the ground truth)."""
    p_ = len(serials)

    def at(frac: float) -> int:
        return min(p_ - 1, round(frac * p_))

    k, h = at(0.15), 4 % n_a
    m.dia[k, h, :] += 2.2 * tol
    out: list[dict[str, Any]] = [
        {
            "type": "out_of_tolerance_diameter",
            "serial": serials[k],
            "hole": hole_id[h],
            "offset_mm": 2.2 * tol,
            "expected_verdict": "fail",
        },
    ]
    k = at(0.30)
    m.x_dev[k, 2, 0], m.y_dev[k, 2, 0] = 0.6 * POSITION_TOL_MM, 0.45 * POSITION_TOL_MM
    out.append(
        {
            "type": "out_of_position",
            "serial": serials[k],
            "hole": hole_id[2],
            "true_position_mm": 1.5 * POSITION_TOL_MM,
            "expected_verdict": "fail",
        }
    )
    k = at(0.40)
    m.blocked[k, 1] = True
    m.hole_depth[k, 1] = np.nan
    m.dia[k, 1, z > 0.5 * depth] = np.nan
    out.append({"type": "blocked_hole", "serial": serials[k], "hole": hole_id[1], "expected_verdict": "fail"})
    k = at(0.55)
    m.dia[k, 0, 1] += 0.25
    out.append(
        {
            "type": "outlier",
            "serial": serials[k],
            "hole": hole_id[0],
            "station_mm": float(z[1]),
            "offset_mm": 0.25,
            "expected_verdict": "fail",
        }
    )
    k = at(0.70)
    m.dia[k, 3, 1] = nominal + tol - 0.5 * DEVICE_U_MM
    out.append(
        {
            "type": "uncertainty_zone",
            "serial": serials[k],
            "hole": hole_id[3],
            "station_mm": float(z[1]),
            "value_mm": nominal + tol - 0.5 * DEVICE_U_MM,
            "expected_verdict": {"simple": "pass", "guarded": "fail", "non-binary": "conditional pass"},
        }
    )
    return out


def _expected_verdicts(
    serials: list[str], fault_list: list[dict[str, Any]], drift: np.ndarray, drift_vs_prediction: bool
) -> dict[str, dict[str, Any]]:
    """Expected verdict per part; model deviation where the drift is clearly beyond / below the bound.

    ``drift_vs_prediction``: the batch follows a prediction and has faults (so
    its residuals carry the drift); otherwise no part deviates from the model.
    """
    expected: dict[str, dict[str, Any]] = {
        s: {"verdict": "pass", "accepted": True, "model_deviation": None} for s in serials
    }
    for f in fault_list:
        e = expected[f["serial"]]
        e["verdict"] = "conditional pass" if f["type"] == "uncertainty_zone" else "fail"
        e["accepted"] = False
    # 4 sigma margins around the bound
    fault_serials = {f["serial"]: f["type"] for f in fault_list}
    for i, s in enumerate(serials):
        if not drift_vs_prediction:
            expected[s]["model_deviation"] = False
        elif fault_serials.get(s) in ("out_of_tolerance_diameter", "outlier", "uncertainty_zone"):
            expected[s]["model_deviation"] = True
        elif drift[i] >= MAX_MEAN_RESIDUAL_MM + 0.006:
            expected[s]["model_deviation"] = True
        elif drift[i] <= MAX_MEAN_RESIDUAL_MM - 0.006 and s not in fault_serials:
            expected[s]["model_deviation"] = False
    return expected


def _inspection_times(n_parts: int) -> list[str]:
    """One part inspected every 6 minutes from 2024-03-04 08:00 UTC."""
    t0 = datetime.datetime(2024, 3, 4, 8, 0, 0, tzinfo=datetime.UTC)
    return [(t0 + datetime.timedelta(minutes=6 * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(n_parts)]


def _batch(m: _Measured, design: Design, serials: list[str], times: list[str], seed: int) -> Batch:
    """The batch as a CMM/CT export: values rounded to 0.1 µm, stored as float32."""
    p_, h_, s_ = m.dia.shape
    meta = {
        "part_number": "SYN-NGV-01",
        "drawing_revision": "A",
        "batch_id": f"SYN-{seed:04d}",
        "machine": "STEM-3 (synthetic)",
        "electrode": "E1 (group A), E2 (group B)",
        "electrolyte_lot": "H2SO4-15-L042",
        "drilled_on": "2024-03-01",
        "inspected_from": times[0],
        "inspected_to": times[-1],
    }
    return Batch(
        meta=meta,
        serials=serials,
        design=design,
        devices=[DEVICE],
        device_uncertainty=np.array([DEVICE_U_MM]),
        diameter=np.round(m.dia, 4).astype(np.float32),
        x_dev=np.round(m.x_dev, 4).astype(np.float32),
        y_dev=np.round(m.y_dev, 4).astype(np.float32),
        device=np.zeros((p_, h_, s_), np.int16),
        depth=np.round(m.hole_depth, 4).astype(np.float32),
        depth_device=np.zeros((p_, h_), np.int16),
        blocked=m.blocked,
        measured_at=times,
    )


def _truth(
    seed: int,
    origin: str,
    nominal: float,
    tol: float,
    taper0: float,
    faults: bool,
    fault_list: list[dict[str, Any]],
    expected: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The ground-truth record (truth.json)."""
    return {
        "generator": "ecmsim qc synth",
        "seed": seed,
        "profile": origin,
        "nominal_diameter_mm": nominal,
        "tolerance_mm": round(tol, 4),
        "nominal_taper_deg": round(taper0, 3),
        "device": DEVICE,
        "device_uncertainty_mm": DEVICE_U_MM,
        "decision_rule": "non-binary",
        "accept_conditional_pass": False,
        "noise_sd_mm": {
            "part": SIGMA_PART,
            "hole": SIGMA_HOLE,
            "station": SIGMA_STATION,
            "position_axis": SIGMA_XY,
            "depth": SIGMA_DEPTH,
        },
        "drift": {
            "group": "B",
            "electrode": "E2",
            "max_offset_mm": DRIFT_MAX_MM if faults else 0.0,
            "law": "offset = max_offset × part index / (parts − 1)",
        },
        "faults": fault_list,
        "parts": expected,
        "note": "model_deviation null: not asserted (drift close to the bound, or a fault that may or may not "
        "move the residuals)",
    }


SPEC_TEMPLATE = """\
# Tolerance spec of the synthetic batch (ecmsim qc synth).
[spec]
name = "synthetic cooling holes"
part_number = "SYN-NGV-01"
drawing_revision = "A"

[decision]
rule = "non-binary"                # simple | guarded | non-binary (ILAC-G8)
guard_band_factor = 1.0            # w = 1.0 × U
accept_conditional_pass = false    # conditional pass: re-measure before release
missing = "reject"                 # a toleranced value that was not measured rejects the part

[model]
max_residual_mm = {res}            # |measured − predicted| at any station
max_mean_residual_mm = {mean}      # |mean residual| of a hole

[[tolerance]]
characteristic = "diameter"        # at every station; nominal from the design
lower_mm = -{tol}
upper_mm = {tol}

[[tolerance]]
characteristic = "position"        # true position, diameter of the tolerance zone
max_mm = {pos}

[[tolerance]]
characteristic = "taper"           # half angle, positive when the hole narrows
min_deg = {tmin}
max_deg = {tmax}

[[tolerance]]
characteristic = "depth"           # nominal from the design
lower_mm = -0.1
upper_mm = 0.1
"""


def design_csv(batch: Batch) -> str:
    """The design as CSV text (the format of ``ecmsim qc import --design``)."""
    d = batch.design
    lines = ["hole_id,group,nominal_diameter_mm,depth_mm,x_mm,y_mm,stations_mm"]
    for i, h in enumerate(d.hole_id):
        st = ";".join(f"{v:g}" for v in d.station_depth[d.station_mask[i]])
        lines.append(
            f"{h},{d.group[i]},{d.nominal_diameter[i]:g},{d.depth[i]:g},{d.nominal_x[i]:g},{d.nominal_y[i]:g},{st}"
        )
    return "\n".join(lines) + "\n"


def measurements_csv(batch: Batch) -> str:
    """The measurements as long-format CSV text (one row per part × hole × station)."""
    d = batch.design
    p_, h_, s_ = batch.diameter.shape
    pi, hi, si = np.nonzero(np.broadcast_to(d.station_mask, (p_, h_, s_)))

    def col(a: np.ndarray, fmt: str = "{:.4f}") -> list[str]:
        return ["" if not np.isfinite(v) else fmt.format(v) for v in a.tolist()]

    dia = col(batch.diameter[pi, hi, si].astype(float))
    xd = col(batch.x_dev[pi, hi, si].astype(float))
    yd = col(batch.y_dev[pi, hi, si].astype(float))
    dep = col(batch.depth[pi, hi].astype(float))
    blk = batch.blocked[pi, hi].tolist()
    u = batch.device_uncertainty
    dev = batch.device[pi, hi, si].tolist()
    depth_dev = batch.depth_device[pi, hi].tolist()
    z = [f"{v:g}" for v in d.station_depth.tolist()]
    out = ["serial,hole_id,station_depth_mm,diameter_mm,x_dev_mm,y_dev_mm,depth_mm,device,uncertainty_mm,measured_at"]
    for r in range(pi.size):
        p, h, s = int(pi[r]), int(hi[r]), int(si[r])
        k = dev[r] if dev[r] >= 0 else depth_dev[r]
        name = batch.devices[k] if k >= 0 else ""
        uu = f"{u[k]:g}" if k >= 0 and np.isfinite(u[k]) else ""
        out.append(
            f"{batch.serials[p]},{d.hole_id[h]},{z[s]},{dia[r]},{xd[r]},{yd[r]},"
            f"{'blocked' if blk[r] else dep[r]},{name},{uu},{batch.measured_at[p]}"
        )
    return "\n".join(out) + "\n"


#: The files :func:`write_synthetic` writes into its folder (the CSV files only with ``csv=True``).
SYNTH_FILES = ("design.csv", "measurements.csv", "batch.h5", "spec.toml", "truth.json")


def write_synthetic(out_dir: str | Path, synth: Synthetic, csv: bool = True) -> dict[str, Path]:
    """Write design.csv, measurements.csv, batch.h5, spec.toml and truth.json into ``out_dir``.

    Every file is written to a temporary file and renamed into place.
    """
    from ecmsim.io.batch import write_batch
    from ecmsim.qc.textfiles import write_text_atomic

    out = Path(out_dir)
    paths = {"batch": out / "batch.h5", "spec": out / "spec.toml", "truth": out / "truth.json"}
    if csv:
        paths["design"] = out / "design.csv"
        paths["measurements"] = out / "measurements.csv"
        write_text_atomic(paths["design"], design_csv(synth.batch))
        write_text_atomic(paths["measurements"], measurements_csv(synth.batch))
    write_batch(paths["batch"], synth.batch)
    write_text_atomic(paths["spec"], synth.spec_text)
    write_text_atomic(paths["truth"], json.dumps(synth.truth, indent=2, ensure_ascii=False) + "\n")
    return paths
