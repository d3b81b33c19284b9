"""Peak memory and time of ``ecmsim qc import`` on a large measurements CSV.

Target (issue): 5 M rows (400 MB) in at most 1 GB of memory.  The full size runs with
``ECMSIM_BENCH_FULL=1``; without it (as in CI's smoke run) the CSV has 200 000 rows.
The import runs in a fresh Python process, as the command line would, which reports its
wall time (imports included) and peak resident set size (``VmHWM`` of /proc/self/status,
the interpreter and imports included).  The baseline in the same run is the floor: the
same process that only imports ecmsim and reads the CSV's bytes.

Run:  ECMSIM_BENCH_FULL=1 pytest benchmarks/test_bench_import.py --benchmark-columns=min,rounds -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecmsim.io import open_batch
from ecmsim.testing.inspection_csv import ROWS_PER_PART, write_inspection_csv

FULL = os.environ.get("ECMSIM_BENCH_FULL") == "1"
N_ROWS = 5_000_000 if FULL else 200_000
MAX_PEAK_MB = 1024.0

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from ecmsim.cli.main import main
measurements, design, out, mode = sys.argv[1:5]
if mode == "import":
    sys.argv = ["ecmsim", "qc", "import", measurements, "--design", design, "-o", out,
                "--batch-id", "B1", "--part-number", "P1", "--drawing-revision", "A"]
    try:
        main()
    except SystemExit as exc:
        if exc.code:
            raise
else:  # the floor: read the bytes, nothing else
    with open(measurements, "rb") as fh:
        while fh.read(1 << 22):
            pass
wall = time.perf_counter() - t0
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"wall_s": wall, "peak_rss_mb": peak}))
"""


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_inspection_csv(tmp_path_factory.mktemp("importbench"), N_ROWS)


def _run(big_csv: tuple[Path, Path], out: Path, mode: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(big_csv[0]), str(big_csv[1]), str(out), mode],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_qc_import_rows(benchmark, big_csv: tuple[Path, Path]) -> None:
    runs: list[dict[str, float]] = []
    out = big_csv[0].parent / "batch.h5"

    def run() -> None:
        out.unlink(missing_ok=True)
        runs.append(_run(big_csv, out, "import"))

    benchmark.pedantic(run, rounds=1, iterations=1)
    r = runs[-1]
    mb = big_csv[0].stat().st_size / 1e6
    benchmark.extra_info.update(rows=N_ROWS, csv_mb=mb, **r)
    print(f"\nqc import of {N_ROWS / 1e6:g} M rows ({mb:.0f} MB): {r['wall_s']:.1f} s, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip
    with open_batch(out) as batch:
        assert batch.n_parts == N_ROWS // ROWS_PER_PART
    assert r["peak_rss_mb"] <= MAX_PEAK_MB


def test_qc_import_read_baseline(benchmark, big_csv: tuple[Path, Path]) -> None:
    """Floor of the import: start the interpreter, import ecmsim, read the CSV's bytes."""
    runs: list[dict[str, float]] = []
    benchmark.pedantic(lambda: runs.append(_run(big_csv, big_csv[0].parent / "unused.h5", "read")), rounds=1)
    print(f"\nreading the bytes: {runs[-1]['wall_s']:.1f} s, peak RSS {runs[-1]['peak_rss_mb']:.0f} MB")
