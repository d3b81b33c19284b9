"""Import inspection results from long-format CSV into an inspection batch.

Two files (``docs/qc.md`` documents them, with examples):

* the **design** CSV, one row per hole: ``hole_id``, ``nominal_diameter_mm``,
  ``depth_mm`` and optionally ``group``, ``x_mm``, ``y_mm`` (nominal
  position) and ``stations_mm`` (the hole's station depths, separated by
  ``;``);
* the **measurements** CSV, one row per measurement (part × hole ×
  station): ``serial``, ``hole_id``, ``station_depth_mm``, ``diameter_mm``
  and optionally ``x_dev_mm``, ``y_dev_mm``, ``depth_mm`` (a number or
  ``blocked``), ``device``, ``uncertainty_mm``, ``measured_at``.

Every bad row is collected and reported with the file, the line and the
reason; nothing is written unless every row is good.  Unknown columns are
errors (a misspelt optional column would otherwise be silently ignored).

Two shop conventions are options rather than guesses: a decimal comma
(``decimal=","``, as French and German spreadsheets write numbers, with
``;`` between the fields), and the case of serial numbers
(:data:`SERIAL_CASES`; by default they are stored in upper case, and two
spellings of one serial that differ only in case are an error).
"""

from __future__ import annotations

import datetime
import difflib
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecmsim.errors import InputDataError
from ecmsim.io.batch import Batch, Design
from ecmsim.io.common import sha256_file
from ecmsim.io.strings import ID_RE as _ID_RE
from ecmsim.io.strings import SERIAL_LEN, validate_serials
from ecmsim.qc.csvfile import open_table

MEASUREMENT_REQUIRED = ("serial", "hole_id", "station_depth_mm", "diameter_mm")
MEASUREMENT_OPTIONAL = ("x_dev_mm", "y_dev_mm", "depth_mm", "device", "uncertainty_mm", "measured_at")
DESIGN_REQUIRED = ("hole_id", "nominal_diameter_mm", "depth_mm")
DESIGN_OPTIONAL = ("group", "x_mm", "y_mm", "stations_mm")
#: Station depths are rounded to this many decimals of a mm (1 µm) to form the station set.
STATION_DECIMALS = 3
#: Group of holes whose design row leaves ``group`` empty.
DEFAULT_GROUP = "all"
#: Serial-number case rules: ``upper`` stores serials in upper case, ``preserve`` as written.
SERIAL_CASES = ("upper", "preserve")
#: Decimal separators of numbers in the CSV files and the field separator each implies.
DECIMAL_SEPARATORS = {".": ",", ",": ";"}
_MAX_REPORTED = 30
_PENDING_ROWS = 8192
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class _Errors:
    """The bad rows of a file: how many, and the first of them (enough to say that more were cut)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, msg: str) -> None:
        self.count += 1
        if len(self.items) <= _MAX_REPORTED:
            self.items.append((line, msg))

    def add_rows(self, lines: Iterable[int], messages: Iterable[str]) -> None:
        """Add the first ``_MAX_REPORTED + 1`` of many errors (enough to say that more were cut)."""
        for line, msg in itertools.islice(zip(lines, messages, strict=True), _MAX_REPORTED + 1):
            self.add(line, msg)

    def raise_if_any(self, what: str) -> None:
        if not self.count:
            return
        n = self.count
        shown = "\n".join(f"  {self.path}:{line}: {msg}" for line, msg in self.items[:_MAX_REPORTED])
        more = f"\n  … and {n - _MAX_REPORTED} more" if n > _MAX_REPORTED else ""
        raise InputDataError(f"{self.path}: {n} bad {what}{'s' if n > 1 else ''}; nothing was written:\n{shown}{more}")


def _read_table(
    path: Path, required: Sequence[str], optional: Sequence[str], delimiter: str, encoding: str
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header (normalised) and ``(line number, fields)`` rows of a small CSV file (design, mapping), read whole."""
    table = open_table(path, required, optional, delimiter, encoding)
    return table.header, list(table.records)


def _field_count(expected: int, found: int, delimiter: str) -> str:
    hint = (
        " (a decimal comma? the decimal separator is '.' unless --decimal comma is given)"
        if found > expected and delimiter == ","
        else ""
    )
    return f"expected {expected} fields, found {found}{hint}"


def _id_problem(value: str, col: str) -> str | None:
    """Why ``value`` is not a valid serial / hole id / group (the batch file's rules), or None."""
    if not value and col == "group":
        return None
    if not value.isascii():
        return f"{col} = {value!r}: only ASCII characters are allowed"
    if len(value) > SERIAL_LEN:
        return f"{col} = {value!r} is {len(value)} characters long; at most {SERIAL_LEN} are allowed"
    if not _ID_RE.match(value):
        return f"{col} = {value!r}: must start with a letter or digit and contain only letters, digits and . _ / + -"
    return None


#: Largest default measurement uncertainty ``--uncertainty-mm`` accepts (mm).
MAX_UNCERTAINTY_MM = 10.0
#: A measured diameter more than this factor away from the hole's nominal one is refused (a unit mix-up:
#: inches for mm, µm for mm).
PLAUSIBLE_FACTOR = 10.0
#: Measurement dates before this one are refused as implausible (as are dates after tomorrow).
EARLIEST_MEASUREMENT = datetime.date(1950, 1, 1)


def _number(
    text: str,
    col: str,
    errors: _Errors,
    line: int,
    positive: bool = False,
    nonneg: bool = False,
    decimal: str = ".",
) -> float:
    """Parse a number with ``decimal`` ('.' or ',') as separator; '' → NaN; on failure record an error, return NaN.

    With a decimal comma a '.' is refused: it would be a thousands separator
    in the shops that write decimal commas, and ``1.234`` would be read as 1.234
    where 1234 was meant.
    """
    if text == "":
        return math.nan
    if decimal == "," and "." in text:
        errors.add(
            line,
            f"{col} = {text!r}: with --decimal comma the decimal separator is ',' and '.' is not allowed "
            "(no thousands separators; write 1,234 for 1.234)",
        )
        return math.nan
    try:
        if "_" in text:  # Python reads 1_0 as 10: a typo must not become a measurement
            raise ValueError(text)
        v = float(text.replace(",", ".", 1) if decimal == "," and text.count(",") == 1 else text)
    except ValueError:
        hint = (
            " (the decimal separator is '.'; pass --decimal comma for files that write 1,234)"
            if "," in text and decimal == "."
            else ""
        )
        errors.add(line, f"{col} = {text!r} is not a number{hint}")
        return math.nan
    if not math.isfinite(v):
        errors.add(line, f"{col} = {text!r}: must be a finite number (leave the field empty if not measured)")
        return math.nan
    if abs(v) > _FLOAT32_MAX:  # measured values are stored as float32: it would become inf
        errors.add(line, f"{col} = {text!r}: out of range (at most {_FLOAT32_MAX:.3g} in magnitude)")
        return math.nan
    if positive and v <= 0:
        errors.add(line, f"{col} = {text!r}: must be > 0")
        return math.nan
    if positive and float(np.float32(v)) == 0.0:  # stored as float32, it would become 0
        errors.add(line, f"{col} = {text!r}: too small, rounds to 0 (must be > 0)")
        return math.nan
    if nonneg and v < 0:
        errors.add(line, f"{col} = {text!r}: must be ≥ 0")
        return math.nan
    return v


def _timestamp(text: str, errors: _Errors, line: int) -> str:
    """ISO 8601 date or date-time; with a time zone converted to UTC ('Z')."""
    if not text:
        return ""
    try:
        t = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        if len(text) == 10:
            return t.date().isoformat()
        if t.tzinfo is not None:
            t = t.astimezone(datetime.UTC)
    except (ValueError, OverflowError):  # OverflowError: a zone shifts the time out of years 1..9999
        errors.add(line, f"measured_at = {text!r} is not an ISO 8601 date or date-time (e.g. 2024-03-05T14:30:00Z)")
        return ""
    today = datetime.datetime.now(datetime.UTC).date()
    if not EARLIEST_MEASUREMENT <= t.date() <= today + datetime.timedelta(days=1):
        when = "in the future" if t.date() > today else f"before {EARLIEST_MEASUREMENT.year}"
        errors.add(line, f"measured_at = {text!r} is implausible: {when} (today is {today.isoformat()})")
        return ""
    return f"{t.year:04d}-{t:%m-%dT%H:%M:%S}" + ("Z" if t.tzinfo is not None else "")


def csv_separators(decimal: str, delimiter: str | None) -> tuple[str, str]:
    """The decimal and field separators of a CSV import, checked: ``decimal`` '.' or ',' (or ``point``/``comma``).

    ``delimiter`` None is the one the decimal separator implies (',' for a
    decimal point, ';' for a decimal comma).  A decimal comma with ',' between
    the fields is refused: ``1,5,2`` cannot be read.
    """
    dec = {"point": ".", "comma": ","}.get(decimal, decimal)
    if dec not in DECIMAL_SEPARATORS:
        raise InputDataError(f"--decimal {decimal!r}: must be 'point' (1.234) or 'comma' (1,234)")
    sep = DECIMAL_SEPARATORS[dec] if delimiter is None else delimiter
    if len(sep) != 1:
        raise InputDataError(f"--delimiter {sep!r}: must be one character")
    if dec == "," and sep in ",0123456789.-+":
        raise InputDataError(
            f"--decimal comma with --delimiter {sep!r} is ambiguous (1,5 would be two fields); "
            "use ';' (the default with --decimal comma) or a tab"
        )
    return dec, sep


def read_design_csv(
    path: str | Path, delimiter: str | None = None, encoding: str = "utf-8", decimal: str = "."
) -> tuple[Design, dict[str, int]]:
    """Read the design CSV; return the design (stations empty unless given) and the hole's design line.

    The stations are completed by :func:`import_csv` from the measurements
    when the design does not list them.  ``delimiter`` None: the one that
    ``decimal`` implies (:func:`csv_separators`).
    """
    p = Path(path)
    decimal, delimiter = csv_separators(decimal, delimiter)
    header, rows = _read_table(p, DESIGN_REQUIRED, DESIGN_OPTIONAL, delimiter, encoding)
    col = {c: i for i, c in enumerate(header)}
    errors = _Errors(p)
    ids: list[str] = []
    lines: dict[str, int] = {}
    group, dia, depth, xs, ys, stations = [], [], [], [], [], []
    for line, f in rows:
        if len(f) != len(header):
            errors.add(line, _field_count(len(header), len(f), delimiter))
            continue
        hid = f[col["hole_id"]]
        if not hid:
            errors.add(line, "hole_id is empty")
            continue
        bad = _id_problem(hid, "hole_id") or _id_problem(f[col["group"]] if "group" in col else "", "group")
        if bad:
            errors.add(line, bad)
            continue
        if hid in lines:
            errors.add(line, f"hole_id {hid!r} already defined on line {lines[hid]}")
            continue
        lines[hid] = line
        ids.append(hid)
        g = f[col["group"]] if "group" in col else ""
        group.append(g or DEFAULT_GROUP)
        d = _number(f[col["nominal_diameter_mm"]], "nominal_diameter_mm", errors, line, positive=True, decimal=decimal)
        z = _number(f[col["depth_mm"]], "depth_mm", errors, line, positive=True, decimal=decimal)
        if f[col["nominal_diameter_mm"]] == "":
            errors.add(line, "nominal_diameter_mm is empty")
        if f[col["depth_mm"]] == "":
            errors.add(line, "depth_mm is empty")
        dia.append(d)
        depth.append(z)
        xs.append(_number(f[col["x_mm"]], "x_mm", errors, line, decimal=decimal) if "x_mm" in col else math.nan)
        ys.append(_number(f[col["y_mm"]], "y_mm", errors, line, decimal=decimal) if "y_mm" in col else math.nan)
        st: list[float] = []
        if "stations_mm" in col and f[col["stations_mm"]]:
            for part in f[col["stations_mm"]].split(";"):
                v = _number(part.strip(), "stations_mm", errors, line, nonneg=True, decimal=decimal)
                if math.isfinite(v):
                    if math.isfinite(z) and v > z + 1e-9:
                        errors.add(line, f"station {v:g} mm is deeper than the hole's depth_mm {z:g}")
                    st.append(round(v, STATION_DECIMALS))
            if len(set(st)) != len(st):
                errors.add(line, "stations_mm lists a station twice")
        stations.append(sorted(set(st)))
    errors.raise_if_any("design row")
    try:  # hole ids and group names follow the rules of serial numbers
        validate_serials(ids)
        validate_serials(list(dict.fromkeys(group)))
    except InputDataError as exc:
        raise InputDataError(f"{p}: {str(exc).replace('serial number', 'hole id or group')}") from None
    union = sorted({s for st in stations for s in st})
    mask = np.zeros((len(ids), len(union)), bool)
    pos = {s: k for k, s in enumerate(union)}
    for i, st in enumerate(stations):
        mask[i, [pos[s] for s in st]] = True
    design = Design(
        hole_id=ids,
        group=group,
        nominal_diameter=np.array(dia),
        nominal_x=np.array(xs),
        nominal_y=np.array(ys),
        depth=np.array(depth),
        station_depth=np.array(union, float),
        station_mask=mask,
    )
    return design, lines


def import_csv(
    measurements: str | Path,
    design_csv: str | Path,
    meta: Mapping[str, str],
    *,
    device: str = "",
    uncertainty_mm: float | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    decimal: str = ".",
    serial_case: str = "upper",
) -> Batch:
    """Read a measurements CSV and its design CSV into a :class:`Batch` (nothing written).

    Parameters
    ----------
    meta
        Batch metadata (``ecmsim.io.batch.BATCH_FIELDS``); the
        inspection dates are filled in from ``measured_at`` when not given.
    device, uncertainty_mm
        Defaults for rows that leave ``device`` / ``uncertainty_mm`` empty.
    delimiter, decimal
        Field and decimal separators of both files (:func:`csv_separators`):
        ``decimal=","`` reads ``1,234`` as 1.234 mm and implies ``;`` between the fields.
    serial_case
        ``upper`` (default): serials are stored in upper case; ``preserve``: as
        written.  Either way two spellings of one serial that differ only in
        case are an error naming both lines.

    Raises
    ------
    InputDataError
        Naming the file, the line and the reason for every bad row.
    """
    mp, dp = Path(measurements), Path(design_csv)
    decimal, delimiter = csv_separators(decimal, delimiter)
    check_serial_case(serial_case)
    if uncertainty_mm is not None and not 0 <= uncertainty_mm <= MAX_UNCERTAINTY_MM:  # also NaN
        raise InputDataError(
            f"--uncertainty-mm {uncertainty_mm!r}: must be a finite number ≥ 0 and ≤ {MAX_UNCERTAINTY_MM:g} mm "
            "(the expanded uncertainty U, k=2, of the measuring device)"
        )
    design, _ = read_design_csv(dp, delimiter, encoding, decimal)
    # The measurements are read record by record (a 5 M-row file is not held as text or as Python
    # objects): each good row becomes one entry of the table's arrays.
    csv_table = open_table(mp, MEASUREMENT_REQUIRED, MEASUREMENT_OPTIONAL, delimiter, encoding)
    errors = _Errors(mp)
    table = _MeasurementTable(
        csv_table.header, design, dp.name, errors, device, uncertainty_mm, delimiter, csv_table.n_lines, decimal,
        serial_case,
    )  # fmt: skip
    for line, f in csv_table.records:
        table.add(line, f)
    errors.raise_if_any("row")
    return batch_from_table(table, design, errors, meta, [(mp.name, sha256_file(mp)), (dp.name, sha256_file(dp))])


def check_serial_case(serial_case: str) -> None:
    """Refuse a serial-case rule other than :data:`SERIAL_CASES`."""
    if serial_case not in SERIAL_CASES:
        raise InputDataError(f"--serial-case {serial_case!r}: must be one of {', '.join(SERIAL_CASES)}")


def batch_from_table(
    table: _MeasurementTable,
    design: Design,
    errors: _Errors,
    meta: Mapping[str, str],
    sources: list[tuple[str, str]],
) -> Batch:
    """The batch of a table whose rows were all added: stations, duplicates and serials checked."""
    m = table.kept()
    si = _station_index(design, m, errors)
    serials = list(table.serial_index)
    _check_duplicates(design, m, si, serials, errors)
    try:
        validate_serials(serials)
    except InputDataError as exc:
        raise InputDataError(f"{errors.path}: {exc}") from None
    _check_batch_memory(errors.path, len(serials), design)
    return _assemble_batch(table, m, si, design, meta, sources)


def _check_batch_memory(path: Path, n_parts: int, design: Design) -> None:
    """Refuse a batch whose dense part x hole x station arrays exceed the memory budget."""
    from ecmsim.resources import check_budget, estimate_import

    n_h, n_s = design.n_holes, int(design.station_depth.size)
    check_budget(
        estimate_import(n_parts, n_h, n_s, f"{path}: the batch"),
        f"every part holds a value for each of the {n_h} holes at each of the {n_s} different station depths "
        f"that the design and the measurements list ({n_parts} serials); use fewer distinct stations_mm "
        "(the same depths for every hole) or split the measurements into several batches",
    )


@dataclass
class _Rows:
    """The good measurement rows as arrays: part, hole, station depth, values, device, CSV line."""

    pi: np.ndarray  # part index
    hi: np.ndarray  # hole index
    zi: np.ndarray  # station depth (mm, rounded to STATION_DECIMALS)
    vals: np.ndarray  # (n, 3) diameter, x_dev, y_dev (mm)
    dev: np.ndarray  # device index
    line_no: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Rows:
        """Room for ``n`` rows (about 40 bytes each; memory is only used as rows are filled in).

        The values are float32, as the batch stores them; indices are 32-bit.
        """
        return cls(
            np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n), np.full((n, 3), np.nan, np.float32),
            np.empty(n, np.int32), np.empty(n, np.int64),
        )  # fmt: skip

    def head(self, n: int) -> _Rows:
        """The first ``n`` rows (views)."""
        return _Rows(self.pi[:n], self.hi[:n], self.zi[:n], self.vals[:n], self.dev[:n], self.line_no[:n])


class _HoleDepths:
    """Per part × hole: the measured depth (mm) or blocked, with the line and device of its first row.

    Dense arrays (parts × holes, like the batch's own), grown as parts appear.
    """

    def __init__(self, n_holes: int) -> None:
        self.known = np.zeros((0, n_holes), bool)
        self.depth = np.full((0, n_holes), np.nan)
        self.blocked = np.zeros((0, n_holes), bool)
        self.line = np.zeros((0, n_holes), np.int64)
        self.device = np.full((0, n_holes), -1, np.int32)

    def get(self, p: int, h: int) -> tuple[float, bool, int, int] | None:
        """``(depth mm, blocked, line, device index)`` of part ``p``, hole ``h``, or None if not recorded."""
        if p >= len(self.known) or not self.known[p, h]:
            return None
        return float(self.depth[p, h]), bool(self.blocked[p, h]), int(self.line[p, h]), int(self.device[p, h])

    def set(self, p: int, h: int, depth: float, blocked: bool, line: int, device: int) -> None:
        if p >= len(self.known):
            self._grow(max(p + 1, 2 * len(self.known), 64))
        self.known[p, h], self.depth[p, h], self.blocked[p, h] = True, depth, blocked
        self.line[p, h], self.device[p, h] = line, device

    def _grow(self, n: int) -> None:
        def grown(a: np.ndarray, fill: float | bool) -> np.ndarray:
            out = np.full((n, a.shape[1]), fill, a.dtype)
            out[: len(a)] = a
            return out

        self.known, self.depth = grown(self.known, False), grown(self.depth, np.nan)
        self.blocked, self.line, self.device = grown(self.blocked, False), grown(self.line, 0), grown(self.device, -1)


class _MeasurementTable:
    """The rows of a measurements CSV, checked one by one; every bad field is recorded in ``errors``."""

    def __init__(
        self,
        header: list[str],
        design: Design,
        design_name: str,
        errors: _Errors,
        device: str,
        uncertainty_mm: float | None,
        delimiter: str,
        n: int,
        decimal: str = ".",
        serial_case: str = "upper",
    ) -> None:
        self.header, self.design, self.design_name, self.errors = header, design, design_name, errors
        self.col = {c: i for i, c in enumerate(header)}
        self.device, self.delimiter, self.decimal, self.serial_case = device, delimiter, decimal, serial_case
        # upper-case serial -> (spelling, first line): spellings that differ only in case are refused
        self.spellings: dict[str, tuple[str, int]] = {}
        self.u_default = math.nan if uncertainty_mm is None else float(uncertainty_mm)
        self.hole_index = {h: i for i, h in enumerate(design.hole_id)}
        self.serial_index: dict[str, int] = {}
        self.times: dict[int, str] = {}
        self.devices: dict[tuple[str, float | None], int] = {}
        self.depths = _HoleDepths(design.n_holes)
        self.rows = _Rows.empty(n)
        self.n = 0  # rows kept in the arrays: the first n of self.rows
        self._pending: list[tuple[float, ...]] = []  # rows kept, not yet in the arrays
        self._stamps: dict[str, str] = {}  # measured_at as written -> as stored (a part's rows repeat it)

    def get(self, fields: list[str], name: str) -> str:
        return fields[self.col[name]] if name in self.col else ""

    def add(self, line: int, f: list[str]) -> None:
        """Check the row at CSV line ``line`` and keep it if every field is good."""
        errors = self.errors
        if len(f) != len(self.header):
            errors.add(line, _field_count(len(self.header), len(f), self.delimiter))
            return
        n_err = errors.count
        serial = self._serial(line, f)
        h, hid, z = self._hole_station(line, f)
        dec = self.decimal
        d = _number(f[self.col["diameter_mm"]], "diameter_mm", errors, line, positive=True, decimal=dec)
        if h >= 0 and math.isfinite(d):
            nominal = float(self.design.nominal_diameter[h])
            if not nominal / PLAUSIBLE_FACTOR <= d <= nominal * PLAUSIBLE_FACTOR:
                errors.add(
                    line,
                    f"diameter_mm = {f[self.col['diameter_mm']]!r} is implausible for hole {hid} of nominal "
                    f"{nominal:g} mm (more than {PLAUSIBLE_FACTOR:g} times off; a unit mix-up?)",
                )
        x = _number(self.get(f, "x_dev_mm"), "x_dev_mm", errors, line, decimal=dec)
        y = _number(self.get(f, "y_dev_mm"), "y_dev_mm", errors, line, decimal=dec)
        if math.isnan(x) != math.isnan(y):
            errors.add(line, "x_dev_mm and y_dev_mm must be given together")
        dt = self.get(f, "depth_mm")
        blocked = dt.lower() == "blocked"
        hd = math.nan if blocked else _number(dt, "depth_mm", errors, line, positive=True, decimal=dec)
        u = _number(self.get(f, "uncertainty_mm"), "uncertainty_mm", errors, line, nonneg=True, decimal=dec)
        u = self.u_default if self.get(f, "uncertainty_mm") == "" else u
        name = self.get(f, "device") or self.device or "unknown"
        if len(name.encode("utf-8")) > 64 or not name.isascii() or not name.isprintable():
            errors.add(line, f"device {name!r}: at most 64 printable ASCII characters")
        ts = self._timestamp(self.get(f, "measured_at"), line)
        if errors.count > n_err:
            return
        p = self.serial_index.setdefault(serial, len(self.serial_index))
        if ts and ts > self.times.get(p, ""):
            self.times[p] = ts
        k = self.devices.setdefault((name, None if math.isnan(u) else u), len(self.devices))
        if (blocked or math.isfinite(hd)) and not self._hole_depth(line, p, h, hd, blocked, k, dt, serial, hid):
            return
        self._pending.append((p, h, round(z, STATION_DECIMALS), k, d, x, y, line))
        if len(self._pending) >= _PENDING_ROWS:
            self._flush()

    def _flush(self) -> None:
        """Move the pending rows into the arrays (in blocks: cheaper than element by element)."""
        if not self._pending:
            return
        block = np.array(self._pending, float)  # indices and line numbers are exact in float64 (< 2**53)
        self._pending.clear()
        r, n = self.n, len(block)
        if r + n > len(self.rows.pi):  # more rows than the file has lines: only when rows are added by hand
            old, self.rows = self.rows, _Rows.empty(max(r + n, 2 * len(self.rows.pi)))
            for name in ("pi", "hi", "zi", "vals", "dev", "line_no"):
                getattr(self.rows, name)[:r] = getattr(old, name)[:r]
        rows = self.rows
        rows.pi[r : r + n], rows.hi[r : r + n], rows.zi[r : r + n] = block[:, 0], block[:, 1], block[:, 2]
        rows.dev[r : r + n], rows.vals[r : r + n], rows.line_no[r : r + n] = block[:, 3], block[:, 4:7], block[:, 7]
        self.n = r + n

    def _timestamp(self, text: str, line: int) -> str:
        """:func:`_timestamp` of ``text``, remembered for the next rows when good."""
        ts = self._stamps.get(text)
        if ts is None:
            n_err = self.errors.count
            ts = _timestamp(text, self.errors, line)
            if self.errors.count == n_err:
                if len(self._stamps) >= 4096:
                    self._stamps.clear()
                self._stamps[text] = ts
        return ts

    def _serial(self, line: int, f: list[str]) -> str:
        return self.serial_of(line, f[self.col["serial"]])

    def serial_of(self, line: int, serial: str) -> str:
        """``serial`` as stored (upper case unless ``serial_case`` is ``preserve``), checked as in the batch file.

        Errors (recorded at ``line``): empty, not a valid serial, or a spelling that
        differs only in case from an earlier one (named with its line).
        """
        if not serial:
            self.errors.add(line, "serial is empty")
            return serial
        key = serial.upper()
        first = self.spellings.get(key)
        if first is None:
            bad = _id_problem(serial, "serial")
            if bad:
                self.errors.add(line, bad)
            self.spellings[key] = (serial, line)
        elif first[0] != serial:
            self.errors.add(
                line,
                f"serial {serial!r} differs only in case from {first[0]!r} on line {first[1]}; serial numbers "
                "that differ only in case are one part: write it one way (serials are stored in upper case "
                "unless --serial-case preserve)",
            )
        return key if self.serial_case == "upper" else serial

    def _hole_station(self, line: int, f: list[str]) -> tuple[int, str, float]:
        """Hole index (-1: not in the design), hole id and station depth (mm) of a row."""
        errors, design = self.errors, self.design
        hid = f[self.col["hole_id"]]
        h = self.hole_index.get(hid, -1)
        if h < 0:
            near = difflib.get_close_matches(hid, self.hole_index, n=1, cutoff=0.6)
            errors.add(
                line,
                f"hole_id {hid!r} is not in the design {self.design_name}"
                + (f" (did you mean {near[0]!r}?)" if near else ""),
            )
        zt = f[self.col["station_depth_mm"]]
        z = _number(zt, "station_depth_mm", errors, line, nonneg=True, decimal=self.decimal)
        if zt == "":
            errors.add(line, "station_depth_mm is empty")
        elif h >= 0 and math.isfinite(z) and z > design.depth[h] + 1e-9:
            errors.add(line, f"station_depth_mm = {zt} is deeper than hole {hid}'s design depth {design.depth[h]:g} mm")
        return h, hid, z

    def _hole_depth(
        self, line: int, p: int, h: int, hd: float, blocked: bool, k: int, dt: str, serial: str, hid: str
    ) -> bool:
        """Record the hole's depth (or blocked); False if it contradicts an earlier row of the same hole."""
        prev = self.depths.get(p, h)
        if prev is not None and (prev[1] != blocked or (not blocked and prev[0] != hd)):
            self.errors.add(line, f"depth_mm = {dt!r} contradicts line {prev[2]} for serial {serial}, hole {hid}")
            return False
        if prev is None:
            self.depths.set(p, h, hd, blocked, line, k)
        return True

    def kept(self) -> _Rows:
        """The rows kept (views)."""
        self._flush()
        return self.rows.head(self.n)


def _station_index(design: Design, m: _Rows, errors: _Errors) -> np.ndarray:
    """Station index of every row: from the design if it lists stations, otherwise the depths measured per hole.

    In the second case the design's stations are set here.
    """
    hi, zi = m.hi, m.zi
    if not design.station_mask.any():
        st, si = np.unique(zi, return_inverse=True)
        mask = np.zeros((design.n_holes, st.size), bool)
        mask[hi, si] = True
        design.station_depth, design.station_mask = st.astype(float), mask
        return si
    st = design.station_depth
    si = np.searchsorted(st, zi).clip(0, max(st.size - 1, 0))
    ok = (st.size > 0) & (np.abs(st[si] - zi) < 1e-9) if st.size else np.zeros(zi.size, bool)
    ok &= design.station_mask[hi, si] if st.size else ok
    bad = np.nonzero(~ok)[0]
    errors.add_rows(
        (int(m.line_no[r]) for r in bad),
        (
            f"station_depth_mm {zi[r]:g} is not a station of hole {design.hole_id[hi[r]]} (stations_mm: "
            + ", ".join(f"{v:g}" for v in design.station_depth[design.station_mask[hi[r]]])
            + ")"
            for r in bad
        ),
    )
    errors.raise_if_any("row")
    return si


def _check_duplicates(design: Design, m: _Rows, si: np.ndarray, serials: list[str], errors: _Errors) -> None:
    """Every part × hole × station is measured at most once."""
    n_h, n_s = design.n_holes, design.station_depth.size
    flat = (m.pi.astype(np.int64) * n_h + m.hi) * n_s + si
    order = np.argsort(flat, kind="stable")
    dup = np.nonzero(np.diff(flat[order]) == 0)[0]
    first, again = order[dup], order[dup + 1]
    errors.add_rows(
        (int(m.line_no[b]) for b in again),
        (
            f"duplicate measurement of serial {serials[m.pi[b]]}, hole "
            f"{design.hole_id[m.hi[b]]}, station {m.zi[b]:g} mm (first on line {m.line_no[a]})"
            for a, b in zip(first, again, strict=True)
        ),
    )
    errors.raise_if_any("row")


def _assemble_batch(
    table: _MeasurementTable,
    m: _Rows,
    si: np.ndarray,
    design: Design,
    meta: Mapping[str, str],
    sources: list[tuple[str, str]],
) -> Batch:
    """The good rows as the arrays of a batch (NaN / -1 where not measured)."""
    n_p, n_h, n_s = len(table.serial_index), design.n_holes, design.station_depth.size
    pi, hi = m.pi, m.hi
    shape = (n_p, n_h, n_s)
    diameter = np.full(shape, np.nan, np.float32)
    x_dev = np.full(shape, np.nan, np.float32)
    y_dev = np.full(shape, np.nan, np.float32)
    device_idx = np.full(shape, -1, np.int16)
    diameter[pi, hi, si] = m.vals[:, 0]
    x_dev[pi, hi, si] = m.vals[:, 1]
    y_dev[pi, hi, si] = m.vals[:, 2]
    device_idx[pi, hi, si] = m.dev
    depth = np.full((n_p, n_h), np.nan, np.float32)
    depth_dev = np.full((n_p, n_h), -1, np.int16)
    blocked_arr = np.zeros((n_p, n_h), bool)
    hd = table.depths
    has = hd.known[:n_p]
    n_k = len(has)
    depth[:n_k][has], blocked_arr[:n_k][has], depth_dev[:n_k][has] = (
        hd.depth[:n_p][has],
        hd.blocked[:n_p][has],
        hd.device[:n_p][has],
    )
    measured = [table.times.get(p, "") for p in range(n_p)]
    known = sorted(t for t in measured if t)
    full_meta: dict[str, str] = {k: str(v) for k, v in meta.items() if v is not None}
    if known:
        full_meta.setdefault("inspected_from", known[0])
        full_meta.setdefault("inspected_to", known[-1])
    return Batch(
        meta=full_meta,
        serials=list(table.serial_index),
        design=design,
        devices=[name for name, _ in table.devices],
        device_uncertainty=np.array([np.nan if u is None else u for _, u in table.devices], float),
        diameter=diameter,
        x_dev=x_dev,
        y_dev=y_dev,
        device=device_idx,
        depth=depth,
        depth_device=depth_dev,
        blocked=blocked_arr,
        measured_at=measured,
        sources=sources,
    )
