"""Statistics of ``qc spc`` with known answers: capability on measured values (ISO 22514-2 percentile and
Box-Cox methods against scipy), one sigma estimator per index and chart, probability limits, frozen Phase II
parameters, validated limits files, the family-wise false-alarm rate on clean batches and the detection of
every fault ``qc synth`` injects."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from ecmsim.errors import EcmsimError, InputDataError
from ecmsim.io.spc_limits import read_spc_limits, write_spc_limits
from ecmsim.qc.capability import P_HIGH, P_LOW, percentile_method
from ecmsim.qc.charts import (
    calibrate_cusum,
    calibrate_ewma,
    chance_signals_of_rules,
    chart,
    family_alpha,
    range_cdf,
    range_quantile,
)
from ecmsim.qc.spc import SpcOptions, run_spc
from ecmsim.qc.synth import synthesize, write_synthetic


def _write(root: Path, name: str, synth) -> dict[str, Path]:
    (root / name).mkdir()
    return write_synthetic(root / name, synth, csv=False)


def _skewed(seed: int = 2) -> object:
    """A clean synthetic batch whose diameters are right-skewed: nominal − 8 µm + lognormal (median 6 µm)."""
    s = synthesize(30, seed=seed, faults=False)
    rng = np.random.default_rng(seed)
    d = s.batch.diameter
    nominal = float(s.batch.design.nominal_diameter[0])
    skew = nominal - 0.008 + rng.lognormal(math.log(0.006), 0.55, d.shape)
    s.batch.diameter = np.round(skew, 4).astype(np.float32)
    return s


def test_capability_uses_measured_values_so_the_iso_percentile_method_applies(tmp_path: Path) -> None:
    files = _write(tmp_path, "skew", _skewed())
    calls: list[tuple[int, int]] = []
    run = run_spc([files["batch"]], files["spec"], progress=lambda d, t, left: calls.append((d, t)))
    assert [d for d, _ in calls] == list(range(1, calls[-1][1] + 1))  # every step, up to the total
    cap = next(s for s in run.series if s.key == "diameter:A").capability
    assert cap is not None and cap.percentile is not None
    d = _batch_diameters(files["batch"]).astype(float)
    v = d[:, :15, :].ravel()  # group A: the first 15 holes, every station
    v = v[np.isfinite(v)]
    assert cap.n == v.size and cap.mean == pytest.approx(v.mean(), rel=1e-12)
    assert cap.lsl is not None and cap.lsl > 0.9  # limits are measured values (nominal ± tolerance), not deviations
    # the values are skewed: the normal fit is rejected, the 3-parameter lognormal wins (smallest AIC)
    assert cap.normality["normal"] is False
    assert cap.percentile["distribution"] == "lognormal (3-parameter)"
    shape, loc, scale = stats.lognorm.fit(v)
    q = stats.lognorm.ppf([P_LOW, 0.5, P_HIGH], shape, loc, scale)
    want = min((cap.usl - q[1]) / (q[2] - q[1]), (q[1] - cap.lsl) / (q[1] - q[0]))
    assert cap.percentile["ppk"] == pytest.approx(want, rel=1e-3)
    assert abs(cap.percentile["ppk"] - cap.ppk) > 0.1  # the ISO method differs from the normal fit here
    assert cap.box_cox is not None and cap.box_cox["applicable"] is True  # positive values: Box-Cox applies
    lam = cap.box_cox["lambda"]
    g = np.exp(np.mean(np.log(v)))
    assert stats.boxcox_llf(lam, v / g) >= stats.boxcox_llf(1.0, v / g)


def _batch_diameters(path: Path) -> np.ndarray:
    from ecmsim.io.batch import open_batch

    with open_batch(path) as r:
        return np.concatenate([m["diameter"] for _, _, m in r.iter_chunks()])


def test_percentile_method_on_a_shifted_skewed_sample_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    v = 0.98 + rng.lognormal(math.log(0.012), 0.45, 3000)
    pm = percentile_method(v, 0.97, 1.06)
    assert pm["distribution"] == "lognormal (3-parameter)"
    q = stats.lognorm(*stats.lognorm.fit(v)).ppf([P_LOW, 0.5, P_HIGH])
    assert pm["x_0_135"] == pytest.approx(q[0], rel=1e-4) and pm["x_99_865"] == pytest.approx(q[2], rel=1e-4)
    assert pm["pp"] == pytest.approx((1.06 - 0.97) / (q[2] - q[0]), rel=1e-3)


def test_one_sigma_estimator_per_index_and_chart(tmp_path: Path) -> None:
    """One value per part (one hole per group): Cp's within sigma is the chart's own estimator."""
    files = _write(tmp_path, "two", synthesize(30, n_holes=2, n_stations=4, seed=4, faults=False))
    run = run_spc([files["batch"]], files["spec"], options=SpcOptions(subgroup="5"))
    s = next(x for x in run.series if x.key == "position:A")
    c = s.charts["xbar-r"]
    assert s.capability is not None and s.capability.sigma_method == "rbar" and c.sigma_method == "rbar"
    assert s.capability.sigma_within == pytest.approx(c.sigma, rel=1e-12)
    data = run.to_json()
    cap = next(x for x in data["series"] if x["key"] == "position:A")["capability"]
    assert cap["sigma_within_estimator"].startswith("within:") and cap["sigma_overall_estimator"].startswith("overall")
    # several values per part: pooled within-part sigma for the indices, named so
    d = next(x for x in run.series if x.key == "diameter:A")
    assert d.capability is not None and d.capability.sigma_method == "pooled"


def test_probability_limits_have_their_stated_rate() -> None:
    assert family_alpha(0.01, 100) == pytest.approx(1 - 0.99 ** (1 / 100), rel=1e-12)
    # range of 2 normals: |X1 − X2| = √2 |Z|
    assert range_cdf(2.0, 2) == pytest.approx(2 * stats.norm.cdf(2 / math.sqrt(2)) - 1, abs=1e-7)
    w = range_quantile(0.999, 5)
    rng = np.random.default_rng(3)
    r = np.ptp(rng.standard_normal((400_000, 5)), axis=1)
    assert np.mean(r > w) == pytest.approx(0.001, rel=0.15)
    x = rng.normal(10.0, 2.0, 50)
    c = chart("imr", x, mu=10.0, sigma=2.0, alpha=1e-3)
    z = stats.norm.ppf(1 - 5e-4)
    assert c.panels[0].ucl[0] == pytest.approx(10.0 + z * 2.0) and c.panels[1].ucl[0] == pytest.approx(
        math.sqrt(2) * z * 2.0
    )
    assert c.expected_false_alarms == pytest.approx(1e-3 * (50 + 49))
    s = chart("xbar-s", rng.normal(0, 1, (20, 6)), mu=0.0, sigma=1.0, alpha=1e-3)
    assert s.panels[1].ucl[0] == pytest.approx(math.sqrt(stats.chi2.ppf(1 - 5e-4, 5) / 5))
    # classical 3σ: we1 gives 0.27 % per point by chance
    assert chance_signals_of_rules(("we1",), 25) == pytest.approx(25 * 0.0027, rel=0.1)


def test_ewma_and_cusum_calibration_against_the_plain_recursions() -> None:
    n, p_any = 30, 0.01
    L, h = calibrate_ewma(0.2, n, p_any), calibrate_cusum(0.5, n, p_any)
    rng = np.random.default_rng(99)  # another stream than the calibration's
    u = rng.standard_normal((100_000, n))
    z = np.zeros(u.shape[0])
    cp = np.zeros(u.shape[0])
    cm = np.zeros(u.shape[0])
    e_hit = np.zeros(u.shape[0], bool)
    c_hit = np.zeros(u.shape[0], bool)
    for i in range(n):
        z = 0.2 * u[:, i] + 0.8 * z
        e_hit |= np.abs(z) > L * math.sqrt(0.2 / 1.8 * (1 - 0.8 ** (2 * (i + 1))))
        cp = np.maximum(0, u[:, i] - 0.5 + cp)
        cm = np.maximum(0, -u[:, i] - 0.5 + cm)
        c_hit |= (cp > h) | (cm > h)
    assert e_hit.mean() == pytest.approx(p_any, rel=0.15) and c_hit.mean() == pytest.approx(p_any, rel=0.15)


def _spc(args: list[object]) -> tuple[int, str, object]:
    from ecmsim.cli.spc_cmd import spc_command

    res = CliRunner().invoke(spc_command, [str(a) for a in args])
    if isinstance(res.exception, EcmsimError):
        return res.exception.exit_code, str(res.exception), res
    return res.exit_code, res.output, res


@pytest.fixture(scope="module")
def clean_and_faulty(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("spcstat")
    faulty = synthesize(40, seed=7, faults=True)
    return {
        "clean": _write(root, "clean", synthesize(40, seed=3, faults=False)),
        "faulty": _write(root, "faulty", faulty),
        "truth": faulty.truth,
        "root": root,
    }


@pytest.mark.parametrize("sigma", [math.nan, math.inf, 0.0, -1.0])
def test_limits_file_with_unusable_sigma_is_refused(clean_and_faulty: dict, tmp_path: Path, sigma: float) -> None:
    f = clean_and_faulty["clean"]
    lim = tmp_path / "lim.h5"
    code, _, _ = _spc([f["batch"], "--spec", f["spec"], "--freeze", lim])
    assert code == 0
    with h5py.File(lim, "r+") as h:
        key = h["series/001"].attrs["key"]
        h["series/001/sigma"][()] = sigma
    pattern = rf"lim.h5: series '{key}', chart '\w+': sigma = .*allowed: finite and > 0"
    with pytest.raises(InputDataError, match=pattern):
        read_spc_limits(lim)
    report = tmp_path / "r.html"
    code, msg, _ = _spc([f["batch"], "--spec", f["spec"], "--limits", lim, "--report", report])
    assert code == 2 and "sigma" in msg and not report.exists()


def test_phase2_uses_the_frozen_ewma_and_cusum_parameters(clean_and_faulty: dict, tmp_path: Path) -> None:
    f = clean_and_faulty["clean"]
    lim = tmp_path / "lim.h5"
    charts = ["--chart", "imr", "--chart", "ewma", "--chart", "cusum"]
    params = ["--lambda", "0.3", "--ewma-l", "2.9", "--cusum-k", "0.7", "--cusum-h", "4.5"]
    code, _, _ = _spc([f["batch"], "--spec", f["spec"], *charts, *params, "--freeze", lim])
    assert code in (0, 1)
    run = run_spc([clean_and_faulty["faulty"]["batch"]], f["spec"], limits_path=lim,
                  options=SpcOptions(charts=("imr", "ewma", "cusum")))  # fmt: skip
    d = next(s for s in run.series if s.key == "diameter:B")
    assert d.charts["ewma"].params == {"lambda": 0.3, "L": 2.9} and d.charts["cusum"].params == {"k": 0.7, "h": 4.5}
    assert d.frozen["ewma"] and d.frozen["cusum"]


def test_clean_batches_are_in_control_in_at_least_90_percent_of_seeds(tmp_path: Path) -> None:
    outcomes = []
    for seed in range(1, 21):
        files = _write(tmp_path, f"s{seed}", synthesize(25, seed=seed, faults=False))
        run = run_spc([files["batch"]], files["spec"])
        outcomes.append(run.in_control)
        v = run.verdict()
        assert v["expected_chance_signals"] < 0.05  # 3 families at 1 % each
    assert sum(outcomes) >= 18, outcomes


def test_every_injected_fault_is_detected(clean_and_faulty: dict, tmp_path: Path) -> None:
    """Phase I on a clean batch, Phase II on the batch with every fault of ``qc synth``."""
    lim = tmp_path / "lim.h5"
    c, fa = clean_and_faulty["clean"], clean_and_faulty["faulty"]
    p1 = run_spc([c["batch"]], c["spec"])
    assert p1.in_control
    write_spc_limits(lim, p1.frozen_limits())
    run = run_spc([fa["batch"]], fa["spec"], limits_path=lim)
    hits: dict[str, set[str]] = {}
    for s in run.series:
        for kind, ch in s.charts.items():
            for r in ch.signal_list():
                hits.setdefault(s.labels[r["index"]], set()).add(f"{s.key}/{kind}")
    where = {
        "out_of_tolerance_diameter": "diameter:A/",
        "out_of_position": "position:A/",
        "blocked_hole": "depth:A/blocked",
        "outlier": "diameter:A/within",
        "uncertainty_zone": "diameter:A/within",
    }
    for fault in clean_and_faulty["truth"]["faults"]:
        found = hits.get(fault["serial"], set())
        assert any(h.startswith(where[fault["type"]]) for h in found), (fault, found)
    # the drifting electrode (group B grows by up to 16 µm): diameter:B leaves its limits
    drift = next(s for s in run.series if s.key == "diameter:B").charts["imr"]
    assert not drift.in_control and drift.first_signal() < 20
    line = run.verdict_line()
    assert line.startswith("OUT OF CONTROL:") and "diameter:B" in line and "expected by chance" in line


def test_long_series_use_approximations_that_join_the_monte_carlo() -> None:
    from ecmsim.qc.charts import MC_MAX_POINTS, _siegmund_arl

    assert _siegmund_arl(0.5, 5.0) == pytest.approx(465, rel=0.02)  # Montgomery's ARL₀ of k = ½, h = 5
    n = MC_MAX_POINTS
    assert calibrate_ewma(0.2, n + 1, 0.01) == pytest.approx(calibrate_ewma(0.2, n, 0.01), rel=0.05)
    assert calibrate_cusum(0.5, n + 1, 0.01) == pytest.approx(calibrate_cusum(0.5, n, 0.01), rel=0.05)
