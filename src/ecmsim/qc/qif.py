"""Import QIF 3.0 measurement results (ANSI/DMSC QIF 3.0, ISO 23952) into an inspection batch.

A QIF document holds, under ``Characteristics/CharacteristicItems``, one
item per toleranced characteristic (``DiameterCharacteristicItem``, …, with
a ``Name``), and under ``Results/MeasurementResultsSet/MeasurementResults``
the characteristic measurements of the inspected parts
(``MeasuredCharacteristics/CharacteristicMeasurements/
DiameterCharacteristicMeasurement``, ``PositionCharacteristicMeasurement``,
``DepthCharacteristicMeasurement``), each naming its item by
``CharacteristicItemId`` and carrying a ``Value``.  The part is the
``ActualComponent`` (with its ``SerialNumber``) named by the measurement's
``ActualComponentId`` or by the results' ``ActualComponentIds``.

A characteristic item is matched to a hole of the design CSV by its name,
``<hole_id>`` or ``<hole_id>@<station depth in mm>``, or through a mapping
CSV (``name``, ``hole_id``, ``station_depth_mm``).  The result is the same
:class:`~ecmsim.io.batch.Batch` that :func:`ecmsim.qc.importer.import_csv`
builds from the equivalent CSV rows (``docs/formats.md``).  Every bad
element is reported as ``file:line: element: reason``; nothing is written
unless every element is good.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ecmsim.errors import InputDataError
from ecmsim.io.batch import Batch, Design
from ecmsim.io.common import sha256_file
from ecmsim.qc.importer import (
    MEASUREMENT_OPTIONAL,
    MEASUREMENT_REQUIRED,
    STATION_DECIMALS,
    _Errors,
    _MeasurementTable,
    _number,
    _read_table,
    _Rows,
    _timestamp,
    batch_from_table,
    check_serial_case,
    csv_separators,
    read_design_csv,
)

#: XML namespace of QIF 3 documents.
QIF_NAMESPACE = "http://qifstandards.org/xsd/qif3"
#: QIF characteristic measurement elements that are read, and the batch quantity each gives.
MEASUREMENT_ELEMENTS = {
    "DiameterCharacteristicMeasurement": "diameter",
    "PositionCharacteristicMeasurement": "position",
    "DepthCharacteristicMeasurement": "depth",
}
#: Length units known without a ``UnitConversion`` in the document: name -> metres.
KNOWN_LINEAR_UNITS = {
    "mm": 1e-3, "millimeter": 1e-3, "millimetre": 1e-3, "m": 1.0, "meter": 1.0, "metre": 1.0,
    "um": 1e-6, "µm": 1e-6, "micrometer": 1e-6, "micron": 1e-6, "in": 0.0254, "inch": 0.0254,
}  # fmt: skip
MAPPING_REQUIRED = ("name", "hole_id")
MAPPING_OPTIONAL = ("station_depth_mm",)
_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")  # xs:decimal: no exponent, no INF/NaN
_Q = "{" + QIF_NAMESPACE + "}"
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _local(el: Any) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag.rpartition("}")[2]


def _label(el: Any) -> str:
    """``Element(id=7)`` as the messages name it."""
    i = el.get("id")
    return f"{_local(el)}(id={i})" if i is not None else _local(el)


def _children(el: Any, *path: str) -> list[Any]:
    """Elements at ``path`` below ``el`` (QIF namespace)."""
    return list(el.iterfind("/".join(_Q + p for p in path))) if el is not None else []


def _text(el: Any, *path: str) -> str:
    found = _children(el, *path)
    return (found[0].text or "").strip() if found else ""


@dataclass(frozen=True)
class _Target:
    """Where a characteristic item's values go: hole index and station depth (mm; NaN: the default station)."""

    hole: int
    station: float


def _parse(path: Path) -> Any:
    """The parsed document's root; not XML, not QIF 3 or a damaged file is an input error naming the line."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.parse(str(path), parser).getroot()
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read: {exc}") from None
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 1
        raise InputDataError(f"{path}:{line}: not well-formed XML: {exc.msg}") from None
    ns = root.tag.partition("}")[0].lstrip("{") if root.tag.startswith("{") else ""
    if _local(root) != "QIFDocument" or ns != QIF_NAMESPACE:
        found = f"<{_local(root)}>" + (f" in namespace {ns}" if ns else " without a namespace")
        raise InputDataError(
            f"{path}:{root.sourceline}: not a QIF 3 document: found {found}, expected <QIFDocument> in "
            f"namespace {QIF_NAMESPACE}"
        )
    version = root.get("versionQIF", "")
    if not version.startswith("3."):
        raise InputDataError(
            f"{path}:{root.sourceline}: QIFDocument versionQIF = {version!r}: only QIF 3 (3.x) is read"
        )
    return root


class _Units:
    """Length units of a document: ``FileUnits`` (primary and other linear units) and their factors to mm."""

    def __init__(self, root: Any, path: Path, errors: _Errors) -> None:
        self.factors: dict[str, float] = {}
        self.primary: str | None = None
        fu = _children(root, "FileUnits")
        for el in _children(fu[0] if fu else None, "PrimaryUnits", "LinearUnit") + _children(
            fu[0] if fu else None, "OtherUnits", "LinearUnit"
        ):
            name = _text(el, "UnitName")
            factor_text = _text(el, "UnitConversion", "Factor")
            offset_text = _text(el, "UnitConversion", "Offset")
            if factor_text:
                if not _DECIMAL_RE.match(factor_text) or float(factor_text) <= 0:
                    line = _children(el, "UnitConversion", "Factor")[0].sourceline
                    errors.add(line, f"LinearUnit {name!r}: Factor = {factor_text!r} must be a number > 0")
                    continue
                if offset_text and (not _DECIMAL_RE.match(offset_text) or float(offset_text) != 0):
                    line = _children(el, "UnitConversion", "Offset")[0].sourceline
                    errors.add(
                        line, f"LinearUnit {name!r}: Offset = {offset_text!r}: an Offset is not allowed for lengths"
                    )
                    continue
                metres = float(factor_text)
            elif name.lower() in KNOWN_LINEAR_UNITS:
                metres = KNOWN_LINEAR_UNITS[name.lower()]
            else:
                errors.add(el.sourceline, f"LinearUnit {name!r} has no UnitConversion/Factor and is not a known unit")
                continue
            self.factors[name] = float(f"{metres * 1e3:.15g}")  # 1e-6 m -> 0.001 mm, not 0.0010000000000000002
            if self.primary is None and _local(el.getparent()) == "PrimaryUnits":
                self.primary = name

    def to_mm(self, el: Any, errors: _Errors) -> float | None:
        """Factor from the unit of value element ``el`` to mm (None: error recorded)."""
        unit = el.get("linearUnit") or self.primary
        if unit is None:
            errors.add(
                el.sourceline,
                f"{_local(el.getparent())}: {_local(el)} has no linearUnit and the document no "
                "FileUnits/PrimaryUnits/LinearUnit; QIF would then mean metres: state the unit",
            )
            return None
        if unit in self.factors:
            return self.factors[unit]
        if unit.lower() in KNOWN_LINEAR_UNITS:
            return float(f"{KNOWN_LINEAR_UNITS[unit.lower()] * 1e3:.15g}")
        known = sorted({*self.factors, "mm", "m", "um", "inch"})
        errors.add(
            el.sourceline, f"linearUnit = {unit!r} is not defined in FileUnits (defined or known: {', '.join(known)})"
        )
        return None


def read_mapping(
    path: str | Path, design: Design, delimiter: str = ",", encoding: str = "utf-8", decimal: str = "."
) -> dict[str, _Target | None]:
    """Read a mapping CSV: characteristic item name -> hole and station (None: not a hole, skip).

    Columns ``name`` and ``hole_id`` (empty: the characteristic is not a
    hole and is skipped), optional ``station_depth_mm`` (empty: the hole's
    default station).
    """
    p = Path(path)
    header, rows = _read_table(p, MAPPING_REQUIRED, MAPPING_OPTIONAL, delimiter, encoding)
    col = {c: i for i, c in enumerate(header)}
    errors = _Errors(p)
    holes = {h: i for i, h in enumerate(design.hole_id)}
    out: dict[str, _Target | None] = {}
    lines: dict[str, int] = {}
    for line, f in rows:
        if len(f) != len(header):
            errors.add(line, f"expected {len(header)} fields, found {len(f)}")
            continue
        name, hid = f[col["name"]], f[col["hole_id"]]
        z_text = f[col["station_depth_mm"]] if "station_depth_mm" in col else ""
        if not name:
            errors.add(line, "name is empty")
            continue
        if name in lines:
            errors.add(line, f"name {name!r} already mapped on line {lines[name]}")
            continue
        lines[name] = line
        if not hid:
            out[name] = None
            continue
        if hid not in holes:
            near = difflib.get_close_matches(hid, holes, n=1, cutoff=0.6)
            errors.add(
                line, f"hole_id {hid!r} is not in the design" + (f" (did you mean {near[0]!r}?)" if near else "")
            )
            continue
        z = _number(z_text, "station_depth_mm", errors, line, nonneg=True, decimal=decimal)
        out[name] = _Target(holes[hid], z)
    errors.raise_if_any("mapping row")
    return out


def _target_by_name(name: str, holes: Mapping[str, int]) -> _Target | str:
    """``<hole_id>`` or ``<hole_id>@<station mm>`` -> target, or why the name matches no hole."""
    hid, at, z_text = name.partition("@")
    if hid not in holes:
        near = difflib.get_close_matches(hid, holes, n=1, cutoff=0.6)
        return (
            f"characteristic name {name!r} is no hole of the design" + (f" (did you mean {near[0]!r}?)" if near else "")
            + "; name items <hole_id> or <hole_id>@<station_depth_mm>, or map them with --mapping"
        )  # fmt: skip
    if not at:
        return _Target(holes[hid], math.nan)
    try:
        z = float(z_text)
    except ValueError:
        z = math.nan
    if not math.isfinite(z) or z < 0 or not _DECIMAL_RE.match(z_text):
        return f"characteristic name {name!r}: station {z_text!r} after '@' must be a depth in mm ≥ 0 (e.g. {hid}@0.5)"
    return _Target(holes[hid], z)


class _QifReader:
    """The measurements of one QIF document, checked element by element into a measurement table."""

    def __init__(
        self,
        path: Path,
        root: Any,
        design: Design,
        table: _MeasurementTable,
        mapping: Mapping[str, _Target | None] | None,
    ) -> None:
        self.path, self.root, self.design, self.table, self.mapping = path, root, design, table, mapping
        self.errors = table.errors
        self.units = _Units(root, path, self.errors)
        self.holes = {h: i for i, h in enumerate(design.hole_id)}
        self.by_id = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id") is not None}
        self.targets: dict[str, _Target | None] = {}
        # (part, hole, station) -> quantity -> (value mm, line, device index)
        self.cells: dict[tuple[int, int, float], dict[str, tuple[float, int, int]]] = {}

    def read(self) -> int:
        """Read every supported measurement; return how many were read."""
        results = _children(self.root, "Results", "MeasurementResultsSet", "MeasurementResults")
        if not results:
            raise InputDataError(
                f"{self.path}: no Results/MeasurementResultsSet/MeasurementResults: no measured parts in the document"
            )
        n = 0
        for res in results:
            default_part = _children(res, "ActualComponentIds", "Id")
            start = _text(res, "InspectionTraceability", "InspectionStart")
            for m in _children(res, "MeasuredCharacteristics", "CharacteristicMeasurements")[:1]:
                for el in m:
                    if _local(el) in MEASUREMENT_ELEMENTS:
                        n += self._measurement(el, default_part, start)
        return n

    def _serial(self, el: Any, default_part: list[Any]) -> tuple[str, int] | None:
        """The serial number of a measurement's part and the line of its ``SerialNumber``."""
        ref = _text(el, "ActualComponentId")
        if not ref:
            if len(default_part) != 1:
                self.errors.add(
                    el.sourceline,
                    f"{_label(el)}: no ActualComponentId, and its MeasurementResults name "
                    f"{len(default_part)} actual components (ActualComponentIds): the part is unknown",
                )
                return None
            ref = (default_part[0].text or "").strip()
        comp = self.by_id.get(ref)
        if comp is None or _local(comp) != "ActualComponent":
            self.errors.add(el.sourceline, f"{_label(el)}: actual component id {ref} is not an ActualComponent")
            return None
        found = _children(comp, "SerialNumber")
        serial = (found[0].text or "").strip() if found else ""
        if not serial:
            self.errors.add(comp.sourceline, f"{_label(comp)} has no SerialNumber (the engraved serial of the part)")
            return None
        return serial, found[0].sourceline

    def _target(self, el: Any) -> _Target | None:
        """Hole and station of a measurement's characteristic item (None: skipped or error recorded)."""
        ref = _text(el, "CharacteristicItemId")
        item = self.by_id.get(ref)
        if item is None or not _local(item).endswith("CharacteristicItem"):
            self.errors.add(el.sourceline, f"{_label(el)}: CharacteristicItemId {ref!r} names no characteristic item")
            return None
        name = _text(item, "Name") or _text(item, "CharacteristicDesignator", "Designator")
        if self.mapping is not None:
            if name not in self.mapping:
                self.errors.add(
                    item.sourceline,
                    f"{_label(item)}: name {name!r} is not in the mapping file (map it to a hole, or to an "
                    "empty hole_id to skip it)",
                )
                return None
            return self.mapping[name]
        if name not in self.targets:
            t = _target_by_name(name, self.holes)
            if isinstance(t, str):
                self.errors.add(item.sourceline, f"{_label(item)}: {t}")
                self.targets[name] = None
                return None
            self.targets[name] = t
        return self.targets[name]

    def _value_mm(self, el: Any, kind: str) -> float | None:
        """The measured ``Value`` in mm, checked (None: no value, or an error recorded)."""
        found = _children(el, "Value")
        if not found:
            return None  # e.g. checked with a hard gauge: no value to record
        v_el = found[0]
        text = (v_el.text or "").strip()
        if not _DECIMAL_RE.match(text):
            self.errors.add(
                v_el.sourceline,
                f"{_label(el)}: Value = {text!r} is not an xs:decimal (digits with '.' as the decimal "
                "separator, no exponent, e.g. 1.234)",
            )
            return None
        factor = self.units.to_mm(v_el, self.errors)
        if factor is None:
            return None
        v = float(text) * factor
        if not math.isfinite(v) or abs(v) > _FLOAT32_MAX:  # stored as float32
            self.errors.add(v_el.sourceline, f"{_label(el)}: Value = {text[:40]!r}: out of range for a length in mm")
            return None
        if kind in ("diameter", "depth") and not float(np.float32(v)) > 0:
            self.errors.add(v_el.sourceline, f"{_label(el)}: Value = {text!r}: a {kind} must be > 0")
            return None
        if kind == "position" and v < 0:
            self.errors.add(v_el.sourceline, f"{_label(el)}: Value = {text!r}: a true position must be ≥ 0")
            return None
        return v

    def _device(self, el: Any, v_el: Any) -> int | None:
        """Device index of a measurement: the referenced device's name and U = 2 × combinedUncertainty."""
        table = self.table
        name = table.device or "unknown"
        ids = _children(el, "MeasurementDeviceIds", "Id")
        if ids:
            dev = self.by_id.get((ids[0].text or "").strip())
            name = (_text(dev, "Name") if dev is not None else "") or name
        if len(name) > 64 or not name.isascii() or not name.isprintable():
            self.errors.add(el.sourceline, f"{_label(el)}: device {name!r}: at most 64 printable ASCII characters")
            return None
        u = table.u_default
        cu = v_el.get("combinedUncertainty")
        if cu is not None:
            factor = self.units.to_mm(v_el, self.errors)
            if not _DECIMAL_RE.match(cu.strip()) or float(cu) < 0 or factor is None:
                self.errors.add(v_el.sourceline, f"{_label(el)}: combinedUncertainty = {cu!r} must be a number ≥ 0")
                return None
            u = float(f"{2.0 * float(cu) * factor:.12g}")  # expanded uncertainty, k = 2
        return table.devices.setdefault((name, None if math.isnan(u) else u), len(table.devices))

    def _measurement(self, el: Any, default_part: list[Any], start: str) -> int:
        """Record one characteristic measurement; return 1 if it was read, 0 if skipped or bad."""
        kind = MEASUREMENT_ELEMENTS[_local(el)]
        n_err = self.errors.count
        serial = self._serial(el, default_part)
        target = self._target(el)
        value = self._value_mm(el, kind)
        if target is None or serial is None or value is None or self.errors.count > n_err:
            return 0
        k = self._device(el, _children(el, "Value")[0])
        line = el.sourceline
        stamp = _text(el, "TimeStamp") or start
        ts = _timestamp(stamp, self.errors, line)
        p_serial = self.table.serial_of(serial[1], serial[0])
        if k is None or self.errors.count > n_err:
            return 0
        table = self.table
        p = table.serial_index.setdefault(p_serial, len(table.serial_index))
        if ts and ts > table.times.get(p, ""):
            table.times[p] = ts
        h, hid = target.hole, self.design.hole_id[target.hole]
        if kind == "depth":
            return int(table._hole_depth(line, p, h, value, False, k, repr(value), p_serial, hid))
        z = target.station if math.isfinite(target.station) else self._default_station(h)
        if z > self.design.depth[h] + 1e-9:
            self.errors.add(line, f"{_label(el)}: station {z:g} mm is deeper than hole {hid}'s design depth")
            return 0
        cell = self.cells.setdefault((p, h, round(z, STATION_DECIMALS)), {})
        if kind in cell:
            self.errors.add(
                line,
                f"{_label(el)}: a second {kind} of serial {p_serial}, hole {hid}, station {z:g} mm "
                f"(first on line {cell[kind][1]})",
            )
            return 0
        cell[kind] = (value, line, k)
        return 1

    def _default_station(self, h: int) -> float:
        """The hole's entry station: its first station in the design, or the entry surface (0 mm)."""
        st = self.design.station_depth[self.design.station_mask[h]]
        return float(st[0]) if st.size else 0.0

    def rows(self) -> _Rows:
        """The diameters and positions as table rows: one per part × hole × station."""
        n = len(self.cells)
        rows = _Rows(
            np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n), np.full((n, 3), np.nan), np.empty(n, np.int64),
            np.empty(n, np.int64),
        )  # fmt: skip
        for r, ((p, h, z), cell) in enumerate(self.cells.items()):
            d, pos = cell.get("diameter"), cell.get("position")
            if d is not None and pos is not None and d[2] != pos[2]:
                self.errors.add(
                    pos[1],
                    f"the position and the diameter (line {d[1]}) of serial {list(self.table.serial_index)[p]}, "
                    f"hole {self.design.hole_id[h]}, station {z:g} mm come from different devices or "
                    "uncertainties; a batch stores one device per station",
                )
            first = d or pos
            assert first is not None
            rows.pi[r], rows.hi[r], rows.zi[r], rows.dev[r], rows.line_no[r] = p, h, z, first[2], first[1]
            if d is not None:
                rows.vals[r, 0] = d[0]
            if pos is not None:  # the true position 2·√(Δx² + Δy²) is kept as Δx = value/2, Δy = 0
                rows.vals[r, 1], rows.vals[r, 2] = pos[0] / 2.0, 0.0
        return rows


def import_qif(
    qif: str | Path,
    design_csv: str | Path,
    meta: Mapping[str, str],
    *,
    mapping: str | Path | None = None,
    device: str = "",
    uncertainty_mm: float | None = None,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    decimal: str = ".",
    serial_case: str = "upper",
) -> Batch:
    """Read QIF 3.0 measurement results and the design CSV into a :class:`Batch` (nothing written).

    Parameters
    ----------
    qif
        QIF 3 document with ``Results`` (diameter, position and depth
        characteristic measurements of serialised actual components).
    design_csv
        The design CSV of :func:`ecmsim.qc.importer.read_design_csv`.
    meta
        Batch metadata, as for :func:`ecmsim.qc.importer.import_csv`.
    mapping
        Optional mapping CSV (:func:`read_mapping`); without it, items are
        matched to holes by name (``<hole_id>`` or ``<hole_id>@<station mm>``).
    device, uncertainty_mm
        Defaults for measurements that name no device / state no
        ``combinedUncertainty`` (U = 2 × combinedUncertainty otherwise).
    delimiter, encoding, decimal
        Conventions of the design and mapping CSV files.
    serial_case
        As for :func:`ecmsim.qc.importer.import_csv`.

    Raises
    ------
    InputDataError
        Naming the file, the line and the element for every bad measurement.
    """
    qp, dp = Path(qif), Path(design_csv)
    decimal, delimiter = csv_separators(decimal, delimiter)
    check_serial_case(serial_case)
    design, _ = read_design_csv(dp, delimiter, encoding, decimal)
    maps = read_mapping(mapping, design, delimiter, encoding, decimal) if mapping is not None else None
    root = _parse(qp)
    errors = _Errors(qp)
    header = [*MEASUREMENT_REQUIRED, *MEASUREMENT_OPTIONAL]
    table = _MeasurementTable(
        header, design, dp.name, errors, device, uncertainty_mm, delimiter, 0, decimal, serial_case
    )
    reader = _QifReader(qp, root, design, table, maps)
    n = reader.read()
    errors.raise_if_any("element")
    if n == 0:
        raise InputDataError(
            f"{qp}: no diameter, position or depth measurements (DiameterCharacteristicMeasurement, "
            "PositionCharacteristicMeasurement, DepthCharacteristicMeasurement) of the design's holes"
        )
    table.rows = reader.rows()
    errors.raise_if_any("element")
    table.n = len(table.rows.pi)
    sources = [(qp.name, sha256_file(qp)), (dp.name, sha256_file(dp))]
    if mapping is not None:
        sources.append((Path(mapping).name, sha256_file(mapping)))
    return batch_from_table(table, design, errors, meta, sources)
