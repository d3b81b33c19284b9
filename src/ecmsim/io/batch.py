"""Inspection batch files (HDF5, schema ``ecmsim-inspection-batch``): writer and readers.

An inspection batch holds the measurements of one batch of parts: batch
metadata, the serial numbers, the hole design, per part × hole × station
diameters and position deviations, per part × hole depths and blocked
flags, the measuring devices and their expanded uncertainties.  Column
datasets (one array per field, never a group per hole), fixed-length ASCII
strings validated on write, ``units`` on every numeric dataset, the station
depths as a dimension scale, the storage policy of
:func:`ecmsim.io.common.storage_options`, the earliest file format, written
atomically.  Write it with :func:`write_batch`; read it whole with
:func:`read_batch` or part block by part block with :func:`open_batch`.
Layout: ``docs/inspection-schema.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io.common import (
    BATCH_FILE,
    H5_ERRORS,
    atomic_h5,
    attr_text,
    check_header,
    check_self_contained,
    check_values,
    get_dataset,
    get_group,
    open_h5,
    part_chunks,
    read_dataset,
    write_dataset,
    write_header,
)
from ecmsim.io.strings import (
    DEVICE_LEN,
    GROUP_LEN,
    HOLE_ID_LEN,
    ID_RE,
    SERIAL_LEN,
    TIME_LEN,
    fixed_strings,
    read_strings,
    validate_serials,
)

if TYPE_CHECKING:
    import h5py

INSPECTION_SCHEMA = BATCH_FILE.schema
INSPECTION_SCHEMA_VERSION = BATCH_FILE.version

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
_MAX_ATTR_TEXT = 1024


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


# --------------------------------------------------------------------------- inspection batch: write
@dataclass
class _EncodedText:
    """The text of a batch as stored: validated fixed-length arrays and metadata attributes."""

    serials: np.ndarray
    hole_ids: np.ndarray
    groups: np.ndarray
    devices: np.ndarray
    times: np.ndarray
    meta: dict[str, str]


def _encode_text(batch: Batch) -> _EncodedText:
    """Validate and encode the serials, hole ids, groups, devices, times and metadata of ``batch``."""
    d = batch.design
    serials = validate_serials(batch.serials)
    hole_ids = fixed_strings(d.hole_id, HOLE_ID_LEN, "hole id", ID_RE)
    if np.unique(hole_ids).size != hole_ids.size:
        raise InputDataError("hole ids must be unique")
    groups = fixed_strings(d.group, GROUP_LEN, "hole group", ID_RE)
    devices = fixed_strings(batch.devices, DEVICE_LEN, "device name", None)
    times = fixed_strings(batch.measured_at, TIME_LEN, "measured_at", None)
    meta = {k: _text_attr(batch.meta.get(k, ""), f"batch {k}") for k in BATCH_FIELDS}
    for k in REQUIRED_BATCH_FIELDS:
        if not meta[k].strip():
            raise InputDataError(f"batch metadata {k!r} is required")
    unknown = set(batch.meta) - set(BATCH_FIELDS)
    if unknown:
        raise InputDataError(f"unknown batch metadata {sorted(unknown)} (allowed: {', '.join(BATCH_FIELDS)})")
    return _EncodedText(serials, hole_ids, groups, devices, times, meta)


def _check_arrays(batch: Batch, text: _EncodedText) -> None:
    """Refuse arrays whose shapes disagree with the parts, holes and stations, and bad device indices."""
    d = batch.design
    p_, h_, s_ = len(batch.serials), d.n_holes, d.n_stations
    shapes = {
        "diameter": (batch.diameter, (p_, h_, s_)),
        "x_dev": (batch.x_dev, (p_, h_, s_)),
        "y_dev": (batch.y_dev, (p_, h_, s_)),
        "device": (batch.device, (p_, h_, s_)),
        "depth": (batch.depth, (p_, h_)),
        "depth_device": (batch.depth_device, (p_, h_)),
        "blocked": (batch.blocked, (p_, h_)),
        "measured_at": (text.times, (p_,)),
        "nominal_diameter": (d.nominal_diameter, (h_,)),
        "nominal_x": (d.nominal_x, (h_,)),
        "nominal_y": (d.nominal_y, (h_,)),
        "design depth": (d.depth, (h_,)),
        "groups": (text.groups, (h_,)),
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


def _write_design(f: h5py.Group, d: Design, text: _EncodedText) -> h5py.Group:
    """``/design``: one entry per hole; hole ids and station depths are dimension scales."""
    des = f.create_group("design")
    des.attrs["description"] = "hole design, one entry per hole"
    hole = write_dataset(des, "hole_id", text.hole_ids, None, "hole identifier", scale="hole_id")
    write_dataset(des, "group", text.groups, None, "hole group (e.g. a row drilled by one electrode)")
    write_dataset(des, "nominal_diameter", np.asarray(d.nominal_diameter, float), "mm", "nominal hole diameter")
    write_dataset(des, "nominal_x", np.asarray(d.nominal_x, float), "mm", "nominal position x (NaN: not given)")
    write_dataset(des, "nominal_y", np.asarray(d.nominal_y, float), "mm", "nominal position y (NaN: not given)")
    write_dataset(des, "depth", np.asarray(d.depth, float), "mm", "nominal hole depth")
    station = write_dataset(
        des, "station_depth", np.asarray(d.station_depth, float), "mm",
        "measurement station depth below the entry surface (union over holes)", scale="station_depth",
    )  # fmt: skip
    write_dataset(
        des, "station_mask", np.asarray(d.station_mask, np.uint8), "1",
        "1 where the station belongs to the hole (first: entry station, last: exit station)", dims=(hole, station),
    )  # fmt: skip
    return des


#: Measurement datasets: name -> (dtype, units, description); per part × hole × station, then per part × hole.
_PER_STATION: dict[str, tuple[Any, str, str]] = {
    "diameter": (np.float32, "mm", "measured diameter at the station"),
    "x_dev": (np.float32, "mm", "position deviation in x from the nominal position"),
    "y_dev": (np.float32, "mm", "position deviation in y from the nominal position"),
    "device": (np.int16, "1", "index into /devices (-1: not measured)"),
}
_PER_HOLE: dict[str, tuple[Any, str, str]] = {
    "depth": (np.float32, "mm", "measured hole depth (NaN: not measured)"),
    "depth_device": (np.int16, "1", "index into /devices of the depth measurement"),
    "blocked": (np.uint8, "1", "1: hole blocked (not through / not open to depth)"),
}


def _write_measurements(f: h5py.Group, batch: Batch, scales: tuple[h5py.Dataset, h5py.Dataset, h5py.Dataset]) -> None:
    """``/measurements``: chunked by whole parts (:func:`~ecmsim.io.common.part_chunks`)."""
    p_, h_, s_ = len(batch.serials), batch.design.n_holes, batch.design.n_stations
    cp = part_chunks(p_, h_ * s_)
    m = f.create_group("measurements")
    m.attrs["description"] = "measured values; NaN where not measured"
    for table, chunks, dims in (
        (_PER_STATION, (cp, h_, s_) if p_ * h_ * s_ else None, scales),
        (_PER_HOLE, (cp, h_) if p_ * h_ else None, scales[:2]),
    ):
        for name, (dt, units, desc) in table.items():
            write_dataset(m, name, np.asarray(getattr(batch, name), dt), units, desc, chunks=chunks, dims=dims)


def write_batch(path: str | Path, batch: Batch) -> None:
    """Write an inspection batch file atomically (see ``docs/inspection-schema.md``).

    The file is 0644 less the umask.

    Raises
    ------
    InputDataError
        Inconsistent shapes, invalid serials / hole ids / metadata.
    OutputError
        The file cannot be written.
    """
    text = _encode_text(batch)
    _check_arrays(batch, text)
    try:
        with atomic_h5(path, umask=True) as f:
            write_header(f, BATCH_FILE, {"supersedes_sha256": batch.supersedes})
            g = f.create_group("batch")
            g.attrs["description"] = "batch metadata (text; empty = not recorded)"
            for k, v in text.meta.items():
                g.attrs[k] = v
            src = f.create_group("sources")
            src.attrs["description"] = "files this batch was imported from"
            names = fixed_strings([Path(n).name[:255] for n, _ in batch.sources], 256, "file", None)
            write_dataset(src, "file", names, None, "file name")
            hashes = np.array([h.encode() for _, h in batch.sources], dtype="S64")
            write_dataset(src, "sha256", hashes, None, "SHA-256 of the file's bytes")
            des = _write_design(f, batch.design, text)
            pts = f.create_group("parts")
            serial = write_dataset(pts, "serial", text.serials, None, "engraved serial number", scale="serial")
            desc = "time of the part's last measurement (ISO 8601, '' unknown)"
            write_dataset(pts, "measured_at", text.times, None, desc)
            dev = f.create_group("devices")
            write_dataset(dev, "name", text.devices, None, "measuring device (and method)")
            uncertainty = np.asarray(batch.device_uncertainty, float)
            desc = "expanded measurement uncertainty U (k = 2); NaN: not stated"
            write_dataset(dev, "uncertainty", uncertainty, "mm", desc)
            _write_measurements(f, batch, (serial, des["hole_id"], des["station_depth"]))
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

    def __init__(self, f: h5py.Group, path: Path) -> None:
        self._f = f
        self.path = path
        self.schema_version = check_header(f, path, BATCH_FILE)
        check_self_contained(f, path)
        check_declared_sizes(f, path)
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
        hole_id = read_strings(f, "design/hole_id", path, HOLE_ID_LEN, "hole id", ID_RE, unique=True)
        h_ = len(hole_id)
        group = read_strings(f, "design/group", path, GROUP_LEN, "hole group", ID_RE, shape=(h_,))

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
        self.serials = read_strings(f, "parts/serial", path, SERIAL_LEN, "serial number", ID_RE, unique=True)
        p_ = len(self.serials)
        self.measured_at = read_strings(f, "parts/measured_at", path, TIME_LEN, "measured_at", None, shape=(p_,))
        for i, t in enumerate(self.measured_at):
            if t and not _is_iso_time(t):
                raise InputDataError(
                    f"{path}: /parts/measured_at[{i}] = {t!r} (part {self.serials[i]}) is not an ISO 8601 time"
                )
        self.devices = read_strings(f, "devices/name", path, DEVICE_LEN, "device name", None)
        n_dev = len(self.devices)
        self.device_uncertainty = floats("devices/uncertainty", (n_dev,), allow_nan="not stated", minimum=0.0)
        files = read_strings(f, "sources/file", path, 256, "source file name", None)
        hashes = read_strings(f, "sources/sha256", path, 64, "source sha256", None, shape=(len(files),))
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
        Parts whose arrays exceed the memory budget are refused before reading
        (:class:`~ecmsim.resources.ResourceError`).
        """
        from ecmsim.resources import Estimate, check_budget

        d = self.design
        n = max(stop - start, 0)
        size = sum(n * ds.dtype.itemsize * int(np.prod(ds.shape[1:])) for ds in self._m.values())
        check_budget(
            Estimate(float(size), 1.0, f"{self.path}: reading parts {start}..{stop - 1} "
                     f"({n} parts x {d.n_holes} holes x {d.n_stations} stations)",
                     (("measurement arrays", float(size)),)),
            "check that the file is the batch you meant (its declared shapes are in /measurements)",
        )  # fmt: skip
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


def check_declared_sizes(f: h5py.Group, path: Path) -> None:
    """Refuse a batch whose datasets read whole (all but /measurements) exceed the memory budget.

    Uses the shapes the file declares, before any value is read: a small file may
    declare a billion serial numbers, or hold a compressed dataset (or unwritten
    chunks) that expands to many GB.

    Raises
    ------
    ResourceError
        Naming the file, the largest dataset, its declared and stored sizes.
    """
    import h5py

    from ecmsim.resources import TEXT_VALUE_BYTES, Estimate, check_budget, format_bytes

    parts: list[tuple[str, float, int]] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and not name.startswith("measurements/"):
            n = int(np.prod(obj.shape)) if obj.shape else 1
            text = obj.dtype.kind in "SOU"
            parts.append((name, float(n * (obj.dtype.itemsize + (TEXT_VALUE_BYTES if text else 0))), n))

    try:
        f.visititems(visit)
        if not parts:
            return
        name, size, n = max(parts, key=lambda p: p[1])
        stored = f[name].id.get_storage_size()
    except H5_ERRORS:
        return  # the readers name the damage
    total = sum(p[1] for p in parts)
    check_budget(
        Estimate(total, 1.0, f"{path}: reading the batch's design and parts",
                 ((f"/{name} ({n} values, {format_bytes(stored)} stored in the file)", size),)),
        "check that the file is the batch you meant: a batch from ecmsim qc import or qc synth "
        "declares only the data it holds",
    )  # fmt: skip


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
