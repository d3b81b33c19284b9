"""The streaming CSV importer against the whole-file one (``legacy_importer``): same batches, same messages.

Every CSV file of the bad-input corpus is imported by both, as measurements
and as a design, whole and cut into tiny blocks (so that block ends fall
inside characters, ``\\r\\n`` pairs, quoted fields and lines), in the encodings,
line ends and conventions the importer supports; both must refuse it with the
same message or return the same batch.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import legacy_importer
import numpy as np
import pytest
from qc_helpers import assert_same_batch

from ecmsim.errors import InputDataError
from ecmsim.qc import csvfile, importer

CSV = Path(__file__).resolve().parents[1] / "data" / "bad" / "csv"
META = {"batch_id": "B1", "part_number": "P1", "drawing_revision": "A"}
MEASUREMENTS = sorted(p for p in CSV.glob("*.csv") if not p.name.startswith("design"))
DESIGNS = sorted(CSV.glob("design*.csv"))


def _outcome(module: Any, measurements: Path, design: Path, **kw: Any) -> tuple[str, Any]:
    try:
        return "batch", module.import_csv(measurements, design, META, **kw)
    except InputDataError as exc:
        return "error", str(exc)


def _assert_same(measurements: Path, design: Path, **kw: Any) -> str:
    kind_a, a = _outcome(legacy_importer, measurements, design, **kw)
    kind_b, b = _outcome(importer, measurements, design, **kw)
    assert kind_a == kind_b, (a, b)
    if kind_a == "error":
        assert a == b
    else:
        assert_same_batch(a, b)
        assert a.sources == b.sources
    return kind_a


@pytest.fixture(params=[csvfile.BLOCK_BYTES, 1, 7], ids=["whole", "1-byte-blocks", "7-byte-blocks"])
def block(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Bytes read at a time; with tiny blocks the good rows also reach the arrays two at a time."""
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", request.param)
    if request.param != csvfile.BLOCK_BYTES:
        monkeypatch.setattr(importer, "_PENDING_ROWS", 2)
    return int(request.param)


@pytest.mark.parametrize("path", MEASUREMENTS, ids=lambda p: p.stem)
def test_corpus_measurements(path: Path, block: int) -> None:
    _assert_same(path, CSV / "design.csv")


@pytest.mark.parametrize("path", DESIGNS, ids=lambda p: p.stem)
def test_corpus_designs(path: Path, block: int) -> None:
    _assert_same(CSV / "measurements.csv", path)


def test_the_corpus_holds_good_and_bad_files() -> None:
    """The comparison is not vacuous: the corpus has files that import and files refused at many stages."""
    kinds = [_assert_same(p, CSV / "design.csv") for p in MEASUREMENTS]
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
def test_variants(name: str, block: int, tmp_path: Path) -> None:
    data, kw = _variants((CSV / "measurements.csv").read_text())[name]
    path = tmp_path / "m.csv"
    path.write_bytes(data)
    design = tmp_path / "design.csv"
    text = (CSV / "design.csv").read_text()
    if kw.get("decimal") == ",":
        text = _decimal_comma(text)
    design.write_bytes(text.encode(kw.get("encoding", "utf-8")))
    _assert_same(path, design, **kw)


@pytest.mark.parametrize("encoding", ["klingon", "base64", "rot13"])
def test_unknown_encodings(encoding: str) -> None:
    """Names that are no text encoding are refused with the same message."""
    assert _assert_same(CSV / "measurements.csv", CSV / "design.csv", encoding=encoding) == "error"
    with pytest.raises(InputDataError, match="unknown encoding"):
        importer.import_csv(CSV / "measurements.csv", CSV / "design.csv", META, encoding=encoding)


def test_many_bad_rows_are_counted_not_kept(tmp_path: Path) -> None:
    """Every row bad: the message counts them all but the importer keeps only the first few."""
    head, *rows = (CSV / "measurements.csv").read_text().splitlines()
    bad = [r.replace(",1.0", ",-1.0", 1) for r in rows if ",1.0" in r] * 40
    path = tmp_path / "m.csv"
    path.write_text("\n".join([head, *bad]) + "\n")
    assert _assert_same(path, CSV / "design.csv") == "error"
    errors = importer._Errors(path)
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
