"""Conformity decisions, predictions and residuals, results files, exit codes."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from qc_helpers import run_cli, sha256

from ecmsim.errors import ConfigError, InputDataError
from ecmsim.io import qc_results as insp
from ecmsim.io import read_qc_result, read_result, write_batch
from ecmsim.qc.check import run_check, zones
from ecmsim.qc.synth import synthesize, write_synthetic

P, CP, CF, F = insp.VERDICT_PASS, insp.VERDICT_COND_PASS, insp.VERDICT_COND_FAIL, insp.VERDICT_FAIL


def test_zones_of_the_three_rules_inclusive_limits() -> None:
    v = np.array([0.90, 0.95, 0.955, 0.96, 1.0, 1.04, 1.045, 1.05, 1.052, 1.055, 1.06, 1.1])
    assert zones(v, 0.95, 1.05, 0.005, "simple").tolist() == [F, P, P, P, P, P, P, P, F, F, F, F]
    assert zones(v, 0.95, 1.05, 0.005, "guarded").tolist() == [F, F, P, P, P, P, P, F, F, F, F, F]
    assert zones(v, 0.95, 1.05, 0.005, "non-binary").tolist() == [F, CP, P, P, P, P, P, CP, CF, CF, F, F]


def test_float32_values_on_the_limit_conform() -> None:
    # 0.775 and 0.825 are not exact in float32 (0.77499998, 0.82499999): still on the limit
    v = np.array([0.775, 0.825, 0.8], dtype=np.float32)
    assert zones(v, 0.8 - 0.025, 0.8 + 0.025, 0.0, "simple").tolist() == [P, P, P]
    assert zones(np.float32([0.7749]), 0.775, 0.825, 0.0, "simple").tolist() == [F]


def _naive_codes(v: float, lo: float, hi: float, u: float, rule: str) -> int:
    """Obviously correct per-value twin of ``zones`` (no epsilon needed: test values are away from edges)."""
    if math.isnan(v):
        return insp.VERDICT_MISSING
    if rule == "simple":
        return P if lo <= v <= hi else F
    if lo + u <= v <= hi - u:
        return P
    if rule == "guarded":
        return F
    if lo <= v <= hi:
        return CP
    return CF if lo - u <= v <= hi + u else F


@pytest.mark.parametrize("rule", ["simple", "guarded", "non-binary"])
def test_vectorised_check_equals_per_value_twin(tmp_path: Path, rule: str) -> None:
    rng = np.random.default_rng(5)
    s = synthesize(n_parts=12, n_holes=5, n_stations=4, faults=False, seed=2)
    b = s.batch
    b.diameter = (1.0 + rng.uniform(-0.08, 0.08, b.diameter.shape)).astype(np.float32)
    b.diameter[rng.random(b.diameter.shape) < 0.05] = np.nan
    b.x_dev[:, :, 0] = rng.uniform(-0.06, 0.06, b.x_dev[:, :, 0].shape)
    b.y_dev[:, :, 0] = rng.uniform(-0.06, 0.06, b.y_dev[:, :, 0].shape)
    write_batch(tmp_path / "b.h5", b)
    spec = tmp_path / "s.toml"
    spec.write_text(
        f'[decision]\nrule = "{rule}"\nmissing = "reject"\n'
        '[[tolerance]]\ncharacteristic = "diameter"\nlower_mm = -0.05\nupper_mm = 0.05\n'
        '[[tolerance]]\ncharacteristic = "position"\nmax_mm = 0.1\n'
        '[[tolerance]]\ncharacteristic = "taper"\nmin_deg = -1.0\nmax_deg = 1.0\n'
    )
    run = run_check([tmp_path / "b.h5"], spec, store=tmp_path / "store")
    o = run.outcomes[0]
    u = 0.005
    z = b.design.station_depth
    with h5py.File(o.results_file, "r") as f:
        dv = f["characteristics/diameter/verdict"][()]
        pv = f["characteristics/position/verdict"][()]
        tv = f["characteristics/taper/verdict"][()]
        tval = f["characteristics/taper/value"][()]
        part = f["parts/verdict"][()]
    for p in range(12):
        worst = insp.VERDICT_NA
        for h in range(5):
            for k in range(4):
                want = _naive_codes(float(b.diameter[p, h, k]), 0.95, 1.05, u, rule)
                assert dv[p, h, k] == want, (p, h, k)
                worst = max(worst, want)
            tp = 2 * math.hypot(float(b.x_dev[p, h, 0]), float(b.y_dev[p, h, 0]))
            want = _naive_codes(tp, -math.inf, 0.1, 2 * u, rule)
            assert pv[p, h] == want
            worst = max(worst, want)
            de, dx = float(b.diameter[p, h, 0]), float(b.diameter[p, h, -1])
            taper = math.degrees(math.atan((de - dx) / (2 * (z[-1] - z[0]))))
            ut = math.degrees(math.hypot(u, u) / (2 * (z[-1] - z[0])))
            want = _naive_codes(taper, -1.0, 1.0, ut, rule)
            assert tv[p, h] == want
            if not math.isnan(taper):
                assert tval[p, h] == pytest.approx(taper, abs=1e-4)
            worst = max(worst, want)
        assert part[p] == worst
        accepted = worst == P
        assert bool(o.accepted[p]) == accepted
    assert run.exit_code == (0 if o.accepted.all() else 1)


@pytest.mark.parametrize("rule", ["simple", "guarded", "non-binary"])
def test_synthetic_faults_found_under_every_rule(synth_files: dict[str, Path], tmp_path: Path, rule: str) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(synth_files["spec"].read_text().replace('rule = "non-binary"', f'rule = "{rule}"'))
    truth = json.loads(synth_files["truth"].read_text())
    run = run_check([synth_files["batch"]], spec, store=tmp_path / "store")
    o = run.outcomes[0]
    unc = next(f for f in truth["faults"] if f["type"] == "uncertainty_zone")
    for i, serial in enumerate(o.serials):
        want = truth["parts"][serial]
        verdict = insp.VERDICT_NAMES[int(o.part_verdict[i])]
        if serial == unc["serial"]:
            assert verdict == unc["expected_verdict"][rule]
            assert bool(o.accepted[i]) == (rule == "simple")
        else:
            assert verdict == want["verdict"] and bool(o.accepted[i]) == want["accepted"], serial
        assert not o.model_deviation[i]  # no predictions: nothing flagged
    blocked = next(f for f in truth["faults"] if f["type"] == "blocked_hole")
    i = o.serials.index(blocked["serial"])
    assert any(r.startswith(f"{blocked['hole']} depth: blocked") for r in o.reasons[i])
    assert o.reasons[i][0].endswith("blocked")  # worst verdict first
    pos = next(f for f in truth["faults"] if f["type"] == "out_of_position")
    assert "position: 0.1500 mm, fail" in o.reasons[o.serials.index(pos["serial"])][0]


def test_predictions_residuals_and_model_deviation(synth_pred_files: dict[str, Path], tmp_path: Path) -> None:
    truth = json.loads(synth_pred_files["truth"].read_text())
    run = run_check([synth_pred_files["batch"]], synth_pred_files["spec"], [synth_pred_files["prediction"]],
                    store=tmp_path / "store")  # fmt: skip
    o = run.outcomes[0]
    for i, serial in enumerate(o.serials):
        want = truth["parts"][serial]
        assert insp.VERDICT_NAMES[int(o.part_verdict[i])] == want["verdict"] and bool(o.accepted[i]) == want["accepted"]
        if want["model_deviation"] is not None:
            assert bool(o.model_deviation[i]) == want["model_deviation"], serial
    # the drifting electrode: late parts in tolerance yet flagged
    assert o.accepted[-1] and o.model_deviation[-1] and not o.model_deviation[0]
    # residuals are measured − interpolated 2 × wall radius, exactly
    prof = read_result(synth_pred_files["prediction"]).profile
    ok = np.isfinite(prof.wall_radius)
    z = o.design.station_depth
    pred = np.interp(z, prof.depth[ok] * 1e3, 2e3 * prof.wall_radius[ok])
    with h5py.File(o.results_file, "r") as f:
        res = f["residuals/diameter"][()]
        assert f["residuals/diameter"].attrs["units"] == "mm"
        np.testing.assert_allclose(f["predictions/diameter"][0], pred, rtol=0, atol=1e-12)
    with h5py.File(synth_pred_files["batch"], "r") as f:
        meas = f["measurements/diameter"][()]
    np.testing.assert_allclose(res, meas - pred.astype(np.float32), atol=1e-6)
    flagged = o.model_deviation & o.accepted
    assert flagged.sum() >= 2


def test_prediction_matching_by_group(synth_files: dict[str, Path], prediction: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "A.h5", tmp_path / "B.h5"
    shutil.copy(prediction, a)
    shutil.copy(prediction, b)
    run = run_check([synth_files["batch"]], synth_files["spec"], [a, b], store=tmp_path / "s")
    o = run.outcomes[0]
    assert o.predictions["holes_with_prediction"] == 30 and o.predictions["holes_without_prediction"] == []
    with h5py.File(o.results_file, "r") as f:
        src = f["predictions/source"][()]
    assert src.tolist() == [0] * 15 + [1] * 15
    c = tmp_path / "C.h5"
    shutil.copy(prediction, c)
    with pytest.raises(InputDataError, match=r"C.h5: .*no such group \(groups: A, B\)"):
        run_check([synth_files["batch"]], synth_files["spec"], [a, c], store=tmp_path / "s")


def test_spec_for_another_part_and_missing_uncertainty(synth_files: dict[str, Path], tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(synth_files["spec"].read_text().replace('part_number = "SYN-NGV-01"', 'part_number = "X-1"'))
    with pytest.raises(InputDataError, match=r"batch is for part number 'SYN-NGV-01'.*'X-1'"):
        run_check([synth_files["batch"]], spec, store=tmp_path / "st")
    s = synthesize(n_parts=10, n_holes=10, n_stations=3)
    s.batch.device_uncertainty[:] = np.nan
    (tmp_path / "nu").mkdir()
    write_synthetic(tmp_path / "nu", s)
    with pytest.raises(InputDataError, match="needs the measurement uncertainty"):
        run_check([tmp_path / "nu" / "batch.h5"], tmp_path / "nu" / "spec.toml", store=tmp_path / "st")
    spec2 = tmp_path / "nu" / "spec2.toml"
    spec2.write_text((tmp_path / "nu" / "spec.toml").read_text().replace(
        'missing = "reject"', 'missing = "reject"\ndefault_uncertainty_mm = 0.005'))  # fmt: skip
    assert run_check([tmp_path / "nu" / "batch.h5"], spec2, store=tmp_path / "st").outcomes[0].n_accepted == 5
    with pytest.raises(ConfigError):
        run_check([tmp_path / "nu" / "batch.h5"], tmp_path / "missing.toml", store=tmp_path / "st")


def test_missing_values_reject_or_ignore(tmp_path: Path) -> None:
    s = synthesize(n_parts=3, n_holes=3, n_stations=3, faults=False)
    s.batch.diameter[1, 2, 1] = np.nan
    (tmp_path / "m").mkdir()
    paths = write_synthetic(tmp_path / "m", s, csv=False)
    o = run_check([paths["batch"]], paths["spec"], store=tmp_path / "st").outcomes[0]
    assert o.accepted.tolist() == [True, False, True]
    assert o.reasons[1] == [f"H003 diameter @ {s.batch.design.station_depth[1]:g} mm: not measured"]
    spec = tmp_path / "ignore.toml"
    spec.write_text(paths["spec"].read_text().replace('missing = "reject"', 'missing = "ignore"'))
    assert run_check([paths["batch"]], spec, store=tmp_path / "st").outcomes[0].accepted.all()


def test_cli_check_exit_codes_outputs_provenance(synth_pred_files: dict[str, Path], tmp_path: Path) -> None:
    inputs = [synth_pred_files[k] for k in ("batch", "spec", "prediction")]
    before = [sha256(p) for p in inputs]
    store, report, js = tmp_path / "store", tmp_path / "r.html", tmp_path / "out.json"
    args = ["qc", "check", synth_pred_files["batch"], "--spec", synth_pred_files["spec"], "--predictions",
            synth_pred_files["prediction"], "--store", store, "--report", report, "--json", js]  # fmt: skip
    code, out, err = run_cli(args)
    assert code == 1, err  # faults injected: some parts rejected
    assert "rejected parts of SYN-0007 (5)" in out and "in tolerance but deviating from the prediction" in out
    assert [sha256(p) for p in inputs] == before  # inputs byte-for-byte unchanged
    data = json.loads(js.read_text())
    b = data["batches"][0]
    assert data["exit_code"] == 1 and b["rejected"] == 5 and b["accepted"] == 15
    assert b["sha256"] == before[0] and data["spec"]["sha256"] == before[1]
    assert data["predictions"][0]["sha256"] == before[2]
    # results file: a new file in the store, with provenance; the inputs archived by content hash
    res = read_qc_result(b["results_file"])
    a = res["attrs"]
    assert a["inspection_sha256"] == before[0] and a["spec_sha256"] == before[1] and a["decision_rule"] == "non-binary"
    assert a["ecmsim_version"] and a["checked_at"] and a["n_rejected"] == 5
    assert ("prediction", str(synth_pred_files["prediction"]), before[2]) in res["inputs"]
    assert res["texts"]["spec_toml"] == synth_pred_files["spec"].read_text()
    assert (store / "inspections" / f"{before[0]}.h5").read_bytes() == synth_pred_files["batch"].read_bytes()
    assert (store / "specs" / f"{before[1]}.toml").exists() and (store / "predictions" / f"{before[2]}.h5").exists()
    assert Path(b["results_file"]).name.startswith("SYN-0007_")
    # JSON on stdout
    code, out, err = run_cli([*args[:-4], "--json", "-"])
    assert code == 1 and json.loads(out)["batches"][0]["rejected"] == 5 and "rejected parts" in err


def test_cli_exit_zero_when_all_conform_and_two_on_bad_input(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    paths = write_synthetic(tmp_path / "ok", synthesize(n_parts=5, n_holes=6, n_stations=3, faults=False), csv=False)
    code, out, err = run_cli(["qc", "check", paths["batch"], "--spec", paths["spec"], "--store", tmp_path / "st"])
    assert code == 0 and "all parts conform" in out, err
    bad = tmp_path / "bad.toml"
    bad.write_text(paths["spec"].read_text().replace("upper_mm = 0.05", "uper_mm = 0.05"))
    report = tmp_path / "r.html"
    code, out, err = run_cli(["qc", "check", paths["batch"], "--spec", bad, "--store", tmp_path / "st2",
                              "--report", report])  # fmt: skip
    assert code == 2 and "did you mean 'upper_mm'" in err and "bad.toml" in err and "Traceback" not in err
    assert not report.exists() and not (tmp_path / "st2").exists()  # nothing partial
    code, _, err = run_cli(["qc", "check", tmp_path / "nope.h5", "--spec", paths["spec"], "--store", tmp_path / "s"])
    assert code == 2 and "nope.h5" in err
    code, _, err = run_cli(["qc", "check", paths["batch"], "--spec", paths["spec"], "--report", tmp_path / "no/r.html"])
    assert code == 4 and "does not exist" in err
    code, _, err = run_cli(["qc", "check", paths["batch"], "--spec", paths["spec"], "--json", paths["spec"]])
    assert code == 2 and "would overwrite the input" in err
