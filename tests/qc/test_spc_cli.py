"""``qc spc`` end to end on synthetic batches: Phase I freeze → Phase II monitoring, drift run length,
attribution to the drifting electrode, limits file, exit codes, errors, inputs unchanged, HTML report in Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner, Result
from qc_helpers import chromium_dom, chromium_screenshot, distinct_colours, red_pixels, sha256

from ecmsim.errors import EcmsimError
from ecmsim.io import read_spc_limits
from ecmsim.qc.synth import DRIFT_MAX_MM, MAX_MEAN_RESIDUAL_MM, synthesize, write_synthetic

N_PARTS = 40


@pytest.fixture(scope="module")
def spc_files(tmp_path_factory: pytest.TempPathFactory, prediction: Path) -> dict[str, Path]:
    """A clean Phase I batch and a Phase II batch with the synthetic faults and electrode E2 drifting."""
    root = tmp_path_factory.mktemp("spc")
    (root / "clean").mkdir()
    (root / "drift").mkdir()
    clean = write_synthetic(root / "clean", synthesize(N_PARTS, prediction=prediction, seed=3, faults=False), csv=False)
    drift = write_synthetic(root / "drift", synthesize(N_PARTS, prediction=prediction, seed=7, faults=True), csv=False)
    return {"clean": clean["batch"], "drift": drift["batch"], "spec": clean["spec"], "drift_spec": drift["spec"],
            "prediction": prediction, "root": root}  # fmt: skip


def invoke(args: list[str]) -> tuple[int, Result]:
    """Invoke the command; a domain error maps to its exit code as at the CLI's error boundary."""
    from ecmsim.cli.spc_cmd import spc_command

    res = CliRunner().invoke(spc_command, [str(a) for a in args])
    if isinstance(res.exception, EcmsimError):
        return res.exception.exit_code, res
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res


def test_phase1_freeze_then_phase2_detects_the_drifting_electrode(spc_files: dict[str, Path], tmp_path: Path) -> None:
    f = spc_files
    inputs = [f["clean"], f["drift"], f["spec"], f["drift_spec"], f["prediction"]]
    before = {p: sha256(p) for p in inputs}
    lim = tmp_path / "limits.h5"
    code, res = invoke([f["clean"], "--spec", f["spec"], "--predictions", f["prediction"], "--freeze", lim,
                        "--json", tmp_path / "p1.json"])  # fmt: skip
    p1 = json.loads((tmp_path / "p1.json").read_text())
    assert code == p1["exit_code"] and p1["phase"] == "I" and lim.exists()
    assert "Phase I limits frozen" in res.output
    assert p1["residuals"]["drift_detected"] is False  # the clean batch does not drift
    # the limits file: schema, provenance, the Phase I batch and spec hashes, one entry per series and chart
    with h5py.File(lim, "r") as h:
        assert h.attrs["schema"] == "ecmsim-spc-limits" and h.attrs["schema_version"] == 2
        for k in ("ecmsim_version", "hdf5_version", "written_at", "frozen_at", "spec_sha256", "rules", "subgroup"):
            assert k in h.attrs, k
        assert h["series/000/mu"].attrs["units"] in ("mm", "deg", "mm/mm")
    frozen = read_spc_limits(lim)
    assert frozen.sources == [(str(f["clean"]), sha256(f["clean"]))]
    assert frozen.spec_sha256 == sha256(f["spec"]) and frozen.rules == ("auto",)
    assert frozen.alarm_rate == 0.01
    keys = {(x.key, x.chart) for x in frozen.limits}
    assert ("residual_offset:B", "ewma") in keys and ("diameter:A", "imr") in keys and ("position:B", "imr") in keys
    p1_b = next(s for s in p1["series"] if s["key"] == "residual_offset:B")
    assert frozen.get("residual_offset:B", "imr").mu == pytest.approx(p1_b["charts"]["imr"]["mu"])
    # Phase II on the faulty batch against the frozen limits
    out = tmp_path / "p2.json"
    code, res = invoke([f["drift"], "--spec", f["drift_spec"], "--predictions", f["prediction"], "--limits", lim,
                        "--json", out])  # fmt: skip
    p2 = json.loads(out.read_text())
    assert code == 1 and p2["exit_code"] == 1 and p2["phase"] == "II" and p2["in_control"] is False
    series = {s["key"]: s for s in p2["series"]}
    b = series["residual_offset:B"]["charts"]
    assert b["ewma"]["frozen"] and b["ewma"]["mu"] == pytest.approx(frozen.get("residual_offset:B", "ewma").mu)
    # Phase II uses the EWMA and CUSUM parameters frozen in Phase I: L and h calibrated there so that each
    # chart's chance of any signal over the 40 parts is its share of the 1 % family-wise rate
    assert b["ewma"]["params"] == frozen.get("residual_offset:B", "ewma").params
    assert b["cusum"]["params"] == frozen.get("residual_offset:B", "cusum").params
    assert 3.5 < b["ewma"]["params"]["L"] < 5 and 7 < b["cusum"]["params"]["h"] < 12
    # electrode E2 drifts by DRIFT_MAX_MM × i/(N−1): 0.41 µm per part, σ of the group's part mean ≈ 1 µm.
    # EWMA (λ 0.2, L 4.24) signals at the 9th part (drift 3.3 µm), CUSUM (k ½, h 9.45) at the 11th, before
    # the drift reaches the model bound checked by `qc check` (8 µm, part 21) or the diameter tolerance.
    assert b["ewma"]["first_signal"] == 8 and b["cusum"]["first_signal"] == 10
    bound_part = int(MAX_MEAN_RESIDUAL_MM / DRIFT_MAX_MM * (N_PARTS - 1)) + 1
    assert b["ewma"]["first_signal"] < bound_part - 10 and b["cusum"]["first_signal"] < bound_part - 5
    drift = {(d["series"], d["chart"]): d for d in p2["residuals"]["drift_signals"]}
    assert drift[("residual_offset:B", "cusum")]["run_length"] == 11
    assert drift[("residual_offset:B", "cusum")]["subgroup"] == "SN07-00011"
    # attribution: the electrode of group B, from the batch metadata "E1 (group A), E2 (group B)"
    att = p2["residuals"]["attribution"]
    assert att["attributed_to"] == "electrode" and att["levels"] == ["E2 (group B)"]
    assert "row" in att["confounded_with"]  # synth puts group B on its own row: reported, not hidden
    assert "E2 (group B)" in res.output and "electrode" in res.output
    depth = next(x for x in att["factors"] if x["factor"] == "depth")
    assert depth["p_value"] > 0.01 and not depth["outstanding_levels"]  # the drift is uniform over depth
    # per-hole and per-part summaries
    ph = {h["hole"]: h for h in p2["residuals"]["per_hole"]}
    assert ph["H030"]["mean_offset_mm"] > ph["H001"]["mean_offset_mm"]
    assert {"mean_offset_mm", "taper_error_mm_per_mm", "worst_station_mm"} <= set(p2["residuals"]["per_part"][0])
    assert {p: sha256(p) for p in inputs} == before  # inputs are only read


def test_in_control_exits_0_with_xbar_r_subgroups(spc_files: dict[str, Path]) -> None:
    code, res = invoke([spc_files["clean"], "--spec", spc_files["spec"], "--subgroup", "5", "--json", "-"])
    assert code == 0, res.output
    data = json.loads(res.output[res.output.index("{") :])
    assert data["in_control"] is True and data["exit_code"] == 0
    d = next(s for s in data["series"] if s["key"] == "diameter:A")
    assert list(d["charts"]) == ["xbar-r", "within"]  # the part means and the within-part spread
    assert [p["name"] for p in d["charts"]["xbar-r"]["panels"]] == ["Xbar", "R"]
    pos = next(s for s in data["series"] if s["key"] == "position:A")["capability"]
    assert pos["cp"] is None and pos["cpk"] == pos["cpu"] and pos["lsl"] is None  # one-sided true position


def test_subgroup_by_batch_field(spc_files: dict[str, Path]) -> None:
    f = spc_files
    _, res = invoke([f["clean"], f["drift"], "--spec", f["spec"], "--subgroup", "batch_id", "--json", "-",
                        "--rules", "nelson"])  # fmt: skip
    data = json.loads(res.output[res.output.index("{") :])
    d = next(s for s in data["series"] if s["key"] == "diameter:B")
    assert next(iter(d["charts"])) == "xbar-s"  # 40 parts per subgroup
    assert data["n_parts"] == 2 * N_PARTS and len(data["batches"]) == 2
    assert set(data["rules"]) == {f"n{i}" for i in range(1, 9)}


@pytest.mark.parametrize(
    ("extra", "code", "pattern"),
    [
        (["--rules", "we9"], 2, r"unknown run rule 'we9'.*allowed"),
        (["--subgroup", "shift"], 2, r"--subgroup 'shift'.*batch field"),
        (["--chart", "xbar-r"], 2, r"need subgroups"),
        (["--limits", "L.h5", "--freeze", "F.h5"], 2, r"exclude each other"),
        (["--limits", "{clean}"], 2, r"not an ecmsim SPC limits file"),
        (["--limits", "missing.h5"], 2, r"missing.h5: SPC limits file not found"),
        (["--report", "{clean}"], 2, r"would overwrite the input"),
        (["--freeze", "{clean}"], 2, r"would overwrite the input"),
        (["--json", "nodir/out.json"], 4, r"nodir"),
    ],
)
def test_input_errors(spc_files: dict[str, Path], tmp_path: Path, extra: list[str], code: int, pattern: str) -> None:
    extra = [e.format(clean=spc_files["clean"]) if "{" in e else (str(tmp_path / e) if e.endswith(".h5") else e)
             for e in extra]  # fmt: skip
    before = sha256(spc_files["clean"])
    got, res = invoke([spc_files["clean"], "--spec", spc_files["spec"], *extra])
    msg = str(res.exception) if res.exception and not isinstance(res.exception, SystemExit) else res.output
    assert got == code and re.search(pattern, msg, re.S), msg
    assert sha256(spc_files["clean"]) == before
    assert not (tmp_path / "F.h5").exists()


def test_existing_limits_file_is_never_overwritten_and_nothing_partial(
    spc_files: dict[str, Path], tmp_path: Path
) -> None:
    lim = tmp_path / "old.h5"
    lim.write_bytes(b"a record")
    report = tmp_path / "r.html"
    code, res = invoke([spc_files["clean"], "--spec", spc_files["spec"], "--freeze", lim, "--report", report])
    assert code == 4 and "never overwritten" in str(res.exception)
    assert lim.read_bytes() == b"a record" and not report.exists()
    # a design that differs from the first batch: input error, no output
    other = write_synthetic(tmp_path, synthesize(12, n_holes=10, n_stations=4, faults=False), csv=False)
    code, res = invoke([spc_files["clean"], other["batch"], "--spec", spc_files["spec"], "--report", report])
    assert code == 2 and "differs from" in str(res.exception) and not report.exists()


def test_error_boundary_prints_one_message_without_traceback(spc_files: dict[str, Path]) -> None:
    code = (
        "from ecmsim.cli.main import main, cli; from ecmsim.cli.spc_cmd import spc_command; "
        "cli.commands['qc'].add_command(spc_command); main()"
    )
    args = [sys.executable, "-c", code, "qc", "spc", str(spc_files["clean"]), "--spec", str(spc_files["spec"])]
    proc = subprocess.run([*args, "--rules", "n0"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "unknown run rule 'n0'" in proc.stderr
    help_ = subprocess.run([sys.executable, "-c", code, "qc", "spc", "--help"], capture_output=True, text=True,
                           timeout=60)  # fmt: skip
    assert help_.returncode == 0 and "--freeze" in help_.stdout and "--limits" in help_.stdout


def test_spc_report_renders_in_headless_chromium(spc_files: dict[str, Path], tmp_path: Path) -> None:
    f = spc_files
    report = tmp_path / "spc.html"
    code, _ = invoke([f["drift"], "--spec", f["drift_spec"], "--predictions", f["prediction"], "--report", report])
    assert code == 1
    text = report.read_text(encoding="utf-8")
    assert "<script" not in text.lower() and not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.I)
    n_img = text.count("src='data:image/png;base64,")
    assert n_img >= 12
    for needle in ("Process statistics report", "Capability", "Cpk", "Bissell", "E2 (group B)", "Drift detected",
                   "family-wise"):  # fmt: skip
        assert needle in text, needle
    dom = chromium_dom(report, tmp_path)
    assert "Process statistics report" in dom
    assert dom.count("<img") == n_img
    w, h, px, bpp = chromium_screenshot(report, tmp_path, 3000)
    assert (w, h) == (1200, 3000)
    assert distinct_colours(px, bpp) > 50
    assert red_pixels(px, bpp) > 200  # the red status line and control limits are drawn
