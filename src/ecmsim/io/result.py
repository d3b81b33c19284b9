"""Simulation result files (HDF5).

Files are self-describing: the root carries ``schema`` and
``schema_version``, the ecmsim, h5py and HDF5 versions, and the time of
writing; every numeric dataset has a ``units`` attribute and a
``description``; histories share the ``time`` dimension scale.  Files are
written to a temporary file in the target folder, flushed, fsynced and then
renamed into place, so a target is either absent, the previous file, or the
new complete one.  The layout of a simulation result is documented in
``docs/result-schema.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecmsim.errors import InputDataError, OutputError
from ecmsim.history import COLUMNS_BY_NAME, HISTORY_COLUMNS, TIME
from ecmsim.io.common import (
    H5_ERRORS,
    RESULT_FILE,
    atomic_h5,
    attr_text,
    check_header,
    check_values,
    get_dataset,
    get_group,
    open_h5,
    read_dataset,
    write_dataset,
    write_provenance,
)

RESULT_SCHEMA = "ecmsim-simulation-result"
RESULT_SCHEMA_VERSION = 1


def _header(f: Any, schema: str, cfg: Any, summary: dict[str, Any]) -> None:
    """Root attributes, provenance, and the resolved config and summary as JSON datasets.

    JSON goes into datasets because HDF5 attributes are capped at 64 KiB.
    """
    f.attrs["schema"] = schema
    f.attrs["schema_version"] = RESULT_SCHEMA_VERSION
    write_provenance(f)
    f.attrs["config_hash"] = cfg.hash()
    f.attrs["config_source"] = str(cfg.source)
    f.create_dataset("config_json", data=json.dumps(cfg.to_dict(), sort_keys=True, default=str))
    f.create_dataset("summary_json", data=json.dumps(summary, sort_keys=True, default=str))


def write_result(path: str | Path, result: Any) -> None:
    """Write a :class:`~ecmsim.simulation.SimulationResult` to HDF5 (atomically)."""
    summary = result.summary()
    cfg = result.process.config
    try:
        with atomic_h5(path) as f:
            _header(f, RESULT_SCHEMA, cfg, summary)
            f.attrs["started_at"] = result.started_at
            f.attrs["status"] = result.status
            f.attrs["message"] = result.message
            f.create_dataset("derived_json", data=json.dumps(result.process.derived(), sort_keys=True, default=str))
            hist = f.create_group("history")
            hist.attrs["description"] = "one entry per time step"
            for col in HISTORY_COLUMNS:
                write_dataset(hist, col.name, result.history[col.name], col.unit, col.description)
            hist[TIME].make_scale(TIME)
            for col in HISTORY_COLUMNS:
                if col.name != TIME:
                    hist[col.name].dims[0].attach_scale(hist[TIME])
            prof = f.create_group("profile")
            prof.attrs["description"] = "final hole wall: radius of the wall in each grid row"
            write_dataset(prof, "depth", result.grid.z, "m", "depth below the original surface of each grid row")
            write_dataset(prof, "wall_radius", result.wall_radius, "m", "hole wall radius (NaN: no hole in this row)")
            d, dia = result.profile()
            write_dataset(prof, "hole_depth", d, "m", "depths of the finished hole wall")
            write_dataset(prof, "diameter", dia, "m", "hole diameter at hole_depth")
            prof["depth"].make_scale("depth")
            prof["wall_radius"].dims[0].attach_scale(prof["depth"])
            snap = f.create_group("snapshots")
            write_dataset(snap, "tool_depth", result.snapshot_tool_depth, "m", "tool depth at each snapshot")
            write_dataset(snap, "wall_radius", result.snapshot_wall_radius, "m", "wall radius per row at each snapshot")
            snap["tool_depth"].make_scale("tool_depth")
            snap["wall_radius"].dims[0].attach_scale(snap["tool_depth"])
            snap["wall_radius"].dims[1].attach_scale(prof["depth"])
            fld = f.create_group("field")
            fld.attrs["description"] = "final fields on the (r, z) grid; arrays are indexed [r, z]"
            fld.attrs["cell_size_m"] = result.grid.h
            write_dataset(fld, "r", result.grid.r, "m", "node radius")
            write_dataset(fld, "z", result.grid.z, "m", "node depth below the original surface")
            write_dataset(fld, "workpiece_level_set", result.psi_w, "m", "signed distance, > 0 in electrolyte")
            write_dataset(fld, "potential", result.potential, "V", "electric potential (cathode 0 V)")
            write_dataset(
                fld, "node_kind", result.kind, "1",
                "0 electrolyte, 1 anode, 2 cathode, 3 insulator, 4 outside",
            )  # fmt: skip
            fld["r"].make_scale("r")
            fld["z"].make_scale("z")
            for name in ("workpiece_level_set", "potential", "node_kind"):
                fld[name].dims[0].attach_scale(fld["r"])
                fld[name].dims[1].attach_scale(fld["z"])
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the result: {exc}") from None


#: Datasets of ``/profile`` in a simulation result: name -> (units, NaN allowed (its meaning), minimum).
#: Largest magnitude of a profile length, m: far beyond any drilled part, and small enough
#: that conversions (to mm, diameters) cannot overflow on a damaged value.
PROFILE_MAX_M = 10.0
_PROFILE: dict[str, tuple[str, bool | str, float | None]] = {
    "depth": ("m", False, None),
    "wall_radius": ("m", "no wall in this row", 0.0),
    "hole_depth": ("m", False, None),
    "diameter": ("m", False, 0.0),
}


def _json_dataset(f: Any, name: str, path: Path) -> dict[str, Any]:
    ds = get_dataset(f, name, path, kind="json", shape=())
    raw = read_dataset(ds, path)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise InputDataError(f"{path}: /{name} is not valid JSON text") from None
    if not isinstance(data, dict):
        raise InputDataError(f"{path}: /{name} must hold a JSON object")
    return data


def _numeric_group(f: Any, name: str, path: Path) -> dict[str, Any]:
    """Every dataset of group ``name``: numeric, with a ``units`` attribute."""
    _, keys = get_group(f, name, path)
    out: dict[str, Any] = {}
    for key in keys:
        ds = get_dataset(f, f"{name}/{key}", path, kind="number")
        col = COLUMNS_BY_NAME.get(key) if name == "history" else None
        expected = col.unit if col is not None else None
        units = attr_text(ds, "units", path, default="")
        if not units or (expected is not None and units != expected):
            have = f"units {units!r}" if units else "no units attribute"
            want = f"units {expected!r}" if expected else "a units attribute"
            raise InputDataError(f"{path}: /{name}/{key} has {have}, expected {want}")
        out[key] = read_dataset(ds, path)
    return out


def read_result(path: str | Path) -> dict[str, Any]:
    """Read a result file back as plain arrays and dicts (SI units).

    The file is validated: schema and version, the JSON datasets, a
    ``units`` attribute on every history and profile dataset (the profile
    in metres), profile depths finite and wall radii finite and ≥ 0 (NaN:
    no wall in that row), every profile length within ±10 m.  Any fault is an :class:`InputDataError`.

    Returns
    -------
    dict
        ``attrs``, ``config``, ``summary``, ``history`` (dict of arrays),
        ``profile`` (dict of arrays).
    """
    p = Path(path)
    with open_h5(p, "result file") as f:
        check_header(f, p, RESULT_FILE)
        try:
            attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
        except H5_ERRORS as exc:
            raise InputDataError(f"{p}: root attributes cannot be read, the file is damaged ({exc})") from None
        config = _json_dataset(f, "config_json", p)
        summary = _json_dataset(f, "summary_json", p)
        history = _numeric_group(f, "history", p)
        profile = {}
        n_rows: int | None = None
        for key, (units, allow_nan, minimum) in _PROFILE.items():
            ds = get_dataset(f, f"profile/{key}", p, kind="float", shape=(None,), units=units)
            arr = read_dataset(ds, p)
            check_values(
                arr, p, f"/profile/{key}", allow_nan=allow_nan, minimum=minimum, unit=units, maximum=PROFILE_MAX_M
            )
            profile[key] = arr
            if key == "depth":
                n_rows = arr.size
            if key == "wall_radius" and arr.size != n_rows:
                raise InputDataError(f"{p}: /profile/wall_radius has {arr.size} rows but /profile/depth has {n_rows}")
        if profile["hole_depth"].size != profile["diameter"].size:
            raise InputDataError(f"{p}: /profile/diameter and /profile/hole_depth differ in length")
        return {"attrs": attrs, "config": config, "summary": summary, "history": history, "profile": profile}


EQUILIBRIUM_SCHEMA = "ecmsim-equilibrium-result"


def write_equilibrium(path: str | Path, result: Any) -> None:
    """Write an :class:`~ecmsim.equilibrium.EquilibriumResult` to HDF5 (atomically).

    Layout: root attributes as for a simulation result (schema
    ``ecmsim-equilibrium-result``); ``config_json``, ``summary_json``;
    ``profile/y`` (distance behind the tool face, m; dimension scale) and
    ``profile/wall_radius`` (m).
    """
    cfg = result.process.config
    try:
        with atomic_h5(path) as f:
            _header(f, EQUILIBRIUM_SCHEMA, cfg, result.summary())
            prof = f.create_group("profile")
            prof.attrs["description"] = "equilibrium hole wall in the frame of the tool"
            write_dataset(prof, "y", result.y, "m", "distance behind the tool face (negative: below it)")
            write_dataset(prof, "wall_radius", result.radius, "m", "hole wall radius")
            prof["y"].make_scale("y")
            prof["wall_radius"].dims[0].attach_scale(prof["y"])
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the result: {exc}") from None
