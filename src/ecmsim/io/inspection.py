"""Inspection batches, QC results files and the trace store (HDF5).

Three kinds of files live here (layout: ``docs/inspection-schema.md``):

* an **inspection batch** (schema ``ecmsim-inspection-batch``): the
  measurements of one batch of parts: batch metadata, the serial numbers,
  the hole design, per part × hole × station diameters and position
  deviations, per part × hole depths and blocked flags, the measuring
  devices and their expanded uncertainties.  Column datasets (one array per
  field, never a group per hole), fixed-length ASCII strings validated on
  write, ``units`` on every numeric dataset, the station depths as a
  dimension scale, gzip + shuffle + fletcher32 on chunked datasets, the
  earliest file format, written atomically.  Read it whole with
  :func:`read_batch` or part block by part block with :func:`open_batch`.
* a **QC results file** (schema ``ecmsim-qc-result``): the verdicts of one
  ``ecmsim qc check`` of one batch, with provenance (input hashes, spec,
  versions, time).  It is always a new file; the inspection file is never
  written to.
* the **trace store**: a folder with ``results/`` (QC results files) and
  content-addressed copies of the inputs (``inspections/``, ``specs/``,
  ``predictions/``), scanned by :func:`trace_serial`.

Readers refuse files that point outside themselves (external links,
virtual datasets with external sources, external raw storage).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io.common import (
    BATCH_FILE,
    H5_ERRORS,
    QC_RESULT_FILE,
    atomic_h5,
    atomic_write,
    attr_text,
    check_header,
    check_self_contained,
    check_values,
    get_dataset,
    get_group,
    open_h5,
    read_dataset,
    write_dataset,
    write_header,
    write_text_dataset,
)

INSPECTION_SCHEMA = BATCH_FILE.schema
INSPECTION_SCHEMA_VERSION = BATCH_FILE.version
QC_RESULT_SCHEMA = QC_RESULT_FILE.schema
QC_RESULT_SCHEMA_VERSION = QC_RESULT_FILE.version

#: Fixed lengths of the string datasets (bytes, ASCII).
SERIAL_LEN = 32
HOLE_ID_LEN = 32
GROUP_LEN = 32
DEVICE_LEN = 64
TIME_LEN = 32
#: Batch metadata keys (root-group attributes of ``/batch``), in order.
BATCH_FIELDS = (
    "part_number",
    "drawing_revision",
    "batch_id",
    "machine",
    "electrode",
    "electrolyte_lot",
    "drilled_on",
    "inspected_from",
    "inspected_to",
)
#: Metadata that must not be empty.
REQUIRED_BATCH_FIELDS = ("part_number", "drawing_revision", "batch_id")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+\-]*$")
_MAX_ATTR_TEXT = 1024
#: Target number of values in one chunk of a part × hole × station dataset.
_CHUNK_VALUES = 262_144


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except FileNotFoundError:
        raise InputDataError(f"{path}: file not found") from None
    return h.hexdigest()


# --------------------------------------------------------------------------- data classes
@dataclass
class Design:
    """The holes of a part: one entry per hole, stations shared as a union.

    Lengths in mm.  ``station_depth`` (S,) is the sorted union of the station
    depths of all holes; ``station_mask`` (H, S) says which stations belong
    to each hole (its first is the entry station, its last the exit station).
    """

    hole_id: list[str]
    group: list[str]
    nominal_diameter: np.ndarray  # (H,) mm
    nominal_x: np.ndarray  # (H,) mm, NaN if not given
    nominal_y: np.ndarray  # (H,) mm, NaN if not given
    depth: np.ndarray  # (H,) mm
    station_depth: np.ndarray  # (S,) mm
    station_mask: np.ndarray  # (H, S) bool

    @property
    def n_holes(self) -> int:
        return len(self.hole_id)

    @property
    def n_stations(self) -> int:
        return int(self.station_depth.size)

    def groups(self) -> list[str]:
        """Group names in order of first appearance."""
        return list(dict.fromkeys(self.group))


@dataclass
class Batch:
    """A whole inspection batch in memory (see :func:`write_batch`).

    Measured arrays are float32 in mm, NaN where not measured; ``device`` is
    an index into ``devices`` (-1: not measured).
    """

    meta: dict[str, str]
    serials: list[str]
    design: Design
    devices: list[str]
    device_uncertainty: np.ndarray  # (D,) mm, expanded (k = 2), NaN unknown
    diameter: np.ndarray  # (P, H, S)
    x_dev: np.ndarray  # (P, H, S)
    y_dev: np.ndarray  # (P, H, S)
    device: np.ndarray  # (P, H, S) int16
    depth: np.ndarray  # (P, H)
    depth_device: np.ndarray  # (P, H) int16
    blocked: np.ndarray  # (P, H) bool
    measured_at: list[str]  # (P,) ISO 8601 of the part's last measurement, "" unknown
    sources: list[tuple[str, str]] = field(default_factory=list)  # (file name, sha256)
    supersedes: str = ""  # sha256 of the batch file this one corrects


# --------------------------------------------------------------------------- validation helpers
def _fixed_strings(values: Sequence[str], length: int, what: str, pattern: re.Pattern[str] | None) -> np.ndarray:
    out = []
    for v in values:
        if not isinstance(v, str):
            raise InputDataError(f"{what} {v!r} is not a string")
        try:
            b = v.encode("ascii")
        except UnicodeEncodeError:
            raise InputDataError(f"{what} {v!r}: only ASCII characters are allowed") from None
        if len(b) > length:
            raise InputDataError(f"{what} {v!r} is {len(b)} characters long; at most {length} are allowed")
        if pattern is not None and not pattern.match(v):
            raise InputDataError(
                f"{what} {v!r}: must start with a letter or digit and contain only letters, digits and . _ / + -"
            )
        if pattern is None and (not v.isprintable()):
            raise InputDataError(f"{what} {v!r}: contains control characters")
        out.append(b)
    return np.array(out, dtype=f"S{length}")


def validate_serials(serials: Sequence[str]) -> np.ndarray:
    """Check serial numbers (ASCII, ≤ 32 characters, letters/digits/._/+-, unique); return ``S32`` array."""
    arr = _fixed_strings(serials, SERIAL_LEN, "serial number", _ID_RE)
    if arr.size != np.unique(arr).size:
        seen: set[str] = set()
        dup = next(s for s in serials if s in seen or seen.add(s))  # type: ignore[func-returns-value]
        raise InputDataError(f"serial number {dup!r} occurs more than once; serials must be unique")
    return arr


def _decode(arr: np.ndarray) -> list[str]:
    return [b.decode("ascii") for b in np.asarray(arr).tolist()]


def _read_strings(
    f: Any,
    name: str,
    path: Path,
    length: int,
    what: str,
    pattern: re.Pattern[str] | None,
    shape: tuple[int | None, ...] = (None,),
    unique: bool = False,
) -> list[str]:
    """A fixed-length ASCII string dataset, every value checked as on writing (never truncated)."""
    ds = get_dataset(f, name, path, kind="text", shape=shape)
    out: list[str] = []
    for i, b in enumerate(np.asarray(read_dataset(ds, path)).ravel().tolist()):
        try:
            v = b.decode("ascii")
        except UnicodeDecodeError:
            raise InputDataError(f"{path}: /{name}[{i}] = {b!r}: {what} must be ASCII text") from None
        if len(v) > length:
            raise InputDataError(
                f"{path}: /{name}[{i}]: {what} {v!r} is {len(v)} characters long; at most {length} are allowed"
            )
        if pattern is not None and not pattern.match(v):
            raise InputDataError(
                f"{path}: /{name}[{i}]: {what} {v!r} must start with a letter or digit and contain only "
                "letters, digits and . _ / + -"
            )
        if pattern is None and not v.isprintable():
            raise InputDataError(f"{path}: /{name}[{i}]: {what} {v!r} contains control characters")
        out.append(v)
    if unique and len(set(out)) != len(out):
        seen: dict[str, int] = {}
        for i, v in enumerate(out):
            if v in seen:
                raise InputDataError(
                    f"{path}: /{name}: {what} {v!r} occurs more than once (entries {seen[v]} and {i}); "
                    f"{what}s must be unique"
                )
            seen[v] = i
    return out


def _is_iso_time(text: str) -> bool:
    """True for an ISO 8601 date or date-time as written by the importer."""
    import datetime

    try:
        datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return False
    return True


def _text_attr(value: Any, what: str) -> str:
    s = "" if value is None else str(value)
    if len(s) > _MAX_ATTR_TEXT or not s.isprintable():
        raise InputDataError(f"{what} {s[:40]!r}...: must be printable text of at most {_MAX_ATTR_TEXT} characters")
    return s


def _chunk_parts(n_parts: int, per_part: int) -> int:
    return int(max(1, min(n_parts, _CHUNK_VALUES // max(per_part, 1))))


# --------------------------------------------------------------------------- inspection batch: write
def write_batch(path: str | Path, batch: Batch) -> None:
    """Write an inspection batch file atomically (see ``docs/inspection-schema.md``).

    Raises
    ------
    InputDataError
        Inconsistent shapes, invalid serials / hole ids / metadata.
    OutputError
        The file cannot be written.
    """
    d = batch.design
    p_, h_, s_ = len(batch.serials), d.n_holes, d.n_stations
    serials = validate_serials(batch.serials)
    hole_ids = _fixed_strings(d.hole_id, HOLE_ID_LEN, "hole id", _ID_RE)
    if np.unique(hole_ids).size != hole_ids.size:
        raise InputDataError("hole ids must be unique")
    groups = _fixed_strings(d.group, GROUP_LEN, "hole group", _ID_RE)
    devices = _fixed_strings(batch.devices, DEVICE_LEN, "device name", None)
    times = _fixed_strings(batch.measured_at, TIME_LEN, "measured_at", None)
    meta = {k: _text_attr(batch.meta.get(k, ""), f"batch {k}") for k in BATCH_FIELDS}
    for k in REQUIRED_BATCH_FIELDS:
        if not meta[k].strip():
            raise InputDataError(f"batch metadata {k!r} is required")
    unknown = set(batch.meta) - set(BATCH_FIELDS)
    if unknown:
        raise InputDataError(f"unknown batch metadata {sorted(unknown)} (allowed: {', '.join(BATCH_FIELDS)})")
    shapes = {
        "diameter": (batch.diameter, (p_, h_, s_)),
        "x_dev": (batch.x_dev, (p_, h_, s_)),
        "y_dev": (batch.y_dev, (p_, h_, s_)),
        "device": (batch.device, (p_, h_, s_)),
        "depth": (batch.depth, (p_, h_)),
        "depth_device": (batch.depth_device, (p_, h_)),
        "blocked": (batch.blocked, (p_, h_)),
        "measured_at": (times, (p_,)),
        "nominal_diameter": (d.nominal_diameter, (h_,)),
        "nominal_x": (d.nominal_x, (h_,)),
        "nominal_y": (d.nominal_y, (h_,)),
        "design depth": (d.depth, (h_,)),
        "groups": (groups, (h_,)),
        "station_mask": (d.station_mask, (h_, s_)),
        "device_uncertainty": (batch.device_uncertainty, (len(batch.devices),)),
    }
    for name, (arr, shape) in shapes.items():
        if np.shape(arr) != shape:
            raise InputDataError(f"inspection batch: {name} has shape {np.shape(arr)}, expected {shape}")
    if s_ and np.any(np.diff(d.station_depth) <= 0):
        raise InputDataError("inspection batch: station depths must be strictly increasing")
    n_dev = len(batch.devices)
    for name in ("device", "depth_device"):
        idx = np.asarray(getattr(batch, name))
        if idx.size and (idx.min() < -1 or idx.max() >= n_dev):
            raise InputDataError(f"inspection batch: {name} index outside 0..{n_dev - 1}")
    cp = _chunk_parts(p_, h_ * s_)
    try:
        with atomic_h5(path, umask=True) as f:
            write_header(f, BATCH_FILE, {"supersedes_sha256": batch.supersedes})
            g = f.create_group("batch")
            g.attrs["description"] = "batch metadata (text; empty = not recorded)"
            for k, v in meta.items():
                g.attrs[k] = v
            src = f.create_group("sources")
            src.attrs["description"] = "files this batch was imported from"
            write_dataset(
                src,
                "file",
                _fixed_strings([Path(n).name[:255] for n, _ in batch.sources], 256, "file", None),
                None,
                "file name",
            )
            write_dataset(
                src,
                "sha256",
                np.array([h.encode() for _, h in batch.sources], dtype="S64"),
                None,
                "SHA-256 of the file's bytes",
            )
            des = f.create_group("design")
            des.attrs["description"] = "hole design, one entry per hole"
            write_dataset(des, "hole_id", hole_ids, None, "hole identifier").make_scale("hole_id")
            write_dataset(des, "group", groups, None, "hole group (e.g. a row drilled by one electrode)")
            write_dataset(des, "nominal_diameter", np.asarray(d.nominal_diameter, float), "mm", "nominal hole diameter")
            write_dataset(des, "nominal_x", np.asarray(d.nominal_x, float), "mm", "nominal position x (NaN: not given)")
            write_dataset(des, "nominal_y", np.asarray(d.nominal_y, float), "mm", "nominal position y (NaN: not given)")
            write_dataset(des, "depth", np.asarray(d.depth, float), "mm", "nominal hole depth")
            write_dataset(
                des,
                "station_depth",
                np.asarray(d.station_depth, float),
                "mm",
                "measurement station depth below the entry surface (union over holes)",
            ).make_scale("station_depth")
            write_dataset(
                des,
                "station_mask",
                np.asarray(d.station_mask, np.uint8),
                "1",
                "1 where the station belongs to the hole (first: entry station, last: exit station)",
            )
            des["station_mask"].dims[0].attach_scale(des["hole_id"])
            des["station_mask"].dims[1].attach_scale(des["station_depth"])
            pts = f.create_group("parts")
            write_dataset(pts, "serial", serials, None, "engraved serial number").make_scale("serial")
            write_dataset(pts, "measured_at", times, None, "time of the part's last measurement (ISO 8601, '' unknown)")
            dev = f.create_group("devices")
            write_dataset(dev, "name", devices, None, "measuring device (and method)")
            write_dataset(
                dev,
                "uncertainty",
                np.asarray(batch.device_uncertainty, float),
                "mm",
                "expanded measurement uncertainty U (k = 2); NaN: not stated",
            )
            m = f.create_group("measurements")
            m.attrs["description"] = "measured values; NaN where not measured"
            c3 = (cp, h_, s_) if p_ * h_ * s_ else None
            c2 = (cp, h_) if p_ * h_ else None
            arrays3: tuple[tuple[str, Any, Any, str, str], ...] = (
                ("diameter", batch.diameter, np.float32, "mm", "measured diameter at the station"),
                ("x_dev", batch.x_dev, np.float32, "mm", "position deviation in x from the nominal position"),
                ("y_dev", batch.y_dev, np.float32, "mm", "position deviation in y from the nominal position"),
                ("device", batch.device, np.int16, "1", "index into /devices (-1: not measured)"),
            )
            for name, arr, dt, units, desc in arrays3:
                ds = write_dataset(m, name, np.asarray(arr, dt), units, desc, chunks=c3)
                ds.dims[0].attach_scale(pts["serial"])
                ds.dims[1].attach_scale(des["hole_id"])
                ds.dims[2].attach_scale(des["station_depth"])
            arrays2: tuple[tuple[str, Any, Any, str, str], ...] = (
                ("depth", batch.depth, np.float32, "mm", "measured hole depth (NaN: not measured)"),
                ("depth_device", batch.depth_device, np.int16, "1", "index into /devices of the depth measurement"),
                ("blocked", batch.blocked, np.uint8, "1", "1: hole blocked (not through / not open to depth)"),
            )
            for name, arr, dt, units, desc in arrays2:
                ds = write_dataset(m, name, np.asarray(arr, dt), units, desc, chunks=c2)
                ds.dims[0].attach_scale(pts["serial"])
                ds.dims[1].attach_scale(des["hole_id"])
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the inspection batch: {exc}") from None


# --------------------------------------------------------------------------- inspection batch: read
class BatchReader:
    """An open inspection batch, read part block by part block.

    Use through :func:`open_batch`.  ``meta``, ``design``, ``serials``,
    ``devices``, ``device_uncertainty`` and ``measured_at`` are loaded on
    opening (small); the measurements are read with :meth:`read_parts` or
    :meth:`iter_chunks`.
    """

    #: Per part × hole (× station) measurement datasets: name -> (kind, units, per station).
    _MEASUREMENTS: ClassVar[dict[str, tuple[str, str, bool]]] = {
        "diameter": ("float", "mm", True),
        "x_dev": ("float", "mm", True),
        "y_dev": ("float", "mm", True),
        "device": ("int", "1", True),
        "depth": ("float", "mm", False),
        "depth_device": ("int", "1", False),
        "blocked": ("flag", "1", False),
    }

    def __init__(self, f: Any, path: Path) -> None:
        self._f = f
        self.path = path
        self.schema_version = check_header(f, path, BATCH_FILE)
        check_self_contained(f, path)
        # Everything is validated as on writing: a batch file is a record, and a
        # damaged or hand-edited one must be refused, never half-read.
        grp, _ = get_group(f, "batch", path)
        self.meta = {k: attr_text(grp, k, path) for k in BATCH_FIELDS}
        for k, v in self.meta.items():
            if len(v) > _MAX_ATTR_TEXT or not v.isprintable():
                raise InputDataError(f"{path}: batch metadata /batch@{k} = {v[:40]!r}: must be printable text")
        for k in REQUIRED_BATCH_FIELDS:
            if not self.meta[k].strip():
                raise InputDataError(f"{path}: batch metadata /batch@{k} is missing or empty (required)")
        hole_id = _read_strings(f, "design/hole_id", path, HOLE_ID_LEN, "hole id", _ID_RE, unique=True)
        h_ = len(hole_id)
        group = _read_strings(f, "design/group", path, GROUP_LEN, "hole group", _ID_RE, shape=(h_,))

        def hole(i: tuple[int, ...]) -> str:
            return f" of hole {hole_id[i[0]]}"

        def floats(name: str, shape: tuple[int | None, ...], **kw: Any) -> np.ndarray:
            ds = get_dataset(f, name, path, kind="float", shape=shape, units="mm")
            arr = np.asarray(read_dataset(ds, path), float)
            where = kw.pop("where", hole if name.startswith("design/") else None)
            check_values(arr, path, f"/{name}", unit="mm", where=where, **kw)
            return arr

        nominal_diameter = floats("design/nominal_diameter", (h_,), minimum=0.0, strict=True)
        nominal_x = floats("design/nominal_x", (h_,), allow_nan="not given")
        nominal_y = floats("design/nominal_y", (h_,), allow_nan="not given")
        depth = floats("design/depth", (h_,), minimum=0.0, strict=True)
        st = floats("design/station_depth", (None,), minimum=0.0, where=None)
        if st.size > 1 and np.any(np.diff(st) <= 0):
            raise InputDataError(f"{path}: /design/station_depth must be strictly increasing, got {st.tolist()[:8]}")
        s_ = int(st.size)
        mds = get_dataset(f, "design/station_mask", path, kind="flag", shape=(h_, s_), units="1")
        mask = np.asarray(read_dataset(mds, path))
        if mask.size and not np.isin(mask, (0, 1)).all():
            raise InputDataError(f"{path}: /design/station_mask must hold only 0 and 1")
        self.design = Design(
            hole_id=hole_id,
            group=group,
            nominal_diameter=nominal_diameter,
            nominal_x=nominal_x,
            nominal_y=nominal_y,
            depth=depth,
            station_depth=st,
            station_mask=mask.astype(bool),
        )
        self.serials = _read_strings(f, "parts/serial", path, SERIAL_LEN, "serial number", _ID_RE, unique=True)
        p_ = len(self.serials)
        self.measured_at = _read_strings(f, "parts/measured_at", path, TIME_LEN, "measured_at", None, shape=(p_,))
        for i, t in enumerate(self.measured_at):
            if t and not _is_iso_time(t):
                raise InputDataError(
                    f"{path}: /parts/measured_at[{i}] = {t!r} (part {self.serials[i]}) is not an ISO 8601 time"
                )
        self.devices = _read_strings(f, "devices/name", path, DEVICE_LEN, "device name", None)
        n_dev = len(self.devices)
        self.device_uncertainty = floats("devices/uncertainty", (n_dev,), allow_nan="not stated", minimum=0.0)
        files = _read_strings(f, "sources/file", path, 256, "source file name", None)
        hashes = _read_strings(f, "sources/sha256", path, 64, "source sha256", None, shape=(len(files),))
        self.sources = list(zip(files, hashes, strict=True))
        self.supersedes = attr_text(f, "supersedes_sha256", path)
        self._n_dev = n_dev
        self._m = {}
        for name, (kind, units, per_station) in self._MEASUREMENTS.items():
            shape = (p_, h_, s_) if per_station else (p_, h_)
            self._m[name] = get_dataset(f, f"measurements/{name}", path, kind=kind, shape=shape, units=units)
        try:
            chunks = self._m["diameter"].chunks
        except H5_ERRORS as exc:
            raise InputDataError(
                f"{path}: /measurements/diameter cannot be read, the file is damaged ({exc})"
            ) from None
        self.chunk_parts = int(chunks[0]) if chunks and chunks[0] else max(p_, 1)

    @property
    def n_parts(self) -> int:
        return len(self.serials)

    def read_parts(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Measurements of parts ``start:stop``: arrays as in :class:`Batch` (blocked as bool).

        Values are checked: diameters and depths finite and > 0, position
        deviations finite (NaN: not measured), device indices valid, blocked 0/1.
        """
        out: dict[str, np.ndarray] = {}
        for k, ds in self._m.items():
            try:
                out[k] = ds[start:stop]
            except H5_ERRORS as exc:  # checksum (fletcher32) or decompression failure
                raise InputDataError(
                    f"{self.path}: damaged data in /measurements/{k}, parts {start}..{stop - 1} "
                    f"({', '.join(self.serials[start : min(stop, start + 3)])}{', …' if stop - start > 3 else ''}): "
                    f"{exc}"
                ) from None
        d = self.design

        def where(idx: tuple[int, ...]) -> str:
            txt = f" of part {self.serials[start + idx[0]]}, hole {d.hole_id[idx[1]]}"
            return txt + (f", station {d.station_depth[idx[2]]:g} mm" if len(idx) > 2 else "")

        for k, positive in (("diameter", True), ("x_dev", False), ("y_dev", False), ("depth", True)):
            check_values(
                out[k], self.path, f"/measurements/{k}", allow_nan="not measured", minimum=0.0 if positive else None,
                strict=True, unit="mm", where=where,
            )  # fmt: skip
        for k in ("device", "depth_device"):
            idx = out[k]
            bad = (idx < -1) | (idx >= self._n_dev)
            if bad.any():
                i = tuple(int(x) for x in np.argwhere(bad)[0])
                raise InputDataError(
                    f"{self.path}: /measurements/{k}{where(i)} = {int(idx[i])}: must be a device index "
                    f"0..{self._n_dev - 1} (or -1: not measured)"
                )
        blk = out["blocked"]
        if blk.size and not np.isin(blk, (0, 1)).all():
            i = tuple(int(x) for x in np.argwhere(~np.isin(blk, (0, 1)))[0])
            raise InputDataError(f"{self.path}: /measurements/blocked{where(i)} = {int(blk[i])}: must be 0 or 1")
        for k in ("device", "depth_device"):
            out[k] = out[k].astype(np.int16, copy=False)
        out["blocked"] = blk.astype(bool)
        return out

    def iter_chunks(self, parts_per_chunk: int | None = None) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """Yield ``(start, stop, arrays)`` blocks of whole parts, aligned with the file's chunks."""
        n = parts_per_chunk or max(
            self.chunk_parts,
            (2_000_000 // max(self.design.n_holes * self.design.n_stations, 1)) // self.chunk_parts * self.chunk_parts,
        )
        for start in range(0, self.n_parts, n):
            stop = min(start + n, self.n_parts)
            yield start, stop, self.read_parts(start, stop)


@contextlib.contextmanager
def open_batch(path: str | Path) -> Iterator[BatchReader]:
    """Open an inspection batch read-only for streaming (validated on opening)."""
    p = Path(path)
    with open_h5(p, "inspection batch") as f:
        yield BatchReader(f, p)


def read_batch(path: str | Path) -> Batch:
    """Read a whole inspection batch into memory."""
    with open_batch(path) as r:
        a = r.read_parts(0, r.n_parts)
        return Batch(
            meta=dict(r.meta),
            serials=r.serials,
            design=r.design,
            devices=r.devices,
            device_uncertainty=r.device_uncertainty,
            diameter=a["diameter"],
            x_dev=a["x_dev"],
            y_dev=a["y_dev"],
            device=a["device"],
            depth=a["depth"],
            depth_device=a["depth_device"],
            blocked=a["blocked"],
            measured_at=r.measured_at,
            sources=r.sources,
            supersedes=r.supersedes,
        )


# --------------------------------------------------------------------------- QC results files
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
_LEGEND = "; ".join(f"{k}: {v}" for k, v in VERDICT_NAMES.items())


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

    def __init__(self, f: Any) -> None:
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
    p_ = len(serials)
    try:
        with atomic_h5(path, mode=0o444, umask=True) as f:  # a record: read-only
            write_header(f, QC_RESULT_FILE, {"verdict_codes": _LEGEND, **attrs})
            for k, v in texts.items():
                write_text_dataset(f, k, v, f"{k} (text)")
            inp = f.create_group("inputs")
            write_dataset(
                inp, "role", np.array([r.encode() for r, _, _ in inputs], dtype="S16"), None, "role of the input"
            )
            write_dataset(
                inp,
                "path",
                _fixed_strings([str(pth)[-1024:] for _, pth, _ in inputs], 1024, "path", None),
                None,
                "path as given",
            )
            write_dataset(
                inp,
                "sha256",
                np.array([h.encode() for _, _, h in inputs], dtype="S64"),
                None,
                "SHA-256 of the file's bytes",
            )
            pts = f.create_group("parts")
            write_dataset(pts, "serial", validate_serials(serials), None, "engraved serial number").make_scale("serial")
            write_dataset(
                pts,
                "measured_at",
                _fixed_strings(measured_at, TIME_LEN, "measured_at", None),
                None,
                "time of the part's last measurement (from the inspection file)",
            )
            des = f.create_group("design")
            write_dataset(
                des, "hole_id", _fixed_strings(hole_id, HOLE_ID_LEN, "hole id", _ID_RE), None, "hole identifier"
            ).make_scale("hole_id")
            write_dataset(des, "station_depth", np.asarray(station_depth, float), "mm", "station depth").make_scale(
                "station_depth"
            )
            write_dataset(
                des,
                "characteristic",
                np.array([c.encode() for c in characteristics], dtype="S32"),
                None,
                "characteristic names (second axis of /parts/n_rejected_holes_by_characteristic)",
            )
            for a in arrays:
                grp, _, leaf = a.name.rpartition("/")
                g = f.require_group(grp) if grp else f
                chunks = list(a.shape)
                if a.shape and a.shape[0] == p_:
                    chunks[0] = _chunk_parts(p_, int(np.prod(a.shape)) // max(p_, 1))
                scales = _axis_scales(a.shape, (pts["serial"], des["hole_id"], des["station_depth"]))
                write_dataset(
                    g, leaf, None, a.units, a.description, shape=a.shape, dtype=a.dtype, fill=a.fill,
                    chunks=tuple(chunks), dims=scales,
                )  # fmt: skip
            yield QCResultWriter(f)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the QC results file: {exc}") from None


def read_qc_result(path: str | Path) -> dict[str, Any]:
    """Read a QC results file: ``attrs``, ``inputs``, ``parts`` (per-part arrays), ``texts``."""
    p = Path(path)
    with open_h5(p, "QC results file") as f:
        check_header(f, p, QC_RESULT_FILE)
        try:
            parts = {k: f["parts"][k][()] for k in f["parts"]}
            parts["serial"] = np.array(_decode(parts["serial"]))
            parts["measured_at"] = np.array(_decode(parts["measured_at"]))
            return {
                "attrs": {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()},
                "inputs": list(
                    zip(
                        _decode(f["inputs/role"][()]),
                        _decode(f["inputs/path"][()]),
                        _decode(f["inputs/sha256"][()]),
                        strict=True,
                    )
                ),
                "characteristics": _decode(f["design/characteristic"][()]),
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


# --------------------------------------------------------------------------- the trace store
STORE_SUBDIRS = ("results", "inspections", "specs", "predictions")


def prepare_store(store: str | Path) -> Path:
    """Create the store folder (and its sub-folders) if needed; its parent must exist."""
    s = Path(store)
    if not s.parent.is_dir() and str(s.parent):
        raise OutputError(f"{s}: cannot create the QC store, folder {s.parent} does not exist")
    try:
        s.mkdir(exist_ok=True)
        for sub in STORE_SUBDIRS:
            (s / sub).mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{s}: cannot create the QC store: {exc}") from None
    return s


def archive_input(store: Path, kind: str, src: str | Path, sha256: str, suffix: str) -> Path:
    """Copy an input file into ``store/kind/<sha256><suffix>`` unless it is there already.

    The copy is written to a temporary file and renamed; the source is only read.
    """
    dest = store / kind / f"{sha256}{suffix}"
    if dest.exists() and dest.stat().st_size == Path(src).stat().st_size:
        return dest
    try:
        with atomic_write(dest, mode=0o444) as tmp:
            shutil.copyfile(src, tmp)
    except OSError as exc:
        raise OutputError(f"{dest}: cannot archive {src}: {exc}") from None
    return dest


def result_file_name(batch_id: str, checked_at: str, digest: str) -> str:
    """``<batch id>_<time>_<hash12>.h5`` with unsafe characters replaced by ``_``."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", batch_id)[:64] or "batch"
    stamp = re.sub(r"[^0-9TZ]", "", checked_at)
    return f"{safe}_{stamp}_{digest[:12]}.h5"


def trace_serial(serial: str, store: str | Path) -> tuple[list[dict[str, Any]], int]:
    """Every QC record of ``serial`` in the store, oldest first; and the number of files scanned.

    A results file that cannot be read (damaged, truncated, hand-edited) is an
    :class:`InputDataError` naming it: it might hold a record of the serial,
    so the trace would be incomplete without it.
    """
    s = Path(store)
    res = s / "results"
    if not res.is_dir():
        raise InputDataError(f"{s}: not an ecmsim QC store (no results/ folder)")
    records: list[dict[str, Any]] = []
    files = sorted(res.glob("*.h5"))  # hidden temporary files (.NAME.XXXX.tmp) never match
    for path in files:
        try:
            with open_h5(path, "QC results file") as f:
                rec = _trace_record(f, path, serial)
        except InputDataError as exc:
            raise InputDataError(
                f"{exc} (QC store {s}: this results file is damaged; restore it from a backup, the trace "
                "of a serial is incomplete without it)"
            ) from None
        if rec is not None:
            records.append(rec)
    records.sort(key=lambda r: (r["checked_at"], r["results_file"]))
    return records, len(files)


def _trace_record(f: Any, path: Path, serial: str) -> dict[str, Any] | None:
    """The record of ``serial`` in one QC results file (None if the file does not hold it)."""
    check_header(f, path, QC_RESULT_FILE)
    serials = _read_strings(f, "parts/serial", path, SERIAL_LEN, "serial number", _ID_RE, unique=True)
    if serial not in serials:
        return None
    i = serials.index(serial)
    p_ = len(serials)
    chars = _read_strings(f, "design/characteristic", path, 32, "characteristic", _ID_RE)
    hole_ids = _read_strings(f, "design/hole_id", path, HOLE_ID_LEN, "hole id", _ID_RE)
    measured_at = _read_strings(f, "parts/measured_at", path, TIME_LEN, "measured_at", None, shape=(p_,))[i]

    def part(name: str, kind: str, shape: tuple[int, ...] = (p_,)) -> Any:
        return read_dataset(get_dataset(f, f"parts/{name}", path, kind=kind, shape=shape), path, i)

    verdict = int(part("verdict", "int"))
    if verdict not in VERDICT_NAMES:
        raise InputDataError(f"{path}: /parts/verdict of {serial} = {verdict}: not a verdict code ({_LEGEND})")
    nbc = part("n_rejected_holes_by_characteristic", "int", (p_, len(chars)))
    hv = get_dataset(f, "holes/verdict", path, kind="int", shape=(p_, len(hole_ids)))
    hr = read_dataset(get_dataset(f, "holes/rejected", path, kind="flag", shape=(p_, len(hole_ids))), path, i)

    def text(name: str) -> str:
        return attr_text(f, name, path)

    return {
        "serial": serial,
        "results_file": str(path),
        "checked_at": text("checked_at"),
        "batch_id": text("batch_id"),
        "part_number": text("part_number"),
        "drawing_revision": text("drawing_revision"),
        "inspection_file": text("inspection_file"),
        "inspection_sha256": text("inspection_sha256"),
        "spec_sha256": text("spec_sha256"),
        "decision_rule": text("decision_rule"),
        "measured_at": measured_at,
        "verdict": VERDICT_NAMES[verdict],
        "accepted": bool(part("accepted", "flag")),
        "rejected_holes": [hole_ids[j] for j in np.nonzero(hr)[0][:20]],
        "n_holes": int(hv.shape[1]),
        "n_undecided": int(part("n_undecided", "int")),
        "rejected_by_characteristic": {c: int(n) for c, n in zip(chars, nbc, strict=True) if n},
        "model_deviation": bool(part("model_deviation", "flag")),
        "ecmsim_version": text("ecmsim_version"),
    }


def dumps_json(obj: Any) -> str:
    """JSON text with sorted keys (NaN not allowed: use None)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
