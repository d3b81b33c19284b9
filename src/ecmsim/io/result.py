"""Simulation and equilibrium result files (HDF5).

Files are self-describing: the root carries ``schema`` and
``schema_version``, the ecmsim, h5py and HDF5 versions, and the time of
writing; every numeric dataset has a ``units`` attribute and a
``description``; histories share the ``time`` dimension scale.  The history
datasets are the columns of :data:`~ecmsim.history.HISTORY_COLUMNS`, with the
unit and description of that table.  Files are written atomically (a
temporary file in the target folder, fsynced, renamed into place), so a
target is either absent, the previous file, or the new complete one.  The
layout of a simulation result is documented in ``docs/result-schema.md``.

:func:`write_result` takes a :class:`~ecmsim.simulation.SimulationResult`;
:func:`read_result` gives back a :class:`ResultFile` (summary, histories,
profile, config and provenance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecmsim.errors import InputDataError, OutputError
from ecmsim.geometry import FloatArray
from ecmsim.history import COLUMNS_BY_NAME, HISTORY_COLUMNS, SECONDARY_COLUMNS, TIME, History
from ecmsim.io.common import (
    EQUILIBRIUM_FILE,
    H5_ERRORS,
    RESULT_FILE,
    FileKind,
    atomic_h5,
    attr_text,
    check_header,
    check_values,
    get_dataset,
    get_group,
    open_h5,
    read_dataset,
    write_dataset,
    write_header,
)

if TYPE_CHECKING:
    import h5py
    import numpy as np

    from ecmsim.channel import ChannelProfile
    from ecmsim.config import ProcessConfig
    from ecmsim.equilibrium import EquilibriumResult
    from ecmsim.simulation import SimulationResult

RESULT_SCHEMA = RESULT_FILE.schema
RESULT_SCHEMA_VERSION = RESULT_FILE.version
EQUILIBRIUM_SCHEMA = EQUILIBRIUM_FILE.schema


def _json_text(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def _header(f: h5py.Group, kind: FileKind, cfg: ProcessConfig, summary: dict[str, Any], attrs: dict[str, str]) -> None:
    """Root attributes, provenance, and the resolved config and summary as JSON datasets.

    JSON goes into datasets because HDF5 attributes are capped at 64 KiB.
    """
    write_header(f, kind, {"config_hash": cfg.hash(), "config_source": str(cfg.source), **attrs})
    write_dataset(f, "config_json", _json_text(cfg.to_dict()), None, "the resolved process config (JSON)")
    write_dataset(f, "summary_json", _json_text(summary), None, "the summary of the result (JSON)")


def write_result(path: str | Path, result: SimulationResult) -> None:
    """Write a :class:`~ecmsim.simulation.SimulationResult` to HDF5 (atomically).

    Raises
    ------
    OutputError
        When the file cannot be written; a previous file at ``path`` stays.
    """
    attrs = {"started_at": result.started_at, "status": result.status, "message": result.message}
    try:
        with atomic_h5(path) as f:
            _header(f, RESULT_FILE, result.process.config, result.summary(), attrs)
            derived = _json_text(result.process.derived())
            write_dataset(f, "derived_json", derived, None, "derived process values (JSON)")
            _write_history(f, result.history)
            depth = _write_profile(f, result)
            _write_snapshots(f, result, depth)
            _write_fields(f, result)
            if result.flow_path is not None:
                _write_flow_path(f, result.flow_path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the result: {exc}") from None


def _write_history(f: h5py.Group, history: History) -> None:
    """``/history``: one dataset per column of the table, on the ``time`` scale."""
    hist = f.create_group("history")
    hist.attrs["description"] = "one entry per time step"
    time = None
    for col in (*HISTORY_COLUMNS, *(c for c in SECONDARY_COLUMNS if c.name in history)):
        ds = write_dataset(
            hist, col.name, history[col.name], col.unit, col.description,
            scale=TIME if col.name == TIME else None, dims=(time,),
        )  # fmt: skip
        if col.name == TIME:
            time = ds


def _write_flow_path(f: h5py.Group, prof: ChannelProfile) -> None:
    """``/flow_path``: the last step's state along the electrolyte path (``[physics] secondary = true``)."""
    import numpy as np

    from ecmsim.channel import SEGMENT_NAMES

    g = f.create_group("flow_path")
    g.attrs["description"] = "quasi-steady flow, heat and gas along the electrolyte path at the end of the run"
    g.attrs["segments"] = ", ".join(f"{k} = {name}" for k, name in enumerate(SEGMENT_NAMES))
    face = write_dataset(
        g, "position", prof.position, "m", "distance along the path from the bore inlet (cell faces)", scale="position"
    )
    centre = write_dataset(
        g,
        "cell_position",
        prof.channel.centres,
        "m",
        "distance along the path of the cell centres",
        scale="cell_position",
    )
    for name, data, unit, text in (
        ("pressure", prof.pressure, "Pa", "absolute pressure"),
        ("temperature", prof.temperature, "K", "electrolyte temperature"),
        ("void_fraction", prof.void_fraction, "1", "gas volume fraction"),
        ("gas_flow", prof.gas_flow, "m^3/s", "gas volume flow"),
    ):
        write_dataset(g, name, data, unit, text, dims=(face,))
    for name, data, unit, text in (
        ("conductivity", prof.conductivity, "S/m", "conductivity of each cell"),
        ("joule_power", prof.joule_power, "W", "Joule heating of each cell"),
        ("segment", prof.channel.segment.astype(np.float64), "1", "segment of each cell (see the group's segments)"),
    ):
        write_dataset(g, name, data, unit, text, dims=(centre,))
    g.attrs["flow_rate_m3_per_s"] = prof.flow_rate


def _write_profile(f: h5py.Group, result: SimulationResult) -> h5py.Dataset:
    """``/profile``: the final wall per row and the finished wall; returns the ``depth`` scale."""
    prof = f.create_group("profile")
    prof.attrs["description"] = "final hole wall: radius of the wall in each grid row"
    depth = write_dataset(
        prof, "depth", result.grid.z, "m", "depth below the original surface of each grid row", scale="depth"
    )
    write_dataset(
        prof, "wall_radius", result.wall_radius, "m", "hole wall radius (NaN: no hole in this row)", dims=(depth,)
    )
    d, dia = result.profile()
    write_dataset(prof, "hole_depth", d, "m", "depths of the finished hole wall")
    write_dataset(prof, "diameter", dia, "m", "hole diameter at hole_depth")
    return depth


def _write_snapshots(f: h5py.Group, result: SimulationResult, depth: h5py.Dataset) -> None:
    snap = f.create_group("snapshots")
    tool = write_dataset(
        snap, "tool_depth", result.snapshot_tool_depth, "m", "tool depth at each snapshot", scale="tool_depth"
    )
    write_dataset(
        snap, "wall_radius", result.snapshot_wall_radius, "m", "wall radius per row at each snapshot",
        dims=(tool, depth),
    )  # fmt: skip


def _write_fields(f: h5py.Group, result: SimulationResult) -> None:
    fld = f.create_group("field")
    fld.attrs["description"] = "final fields on the (r, z) grid; arrays are indexed [r, z]"
    fld.attrs["cell_size_m"] = result.grid.h
    r = write_dataset(fld, "r", result.grid.r, "m", "node radius", scale="r")
    z = write_dataset(fld, "z", result.grid.z, "m", "node depth below the original surface", scale="z")
    write_dataset(fld, "workpiece_level_set", result.psi_w, "m", "signed distance, > 0 in electrolyte", dims=(r, z))
    write_dataset(fld, "potential", result.potential, "V", "electric potential (cathode 0 V)", dims=(r, z))
    write_dataset(
        fld, "node_kind", result.kind, "1", "0 electrolyte, 1 anode, 2 cathode, 3 insulator, 4 outside",
        dims=(r, z),
    )  # fmt: skip


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


def _json_dataset(f: h5py.Group, name: str, path: Path) -> dict[str, Any]:
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


def _numeric_group(f: h5py.Group, name: str, path: Path) -> dict[str, FloatArray]:
    """Every dataset of group ``name``: numeric, with a ``units`` attribute."""
    _, keys = get_group(f, name, path)
    out: dict[str, FloatArray] = {}
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


@dataclass(frozen=True)
class ResultProfile:
    """``/profile`` of a result file: the final hole wall, m.

    Attributes
    ----------
    depth : ndarray, shape (nz,)
        Depth of each grid row below the original surface, m.
    wall_radius : ndarray, shape (nz,)
        Final wall radius per row, m (NaN: no wall in this row).
    hole_depth, diameter : ndarray, shape (n,)
        The finished wall used for the summary: depths and diameters, m.
    """

    depth: FloatArray
    wall_radius: FloatArray
    hole_depth: FloatArray
    diameter: FloatArray


@dataclass(frozen=True)
class ResultFile:
    """What :func:`read_result` reads back from a simulation result file (SI units).

    Attributes
    ----------
    path : Path
        The file read.
    schema_version : int
        The file's ``schema_version``.
    provenance : dict
        The root attributes: schema, ecmsim/h5py/HDF5/NumPy versions,
        ``written_at``, ``started_at``, ``config_hash``, ``config_source``,
        ``status``, ``message``.
    config : dict
        The resolved config (``config_json``), as nested tables.
    summary : dict
        The summary in engineering units (``summary_json``), as ``simulate --json`` prints it.
    history : History
        ``/history``: one array per column (those of
        :data:`~ecmsim.history.HISTORY_COLUMNS`, checked against its units,
        and any other numeric dataset with a ``units`` attribute).
    profile : ResultProfile
        ``/profile``: the final hole wall.
    """

    path: Path
    schema_version: int
    provenance: dict[str, Any]
    config: dict[str, Any]
    summary: dict[str, Any]
    history: History
    profile: ResultProfile

    @property
    def status(self) -> str:
        """Outcome of the run (``completed``, ``broke_through``, ...), from the summary."""
        return str(self.summary.get("status", self.provenance.get("status", "")))


def read_result(path: str | Path) -> ResultFile:
    """Read a simulation result file back (SI units).

    The file is validated: schema and version, the JSON datasets, a
    ``units`` attribute on every history and profile dataset (the history
    columns in the units of :data:`~ecmsim.history.HISTORY_COLUMNS`, the
    profile in metres), profile depths finite and wall radii finite and ≥ 0
    (NaN: no wall in that row), every profile length within ±10 m.

    Returns
    -------
    ResultFile

    Raises
    ------
    InputDataError
        For any fault; the message names the file and the dataset.
    """
    p = Path(path)
    with open_h5(p, "result file") as f:
        version = check_header(f, p, RESULT_FILE)
        try:
            attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
        except H5_ERRORS as exc:
            raise InputDataError(f"{p}: root attributes cannot be read, the file is damaged ({exc})") from None
        return ResultFile(
            path=p,
            schema_version=version,
            provenance=attrs,
            config=_json_dataset(f, "config_json", p),
            summary=_json_dataset(f, "summary_json", p),
            history=History(_numeric_group(f, "history", p)),
            profile=_read_profile(f, p),
        )


def _read_profile(f: h5py.Group, p: Path) -> ResultProfile:
    """``/profile``, checked: units, finite values where required, lengths that agree."""
    profile: dict[str, FloatArray] = {}
    n_rows: int | None = None
    for key, (units, allow_nan, minimum) in _PROFILE.items():
        ds = get_dataset(f, f"profile/{key}", p, kind="float", shape=(None,), units=units)
        arr = read_dataset(ds, p)
        check_values(arr, p, f"/profile/{key}", allow_nan=allow_nan, minimum=minimum, unit=units, maximum=PROFILE_MAX_M)
        profile[key] = arr
        if key == "depth":
            n_rows = arr.size
        if key == "wall_radius" and arr.size != n_rows:
            raise InputDataError(f"{p}: /profile/wall_radius has {arr.size} rows but /profile/depth has {n_rows}")
    if profile["hole_depth"].size != profile["diameter"].size:
        raise InputDataError(f"{p}: /profile/diameter and /profile/hole_depth differ in length")
    return ResultProfile(**profile)


@dataclass(frozen=True)
class ResultFlowPath:
    """``/flow_path`` of a result file: the state along the electrolyte path at the end of the run, SI.

    Attributes
    ----------
    position : ndarray, shape (n + 1,)
        Distance along the path from the bore inlet at the cell faces, m.
    pressure, temperature, void_fraction : ndarray, shape (n + 1,)
        Absolute pressure (Pa), temperature (K) and gas volume fraction at the faces.
    cell_position : ndarray, shape (n,)
        Distance along the path of the cell centres, m.
    conductivity : ndarray, shape (n,)
        Conductivity of each cell, S/m.
    segment : ndarray, shape (n,)
        Segment of each cell (int: 0 bore, 1 frontal gap, 2 bare tip, 3 coated annulus).
    flow_rate : float
        Liquid flow, m³/s.
    """

    position: FloatArray
    pressure: FloatArray
    temperature: FloatArray
    void_fraction: FloatArray
    cell_position: FloatArray
    conductivity: FloatArray
    segment: np.ndarray
    flow_rate: float


#: The datasets of ``/flow_path`` that :func:`read_flow_path` reads: units, at faces, smallest value.
_FLOW_PATH = {
    "position": ("m", True, 0.0),
    "pressure": ("Pa", True, 0.0),
    "temperature": ("K", True, 0.0),
    "void_fraction": ("1", True, 0.0),
    "cell_position": ("m", False, 0.0),
    "conductivity": ("S/m", False, 0.0),
    "segment": ("1", False, 0.0),
}


def read_flow_path(path: str | Path) -> ResultFlowPath:
    """Read ``/flow_path`` of a simulation result file (written with ``[physics] secondary = true``).

    Raises
    ------
    InputDataError
        When the file is not a result file, has no flow path (a primary-only run) or a
        dataset is missing, has other units, another length or values out of range.
    """
    import numpy as np

    p = Path(path)
    with open_h5(p, "result file") as f:
        check_header(f, p, RESULT_FILE)
        if "flow_path" not in f:
            raise InputDataError(
                f"{p}: the result has no flow path (/flow_path): it was simulated without the secondary physics; "
                "run ecmsim simulate with [physics] secondary = true and a [flow] supply"
            )
        out: dict[str, Any] = {}
        n: int | None = None
        for key, (units, at_faces, minimum) in _FLOW_PATH.items():
            ds = get_dataset(f, f"flow_path/{key}", p, kind="float", shape=(None,), units=units)
            arr = np.asarray(read_dataset(ds, p), dtype=np.float64)
            check_values(arr, p, f"/flow_path/{key}", minimum=minimum, unit=units)
            n = arr.size - 1 if n is None else n
            if arr.size != (n + 1 if at_faces else n) or n < 1:
                raise InputDataError(
                    f"{p}: /flow_path/{key} has {arr.size} values, expected {n + 1 if at_faces else n}"
                )
            out[key] = arr
        try:
            flow = float(f["flow_path"].attrs["flow_rate_m3_per_s"])
        except H5_ERRORS:
            raise InputDataError(f"{p}: /flow_path has no readable flow_rate_m3_per_s attribute") from None
    if not (np.isfinite(flow) and flow > 0) or np.any(out["void_fraction"] > 1.0):
        raise InputDataError(f"{p}: /flow_path holds a flow rate {flow!r} m^3/s or void fractions above 1")
    out["segment"] = out["segment"].astype(np.int64)
    return ResultFlowPath(**out, flow_rate=flow)


def write_equilibrium(path: str | Path, result: EquilibriumResult) -> None:
    """Write an :class:`~ecmsim.equilibrium.EquilibriumResult` to HDF5 (atomically).

    Layout: root attributes as for a simulation result (schema
    ``ecmsim-equilibrium-result``); ``config_json``, ``summary_json``;
    ``profile/y`` (distance behind the tool face, m; dimension scale) and
    ``profile/wall_radius`` (m).

    Raises
    ------
    OutputError
        When the file cannot be written; a previous file at ``path`` stays.
    """
    try:
        with atomic_h5(path) as f:
            _header(f, EQUILIBRIUM_FILE, result.process.config, result.summary(), {})
            prof = f.create_group("profile")
            prof.attrs["description"] = "equilibrium hole wall in the frame of the tool"
            y = write_dataset(prof, "y", result.y, "m", "distance behind the tool face (negative: below it)", scale="y")
            write_dataset(prof, "wall_radius", result.radius, "m", "hole wall radius", dims=(y,))
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the result: {exc}") from None
