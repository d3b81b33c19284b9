"""Resource estimates up front: jobs beyond the memory budget are refused before any work.

Each refusal runs the real command line (``ecmsim.cli.main.main``) with a
fixed budget (``ECMSIM_MEMORY_BUDGET_GB``) and asserts exit 2, one ``error:``
paragraph naming the file, the value at fault and what to change, and no
output.  The estimate of a simulation is checked against the peak memory of
real runs, measured in a fresh process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
from reliability_helpers import run_in

from ecmsim.config import load_config
from ecmsim.process import resolve
from ecmsim.resources import (
    BUDGET_ENV,
    GB,
    Budget,
    Estimate,
    ResourceError,
    check_budget,
    estimate_simulation,
    memory_budget,
    simulation_sizes,
)

DATA = Path(__file__).resolve().parents[1] / "data"
BASE = DATA / "bad" / "base"
MINIMAL = DATA / "minimal.toml"


def refused(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    """Run ``argv`` in ``tmp_path``; assert exit 2, one clean message with ``fragments``, no new file."""
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _out, err = run_in(tmp_path, argv, capsys)
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and err.count("error:") == 1, err
    text = " ".join(err.split())
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    return text


@pytest.fixture
def budget_gb(monkeypatch: pytest.MonkeyPatch) -> float:
    """A fixed budget of 0.5 GB, so the refusals do not depend on this machine's free memory."""
    monkeypatch.setenv(BUDGET_ENV, "0.5")
    return 0.5


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    shutil.copyfile(MINIMAL, tmp_path / "cfg.toml")
    return tmp_path / "cfg.toml"


# ---------------------------------------------------------------- simulations
def test_tiny_cells_on_a_deep_hole_are_refused_naming_the_cell_size(
    tmp_path: Path, cfg: Path, budget_gb: float, capsys: pytest.CaptureFixture[str]
) -> None:
    sets = ["--set", "numerics.cell_size_mm=0.0005", "--set", "motion.depth_mm=50"]
    text = refused(["simulate", "cfg.toml", "-o", "r.h5", "--no-progress", *sets], tmp_path, capsys,
                   "cfg.toml", "[numerics] cell_size_mm = 0.0005 mm", "to at least", "memory budget of 500 MB",
                   f"{BUDGET_ENV} = 0.5", BUDGET_ENV, "Nothing was started")  # fmt: skip
    # the suggested cell size fits the budget
    suggested = float(text.split("to at least ")[1].split(" mm")[0])
    fit = load_config(cfg, [f"numerics.cell_size_mm={suggested}", "motion.depth_mm=50"])
    assert estimate_simulation(resolve(fit)).memory_bytes <= budget_gb * GB
    # config validate accepts it (it is a valid config) and says simulate will refuse it
    code, out, _ = run_in(tmp_path, ["config", "validate", "cfg.toml", *sets], capsys)
    assert code == 0 and "valid" in out and "simulate will refuse it" in out


def test_many_snapshots_are_refused_naming_the_output_interval(
    tmp_path: Path, cfg: Path, budget_gb: float, capsys: pytest.CaptureFixture[str]
) -> None:
    sets = ["--set", "numerics.output_interval_mm=0.00001", "--set", "motion.depth_mm=60"]
    refused(["simulate", "cfg.toml", "-o", "r.h5", "--no-progress", *sets], tmp_path, capsys,
            "cfg.toml", "snapshots", "[numerics] output_interval_mm = 1e-05 mm")  # fmt: skip


def test_equilibrium_and_grid_study_are_refused_before_the_first_run(
    tmp_path: Path, cfg: Path, budget_gb: float, capsys: pytest.CaptureFixture[str]
) -> None:
    refused(["simulate", "cfg.toml", "--equilibrium", "-o", "e.h5", "--set", "numerics.cell_size_mm=0.0005",
             "--set", "motion.depth_mm=20"], tmp_path, capsys,
            "the equilibrium solve", "[numerics] cell_size_mm = 0.0005 mm")  # fmt: skip
    refused(["simulate", "cfg.toml", "--grid-study", "--grid-cells-um", "20,1", "-o", "g.json", "--no-progress",
             "--set", "motion.depth_mm=20"], tmp_path, capsys,
            "grid study's finest run (1 µm cells)", "--grid-cells-um")  # fmt: skip


def test_config_show_prints_the_estimate(tmp_path: Path, cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_in(tmp_path, ["config", "show", "cfg.toml", "--json"], capsys)
    assert code == 0
    derived = json.loads(out)["derived"]
    est = estimate_simulation(resolve(load_config(cfg)))
    assert derived["simulation_memory"]["value"] == pytest.approx(est.memory_bytes / GB)
    assert derived["simulation_time_order"]["unit"] == "s"
    # finer cells: four times the grid nodes, more memory
    finer = ["config", "show", "cfg.toml", "--json", "--set", "numerics.cell_size_mm=0.005"]
    code, out, _ = run_in(tmp_path, finer, capsys)
    assert json.loads(out)["derived"]["simulation_memory"]["value"] > 3 * est.memory_bytes / GB


MEASURE = textwrap.dedent(
    """
    import json, os, sys, tempfile
    from ecmsim.config import load_config
    from ecmsim.io import write_result
    from ecmsim.process import resolve
    from ecmsim.simulation import Simulation

    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024

    out = tempfile.mkdtemp()
    warm = load_config(sys.argv[1], ["motion.depth_mm=0.35", "numerics.cell_size_mm=0.04"])
    write_result(os.path.join(out, "w.h5"), Simulation(resolve(warm)).run())
    for overrides in sys.argv[2:]:
        p = resolve(load_config(sys.argv[1], overrides.split(",")))
        base = status("VmRSS")
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak (VmHWM) to the current resident size
        r = Simulation(p).run()
        write_result(os.path.join(out, "r.h5"), r)
        print(json.dumps({"overrides": overrides, "peak": status("VmHWM") - base, "steps": int(r.time.size)}))
        del r
    """
)


@pytest.mark.slow
def test_simulation_estimate_is_within_a_factor_of_the_measured_peak(tmp_path: Path) -> None:
    runs = [
        "motion.depth_mm=1.0,numerics.cell_size_mm=0.01",
        "motion.depth_mm=2.0,numerics.cell_size_mm=0.01",
        "motion.depth_mm=0.6,numerics.cell_size_mm=0.006",
        "motion.depth_mm=3.0,numerics.cell_size_mm=0.015",
    ]
    script = tmp_path / "measure.py"
    script.write_text(MEASURE)
    for overrides in runs:  # one fresh process each: memory freed by an earlier run would hide a peak
        proc = subprocess.run([sys.executable, str(script), str(MINIMAL), overrides], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        (row,) = [json.loads(line) for line in proc.stdout.splitlines()]
        p = resolve(load_config(MINIMAL, overrides.split(",")))
        est = estimate_simulation(p).memory_bytes
        assert 0.5 * row["peak"] <= est <= 3.0 * row["peak"], (row, est)
        steps = simulation_sizes(p).steps
        assert 0.3 * row["steps"] <= steps <= 3.0 * row["steps"], (row, steps)


# ---------------------------------------------------------------- sweeps
def test_sweep_with_a_billion_samples_is_refused(tmp_path: Path, cfg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused(["sweep", "cfg.toml", "--vary", "electrical.voltage_V=8:12", "--samples", "1000000000", "-o", "s.h5",
             "--no-progress"], tmp_path, capsys,
            "the sweep of 1000000000 points", "--samples 1000000000", "points fit", BUDGET_ENV)  # fmt: skip


def test_sweep_counts_its_workers(
    tmp_path: Path, cfg: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # one transient point at 5 µm cells needs ~0.11 GB: 2 workers fit in 0.3 GB, 8 do not
    monkeypatch.setenv(BUDGET_ENV, "0.3")
    sets = ["--set", "numerics.cell_size_mm=0.005", "--set", "motion.depth_mm=1"]
    point = estimate_simulation(resolve(load_config(cfg, [s for s in sets if s != "--set"]))).memory_bytes
    assert 2 * point < 0.3 * GB < 8 * point
    refused(["sweep", "cfg.toml", "--mode", "transient", "--vary", "electrical.voltage_V=8,9", "--workers", "8",
             "-o", "s.h5", "--no-progress", *sets], tmp_path, capsys, "on 8 worker(s)", "fewer --workers")  # fmt: skip


# ---------------------------------------------------------------- inspection batches
def _batch_with(tmp_path: Path, name: str, n: int) -> Path:
    """The corpus batch with dataset ``name`` declared with ``n`` values that are never written."""
    path = tmp_path / "batch.h5"
    shutil.copyfile(BASE / "batch.h5", path)
    with h5py.File(path, "r+") as f:
        old = f[name]
        dtype, attrs = old.dtype, dict(old.attrs)
        del f[name]
        ds = f.create_dataset(name, shape=(n,), dtype=dtype, chunks=(4096,), compression="gzip")
        for k, v in attrs.items():
            ds.attrs[k] = v
    return path


def test_batch_declaring_a_billion_serials_is_refused(
    tmp_path: Path, budget_gb: float, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _batch_with(tmp_path, "parts/serial", 10**9)
    assert path.stat().st_size < 200_000
    shutil.copyfile(BASE / "spec.toml", tmp_path / "spec.toml")
    refused(["qc", "check", "batch.h5", "--spec", "spec.toml", "--store", "store", "--json", "out.json"],
            tmp_path, capsys, "batch.h5", "/parts/serial (1000000000 values", "stored in the file",
            "check that the file is the batch you meant", BUDGET_ENV)  # fmt: skip


def test_batch_whose_compressed_stations_expand_to_gigabytes_is_refused(
    tmp_path: Path, budget_gb: float, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "batch.h5"
    shutil.copyfile(BASE / "batch.h5", path)
    with h5py.File(path, "r+") as f:  # 2 GB of zeros, gzip-compressed to a few MB
        attrs = dict(f["design/station_depth"].attrs)
        del f["design/station_depth"]
        ds = f.create_dataset("design/station_depth", shape=(250_000_000,), dtype="f8", chunks=(1_000_000,),
                              compression="gzip", compression_opts=9, fillvalue=0.0)  # fmt: skip
        ds[:1_000_000] = np.zeros(1_000_000)
        for k, v in attrs.items():
            ds.attrs[k] = v
    assert path.stat().st_size < 2_000_000
    shutil.copyfile(BASE / "spec.toml", tmp_path / "spec.toml")
    refused(["qc", "spc", "batch.h5", "--spec", "spec.toml"], tmp_path, capsys,
            "batch.h5", "/design/station_depth (250000000 values", "2 GB")  # fmt: skip


def test_csv_pair_whose_stations_multiply_is_refused(
    tmp_path: Path, budget_gb: float, capsys: pytest.CaptureFixture[str]
) -> None:
    # 200 holes, each gauged at its own station: every part carries 200 x 200 values
    n = 200
    design = ["hole_id,group,nominal_diameter_mm,depth_mm,x_mm,y_mm,stations_mm"]
    design += [f"H{i:03d},A,1.0,3.0,{i},0,{0.5 + i * 0.01:.2f}" for i in range(n)]
    rows = ["serial,hole_id,station_depth_mm,diameter_mm,depth_mm,measured_at"]
    rows += [f"SN-{p:05d},H{i:03d},{0.5 + i * 0.01:.2f},1.001,3.01,2024-03-04T08:00:00Z"
             for p in range(400) for i in range(0, n, 25)]  # fmt: skip
    (tmp_path / "design.csv").write_text("\n".join(design) + "\n")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    refused(["qc", "import", "m.csv", "--design", "design.csv", "-o", "batch.h5", "--batch-id", "B1",
             "--part-number", "P1", "--drawing-revision", "A"], tmp_path, capsys,
            "m.csv", "400 parts x 200 holes x 200 stations", "200 different station depths",
            "split the measurements")  # fmt: skip


# ---------------------------------------------------------------- the budget itself
def test_budget_comes_from_the_environment_or_the_free_memory() -> None:
    assert memory_budget({BUDGET_ENV: "2.5"}).memory_bytes == 2.5 * GB
    free = memory_budget({})
    assert free.memory_bytes > 0 and ("free" in free.source or "limit" in free.source)
    for bad in ("0", "-1", "nan", "inf", "lots"):
        with pytest.raises(ResourceError, match=f"{BUDGET_ENV} = '{bad}'"):
            memory_budget({BUDGET_ENV: bad})


def test_check_budget_refuses_only_beyond_the_budget() -> None:
    est = Estimate(2 * GB, 10.0, "the job", (("part a", 1.5 * GB), ("part b", 0.5 * GB)))
    check_budget(est, "hint", Budget(2 * GB, "test"))
    with pytest.raises(ResourceError) as info:
        check_budget(est, "lower the value X", Budget(1.9 * GB, "test"))
    text = str(info.value)
    assert "the job needs about 2 GB" in text and "part a: 1.5 GB" in text and "lower the value X" in text


def test_bad_budget_variable_is_refused(
    tmp_path: Path, cfg: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(BUDGET_ENV, "8GB")
    refused(["simulate", "cfg.toml", "-o", "r.h5", "--no-progress"], tmp_path, capsys,
            f"environment variable {BUDGET_ENV} = '8GB'", "positive number of GB")  # fmt: skip


def test_a_long_simulation_is_announced_before_it_starts(
    tmp_path: Path, cfg: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ecmsim.cli.simulate_cmd as simulate_cmd

    est = estimate_simulation(resolve(load_config(cfg)))
    assert est.seconds_order < simulate_cmd.LONG_RUN_S  # the small config runs without the line
    code, out, err = run_in(tmp_path, ["simulate", "cfg.toml", "-o", "a.h5", "--json", "--no-progress"], capsys)
    assert code == 0 and "estimate:" not in err, err
    # a run at least as long as the threshold: one line on stderr first, stdout still pure JSON
    monkeypatch.setattr(simulate_cmd, "LONG_RUN_S", est.seconds_order)
    code, out, err = run_in(tmp_path, ["simulate", "cfg.toml", "-o", "b.h5", "--json", "--no-progress"], capsys)
    assert code == 0, err
    assert err.startswith("estimate: the simulation (") and est.describe() in err and "Ctrl-C" in err, err
    assert json.loads(out)["status"] == "completed"
    code, out, err = run_in(tmp_path, ["-q", "simulate", "cfg.toml", "-o", "c.h5", "--json"], capsys)
    assert code == 0 and "estimate:" not in err, err
