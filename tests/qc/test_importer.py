"""CSV import: faithful to the synthetic HDF5, every bad row reported with file and line, nothing partial."""

from __future__ import annotations

from pathlib import Path

import pytest
from qc_helpers import assert_same_batch, run_cli, sha256

from ecmsim.errors import InputDataError
from ecmsim.io import read_batch
from ecmsim.qc.importer import import_csv

META = {"batch_id": "B1", "part_number": "P1", "drawing_revision": "A"}
DESIGN = "hole_id,group,nominal_diameter_mm,depth_mm\nH1,A,1.0,3.0\nH2,B,1.0,3.0\n"
HEADER = "serial,hole_id,station_depth_mm,diameter_mm,x_dev_mm,y_dev_mm,depth_mm,device,uncertainty_mm,measured_at\n"


def _files(tmp_path: Path, rows: str, design: str = DESIGN, header: str = HEADER) -> tuple[Path, Path]:
    m, d = tmp_path / "m.csv", tmp_path / "d.csv"
    m.write_text(header + rows, encoding="utf-8")
    d.write_text(design, encoding="utf-8")
    return m, d


def test_import_reproduces_the_synthetic_batch(synth_files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "imported.h5"
    before = {k: sha256(synth_files[k]) for k in ("measurements", "design")}
    code, outp, err = run_cli([
        "qc", "import", synth_files["measurements"], "--design", synth_files["design"], "-o", out,
        "--batch-id", "SYN-0001", "--part-number", "SYN-NGV-01", "--drawing-revision", "A",
        "--machine", "STEM-3 (synthetic)", "--electrode", "E1 (group A), E2 (group B)",
        "--electrolyte-lot", "H2SO4-15-L042", "--drilled-on", "2024-03-01",
    ])  # fmt: skip
    assert code == 0, err
    assert "20 parts, 30 holes, 6 stations" in outp
    a, b = read_batch(synth_files["batch"]), read_batch(out)
    assert_same_batch(a, b)
    assert b.sources[0][0] == "measurements.csv" and len(b.sources[0][1]) == 64
    assert before == {k: sha256(synth_files[k]) for k in ("measurements", "design")}  # inputs untouched
    # batch files are records: never overwritten
    code, _, err = run_cli([
        "qc", "import", synth_files["measurements"], "--design", synth_files["design"], "-o", out,
        "--batch-id", "X", "--part-number", "P", "--drawing-revision", "A",
    ])  # fmt: skip
    assert code == 4 and "never overwritten" in err


def test_bad_rows_are_all_reported_with_line_and_reason(tmp_path: Path) -> None:
    rows = (
        "S1,H1,0.5,1.001,,,3.0,CT,0.005,2024-01-01T10:00:00Z\n"  # line 2 ok
        "S1,H9,0.5,1.001,,,3.0,CT,0.005,\n"  # 3 unknown hole
        "S1,H1,1.0,abc,,,3.0,CT,0.005,\n"  # 4 not a number
        'S1,H1,1.5,"1,002",,,3.0,CT,0.005,\n'  # 5 decimal comma
        "S1,H1,4.0,1.0,,,3.0,CT,0.005,\n"  # 6 deeper than the hole
        "S1,H1,0.5,1.002,,,3.0,CT,0.005,\n"  # 7 duplicate of line 2
        "S2,H1,0.5,1.0,0.01,,3.0,CT,0.005,\n"  # 8 x without y
        "S2,H2,0.5,1.0,,,3.0,CT,0.005,\n"  # 9 ok
        "S2,H2,2.5,1.0,,,3.0,CT,0.005,yesterday\n"  # 10 bad time
        "S2,H2,1.0,-1.0,,,3.0,CT,0.005,\n"  # 11 negative diameter
        "S2,H2,1.5,1.0,,,3.1,CT,0.005,\n"  # 12 contradicting depth
        "S2,H2,2.0,1.0,,\n"  # 13 too few fields
    )
    m, d = _files(tmp_path, rows)
    with pytest.raises(InputDataError) as exc:
        import_csv(m, d, META)
    msg = str(exc.value)
    for line, words in {
        3: "not in the design", 4: "'abc' is not a number", 5: "decimal separator", 6: "deeper than hole H1",
        8: "given together", 10: "ISO 8601", 11: "must be > 0", 12: "contradicts line 9", 13: "expected 10 fields",
    }.items():  # fmt: skip
        assert f"m.csv:{line}: " in msg and words in msg, (line, msg)
    assert "nothing was written" in msg


def test_duplicates_reported_after_the_rows_are_valid(tmp_path: Path) -> None:
    rows = "S1,H1,0.5,1.001,,,,,,\nS1,H1,0.5,1.002,,,,,,\n"
    m, d = _files(tmp_path, rows)
    with pytest.raises(InputDataError, match=r"m.csv:3: duplicate measurement of serial S1, hole H1.*line 2"):
        import_csv(m, d, META)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("serial;hole_id;station_depth_mm;diameter_mm\nS1;H1;0.5;1.0\n", "separated by semicolons.*--delimiter ';'"),
        ("serial,hole_id,station_depth_mm\nS1,H1,0.5\n", "missing required column diameter_mm"),
        ("serial,hole_id,station_depth_mm,diameter_mm,diamter_mm\nS1,H1,0.5,1,1\n", "did you mean 'diameter_mm'"),
        ("serial,hole_id,station_depth_mm,diameter_mm\n", "no data rows"),
        ("", "empty"),
    ],
)
def test_file_level_errors(tmp_path: Path, content: str, match: str) -> None:
    m, d = _files(tmp_path, "", header=content)
    with pytest.raises(InputDataError, match=match):
        import_csv(m, d, META)


def test_wrong_encoding_and_explicit_encoding(tmp_path: Path) -> None:
    m, d = _files(tmp_path, "")
    m.write_bytes((HEADER + "S1,H1,0.5,1.0,,,,Messger\u00e4t,,\n").encode("latin-1"))
    with pytest.raises(InputDataError, match=r"m.csv:2: not utf-8 text.*--encoding"):
        import_csv(m, d, META)
    with pytest.raises(InputDataError, match="64 printable ASCII"):  # device names are ASCII
        import_csv(m, d, META, encoding="latin-1")


def test_semicolon_files_with_option_and_blocked_holes(tmp_path: Path) -> None:
    design = DESIGN.replace(",", ";")
    rows = "S1;H1;0.5;1.0;;;blocked;CT;0.005;\nS1;H1;2.5;;;;blocked;CT;0.005;\nS1;H2;0.5;1.0;;;3.0;;;\n"
    m, d = _files(tmp_path, rows, design=design, header=HEADER.replace(",", ";"))
    b = import_csv(m, d, META, delimiter=";", device="CMM", uncertainty_mm=0.003)
    assert b.blocked.tolist() == [[True, False]]
    assert b.devices == ["CT", "CMM"] and b.device_uncertainty.tolist() == [0.005, 0.003]
    assert b.design.station_depth.tolist() == [0.5, 2.5]
    assert b.design.station_mask.tolist() == [[True, True], [True, False]]


def test_design_errors(tmp_path: Path) -> None:
    bad = "hole_id,group,nominal_diameter_mm,depth_mm,stations_mm\nH1,A,1.0,3.0,0.5;4\nH1,A,1.0,3.0,\nH3,A,,3.0,\n"
    m, d = _files(tmp_path, "S1,H1,0.5,1.0,,,,,,\n", design=bad)
    with pytest.raises(InputDataError) as exc:
        import_csv(m, d, META)
    msg = str(exc.value)
    assert "d.csv:2: station 4 mm is deeper" in msg and "d.csv:3: hole_id 'H1' already defined on line 2" in msg
    assert "d.csv:4: nominal_diameter_mm is empty" in msg


def test_measured_station_not_in_the_design_stations(tmp_path: Path) -> None:
    design = "hole_id,nominal_diameter_mm,depth_mm,stations_mm\nH1,1.0,3.0,0.5;1.5\n"
    m, d = _files(tmp_path, "S1,H1,0.5,1.0,,,,,,\nS1,H1,1.0,1.0,,,,,,\n", design=design)
    with pytest.raises(InputDataError, match=r"m.csv:3: station_depth_mm 1 is not a station of hole H1"):
        import_csv(m, d, META)


def test_cli_import_error_exit_code_and_no_output(tmp_path: Path) -> None:
    m, d = _files(tmp_path, "S1,H1,0.5,abc,,,,,,\n")
    out = tmp_path / "b.h5"
    code, _, err = run_cli(["qc", "import", m, "--design", d, "-o", out, "--batch-id", "B", "--part-number", "P",
                            "--drawing-revision", "A"])  # fmt: skip
    assert code == 2 and "m.csv:2:" in err and "Traceback" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "m.csv"]
