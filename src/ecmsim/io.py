"""All HDF5 access of ecmsim lives here.

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

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ecmsim.errors import InputDataError, OutputError

RESULT_SCHEMA = "ecmsim-simulation-result"
RESULT_SCHEMA_VERSION = 1

_HISTORIES = {
    "time": ("s", "end time of each step"),
    "tool_depth": ("m", "depth of the tool face below the original surface (negative above it)"),
    "current": ("A", "cell current during the step (anode flux)"),
    "charge": ("C", "cumulative charge"),
    "frontal_gap": ("m", "tool face to hole bottom at the mid-wall radius of the tube"),
    "min_gap": ("m", "smallest tool–workpiece distance"),
    "removed_volume": ("m^3", "metal removed, from the level set"),
    "faraday_volume": ("m^3", "integral of eta*omega*duty*I dt (Faraday's law)"),
    "max_current_density": ("A/m^2", "largest anode current density"),
    "solver_iterations": ("1", "conjugate-gradient iterations of the potential solve"),
}


@contextlib.contextmanager
def atomic_h5(path: str | Path) -> Iterator[Any]:
    """Open a temporary HDF5 file beside ``path``; rename it into place on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    import h5py

    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{target}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w", libver="earliest") as f:
            yield f
            f.flush()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _provenance(f: Any) -> None:
    import datetime

    import h5py

    from ecmsim import __version__

    f.attrs["ecmsim_version"] = __version__
    f.attrs["h5py_version"] = h5py.version.version
    f.attrs["hdf5_version"] = h5py.version.hdf5_version
    f.attrs["numpy_version"] = np.__version__
    f.attrs["written_at"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dataset(group: Any, name: str, data: Any, units: str, description: str) -> Any:
    arr = np.asarray(data)
    kw: dict[str, Any] = {}
    if arr.size >= 1024:
        kw = {"compression": "gzip", "shuffle": True, "fletcher32": True, "chunks": True}
    ds = group.create_dataset(name, data=arr, **kw)
    ds.attrs["units"] = units
    ds.attrs["description"] = description
    return ds


def write_result(path: str | Path, result: Any) -> None:
    """Write a :class:`~ecmsim.simulation.SimulationResult` to HDF5 (atomically)."""
    summary = result.summary()
    cfg = result.process.config
    try:
        with atomic_h5(path) as f:
            f.attrs["schema"] = RESULT_SCHEMA
            f.attrs["schema_version"] = RESULT_SCHEMA_VERSION
            _provenance(f)
            f.attrs["config_hash"] = cfg.hash()
            f.attrs["config_source"] = str(cfg.source)
            f.attrs["started_at"] = result.started_at
            f.attrs["status"] = result.status
            f.attrs["message"] = result.message
            # The resolved config and summary as JSON datasets (attributes are capped at 64 KiB).
            f.create_dataset("config_json", data=json.dumps(cfg.to_dict(), sort_keys=True, default=str))
            f.create_dataset("summary_json", data=json.dumps(summary, sort_keys=True, default=str))
            derived = {k: v for k, v in result.process.derived().items()}
            f.create_dataset("derived_json", data=json.dumps(derived, sort_keys=True, default=str))
            hist = f.create_group("history")
            hist.attrs["description"] = "one entry per time step"
            for name, (units, desc) in _HISTORIES.items():
                _dataset(hist, name, getattr(result, name), units, desc)
            hist["time"].make_scale("time")
            for name in _HISTORIES:
                if name != "time":
                    hist[name].dims[0].attach_scale(hist["time"])
            prof = f.create_group("profile")
            prof.attrs["description"] = "final hole wall: radius of the wall in each grid row"
            _dataset(prof, "depth", result.grid.z, "m", "depth below the original surface of each grid row")
            _dataset(prof, "wall_radius", result.wall_radius, "m", "hole wall radius (NaN: no hole in this row)")
            d, dia = result.profile()
            _dataset(prof, "hole_depth", d, "m", "depths of the finished hole wall")
            _dataset(prof, "diameter", dia, "m", "hole diameter at hole_depth")
            prof["depth"].make_scale("depth")
            prof["wall_radius"].dims[0].attach_scale(prof["depth"])
            snap = f.create_group("snapshots")
            _dataset(snap, "tool_depth", result.snapshot_tool_depth, "m", "tool depth at each snapshot")
            _dataset(snap, "wall_radius", result.snapshot_wall_radius, "m", "wall radius per row at each snapshot")
            snap["tool_depth"].make_scale("tool_depth")
            snap["wall_radius"].dims[0].attach_scale(snap["tool_depth"])
            snap["wall_radius"].dims[1].attach_scale(prof["depth"])
            fld = f.create_group("field")
            fld.attrs["description"] = "final fields on the (r, z) grid; arrays are indexed [r, z]"
            fld.attrs["cell_size_m"] = result.grid.h
            _dataset(fld, "r", result.grid.r, "m", "node radius")
            _dataset(fld, "z", result.grid.z, "m", "node depth below the original surface")
            _dataset(fld, "workpiece_level_set", result.psi_w, "m", "signed distance, > 0 in electrolyte")
            _dataset(fld, "potential", result.potential, "V", "electric potential (cathode 0 V)")
            _dataset(
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


def read_result(path: str | Path) -> dict[str, Any]:
    """Read a result file back as plain arrays and dicts (SI units).

    Returns
    -------
    dict
        ``attrs``, ``config``, ``summary``, ``history`` (dict of arrays),
        ``profile`` (dict of arrays).
    """
    import h5py

    p = Path(path)
    try:
        f = h5py.File(p, "r")
    except FileNotFoundError:
        raise InputDataError(f"{p}: result file not found") from None
    except OSError as exc:
        raise InputDataError(f"{p}: not a readable HDF5 file ({exc})") from None
    with f:
        if f.attrs.get("schema") != RESULT_SCHEMA:
            raise InputDataError(f"{p}: not an ecmsim simulation result (schema {f.attrs.get('schema')!r})")
        version = int(f.attrs.get("schema_version", 0))
        if version > RESULT_SCHEMA_VERSION:
            raise InputDataError(
                f"{p}: result schema version {version} is newer than this ecmsim reads "
                f"({RESULT_SCHEMA_VERSION}); upgrade ecmsim"
            )
        try:
            return {
                "attrs": {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()},
                "config": json.loads(f["config_json"][()]),
                "summary": json.loads(f["summary_json"][()]),
                "history": {k: f["history"][k][()] for k in f["history"]},
                "profile": {k: f["profile"][k][()] for k in f["profile"]},
            }
        except KeyError as exc:
            raise InputDataError(f"{p}: missing dataset {exc}") from None
