"""QIF 3.0 measurement results: the same batch as the equivalent CSV, matching by name or mapping, bad input named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qc_helpers import assert_same_batch, run_cli, sha256

from ecmsim.errors import InputDataError
from ecmsim.io import read_batch, write_batch
from ecmsim.qc.importer import import_csv
from ecmsim.qc.qif import import_qif

DATA = Path(__file__).parent.parent / "data" / "qif"
QIF, DESIGN, EQUIVALENT = DATA / "two_parts.qif", DATA / "design.csv", DATA / "equivalent.csv"
NOM101 = "\n        <CharacteristicNominalId>101"  # the H2 diameter item (the H2 depth item names nominal 103)
META = {"batch_id": "B1", "part_number": "P1", "drawing_revision": "A"}


def _variant(tmp_path: Path, *replacements: tuple[str, str], name: str = "v.qif") -> Path:
    """The sample with text replaced (each replacement must occur)."""
    text = QIF.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    out = tmp_path / name
    out.write_text(text, encoding="utf-8")
    return out


def _line_of(path: Path, needle: str, nth: int = 1) -> int:
    lines = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return lines[nth - 1]


def _error(path: Path, **kw: object) -> str:
    with pytest.raises(InputDataError) as exc:
        import_qif(path, DESIGN, META, **kw)  # type: ignore[arg-type]
    return str(exc.value)


def test_qif_gives_the_batch_of_the_equivalent_csv() -> None:
    q = import_qif(QIF, DESIGN, META)
    c = import_csv(EQUIVALENT, DESIGN, META)
    # the CSV carries a depth-only hole on a station row, so that station has a device; QIF has no value there
    assert c.device[1, 1, 0] == 1 and q.device[1, 1, 0] == -1
    c.device[1, 1, 0] = -1
    assert_same_batch(q, c)
    assert q.serials == ["SN01-0001", "SN01-0002"]  # sn01-0002 in the QIF: upper case by default
    assert q.diameter[0, 0].tolist() == [np.float32(1.2034), np.float32(1.1981)]
    assert q.x_dev[0, 0, 0] == np.float32(0.021) and q.y_dev[0, 0, 0] == 0  # true position 42 µm = 2·|Δx|
    assert q.devices == ["CMM-2", "unknown"] and q.device_uncertainty[0] == 0.003  # U = 2 × combinedUncertainty
    assert q.depth[0].tolist() == [np.float32(2.95), np.float32(3.01)]
    assert np.isnan(q.depth[1, 0]) and q.depth[1, 1] == np.float32(2.99) and q.depth_device[1, 1] == 1
    assert q.measured_at == ["2024-03-04T08:02:00Z", "2024-03-04T08:30:00Z"]  # TimeStamp, else InspectionStart
    assert [name for name, _ in q.sources] == ["two_parts.qif", "design.csv"]


def test_qif_through_qc_import_writes_the_batch_and_leaves_inputs(tmp_path: Path) -> None:
    out = tmp_path / "b.h5"
    before = sha256(QIF)
    code, outp, err = run_cli(["qc", "import", QIF, "--design", DESIGN, "-o", out, "--batch-id", "B1",
                               "--part-number", "P1", "--drawing-revision", "A"])  # fmt: skip
    assert code == 0, err
    assert "2 parts, 2 holes, 2 stations" in outp
    assert_same_batch(read_batch(out), import_qif(QIF, DESIGN, META))
    assert sha256(QIF) == before


def test_mapping_file_matches_items_by_name_and_skips_non_holes(tmp_path: Path) -> None:
    qif = _variant(
        tmp_path, ("<Name>H1@0.5</Name>", "<Name>DIA 1</Name>"), ("<Name>H1@1.5</Name>", "<Name>DIA 2</Name>"),
        (f"<Name>H2</Name>{NOM101}", f"<Name>DIA 3</Name>{NOM101}"),
    )  # fmt: skip
    mapping = tmp_path / "map.csv"
    mapping.write_text("name,hole_id,station_depth_mm\nDIA 1,H1,0.5\nDIA 2,H1,1.5\nDIA 3,H2,\nH1,H1,\nH2,H2,\n")
    assert_same_batch(import_qif(qif, DESIGN, META, mapping=mapping), import_qif(QIF, DESIGN, META))
    msg = _error(qif)  # without the mapping the names are no holes
    line = _line_of(qif, '<DiameterCharacteristicItem id="11">')
    assert f"v.qif:{line}: DiameterCharacteristicItem(id=11): characteristic name 'DIA 1'" in msg
    assert "--mapping" in msg
    mapping.write_text("name,hole_id,station_depth_mm\nDIA 1,H1,0.5\nDIA 2,H9,1.5\n")
    with pytest.raises(InputDataError, match=r"map.csv:3: hole_id 'H9' is not in the design"):
        import_qif(qif, DESIGN, META, mapping=mapping)
    mapping.write_text("name,hole_id,station_depth_mm\nDIA 1,H1,0.5\nDIA 2,,\nDIA 3,H2,\nH1,H1,\n")
    msg = _error(qif, mapping=mapping)  # an item not in the mapping is named; an empty hole_id skips one
    assert "DepthCharacteristicItem(id=16): name 'H2' is not in the mapping file" in msg and "DIA 2" not in msg


@pytest.mark.parametrize(
    ("replacements", "needle", "words"),
    [
        ((("1.1981</Value>", "1,1981</Value>"),), "1,1981", "Value = '1,1981' is not an xs:decimal"),
        ((("1.1981</Value>", "1.2e0</Value>"),), "1.2e0", "no exponent"),
        ((("<Value>1.262</Value>", "<Value>0</Value>"),), "<Value>0</Value>", "a diameter must be > 0"),
        ((("<Value>1.262</Value>", f"<Value>{'9' * 400}</Value>"),), "9999", "out of range for a length in mm"),
        (
            (("<Factor>0.000001</Factor>", "<Factor>0.000001</Factor><Offset>x</Offset>"),),
            "<Offset>x",
            "an Offset is not allowed",
        ),
        ((("<Value>2.99</Value>", "<Value>-2.99</Value>"),), "-2.99", "a depth must be > 0"),
        ((('linearUnit="um"', 'linearUnit="furlong"'),), "furlong", "linearUnit = 'furlong' is not defined"),
        ((('combinedUncertainty="1.5"', 'combinedUncertainty="-1"'),), 'combinedUncertainty="-1"', "≥ 0"),
        ((("<SerialNumber>sn01-0002</SerialNumber>", ""),), '<ActualComponent id="42"', "has no SerialNumber"),
        (
            (("<SerialNumber>sn01-0002</SerialNumber>", "<SerialNumber>sn01 0002</SerialNumber>"),),
            "<SerialNumber>sn01 0002",
            "serial = 'sn01 0002'",
        ),
        (
            (
                (
                    "<Name>H2</Name>\n        <CharacteristicNominalId>101",
                    "<Name>H3</Name>\n        <CharacteristicNominalId>101",
                ),
            ),
            '<DiameterCharacteristicItem id="15">',
            "characteristic name 'H3' is no hole of the design",
        ),
        (
            (("<Name>H1@1.5</Name>", "<Name>H1@deep</Name>"),),
            '<DiameterCharacteristicItem id="12">',
            "must be a depth in mm",
        ),
        (
            (("<Name>H1@1.5</Name>", "<Name>H1@3.5</Name>"),),
            '<DiameterCharacteristicMeasurement id="32"',
            "station 3.5 mm is deeper than hole H1",
        ),
        (
            (("<CharacteristicItemId>12</CharacteristicItemId>", "<CharacteristicItemId>99</CharacteristicItemId>"),),
            '<DiameterCharacteristicMeasurement id="32"',
            "CharacteristicItemId '99' names no characteristic item",
        ),
        (
            (("<CharacteristicItemId>12</CharacteristicItemId>", "<CharacteristicItemId>11</CharacteristicItemId>"),),
            '<DiameterCharacteristicMeasurement id="32"',
            "a second diameter of serial SN01-0001, hole H1",
        ),
        (
            (
                (
                    "<Value>2.99</Value>",
                    "<Value>2.99</Value></DepthCharacteristicMeasurement><DepthCharacteristicMeasurement>"
                    "<Status/><CharacteristicItemId>16</CharacteristicItemId><Value>2.98</Value>",
                ),
            ),
            "<Value>2.98</Value>",
            "contradicts line",
        ),
        (
            (('<ActualComponentIds n="1"><Id>42</Id>', '<ActualComponentIds n="2"><Id>41</Id><Id>42</Id>'),),
            '<DiameterCharacteristicMeasurement id="51"',
            "name 2 actual components",
        ),
        (
            (("<InspectionStart>2024-03-04T09:30:00+01:00", "<InspectionStart>yesterday"),),
            '<DiameterCharacteristicMeasurement id="51"',
            "measured_at = 'yesterday' is not an ISO 8601",
        ),
    ],
)
def test_bad_elements_are_named_with_file_line_and_what_is_allowed(
    tmp_path: Path, replacements: tuple[tuple[str, str], ...], needle: str, words: str
) -> None:
    qif = _variant(tmp_path, *replacements)
    msg = _error(qif)
    assert f"v.qif:{_line_of(qif, needle)}: " in msg and words in msg, msg
    assert "nothing was written" in msg


def test_mixed_case_spellings_of_one_serial_are_refused(tmp_path: Path) -> None:
    qif = _variant(tmp_path, ("<SerialNumber>sn01-0002</SerialNumber>", "<SerialNumber>sn01-0001</SerialNumber>"))
    msg = _error(qif)
    assert "serial 'sn01-0001' differs only in case from 'SN01-0001'" in msg
    preserved = import_qif(QIF, DESIGN, META, serial_case="preserve")
    assert preserved.serials == ["SN01-0001", "sn01-0002"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "<QIFDocument xmlns='http://qifstandards.org/xsd/qif3' versionQIF='3.0.0'>\n<Results>\n</QIFDocument>",
            "v.qif:3: not well-formed XML",
        ),
        ("<?xml version='1.0'?>\n<Batch/>", "v.qif:2: not a QIF 3 document: found <Batch> without a namespace"),
        (
            "<QIFDocument xmlns='http://qifstandards.org/xsd/qif2' versionQIF='2.1.0'/>",
            "namespace http://qifstandards.org/xsd/qif2",
        ),
        ("<QIFDocument xmlns='http://qifstandards.org/xsd/qif3' versionQIF='4.0'/>", "versionQIF = '4.0': only QIF 3"),
        (
            "<QIFDocument xmlns='http://qifstandards.org/xsd/qif3' versionQIF='3.0.0'/>",
            "no Results/MeasurementResultsSet",
        ),
        ("", "not well-formed XML"),
    ],
)
def test_documents_that_are_not_qif_3_results(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "v.qif"
    path.write_text(text)
    assert words in _error(path)


def test_units_must_be_stated_and_external_entities_are_not_read(tmp_path: Path) -> None:
    start, end = QIF.read_text().index("<FileUnits>"), QIF.read_text().index("</FileUnits>") + len("</FileUnits>")
    qif = _variant(tmp_path, (QIF.read_text()[start:end], ""))
    assert "has no linearUnit and the document no FileUnits/PrimaryUnits/LinearUnit" in _error(qif)
    secret = tmp_path / "secret.txt"
    secret.write_text("1.5")
    doc = (
        QIF.read_text()
        .replace(
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE QIFDocument [<!ENTITY x SYSTEM "file://{secret}">]>',
        )
        .replace("<Value>1.262</Value>", "<Value>&x;</Value>")
    )
    (tmp_path / "e.qif").write_text(doc)
    with pytest.raises(InputDataError, match="Value = '' is not an xs:decimal"):
        import_qif(tmp_path / "e.qif", DESIGN, META)


def test_a_document_without_hole_measurements_is_refused(tmp_path: Path) -> None:
    text = QIF.read_text()
    start, end = text.index("<MeasurementResultsSet"), text.index("</MeasurementResultsSet>")
    body = '<MeasurementResultsSet n="1"><MeasurementResults id="21"><MeasuredCharacteristics>'
    body += (
        '<CharacteristicMeasurements n="0"></CharacteristicMeasurements></MeasuredCharacteristics></MeasurementResults>'
    )
    qif = _variant(tmp_path, (text[start:end], body))
    assert "no diameter, position or depth measurements" in _error(qif)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 12), st.sampled_from(["", "<", ">", "&", "0", "-", ",", "x"])),
        min_size=1,
        max_size=4,
    )
)
def test_damaged_documents_are_input_errors_or_valid_batches(tmp_path: Path, edits: list[tuple[int, int, str]]) -> None:
    """Random cuts and insertions: a clear input error naming the file, or a batch that writes and reads back."""
    text = QIF.read_text(encoding="utf-8")
    for pos, cut, new in edits:
        pos %= len(text)
        text = text[:pos] + new + text[pos + cut :]
    path = tmp_path / "f.qif"
    path.write_text(text, encoding="utf-8")
    try:
        batch = import_qif(path, DESIGN, META)
    except InputDataError as exc:
        assert str(exc).startswith(str(path)), exc
        return
    out = tmp_path / "f.h5"
    out.unlink(missing_ok=True)
    write_batch(out, batch)
    assert_same_batch(read_batch(out), batch)
