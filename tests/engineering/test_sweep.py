"""Sweeps: parsing, designs, executors (serial, process pool, Dask), resume, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ecmsim.engineering.sweep import evaluate_point, parse_vary, plan_points, run_sweep
from ecmsim.errors import ConfigError
from ecmsim.io.sweep import journal_path, read_sweep

GRID = ["electrical.voltage_V=6:8:2", "motion.feed_rate_mm_per_min=1.5:2.5:2"]
CALLS: list[list[float]] = []


def counting(payload):
    """Evaluate a point and count it (serial executor: runs in this process)."""
    CALLS.append(payload["values"])
    return evaluate_point(payload)


def interrupting(payload):
    if len(CALLS) == 2:
        raise KeyboardInterrupt
    return counting(payload)


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("electrical.voltag=8:14:7", "did you mean 'electrical.voltage_V'"),
        ("feed_rat=1:2:3", "did you mean 'motion.feed_rate_mm_per_min'"),
        ("electrical.voltage_V=8:14:0", "at least 1"),
        ("electrical.voltage_V=8:x:3", "'x' is not a number"),
        ("electrical.voltage_V=-1:14:3", "outside the allowed range (> 0 and <= 200)"),
        ("electrical.voltage_V=8:14", "a grid needs start:stop:n"),
        ("workpiece.alloy=1:2:2", "not a numeric config key"),
        ("electrical.voltage_V", "expected table.key=start:stop:n"),
    ],
)
def test_vary_errors_name_key_value_and_allowed(text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as exc:
        parse_vary(text)
    assert needle in str(exc.value)


def test_grid_list_and_latin_hypercube() -> None:
    g = plan_points([parse_vary("voltage_V=8:14:7"), parse_vary("feed_rate=0.5,1,3")])
    assert g.shape == (21, 2)
    assert sorted(set(g[:, 0])) == [8, 9, 10, 11, 12, 13, 14] and sorted(set(g[:, 1])) == [0.5, 1, 3]
    specs = [parse_vary("voltage_V=8:14", samples=10), parse_vary("feed_rate=0.5:3", samples=10)]
    lhs = plan_points(specs, samples=10, seed=3)
    assert lhs.shape == (10, 2)
    for j, (lo, hi) in enumerate([(8, 14), (0.5, 3)]):
        bins = np.floor((lhs[:, j] - lo) / (hi - lo) * 10).astype(int)
        assert sorted(bins) == list(range(10))  # one point per stratum
    np.testing.assert_array_equal(lhs, plan_points(specs, samples=10, seed=3))
    with pytest.raises(ConfigError, match="drop ':7'"):
        parse_vary("voltage_V=8:14:7", samples=10)


def test_serial_sweep_records_points_and_resume_skips_finished(fast_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.h5"
    o = run_sweep(fast_config, GRID, out, workers=1, evaluate=counting)
    assert (o.planned, o.skipped, o.computed) == (4, 0, 4) and len(CALLS) == 4
    s = read_sweep(out)
    assert s.parameters == ["electrical.voltage_V", "motion.feed_rate_mm_per_min"]
    assert s.units == ["V", "mm/min"] and s.mode == "transient" and s.design == "grid"
    assert set(s.status) == {"completed"}
    dia = {tuple(v): d for v, d in zip(s.values.tolist(), s.metrics["diameter_mm"], strict=True)}
    assert dia[(8.0, 1.5)] > dia[(6.0, 1.5)] and dia[(6.0, 1.5)] > dia[(6.0, 2.5)]  # overcut up with U, down with f
    assert np.all(np.isfinite(s.metrics["taper_deg"])) and np.all(s.metrics["machining_time_s"] > 0)
    assert not journal_path(out).exists()
    # Same sweep again: nothing recomputed.  A wider grid: only the new points.
    o = run_sweep(fast_config, GRID, out, workers=1, evaluate=counting)
    assert (o.skipped, o.computed) == (4, 0) and len(CALLS) == 4
    o = run_sweep(fast_config, ["electrical.voltage_V=6:10:3", GRID[1]], out, workers=1, evaluate=counting)
    assert (o.planned, o.skipped, o.computed) == (6, 4, 2) and len(CALLS) == 6
    assert read_sweep(out).n_points == 6


def test_interrupted_sweep_resumes_without_recomputing(fast_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.h5"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(fast_config, GRID, out, workers=1, evaluate=interrupting)
    done = read_sweep(out)
    assert done.n_points == 2  # the finished points were saved on the way out
    first = [list(v) for v in done.values]
    o = run_sweep(fast_config, GRID, out, workers=1, evaluate=counting)
    assert (o.skipped, o.computed) == (2, 2)
    assert all(v not in first for v in CALLS[2:])  # only the two unfinished points ran
    assert read_sweep(out).n_points == 4


def test_journal_of_a_killed_sweep_is_merged(fast_config: Path, tmp_path: Path) -> None:
    """A hard kill leaves finished points only in the journal (and maybe a torn line)."""
    out = tmp_path / "s.h5"
    run_sweep(fast_config, GRID[:1], tmp_path / "one.h5", workers=1)
    full = tmp_path / "full.h5"
    run_sweep(fast_config, GRID, full, workers=1)
    rows = read_sweep(full).rows()
    with open(journal_path(out), "w", encoding="utf-8") as fh:
        for r in rows[:3]:
            fh.write(json.dumps(r) + "\n")
        fh.write('{"param_hash": "abc", "val')  # torn by the kill
    CALLS.clear()
    o = run_sweep(fast_config, GRID, out, workers=1, evaluate=counting)
    assert (o.skipped, o.computed) == (3, 1) and len(CALLS) == 1
    assert not journal_path(out).exists() and read_sweep(out).n_points == 4


def test_other_sweep_in_the_file_is_refused(fast_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.h5"
    run_sweep(fast_config, GRID[:1], out, workers=1)
    with pytest.raises(ConfigError, match="holds another sweep"):
        run_sweep(fast_config, GRID[:1], out, workers=1, overrides=["electrical.overpotential_V=2.0"])


def test_process_pool_matches_serial(fast_config: Path, tmp_path: Path) -> None:
    run_sweep(fast_config, GRID, tmp_path / "serial.h5", workers=1)
    o = run_sweep(fast_config, GRID, tmp_path / "pool.h5", workers=2)
    assert o.executor == "pool of 2 processes" and o.computed == 4
    a, b = read_sweep(tmp_path / "serial.h5"), read_sweep(tmp_path / "pool.h5")
    assert a.param_hash == b.param_hash  # rows are stored in plan order
    np.testing.assert_allclose(a.metrics["diameter_mm"], b.metrics["diameter_mm"], rtol=1e-12)


def test_dask_local_cluster_runs_the_same_sweep(fast_config: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    run_sweep(fast_config, GRID, tmp_path / "serial.h5", workers=1)
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        o = run_sweep(fast_config, GRID, tmp_path / "dask.h5", scheduler=cluster.scheduler_address)
    assert o.executor.startswith("dask tcp://") and o.computed == 4
    a, b = read_sweep(tmp_path / "serial.h5"), read_sweep(tmp_path / "dask.h5")
    np.testing.assert_allclose(a.metrics["diameter_mm"], b.metrics["diameter_mm"], rtol=1e-12)


def test_unreachable_scheduler_is_a_clear_error(fast_config: Path, tmp_path: Path) -> None:
    from ecmsim.engineering.common import ExecutorError

    with pytest.raises(ExecutorError, match=r"cannot connect to the Dask scheduler at tcp://127\.0\.0\.1:9") as exc:
        run_sweep(fast_config, GRID, tmp_path / "x.h5", scheduler="tcp://127.0.0.1:9", scheduler_timeout=1)
    assert exc.value.exit_code == 3 and not (tmp_path / "x.h5").exists()


def test_sweep_cli(fast_config: Path, tmp_path: Path, run_main) -> None:
    out = tmp_path / "w.h5"
    code, stdout, err = run_main(["sweep", fast_config, "--vary", GRID[0], "--vary", GRID[1],
                                  "-o", out, "--workers", "1", "--json", "--mode", "equilibrium"])  # fmt: skip
    assert code == 0, err
    info = json.loads(stdout)
    assert info["computed"] == 4 and info["mode"] == "equilibrium" and info["points_in_file"] == 4
    s = read_sweep(out)
    assert np.all(np.isfinite(s.metrics["diameter_mm"])) and np.all(np.isnan(s.metrics["taper_deg"]))
    code, stdout, err = run_main(["sweep", fast_config, "--vary", "electrical.voltag=8:14:7", "-o", out])
    assert code == 2 and "did you mean 'electrical.voltage_V'" in err and "Traceback" not in err
    # Every metric of every point is in the JSON, in plan order.
    from ecmsim.io.sweep import SWEEP_METRICS

    pts = info["points"]
    assert len(pts) == 4 and [p["param_hash"] for p in pts] == s.param_hash
    for p, dia in zip(pts, s.metrics["diameter_mm"], strict=True):
        assert set(SWEEP_METRICS) <= set(p) and p["diameter_mm"] == pytest.approx(dia, rel=1e-12)
        assert p["taper_deg"] is None and p["status"] in ("equilibrium", "not_converged")


def test_sweep_table_show_and_csv(fast_config: Path, tmp_path: Path, run_main) -> None:
    import csv

    out, table = tmp_path / "w.h5", tmp_path / "w.csv"
    code, stdout, err = run_main(["sweep", fast_config, "--vary", GRID[0], "--vary", GRID[1], "-o", out,
                                  "--workers", "1", "--csv", table])  # fmt: skip
    assert code == 0, err
    s = read_sweep(out)
    lines = stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if "voltage_V" in line and "status" in line)
    assert "Ø mm" in lines[head] and "taper °" in lines[head]
    body = lines[head + 1 : head + 5]
    for line, v, dia in zip(body, s.values, s.metrics["diameter_mm"], strict=True):
        cells = line.split()
        assert [float(cells[0]), float(cells[1])] == list(v) and cells[2] == "completed"
        assert float(cells[3]) == pytest.approx(dia, abs=1e-3)
    rows = list(csv.DictReader(table.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 4 and rows[0]["electrical.voltage_V"] == "6.0"
    for r, dia, taper in zip(rows, s.metrics["diameter_mm"], s.metrics["taper_deg"], strict=True):
        assert float(r["diameter_mm"]) == dia and float(r["taper_deg"]) == taper and r["exit_diameter_mm"] == ""
    # sweep show: the same table, the JSON, a CSV; the sweep file is only read.
    before = out.read_bytes()
    code, shown, err = run_main(["sweep", "show", out])
    assert code == 0, err
    assert all(line in shown.splitlines() for line in body)
    code, js, err = run_main(["sweep", "show", out, "--json", "--csv", tmp_path / "again.csv"])
    assert code == 0, err
    assert [p["diameter_mm"] for p in json.loads(js)["points"]] == list(s.metrics["diameter_mm"])
    assert (tmp_path / "again.csv").read_bytes() == table.read_bytes() and out.read_bytes() == before
    code, _, err = run_main(["sweep", "show", tmp_path / "missing.h5"])
    assert code == 2 and "missing.h5" in err and "Traceback" not in err
    code, _, err = run_main(["sweep", "show", out, "--csv", tmp_path / "no" / "x.csv"])
    assert code == 4 and "does not exist" in err
