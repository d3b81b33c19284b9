"""Parameter-sweep files (HDF5) and their per-point journal.

A sweep file (schema ``ecmsim-sweep``) holds the definition of a sweep (base
config, varied parameters with units and ranges, the planned points, the
evaluation mode) and one row per evaluated point: the parameter values, a
parameter hash, the outcome (status, message) and the predicted hole
(diameters, taper, gaps, machining time, current).  Layout: ``docs/engineering.md``.

Resume rule: a sweep appends each finished point to a journal beside the
file (``SWEEP.h5.journal``, one JSON line per point, flushed and fsynced)
and merges the journal into the HDF5 file now and then by rewriting it
atomically (:func:`~ecmsim.io.common.atomic_h5`).  A restarted sweep reads
both and skips every point whose parameter hash is already there.  A torn
last journal line (a kill during the write) is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io.common import H5_ERRORS, SWEEP_FILE, atomic_h5, check_header, open_h5, write_dataset, write_header

if TYPE_CHECKING:
    import h5py

SWEEP_SCHEMA = SWEEP_FILE.schema
SWEEP_SCHEMA_VERSION = SWEEP_FILE.version

#: Metrics recorded per point: name -> (units, description).  NaN: not available.
SWEEP_METRICS: dict[str, tuple[str, str]] = {
    "diameter_mm": ("mm", "mean diameter of the finished wall (tool diameter + 2 side gaps)"),
    "entry_diameter_mm": ("mm", "diameter at the entry (transient runs only)"),
    "exit_diameter_mm": ("mm", "diameter at the exit of a through hole (transient runs only)"),
    "min_diameter_mm": ("mm", "smallest diameter of the finished wall"),
    "max_diameter_mm": ("mm", "largest diameter of the finished wall"),
    "taper_deg": ("deg", "half angle of the wall, positive when narrowing with depth (transient runs only)"),
    "side_gap_mm": ("mm", "mean radial overcut"),
    "frontal_gap_mm": ("mm", "tool face to hole bottom at the end"),
    "depth_mm": ("mm", "hole depth"),
    "machining_time_s": ("s", "time to drill the hole (equilibrium: (depth + initial gap) / feed + dwell)"),
    "peak_current_A": ("A", "largest cell current (equilibrium: the steady current)"),
    "max_current_density_A_per_cm2": ("A/cm^2", "largest anode current density"),
    "wall_clock_s": ("s", "computing time of the point"),
}


@dataclass
class SweepData:
    """A sweep in memory.

    ``values`` is (N, P) for N evaluated points and P parameters; ``metrics``
    maps each name of :data:`SWEEP_METRICS` to an (N,) array.
    """

    mode: str
    design: str
    parameters: list[str]
    units: list[str]
    base_config: dict[str, Any]
    base_config_hash: str
    config_source: str
    plan: np.ndarray  # (M, P) planned points
    plan_hash: list[str]
    param_hash: list[str] = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    status: list[str] = field(default_factory=list)
    message: list[str] = field(default_factory=list)
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    seed: int = 0
    base_dir: str = "."

    @property
    def n_points(self) -> int:
        return len(self.param_hash)

    def rows(self) -> list[dict[str, Any]]:
        """Evaluated points as dicts (``param_hash``, ``values``, ``status``, ``message``, metrics)."""
        out = []
        for i, h in enumerate(self.param_hash):
            row: dict[str, Any] = {
                "param_hash": h,
                "values": [float(v) for v in self.values[i]],
                "status": self.status[i],
                "message": self.message[i],
            }
            for name in SWEEP_METRICS:
                v = float(self.metrics[name][i]) if name in self.metrics else float("nan")
                row[name] = None if not np.isfinite(v) else v
            out.append(row)
        return out

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        """Replace the evaluated points by ``rows`` (dicts as from :meth:`rows`)."""
        p = len(self.parameters)
        self.param_hash = [str(r["param_hash"]) for r in rows]
        self.values = np.array([r["values"] for r in rows], dtype=float).reshape(len(rows), p)
        self.status = [str(r["status"]) for r in rows]
        self.message = [str(r.get("message") or "") for r in rows]
        self.metrics = {
            name: np.array([np.nan if r.get(name) is None else float(r[name]) for r in rows], dtype=float)
            for name in SWEEP_METRICS
        }


def journal_path(path: str | Path) -> Path:
    """The journal file of the sweep file ``path``."""
    p = Path(path)
    return p.with_name(p.name + ".journal")


def append_journal(path: str | Path, row: dict[str, Any]) -> None:
    """Append one finished point to the journal of sweep file ``path`` (flushed and fsynced)."""
    j = journal_path(path)
    line = json.dumps(row, sort_keys=True, allow_nan=False, default=str) + "\n"
    try:
        with open(j, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise OutputError(f"{j}: cannot write the sweep journal: {exc.strerror or exc}") from None


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """Rows of the journal of sweep file ``path`` (empty if none; a torn last line is ignored)."""
    j = journal_path(path)
    if not j.exists():
        return []
    rows = []
    with open(j, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a kill while writing: the point is recomputed
            if isinstance(row, dict) and "param_hash" in row and "values" in row:
                rows.append(row)
    return rows


def remove_journal(path: str | Path) -> None:
    """Delete the journal of sweep file ``path`` (after it has been merged)."""
    with contextlib.suppress(FileNotFoundError):
        journal_path(path).unlink()


def _strings(values: list[str]) -> Any:
    import h5py

    return np.array(values, dtype=object), h5py.string_dtype("utf-8")


def write_sweep(path: str | Path, sweep: SweepData) -> None:
    """Write a sweep file atomically (see ``docs/engineering.md``)."""

    p_ = len(sweep.parameters)
    n = sweep.n_points
    if sweep.values.shape != (n, p_) or np.shape(sweep.plan)[1:] != (p_,):
        raise OutputError(f"{path}: inconsistent sweep arrays (values {sweep.values.shape}, {p_} parameters)")
    try:
        with atomic_h5(path) as f:
            write_header(
                f,
                SWEEP_FILE,
                {
                    "mode": sweep.mode,
                    "design": sweep.design,
                    "seed": int(sweep.seed),
                    "base_config_hash": sweep.base_config_hash,
                    "config_source": sweep.config_source,
                    "base_dir": sweep.base_dir,
                },
            )
            base = json.dumps(sweep.base_config, sort_keys=True, default=str)
            write_dataset(f, "base_config_json", base, None, "the base config of the sweep (JSON)")
            par = f.create_group("parameters")
            par.attrs["description"] = "the varied config keys (table.key) and their units"
            keys = np.array(sweep.parameters, dtype=str)
            param = write_dataset(par, "name", keys, None, "varied config key (table.key)", scale="parameter")
            write_dataset(par, "units", np.array(sweep.units, dtype=str), None, "unit of the varied key")
            plan = f.create_group("plan")
            plan.attrs["description"] = "the planned points of the latest run of the sweep"
            values_desc = "parameter values, one row per point (units: /parameters/units)"
            planned = np.asarray(sweep.plan, float).reshape(-1, p_)
            write_dataset(plan, "values", planned, "mixed", f"planned {values_desc}", dims=(None, param))
            hashes = np.array(sweep.plan_hash, dtype="S64")
            write_dataset(plan, "param_hash", hashes, None, "parameter hash of each planned point")
            pts = f.create_group("points")
            pts.attrs["description"] = "evaluated points, in the order they finished; NaN: not available"
            hashes = np.array(sweep.param_hash, dtype="S64")
            desc = "SHA-256 of the point's resolved config and evaluation mode"
            point = write_dataset(pts, "param_hash", hashes, None, desc, scale="point")
            write_dataset(pts, "values", sweep.values.reshape(n, p_), "mixed", values_desc, dims=(point, param))
            status = (
                "completed, broke_through, short_circuit, limit_exceeded, max_steps, equilibrium, "
                "not_converged, invalid (config refused) or error (solver failure)"
            )
            write_dataset(pts, "status", np.array(sweep.status, dtype=str), None, status)
            write_dataset(pts, "message", np.array(sweep.message, dtype=str), None, "what went wrong (empty: nothing)")
            for name, (units, desc) in SWEEP_METRICS.items():
                arr = sweep.metrics.get(name, np.full(n, np.nan))
                write_dataset(pts, name, np.asarray(arr, float), units, desc, dims=(point,))
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the sweep file: {exc}") from None


def _text(ds: h5py.Dataset) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()].tolist()]


def read_sweep(path: str | Path) -> SweepData:
    """Read a sweep file (without its journal).

    Raises
    ------
    InputDataError
        Missing, damaged, foreign or too new files.
    """
    p = Path(path)
    with open_h5(p, "sweep file") as f:
        check_header(f, p, SWEEP_FILE)
        try:
            pts = f["points"]
            names = _text(f["parameters/name"])
            sweep = SweepData(
                mode=str(f.attrs["mode"]),
                design=str(f.attrs["design"]),
                parameters=names,
                units=_text(f["parameters/units"]),
                base_config=json.loads(f["base_config_json"][()]),
                base_config_hash=str(f.attrs["base_config_hash"]),
                config_source=str(f.attrs["config_source"]),
                plan=np.asarray(f["plan/values"][()], float).reshape(-1, len(names)),
                plan_hash=[h.decode() for h in f["plan/param_hash"][()].tolist()],
                param_hash=[h.decode() for h in pts["param_hash"][()].tolist()],
                values=np.asarray(pts["values"][()], float).reshape(-1, len(names)),
                status=_text(pts["status"]),
                message=_text(pts["message"]),
                metrics={name: np.asarray(pts[name][()], float) for name in SWEEP_METRICS if name in pts},
                seed=int(f.attrs.get("seed", 0)),
                base_dir=str(f.attrs.get("base_dir", ".")),
            )
        except KeyError as exc:
            raise InputDataError(f"{p}: damaged sweep file, missing {exc}") from None
        except (*H5_ERRORS, AttributeError, IndexError) as exc:  # bad JSON, text, shapes or types
            raise InputDataError(f"{p}: damaged sweep file ({type(exc).__name__}: {exc})") from None
    for name in SWEEP_METRICS:
        sweep.metrics.setdefault(name, np.full(sweep.n_points, np.nan))
    _check_lengths(p, sweep)
    return sweep


def _check_lengths(p: Path, sweep: SweepData) -> None:
    """Every per-point and per-plan array of a sweep file has one entry per point (a damaged file has not)."""
    lengths = {
        "/plan/values": (len(sweep.plan), len(sweep.plan_hash), "/plan/param_hash"),
        "/points/values": (len(sweep.values), len(sweep.param_hash), "/points/param_hash"),
        "/points/status": (len(sweep.status), len(sweep.param_hash), "/points/param_hash"),
        "/points/message": (len(sweep.message), len(sweep.param_hash), "/points/param_hash"),
        "/parameters/units": (len(sweep.units), len(sweep.parameters), "/parameters/name"),
    }
    lengths.update({f"/points/{k}": (len(v), len(sweep.param_hash), "/points/param_hash")
                    for k, v in sweep.metrics.items()})  # fmt: skip
    for name, (got, want, of) in lengths.items():
        if got != want:
            raise InputDataError(f"{p}: damaged sweep file: {name} has {got} entries, {of} has {want}")
