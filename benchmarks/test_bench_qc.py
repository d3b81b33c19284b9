"""Speed and memory of the QC check: 10,000 parts × 100 holes × 11 stations (11 M diameters).

Target (issue): check against a spec and a prediction in at most 15 s and 1.5 GB peak memory.
The check runs in a fresh Python process (as ``ecmsim qc check`` would), which reports its
wall time (imports included) and peak resident set size (``VmHWM`` of /proc/self/status, the
interpreter and imports included; ``ru_maxrss`` elsewhere).
The baseline in the same run is the floor: streaming the measurements out of the file.

Run:  pytest benchmarks/test_bench_qc.py --benchmark-columns=min,median,rounds
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecmsim.io import open_batch, write_batch, write_result
from ecmsim.qc.synth import synthesize
from ecmsim.qc.textfiles import write_text_atomic

N_PARTS, N_HOLES, N_STATIONS = 10_000, 100, 11
MAX_WALL_S = 15.0
MAX_PEAK_MB = 1536.0

_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from ecmsim.qc.check import run_check
from ecmsim.qc.report import render_html
batch, spec, pred, store, report = sys.argv[1:6]
run = run_check([batch], spec, [pred], store=store)
html = render_html(run)
data = json.dumps(run.to_json(), default=str)
open(report, "w", encoding="utf-8").write(html)
wall = time.perf_counter() - t0
o = run.outcomes[0]
try:  # VmHWM: peak RSS of this process image (ru_maxrss survives execve and would include the parent's)
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": wall, "peak_rss_mb": peak,
                  "parts": o.n_parts, "accepted": o.n_accepted, "json_mb": len(data) / 1e6}))
"""


@pytest.fixture(scope="session")
def big_batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The 11 M-value batch with faults, its spec and a simulated prediction (built once)."""
    from ecmsim.simulation import simulate

    out = tmp_path_factory.mktemp("qcbench")
    pred = out / "stem-in718.h5"
    write_result(pred, simulate("example:stem-in718"))
    t0 = time.perf_counter()
    synth = synthesize(N_PARTS, N_HOLES, N_STATIONS, seed=3, prediction=pred)
    write_batch(out / "big.h5", synth.batch)
    write_text_atomic(out / "spec.toml", synth.spec_text)
    print(f"\nsynthesised and wrote {N_PARTS * N_HOLES * N_STATIONS / 1e6:.0f} M values in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
    return {"batch": out / "big.h5", "spec": out / "spec.toml", "prediction": pred, "dir": out}


def test_qc_check_11M_values(benchmark, big_batch: dict[str, Path]) -> None:
    runs: list[dict[str, float]] = []

    def check() -> None:
        store = big_batch["dir"] / f"store{len(runs)}"
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(big_batch["batch"]), str(big_batch["spec"]),
             str(big_batch["prediction"]), str(store), str(big_batch["dir"] / "report.html")],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(check, rounds=1, iterations=1)
    r = runs[-1]
    benchmark.extra_info.update(values=N_PARTS * N_HOLES * N_STATIONS, **r)
    print(f"\nqc check of 11 M values: {r['wall_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB "
          f"({r['accepted']}/{r['parts']} accepted)")  # fmt: skip
    assert r["parts"] == N_PARTS and 0 < r["accepted"] < N_PARTS
    assert r["peak_rss_mb"] <= MAX_PEAK_MB
    assert r["wall_s"] <= MAX_WALL_S


def test_qc_stream_read_baseline(benchmark, big_batch: dict[str, Path]) -> None:
    """Floor of the check: decompress and checksum every measurement block, nothing else."""

    def read_all() -> int:
        n = 0
        with open_batch(big_batch["batch"]) as r:
            for _, _, m in r.iter_chunks():
                n += m["diameter"].size
        return n

    assert benchmark.pedantic(read_all, rounds=1, iterations=1) == N_PARTS * N_HOLES * N_STATIONS


def test_demo_end_to_end(benchmark, tmp_path: Path) -> None:
    """``ecmsim demo`` (simulate, synthesise, check, report) in a fresh process, kernels cached: under 60 s."""

    def demo(out: Path) -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", "from ecmsim.cli.main import main; main()", "demo", "-o", str(out)],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "verdicts agree with the ground truth" in proc.stdout
        return time.perf_counter() - t0

    demo(tmp_path / "warm-up")  # compiles the kernels into the cache if this is the first run
    walls: list[float] = []
    benchmark.pedantic(lambda: walls.append(demo(tmp_path / f"run{len(walls)}")), rounds=1, iterations=1)
    print(f"\necmsim demo: {walls[-1]:.1f} s")
    assert walls[-1] < 60.0
