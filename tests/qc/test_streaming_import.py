"""The streaming CSV importer against what the whole-file importer made of the same files.

Every CSV file of the bad-input corpus is imported as measurements and as a
design, whole and cut into tiny blocks (so that block ends fall inside
characters, ``\\r\\n`` pairs, quoted fields and lines), in the encodings, line
ends and conventions the importer supports; it must refuse it with the same
message or return the same batch (every array, list and text, exactly) as
the whole-file importer it replaced.  That importer's outcomes are stored in
``tests/data/import_expected.json`` (written by ``make_import_expected.py``
next to it, which says how to run it again).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from ecmsim.errors import InputDataError
from ecmsim.qc import csvfile, importer

DATA = Path(__file__).resolve().parents[1] / "data"
CSV = DATA / "bad" / "csv"
EXPECTED = DATA / "import_expected.json"
META = {"batch_id": "B1", "part_number": "P1", "drawing_revision": "A"}
MEASUREMENTS = sorted(p for p in CSV.glob("*.csv") if not p.name.startswith("design"))
DESIGNS = sorted(CSV.glob("design*.csv"))
ENCODINGS = ["klingon", "base64", "rot13"]


def _array(a: np.ndarray) -> dict[str, Any]:
    """An array as JSON data, exactly: floats as hexadecimal text (NaN included)."""
    values = a.ravel().tolist()
    if a.dtype.kind == "f":
        values = [float(v).hex() for v in values]
    return {"dtype": a.dtype.str, "shape": list(a.shape), "values": values}


def batch_data(batch: Any) -> dict[str, Any]:
    """Every array, list and text of an imported batch (the empty metadata left out)."""
    d = batch.design
    arrays = ("diameter", "x_dev", "y_dev", "device", "depth", "depth_device", "blocked", "device_uncertainty")
    design = ("nominal_diameter", "nominal_x", "nominal_y", "depth", "station_depth", "station_mask")
    return {
        **{name: _array(np.asarray(getattr(batch, name))) for name in arrays},
        **{f"design.{name}": _array(np.asarray(getattr(d, name))) for name in design},
        "design.hole_id": list(d.hole_id),
        "design.group": list(d.group),
        "serials": list(batch.serials),
        "measured_at": list(batch.measured_at),
        "devices": list(batch.devices),
        "meta": {k: v for k, v in batch.meta.items() if v},
        "sources": [list(s) for s in batch.sources],
    }


def outcome(module: ModuleType, measurements: Path, design: Path, **kw: Any) -> dict[str, Any]:
    """What an importer makes of two files as JSON data: its message (folder and date as placeholders) or the batch."""
    try:
        batch = module.import_csv(measurements, design, META, **kw)
    except InputDataError as exc:
        text = str(exc).replace(str(measurements.parent), "{dir}").replace(str(design.parent), "{dir}")
        return {"error": re.sub(r"today is \d{4}-\d{2}-\d{2}", "today is {today}", text)}
    return {"batch": batch_data(batch)}


def _many_bad_rows(folder: Path) -> Path:
    head, *rows = (CSV / "measurements.csv").read_text().splitlines()
    bad = [r.replace(",1.0", ",-1.0", 1) for r in rows if ",1.0" in r] * 40
    path = folder / "m.csv"
    path.write_text("\n".join([head, *bad]) + "\n")
    return path


def _variant_files(name: str, folder: Path) -> tuple[Path, Path, dict[str, Any]]:
    data, kw = _variants((CSV / "measurements.csv").read_text())[name]
    path = folder / "m.csv"
    path.write_bytes(data)
    design = folder / "design.csv"
    text = (CSV / "design.csv").read_text()
    if kw.get("decimal") == ",":
        text = _decimal_comma(text)
    design.write_bytes(text.encode(kw.get("encoding", "utf-8")))
    return path, design, kw


def cases() -> dict[str, Callable[[Path], tuple[Path, Path, dict[str, Any]]]]:
    """Every comparison by name: a function of a scratch folder giving (measurements, design, options)."""
    out: dict[str, Callable[[Path], tuple[Path, Path, dict[str, Any]]]] = {}
    for p in MEASUREMENTS:
        out[f"measurements/{p.stem}"] = lambda _f, p=p: (p, CSV / "design.csv", {})
    for p in DESIGNS:
        out[f"design/{p.stem}"] = lambda _f, p=p: (CSV / "measurements.csv", p, {})
    for name in _variants("x\n"):
        out[f"variant/{name}"] = lambda f, name=name: _variant_files(name, f)
    for enc in ENCODINGS:
        out[f"encoding/{enc}"] = lambda _f, enc=enc: (CSV / "measurements.csv", CSV / "design.csv", {"encoding": enc})
    out["many bad rows"] = lambda f: (_many_bad_rows(f), CSV / "design.csv", {})
    return out


@pytest.fixture(scope="module")
def expected() -> dict[str, dict[str, Any]]:
    return dict(json.loads(EXPECTED.read_text()))


def _assert_same(name: str, folder: Path, expected: dict[str, dict[str, Any]]) -> str:
    measurements, design, kw = cases()[name](folder)
    got = outcome(importer, measurements, design, **kw)
    want = expected[name]
    assert got.keys() == want.keys(), (got, want)
    if "error" in want:
        assert got["error"] == want["error"]
    else:
        for key, value in want["batch"].items():
            assert got["batch"][key] == value, key
        assert got["batch"].keys() == want["batch"].keys()
    return next(iter(want))


def test_the_stored_outcomes_cover_every_case(expected: dict[str, dict[str, Any]]) -> None:
    assert sorted(expected) == sorted(cases())


@pytest.fixture(params=[csvfile.BLOCK_BYTES, 1, 7], ids=["whole", "1-byte-blocks", "7-byte-blocks"])
def block(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Bytes read at a time; with tiny blocks the good rows also reach the arrays two at a time."""
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", request.param)
    if request.param != csvfile.BLOCK_BYTES:
        monkeypatch.setattr(importer, "_PENDING_ROWS", 2)
    return int(request.param)


@pytest.mark.parametrize("path", MEASUREMENTS, ids=lambda p: p.stem)
def test_corpus_measurements(path: Path, block: int, tmp_path: Path, expected: dict[str, Any]) -> None:
    _assert_same(f"measurements/{path.stem}", tmp_path, expected)


@pytest.mark.parametrize("path", DESIGNS, ids=lambda p: p.stem)
def test_corpus_designs(path: Path, block: int, tmp_path: Path, expected: dict[str, Any]) -> None:
    _assert_same(f"design/{path.stem}", tmp_path, expected)


def test_the_corpus_holds_good_and_bad_files(tmp_path: Path, expected: dict[str, Any]) -> None:
    """The comparison is not vacuous: the corpus has files that import and files refused at many stages."""
    kinds = [_assert_same(f"measurements/{p.stem}", tmp_path, expected) for p in MEASUREMENTS]
    assert kinds.count("batch") >= 1 and kinds.count("error") >= 20


def _variants(text: str) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """The measurements text re-encoded and re-punctuated in the ways the importer reads."""
    decimal = _decimal_comma(text)
    lower = re.sub(r"SN01", "sn01", text)
    return {
        "crlf": (text.replace("\n", "\r\n").encode(), {}),
        "cr-only": (text.replace("\n", "\r").encode(), {}),
        "bom": (b"\xef\xbb\xbf" + text.encode(), {}),
        "utf-16": (text.encode("utf-16"), {"encoding": "utf-16"}),
        "utf-16 without byte order mark": (text.encode("utf-16-le"), {"encoding": "utf-16"}),
        "utf-32 big-endian": (text.encode("utf-32-be"), {"encoding": "utf-32-be"}),
        "latin-1 device": (text.replace("CT-1", "CT-\xe91").encode("latin-1"), {"encoding": "latin-1"}),
        "bad utf-8 late": (text.encode() + b"SN01-00009,H001,0.3,1.0\xff\n", {}),
        "truncated utf-8 at the end": (text.encode() + b"\xc3", {}),
        "blank lines": (text.replace("\n", "\n\n  ,  \n").encode(), {}),
        "no final newline": (text.rstrip("\n").encode(), {}),
        "decimal comma": (decimal.encode(), {"decimal": ","}),
        "serial case preserve": (lower.encode(), {"serial_case": "preserve"}),
        "mixed serial case": (text.replace("SN01-00002", "sn01-00002", 1).encode(), {}),
        "quoted fields with newlines": (text.replace("CT-1", '"CT\n1"', 2).encode(), {}),
        "unknown column and malformed line": (
            text.replace("measured_at", "measured_on", 1).encode() + b'X,"unclosed\n',
            {},
        ),
        "default device and uncertainty": (
            "\n".join(",".join(ln.split(",")[:7]) for ln in text.splitlines()).encode(),
            {"device": "CMM-2", "uncertainty_mm": 0.004},
        ),
    }


def _decimal_comma(text: str) -> str:
    """``text`` with decimal commas and ';' between the fields (fields holding ';' quoted)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    for ln in text.splitlines():
        writer.writerow(re.sub(r"(?<=\d)\.(?=\d)", ",", f) for f in ln.split(","))
    return out.getvalue()


@pytest.mark.parametrize("name", list(_variants("x\n")))
def test_variants(name: str, block: int, tmp_path: Path, expected: dict[str, Any]) -> None:
    _assert_same(f"variant/{name}", tmp_path, expected)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_unknown_encodings(encoding: str, tmp_path: Path, expected: dict[str, Any]) -> None:
    """Names that are no text encoding are refused with the same message."""
    assert _assert_same(f"encoding/{encoding}", tmp_path, expected) == "error"
    with pytest.raises(InputDataError, match="unknown encoding"):
        importer.import_csv(CSV / "measurements.csv", CSV / "design.csv", META, encoding=encoding)


def test_many_bad_rows_are_counted_not_kept(tmp_path: Path, expected: dict[str, Any]) -> None:
    """Every row bad: the message counts them all but the importer keeps only the first few."""
    assert _assert_same("many bad rows", tmp_path, expected) == "error"
    errors = importer._Errors(tmp_path / "m.csv")
    for i in range(10_000):
        errors.add(i, "bad")
    assert errors.count == 10_000 and len(errors.items) <= importer._MAX_REPORTED + 1
    with pytest.raises(InputDataError, match=r"(?s)10000 bad rows.*and 9970 more"):
        errors.raise_if_any("row")


@pytest.mark.parametrize("pending", [1, 3, 8192])
def test_rows_beyond_the_line_count_grow_the_table(pending: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table given too little room (rows added by hand) grows instead of failing, whatever its block size."""
    monkeypatch.setattr(importer, "_PENDING_ROWS", pending)
    design, _ = importer.read_design_csv(CSV / "design.csv")
    errors = importer._Errors(CSV / "measurements.csv")
    header, rows = importer._read_table(
        CSV / "measurements.csv", importer.MEASUREMENT_REQUIRED, importer.MEASUREMENT_OPTIONAL, ",", "utf-8"
    )
    table = importer._MeasurementTable(header, design, "design.csv", errors, "", None, ",", 1)
    for line, f in rows:
        table.add(line, f)
    kept = table.kept()
    assert table.n == len(rows) and not errors.count
    np.testing.assert_array_equal(kept.line_no, [line for line, _ in rows])
    np.testing.assert_array_equal(kept.vals[:, 0], np.array([f[3] for _, f in rows], float).astype(np.float32))
