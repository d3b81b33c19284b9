"""QC results files (HDF5, schema ``ecmsim-qc-result``): the verdicts of one ``qc check`` of one batch.

A results file holds the verdict of every part, hole and characteristic,
with provenance (input hashes, spec, versions, time).  It is always a new
file, read-only (0444 less the umask), written atomically; the inspection
file is never written to.  Write it with :func:`qc_result_file`, read it
with :func:`read_qc_result`.  Layout: ``docs/inspection-schema.md``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io.common import (
    QC_RESULT_FILE,
    atomic_h5,
    check_header,
    open_h5,
    part_chunks,
    write_dataset,
    write_header,
)
from ecmsim.io.strings import HOLE_ID_LEN, ID_RE, TIME_LEN, decode_strings, fixed_strings, validate_serials

if TYPE_CHECKING:
    import h5py

QC_RESULT_SCHEMA = QC_RESULT_FILE.schema
QC_RESULT_SCHEMA_VERSION = QC_RESULT_FILE.version

# --------------------------------------------------------------------------- verdicts
#: Verdict codes stored in QC results files (ordered by severity).
VERDICT_NA = -1
VERDICT_PASS = 0
VERDICT_COND_PASS = 1
VERDICT_COND_FAIL = 2
VERDICT_MISSING = 3
VERDICT_FAIL = 4
VERDICT_NAMES = {
    VERDICT_NA: "not evaluated",
    VERDICT_PASS: "pass",
    VERDICT_COND_PASS: "conditional pass",
    VERDICT_COND_FAIL: "conditional fail",
    VERDICT_MISSING: "not measured",
    VERDICT_FAIL: "fail",
}
VERDICT_LEGEND = "; ".join(f"{k}: {v}" for k, v in VERDICT_NAMES.items())


@dataclass
class ResultArray:
    """One dataset of a QC results file: name (path), shape, dtype, units, description."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    units: str | None
    description: str
    fill: float = 0


class QCResultWriter:
    """Streams the verdicts of one batch into a new QC results file.

    Created by :func:`qc_result_file`; call :meth:`write` for each block of
    parts (first axis of every per-part array).
    """

    def __init__(self, f: h5py.Group) -> None:
        self._f = f

    def write(self, name: str, start: int, stop: int, data: np.ndarray) -> None:
        self._f[name][start:stop] = data

    def dataset(self, name: str, data: Any, units: str | None, description: str) -> None:
        """A further (small, whole) dataset, e.g. resolved limits or predictions."""
        grp, _, leaf = name.rpartition("/")
        g = self._f.require_group(grp) if grp else self._f
        write_dataset(g, leaf, data, units, description)

    def attrs(self, values: Mapping[str, Any]) -> None:
        for k, v in values.items():
            self._f.attrs[k] = v


def _axis_scales(shape: tuple[int, ...], scales: Sequence[Any]) -> list[Any]:
    """The scales (parts, holes, stations) to attach to a per-part dataset: each whose length matches its axis."""
    if not shape or not len(scales[0]) or shape[0] != len(scales[0]):
        return []  # not a per-part array
    return [sc if n == len(sc) else None for n, sc in zip(shape, scales, strict=False)]


@contextlib.contextmanager
def qc_result_file(
    path: str | Path,
    *,
    attrs: Mapping[str, Any],
    texts: Mapping[str, str],
    inputs: Sequence[tuple[str, str, str]],
    serials: Sequence[str],
    measured_at: Sequence[str],
    hole_id: Sequence[str],
    station_depth: np.ndarray,
    characteristics: Sequence[str],
    arrays: Sequence[ResultArray],
) -> Iterator[QCResultWriter]:
    """Create a QC results file atomically and yield a writer for its per-part arrays.

    Parameters
    ----------
    attrs
        Root attributes (short scalars and strings: batch id, hashes, rule, counts).
    texts
        Scalar text datasets (spec source, resolved spec as JSON).
    inputs
        ``(role, path, sha256)`` of every input file.
    arrays
        Datasets to create (filled with ``fill``), written block by block.
    """
    try:
        with atomic_h5(path, mode=0o444, umask=True) as f:  # a record: read-only
            write_header(f, QC_RESULT_FILE, {"verdict_codes": VERDICT_LEGEND, **attrs})
            for k, v in texts.items():
                write_dataset(f, k, v, None, f"{k} (text)")
            _write_inputs(f, inputs)
            scales = _write_index(f, serials, measured_at, hole_id, station_depth, characteristics)
            _create_arrays(f, arrays, scales)
            yield QCResultWriter(f)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the QC results file: {exc}") from None


def _write_inputs(f: h5py.Group, inputs: Sequence[tuple[str, str, str]]) -> None:
    """``/inputs``: role, path and SHA-256 of every input file."""
    inp = f.create_group("inputs")
    roles = np.array([r.encode() for r, _, _ in inputs], dtype="S16")
    write_dataset(inp, "role", roles, None, "role of the input")
    paths = fixed_strings([str(pth)[-1024:] for _, pth, _ in inputs], 1024, "path", None)
    write_dataset(inp, "path", paths, None, "path as given")
    hashes = np.array([h.encode() for _, _, h in inputs], dtype="S64")
    write_dataset(inp, "sha256", hashes, None, "SHA-256 of the file's bytes")


def _write_index(
    f: h5py.Group,
    serials: Sequence[str],
    measured_at: Sequence[str],
    hole_id: Sequence[str],
    station_depth: np.ndarray,
    characteristics: Sequence[str],
) -> tuple[h5py.Dataset, h5py.Dataset, h5py.Dataset]:
    """``/parts`` and ``/design``: what the axes of the verdict arrays mean; returns their scales."""
    pts = f.create_group("parts")
    serial = write_dataset(pts, "serial", validate_serials(serials), None, "engraved serial number", scale="serial")
    times = fixed_strings(measured_at, TIME_LEN, "measured_at", None)
    write_dataset(pts, "measured_at", times, None, "time of the part's last measurement (from the inspection file)")
    des = f.create_group("design")
    holes = fixed_strings(hole_id, HOLE_ID_LEN, "hole id", ID_RE)
    hole = write_dataset(des, "hole_id", holes, None, "hole identifier", scale="hole_id")
    depth = np.asarray(station_depth, float)
    station = write_dataset(des, "station_depth", depth, "mm", "station depth", scale="station_depth")
    names = np.array([c.encode() for c in characteristics], dtype="S32")
    desc = "characteristic names (second axis of /parts/n_rejected_holes_by_characteristic)"
    write_dataset(des, "characteristic", names, None, desc)
    return serial, hole, station


def _create_arrays(
    f: h5py.Group, arrays: Sequence[ResultArray], scales: tuple[h5py.Dataset, h5py.Dataset, h5py.Dataset]
) -> None:
    """Create every array of ``arrays`` filled with its ``fill``, chunked by whole parts."""
    p_ = len(scales[0])
    for a in arrays:
        grp, _, leaf = a.name.rpartition("/")
        g = f.require_group(grp) if grp else f
        chunks = list(a.shape)
        if a.shape and a.shape[0] == p_:
            chunks[0] = part_chunks(p_, int(np.prod(a.shape)) // max(p_, 1))
        write_dataset(
            g, leaf, None, a.units, a.description, shape=a.shape, dtype=a.dtype, fill=a.fill,
            chunks=tuple(chunks), dims=_axis_scales(a.shape, scales),
        )  # fmt: skip


def read_qc_result(path: str | Path) -> dict[str, Any]:
    """Read a QC results file: ``attrs``, ``inputs``, ``parts`` (per-part arrays), ``texts``."""
    p = Path(path)
    with open_h5(p, "QC results file") as f:
        check_header(f, p, QC_RESULT_FILE)
        try:
            parts = {k: f["parts"][k][()] for k in f["parts"]}
            parts["serial"] = np.array(decode_strings(parts["serial"]))
            parts["measured_at"] = np.array(decode_strings(parts["measured_at"]))
            return {
                "attrs": {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()},
                "inputs": list(
                    zip(
                        decode_strings(f["inputs/role"][()]),
                        decode_strings(f["inputs/path"][()]),
                        decode_strings(f["inputs/sha256"][()]),
                        strict=True,
                    )
                ),
                "characteristics": decode_strings(f["design/characteristic"][()]),
                "parts": parts,
                "texts": {
                    k: f[k][()].decode() if isinstance(f[k][()], bytes) else str(f[k][()])
                    for k in ("spec_toml", "spec_json")
                    if k in f
                },
            }
        except KeyError as exc:
            raise InputDataError(f"{p}: missing dataset or group {exc}") from None
        except (OSError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            raise InputDataError(f"{p}: damaged or malformed QC results file ({type(exc).__name__}: {exc})") from None


def dumps_json(obj: Any) -> str:
    """JSON text with sorted keys (NaN not allowed: use None)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
