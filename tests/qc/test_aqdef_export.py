"""AQDEF (Q-DAS .dfq) export of check results: parsed back, every field and value checked against the record."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from qc_helpers import run_cli, sha256

from ecmsim.errors import InputDataError
from ecmsim.io import read_batch
from ecmsim.io.qc_results import VERDICT_NAMES
from ecmsim.qc.aqdef import ENCODING, export_aqdef, parse_dfq
from ecmsim.qc.check import run_check


@pytest.fixture(scope="module")
def checked(synth_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A check of the synthetic batch (faults: blocked hole, missing values, out of tolerance) in a fresh store."""
    store = tmp_path_factory.mktemp("aqstore") / "store"
    run = run_check([str(synth_files["batch"])], str(synth_files["spec"]), [], store=str(store))
    return {"results": Path(run.outcomes[0].results_file), "store": store, **synth_files}


def _export(checked: dict[str, Path], tmp_path: Path) -> tuple[Path, str]:
    out = tmp_path / "b.dfq"
    code, outp, err = run_cli(["qc", "export", checked["results"], "--format", "aqdef", "-o", out])
    assert code == 0, err
    assert "AQDEF file written to" in outp
    return out, out.read_bytes().decode(ENCODING)


def test_export_reads_back_with_the_limits_and_values_of_the_record(checked: dict[str, Path], tmp_path: Path) -> None:
    before = sha256(checked["results"])
    _, text = _export(checked, tmp_path)
    assert sha256(checked["results"]) == before and "\r\n" in text
    part, chars, values = parse_dfq(text)
    batch = read_batch(checked["batch"])
    f = h5py.File(checked["results"], "r")
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    assert part["K1001"] == attrs["part_number"] == batch.meta["part_number"]
    assert part["K1042"] == attrs["drawing_revision"] and part["K1002"] == attrs["spec_name"]
    assert int(part["K0100"]) == len(chars) and sorted(chars) == list(range(1, len(chars) + 1))
    holes, stations = batch.design.hole_id, batch.design.station_depth
    seen = {"diameter": 0, "depth": 0, "taper": 0, "position": 0}
    for i, c in chars.items():
        desc = c["K2002"]
        hid, _, what = desc.partition(" ")
        h = holes.index(hid)
        assert c["K2001"] == str(i) and c["K2004"] == "0"
        if what.startswith("diameter at "):
            s = int(np.argmin(np.abs(stations - float(what.split()[2]))))
            lo, hi = f["characteristics/diameter/lower_limit"][h, s], f["characteristics/diameter/upper_limit"][h, s]
            nominal, name, measured = batch.design.nominal_diameter[h], "diameter", batch.diameter[:, h, s]
            verdicts = f["characteristics/diameter/verdict"][:, h, s]
        else:
            name = {"depth": "depth", "taper (half angle)": "taper", "true position": "position",
                    "entry diameter": "entry_diameter", "exit diameter": "exit_diameter"}[what]  # fmt: skip
            lo, hi = f[f"characteristics/{name}/lower_limit"][h], f[f"characteristics/{name}/upper_limit"][h]
            measured = batch.depth[:, h] if name == "depth" else f[f"characteristics/{name}/value"][:, h]
            nominal = {"depth": batch.design.depth[h], "taper": 0.0, "position": 0.0}.get(
                name, batch.design.nominal_diameter[h]
            )
            verdicts = f[f"characteristics/{name}/verdict"][:, h]
        seen[name] = seen.get(name, 0) + 1
        assert c["K2142"] == ("°" if name == "taper" else "mm")
        assert float(c.get("K2110", "-inf")) == lo and float(c.get("K2111", "inf")) == hi  # the limits checked
        assert float(c["K2101"]) == nominal  # the design's, or 0 where the spec states none (taper, position)
        recs = values[i]
        assert [r["K0014"] for r in recs] == batch.serials and {r["K0006"] for r in recs} == {attrs["batch_id"]}
        for p, r in enumerate(recs):
            if np.isnan(measured[p]):
                assert r["K0002"] == "255" and r["K0001"] == "0"
            else:
                assert r["K0002"] == "0" and np.float32(r["K0001"]) == np.float32(measured[p])
            assert r["K0009"].endswith(f"ecmsim verdict: {VERDICT_NAMES[int(verdicts[p])]}")
            t = datetime.datetime.strptime(r["K0004"], "%d.%m.%Y/%H:%M:%S")
            assert t.isoformat() == batch.measured_at[p].rstrip("Z")[:19]
    assert all(seen[k] for k in ("diameter", "depth", "taper", "position")), seen
    # the synthetic faults survive: a blocked hole and values not measured
    assert "blocked; ecmsim verdict: fail" in text and "K0002/" in text and " 255\r\n" in text


def test_export_finds_the_archived_inspection_by_hash(checked: dict[str, Path], tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    res = Path(shutil.copy(checked["results"], moved / checked["results"].name))
    # the original inspection path is recorded; hide it, so only the store's copy can serve
    batch_copy = checked["batch"].with_suffix(".keep")
    checked["batch"].rename(batch_copy)
    try:
        with pytest.raises(InputDataError, match=r"is not found with that hash.*--store"):
            export_aqdef(res, tmp_path / "a.dfq")
        s = export_aqdef(res, tmp_path / "a.dfq", store=checked["store"])
        assert s.n_parts == 20 and (tmp_path / "a.dfq").is_file()
        archived = next((checked["store"] / "inspections").glob("*.h5"))
        tampered = tmp_path / "t" / "store"
        shutil.copytree(checked["store"], tampered)
        arch = tampered / "inspections" / archived.name
        arch.chmod(0o644)
        with open(arch, "r+b") as fh:
            fh.seek(-1, 2)
            last = fh.read(1)
            fh.seek(-1, 2)
            fh.write(bytes([last[0] ^ 1]))
        with pytest.raises(InputDataError, match="does not match its SHA-256"):
            export_aqdef(res, tmp_path / "b.dfq", store=tampered)
        assert not (tmp_path / "b.dfq").exists()
    finally:
        batch_copy.rename(checked["batch"])


def test_bad_outputs_and_inputs_exit_with_a_message(checked: dict[str, Path], tmp_path: Path) -> None:
    results = checked["results"]
    code, _, err = run_cli(["qc", "export", results, "--format", "aqdef", "-o", results])
    assert code == 2 and "inside the QC store" in err  # the results file is a record of the store
    outside = Path(shutil.copy(results, tmp_path / "r.h5"))
    code, _, err = run_cli(["qc", "export", outside, "--format", "aqdef", "-o", outside, "--store", checked["store"]])
    assert code == 2 and "RESULTS" in err and "h5py" not in err
    code, _, err = run_cli(["qc", "export", results, "--format", "aqdef", "-o", checked["store"] / "x.dfq"])
    assert code == 2 and "inside the QC store" in err and not (checked["store"] / "x.dfq").exists()
    code, _, err = run_cli(["qc", "export", results, "--format", "aqdef", "-o", tmp_path / "no" / "x.dfq"])
    assert code == 4 and "does not exist" in err
    code, _, err = run_cli(["qc", "export", checked["batch"], "--format", "aqdef", "-o", tmp_path / "x.dfq"])
    assert code == 2 and "not an ecmsim QC results file (schema 'ecmsim-inspection-batch'" in err
    assert not (tmp_path / "x.dfq").exists() and "Traceback" not in err


def test_parse_dfq_refuses_what_is_not_k_field_lines() -> None:
    with pytest.raises(InputDataError, match="line 2: 'hello' is not a K-field line"):
        parse_dfq("K0100 1\nhello\n")
    with pytest.raises(InputDataError, match="K0002/1 before the first K0001/1"):
        parse_dfq("K0100 1\nK0002/1 0\n")
