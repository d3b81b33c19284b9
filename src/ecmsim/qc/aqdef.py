"""Export QC check results as AQDEF (Q-DAS ASCII transfer format, one ``.dfq`` file).

A ``.dfq`` file is a description part (K-fields of the part, ``K1xxx``, and
of every characteristic ``i``, ``K2xxx/i``) followed by the values
(``K00xx/i``), one line per K-field: ``K2101/3 1.2``.  One characteristic is
written per hole and toleranced quantity (each toleranced station of the
diameter, entry and exit diameter, taper, true position, depth), with the
nominal and the tolerance limits the check used; one value record per part
and characteristic with the measured or evaluated value, its validity, the
measurement time, the batch, the serial number and ecmsim's verdict.  The
fields written are listed in ``docs/formats.md``.

The input is a QC results file (``ecmsim qc check``); the measured
diameters and depths come from the inspection batch it was derived from,
found by its SHA-256 in the store (``inspections/<sha256>.h5``) or at its
original path, and verified by hash.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io.batch import Batch, read_batch
from ecmsim.io.common import (
    QC_RESULT_FILE,
    atomic_write,
    attr_text,
    check_header,
    get_dataset,
    open_h5,
    read_dataset,
    sha256_file,
)
from ecmsim.io.qc_results import VERDICT_NA, VERDICT_NAMES
from ecmsim.io.strings import HOLE_ID_LEN, ID_RE, SERIAL_LEN, read_strings

#: Units (K2142) and decimal places (K2022) written per characteristic.
UNITS = {"diameter": "mm", "entry_diameter": "mm", "exit_diameter": "mm", "taper": "°", "position": "mm", "depth": "mm"}
DECIMALS = {"taper": 3}
#: K0002 attribute of a value: valid, and placeholder (not measured: not shown, not used in calculations).
ATTRIBUTE_VALID = 0
ATTRIBUTE_PLACEHOLDER = 255
#: Text encoding of the written file (Q-DAS reads ISO 8859-1 / Windows ANSI files).
ENCODING = "latin-1"
_DESCRIPTION = {
    "diameter": "diameter at {z} mm",
    "entry_diameter": "entry diameter",
    "exit_diameter": "exit diameter",
    "taper": "taper (half angle)",
    "position": "true position",
    "depth": "depth",
}


@dataclass
class CheckRecord:
    """What a QC results file says about one batch: parts, holes, limits, verdicts and evaluated values."""

    path: Path
    attrs: dict[str, str]
    serials: list[str]
    measured_at: list[str]
    hole_id: list[str]
    station_depth: np.ndarray  # (S,) mm
    limits: dict[str, tuple[np.ndarray, np.ndarray]]  # characteristic -> (lower, upper), (H,) or (H, S)
    verdicts: dict[str, np.ndarray]  # characteristic -> (P, H) or (P, H, S)
    values: dict[str, np.ndarray]  # evaluated values (P, H): entry/exit diameter, taper, position


@dataclass
class Characteristic:
    """One AQDEF characteristic: a toleranced quantity of one hole (at one station for diameters)."""

    name: str  # ecmsim characteristic
    hole: int
    station: int  # index into the station depths (diameter only; -1 otherwise)
    description: str
    nominal: float
    lower: float
    upper: float


@dataclass
class ExportSummary:
    """What an export wrote: file, parts, characteristics, values (not measured: written as placeholders)."""

    path: Path
    n_parts: int
    n_characteristics: int
    n_values: int
    n_not_measured: int


_ATTRS = ("batch_id", "part_number", "drawing_revision", "spec_name", "inspection_file", "inspection_sha256",
          "spec_sha256", "checked_at", "decision_rule")  # fmt: skip


def read_check_record(path: str | Path) -> CheckRecord:
    """Read what the export needs from a QC results file, validated (an input error names the dataset)."""
    p = Path(path)
    with open_h5(p, "QC results file") as f:
        check_header(f, p, QC_RESULT_FILE)
        attrs = {k: attr_text(f, k, p) for k in _ATTRS}
        serials = read_strings(f, "parts/serial", p, SERIAL_LEN, "serial number", ID_RE, unique=True)
        p_ = len(serials)
        measured_at = read_strings(f, "parts/measured_at", p, 32, "measured_at", None, shape=(p_,))
        hole_id = read_strings(f, "design/hole_id", p, HOLE_ID_LEN, "hole id", ID_RE, unique=True)
        h_ = len(hole_id)
        station = np.asarray(read_dataset(get_dataset(f, "design/station_depth", p, kind="float"), p), float)
        s_ = station.size
        limits, verdicts, values = {}, {}, {}
        for name in UNITS:
            base = f"characteristics/{name}"
            shape: tuple[int, ...] = (h_, s_) if name == "diameter" else (h_,)
            if base not in f:
                continue
            verdicts[name] = np.asarray(
                read_dataset(get_dataset(f, f"{base}/verdict", p, kind="int", shape=(p_, *shape)), p)
            )
            if f"{base}/lower_limit" in f:
                lo = get_dataset(f, f"{base}/lower_limit", p, kind="float", shape=shape)
                hi = get_dataset(f, f"{base}/upper_limit", p, kind="float", shape=shape)
                limits[name] = (np.asarray(read_dataset(lo, p), float), np.asarray(read_dataset(hi, p), float))
            if f"{base}/value" in f:
                values[name] = np.asarray(
                    read_dataset(get_dataset(f, f"{base}/value", p, kind="float", shape=(p_, h_)), p)
                )
    return CheckRecord(p, attrs, serials, measured_at, hole_id, station, limits, verdicts, values)


def find_inspection(record: CheckRecord, store: str | Path | None = None) -> Path:
    """The inspection batch a results file was derived from, verified by its SHA-256.

    Looked for in ``<store>/inspections/<sha256>.h5`` (``store`` given, or the
    store holding the results file), then at the path the results file records.
    """
    sha = record.attrs["inspection_sha256"]
    if len(sha) != 64:
        raise InputDataError(f"{record.path}: inspection_sha256 = {sha!r} is not a SHA-256 (64 hex digits)")
    stores = [Path(store)] if store is not None else []
    stores.append(record.path.resolve().parent.parent)
    candidates = [s / "inspections" / f"{sha}.h5" for s in stores]
    if record.attrs["inspection_file"]:
        candidates.append(Path(record.attrs["inspection_file"]))
    for c in candidates:
        if c.is_file():
            if sha256_file(c) == sha:
                return c
            if c.parent.name == "inspections":
                raise InputDataError(f"{c}: archived inspection does not match its SHA-256 {sha} (changed or damaged)")
    looked = ", ".join(str(c) for c in candidates)
    raise InputDataError(
        f"{record.path}: the inspection batch it was checked from (sha256 {sha[:12]}…) is not found with that hash "
        f"(looked at: {looked}); pass the QC store with --store"
    )


def _nominals(record: CheckRecord, batch: Batch) -> dict[str, np.ndarray]:
    """Nominal of every characteristic (NaN: none), from the spec text the results file holds."""
    from ecmsim.qc.spec import parse_spec

    with open_h5(record.path, "QC results file") as f:
        text = f["spec_toml"][()] if "spec_toml" in f else b""
    text = text.decode("utf-8") if isinstance(text, bytes) else str(text)
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != record.attrs["spec_sha256"]:
        raise InputDataError(f"{record.path}: /spec_toml does not match spec_sha256 (changed or damaged record)")
    rspec = parse_spec(text, f"{record.path}:/spec_toml").resolve(batch.design)
    return {name: lim.nominal for name, lim in rspec.limits.items()}


def characteristics(record: CheckRecord, batch: Batch) -> list[Characteristic]:
    """The toleranced characteristics of the batch, hole by hole (diameters station by station, then the rest)."""
    nominal = _nominals(record, batch)
    mask = batch.design.station_mask
    out: list[Characteristic] = []
    for h, hid in enumerate(record.hole_id):
        for name in UNITS:
            if name not in record.limits:
                continue
            lo, hi = record.limits[name]
            nom = nominal[name]
            if lo.ndim == 2:
                cells = [(int(s), lo[h, s], hi[h, s], nom[h, s]) for s in np.nonzero(mask[h])[0]]
            else:
                cells = [(-1, lo[h], hi[h], nom[h])]
            for s, a, b, nominal_value in cells:
                if not (np.isfinite(a) or np.isfinite(b)):
                    continue  # not toleranced
                z = f"{record.station_depth[s]:g}" if s >= 0 else ""
                desc = f"{hid} {_DESCRIPTION[name].format(z=z)}"
                out.append(Characteristic(name, h, s, desc, float(nominal_value), float(a), float(b)))
    return out


def _number(v: float | np.floating) -> str:
    """Shortest text that reads back as the same float32 (values) or float64 (limits)."""
    return np.format_float_positional(v, unique=True, trim="-")


def _qdas_time(text: str) -> str:
    """ISO 8601 (as stored) as Q-DAS ``DD.MM.YYYY/HH:MM:SS`` ('' when unknown; a date alone at 00:00:00)."""
    if not text:
        return ""
    t = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return f"{t:%d.%m.%Y/%H:%M:%S}"


def _header_lines(record: CheckRecord, batch: Batch, chars: list[Characteristic]) -> list[str]:
    a = record.attrs
    lines = [f"K0100 {len(chars)}", f"K1001/1 {a['part_number']}"]
    lines.append(f"K1002/1 {a['spec_name'] or a['part_number']}")
    lines.append(f"K1042/1 {a['drawing_revision']}")
    if batch.meta.get("machine"):
        lines.append(f"K1081/1 {batch.meta['machine']}")
    for i, c in enumerate(chars, 1):
        lines += [f"K2001/{i} {i}", f"K2002/{i} {c.description}", f"K2004/{i} 0"]
        lines.append(f"K2022/{i} {DECIMALS.get(c.name, 4)}")
        if np.isfinite(c.nominal):
            lines.append(f"K2101/{i} {_number(c.nominal)}")
        if np.isfinite(c.lower):
            lines.append(f"K2110/{i} {_number(c.lower)}")
        if np.isfinite(c.upper):
            lines.append(f"K2111/{i} {_number(c.upper)}")
        lines.append(f"K2142/{i} {UNITS[c.name]}")
    return lines


def _value(record: CheckRecord, batch: Batch, c: Characteristic, p: int) -> tuple[float, str]:
    """The value of characteristic ``c`` of part ``p`` (NaN: not measured) and a note ('blocked' or '')."""
    if c.name == "diameter":
        return float(batch.diameter[p, c.hole, c.station]), ""
    if c.name == "depth":
        return float(batch.depth[p, c.hole]), "blocked" if batch.blocked[p, c.hole] else ""
    return float(record.values[c.name][p, c.hole]), ""


def _value_lines(record: CheckRecord, batch: Batch, chars: list[Characteristic]) -> tuple[list[str], int]:
    lines: list[str] = []
    missing = 0
    batch_id = record.attrs["batch_id"]
    for p, serial in enumerate(record.serials):
        when = _qdas_time(record.measured_at[p])
        for i, c in enumerate(chars, 1):
            v, note = _value(record, batch, c, p)
            code = record.verdicts[c.name][(p, c.hole, c.station) if c.station >= 0 else (p, c.hole)]
            verdict = VERDICT_NAMES.get(int(code), str(int(code)))
            if np.isfinite(v):
                lines += [f"K0001/{i} {_number(np.float32(v))}", f"K0002/{i} {ATTRIBUTE_VALID}"]
            else:
                missing += 1
                lines += [f"K0001/{i} 0", f"K0002/{i} {ATTRIBUTE_PLACEHOLDER}"]
            if when:
                lines.append(f"K0004/{i} {when}")
            lines.append(f"K0006/{i} {batch_id}")
            text = "; ".join(t for t in (note, f"ecmsim verdict: {verdict}" if code != VERDICT_NA else "") if t)
            if text:
                lines.append(f"K0009/{i} {text}")
            lines.append(f"K0014/{i} {serial}")
    return lines, missing


def export_aqdef(results: str | Path, output: str | Path, *, store: str | Path | None = None) -> ExportSummary:
    """Write the check results of one QC results file as a Q-DAS ``.dfq`` file (atomically).

    Parameters
    ----------
    results
        QC results file written by ``ecmsim qc check``.
    output
        The ``.dfq`` file to write (through :func:`ecmsim.io.common.atomic_write`).
    store
        QC store holding the archived inspection batch (default: the store
        that holds ``results``; the recorded original path is tried last).

    Raises
    ------
    InputDataError
        The results file or its inspection batch is missing, damaged or
        inconsistent (serials or holes differ, hashes do not match).
    OutputError
        The file cannot be written.
    """
    record = read_check_record(results)
    batch = read_batch(find_inspection(record, store))
    if batch.serials != record.serials or batch.design.hole_id != record.hole_id:
        raise InputDataError(f"{record.path}: its serials or holes differ from those of its inspection batch")
    chars = characteristics(record, batch)
    if not chars:
        raise InputDataError(f"{record.path}: no toleranced characteristic to export")
    head = _header_lines(record, batch, chars)
    values, missing = _value_lines(record, batch, chars)
    text = "\r\n".join([*head, *values]) + "\r\n"
    try:
        with atomic_write(output) as tmp:
            Path(tmp).write_bytes(text.encode(ENCODING, errors="replace"))
    except OSError as exc:
        raise OutputError(f"{output}: cannot write the AQDEF file: {exc.strerror or exc}") from None
    n = len(chars) * len(record.serials)
    return ExportSummary(Path(output), len(record.serials), len(chars), n - missing, missing)


def parse_dfq(text: str) -> tuple[dict[str, str], dict[int, dict[str, str]], dict[int, list[dict[str, str]]]]:
    """Read back a ``.dfq`` file in K-field form: part fields, characteristic fields, value records.

    Returns ``(part, characteristics, values)``: ``part`` maps ``K1xxx`` (and
    ``K0100``) to text, ``characteristics[i]`` the ``K2xxx`` of characteristic
    ``i``, ``values[i]`` one dict of ``K00xx`` per value record (a record starts
    at its ``K0001``).
    """
    part: dict[str, str] = {}
    chars: dict[int, dict[str, str]] = {}
    values: dict[int, list[dict[str, str]]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, _, content = line.partition(" ")
        field, _, index = key.partition("/")
        if not (field.startswith("K") and field[1:].isdigit() and len(field) == 5):
            raise InputDataError(f"line {n}: {line[:40]!r} is not a K-field line")
        i = int(index) if index else 0
        if field.startswith(("K1", "K01")):
            part[field] = content
        elif field.startswith("K2"):
            chars.setdefault(i, {})[field] = content
        elif field == "K0001":
            values.setdefault(i, []).append({field: content})
        elif field.startswith("K00"):
            if not values.get(i):
                raise InputDataError(f"line {n}: {field}/{i} before the first K0001/{i}")
            values[i][-1][field] = content
    return part, chars, values
