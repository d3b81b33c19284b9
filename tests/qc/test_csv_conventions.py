"""CSV shop conventions: decimal comma with semicolons by explicit option, and the case of serial numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qc_helpers import assert_same_batch, run_cli

from ecmsim.errors import InputDataError
from ecmsim.io import read_batch
from ecmsim.qc.importer import import_csv

META = {"batch_id": "B1", "part_number": "P1", "drawing_revision": "A"}
HEADER = "serial,hole_id,station_depth_mm,diameter_mm,x_dev_mm,y_dev_mm,depth_mm,device,uncertainty_mm\n"
DESIGN = "hole_id,group,nominal_diameter_mm,depth_mm,stations_mm\nH1,A,1.2,3.0,0.5;1.5\nH2,B,1.2,3.0,0.5\n"
ROWS = (
    "S1,H1,0.5,1.234,0.0015,-0.002,2.95,CT,0.005\n"
    "S1,H1,1.5,1.2286,,,2.95,CT,0.005\n"
    "S1,H2,0.5,1.2,,,blocked,CT,0.005\n"
    "S2,H1,0.5,1.25,,,,CT,0.005\n"
)


def _to_comma(text: str) -> str:
    """The same table as a French or German spreadsheet writes it: ';' between fields, ',' in numbers."""
    lines = []
    for line in text.splitlines():
        fields = [f.replace(".", ",") for f in line.split(",")]
        fields = [f'"{f}"' if ";" in f else f for f in fields]  # stations_mm lists stations with ';'
        lines.append(";".join(fields))
    return "\n".join(lines) + "\n"


def _files(tmp_path: Path, measurements: str, design: str, stem: str = "") -> tuple[Path, Path]:
    m, d = tmp_path / f"m{stem}.csv", tmp_path / f"d{stem}.csv"
    m.write_text(measurements, encoding="utf-8")
    d.write_text(design, encoding="utf-8")
    return m, d


def test_decimal_comma_reads_1_234_as_1_234_mm_and_matches_the_point_file(tmp_path: Path) -> None:
    point = _files(tmp_path, HEADER + ROWS, DESIGN, "p")
    comma = _files(tmp_path, _to_comma(HEADER + ROWS), _to_comma(DESIGN), "c")
    assert "1,234" in comma[0].read_text() and '"0,5;1,5"' in comma[1].read_text()
    a = import_csv(*point, META)
    b = import_csv(*comma, META, decimal=",")  # ';' is implied
    assert b.diameter[0, 0, 0] == np.float32(1.234)
    assert b.x_dev[0, 0, 0] == np.float32(0.0015) and b.y_dev[0, 0, 0] == np.float32(-0.002)
    assert b.design.station_depth.tolist() == [0.5, 1.5] and b.design.nominal_diameter.tolist() == [1.2, 1.2]
    assert b.depth[0, 0] == np.float32(2.95) and b.device_uncertainty.tolist() == [0.005]
    assert_same_batch(a, b)


def test_decimal_comma_through_the_command_line(tmp_path: Path) -> None:
    m, d = _files(tmp_path, _to_comma(HEADER + ROWS), _to_comma(DESIGN))
    out = tmp_path / "b.h5"
    args = ["qc", "import", m, "--design", d, "-o", out, "--batch-id", "B1", "--part-number", "P1",
            "--drawing-revision", "A"]  # fmt: skip
    code, _, err = run_cli(args)  # without the option the semicolons are refused, with the way out named
    assert code == 2 and "separated by semicolons" in err and "--decimal comma" in err and not out.exists()
    code, _, err = run_cli([*args, "--delimiter", ";"])  # semicolons alone: 1,234 is not a number
    assert code == 2 and "d.csv:2: nominal_diameter_mm = '1,2' is not a number" in err and "--decimal comma" in err
    assert not out.exists()
    code, _, err = run_cli([*args, "--decimal", "comma"])
    assert code == 0, err
    assert read_batch(out).diameter[0, 0, 0] == np.float32(1.234)


def test_ambiguous_decimal_input_is_refused(tmp_path: Path) -> None:
    # a '.' in a decimal-comma file would be a thousands separator: 1.234 might mean 1234
    rows = _to_comma(HEADER + ROWS).replace("1,2286", "1.2286")
    m, d = _files(tmp_path, rows, _to_comma(DESIGN))
    with pytest.raises(InputDataError, match=r"m.csv:3: diameter_mm = '1.2286': with --decimal comma .* not allowed"):
        import_csv(m, d, META, decimal=",")
    # a decimal comma in a comma-separated file splits the field: reported, with the option named
    m, d = _files(tmp_path, HEADER + 'S1,H1,0.5,"1,234",,,,,\n', DESIGN)
    with pytest.raises(InputDataError, match=r"m.csv:2: diameter_mm = '1,234' is not a number.*--decimal comma"):
        import_csv(m, d, META)
    with pytest.raises(InputDataError, match=r"--decimal comma with --delimiter ',' is ambiguous"):
        import_csv(m, d, META, decimal=",", delimiter=",")
    code, _, err = run_cli(["qc", "import", m, "--design", d, "-o", tmp_path / "x.h5", "--batch-id", "B",
                            "--part-number", "P", "--drawing-revision", "A", "--decimal", "comma",
                            "--delimiter", ","])  # fmt: skip
    assert code == 2 and "ambiguous" in err and "Traceback" not in err


def test_serials_are_stored_in_upper_case_unless_preserved(tmp_path: Path) -> None:
    rows = ROWS.replace("S1,", "sn01-0001,").replace("S2,", "sn01-0002,")
    m, d = _files(tmp_path, HEADER + rows, DESIGN)
    assert import_csv(m, d, META).serials == ["SN01-0001", "SN01-0002"]
    assert import_csv(m, d, META, serial_case="preserve").serials == ["sn01-0001", "sn01-0002"]
    upper = _files(tmp_path, HEADER + rows.upper(), DESIGN, "u")
    assert_same_batch(import_csv(m, d, META), import_csv(*upper, META))  # one part, whatever the case
    with pytest.raises(InputDataError, match="--serial-case 'lower': must be one of upper, preserve"):
        import_csv(m, d, META, serial_case="lower")


@pytest.mark.parametrize("serial_case", ["upper", "preserve"])
def test_two_spellings_of_one_serial_in_a_batch_name_both_rows(tmp_path: Path, serial_case: str) -> None:
    rows = (
        "SN01-0001,H1,0.5,1.2,,,,,\nSN01-0001,H1,1.5,1.2,,,,,\nsn01-0001,H2,0.5,1.2,,,,,\nSn01-0002,H1,0.5,1.2,,,,,\n"
    )
    m, d = _files(tmp_path, HEADER + rows, DESIGN)
    with pytest.raises(InputDataError) as exc:
        import_csv(m, d, META, serial_case=serial_case)
    msg = str(exc.value)
    assert "m.csv:4: serial 'sn01-0001' differs only in case from 'SN01-0001' on line 2" in msg
    assert "nothing was written" in msg and "m.csv:5" not in msg  # Sn01-0002 is written one way only


def test_serial_case_option_on_the_command_line(tmp_path: Path) -> None:
    m, d = _files(tmp_path, HEADER + ROWS.replace("S1,", "sn1,"), DESIGN)
    common = ["--batch-id", "B1", "--part-number", "P1", "--drawing-revision", "A"]
    code, _, err = run_cli(["qc", "import", m, "--design", d, "-o", tmp_path / "u.h5", *common])
    assert code == 0, err
    code, _, err = run_cli(["qc", "import", m, "--design", d, "-o", tmp_path / "p.h5", *common,
                            "--serial-case", "preserve"])  # fmt: skip
    assert code == 0, err
    assert read_batch(tmp_path / "u.h5").serials == ["SN1", "S2"]
    assert read_batch(tmp_path / "p.h5").serials == ["sn1", "S2"]
