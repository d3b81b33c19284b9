"""``qc import`` reads a large measurements CSV in bounded memory.

A 300 000-row CSV (24 MB) is imported and written, as ``qc import`` does, in a
fresh process; the peak resident memory it adds to the interpreter with
ecmsim imported (``VmHWM`` of ``/proc/self/status``) must stay within
:data:`BYTES_PER_ROW` a row plus :data:`CONSTANT` (the blocks of text being
read, the HDF5 image being written).  Holding the rows as Python objects, as a
whole-file reader does, takes about 1.4 kB a row and fails this by far.
``benchmarks/test_bench_import.py`` measures 5 M rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from ecmsim.testing.inspection_csv import ROWS_PER_PART, write_inspection_csv

ROWS = 300_000
#: Peak memory a row may add (the batch keeps about 40 bytes a row while it is checked, then 14 in the batch).
BYTES_PER_ROW = 100
#: Peak memory the import may add whatever the number of rows.
CONSTANT = 64 * 2**20

_CHILD = textwrap.dedent(
    """
    import json, sys

    def peak():
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) * 1024 for ln in fh if ln.startswith("VmHWM:"))

    import h5py
    from ecmsim.io.batch import write_batch
    from ecmsim.qc.importer import import_csv

    base = peak()
    batch = import_csv(sys.argv[1], sys.argv[2], {"batch_id": "B1", "part_number": "P1", "drawing_revision": "A"})
    write_batch(sys.argv[3], batch)
    print(json.dumps({"base": base, "peak": peak(), "parts": len(batch.serials)}))
    """
)


def test_import_peak_memory_is_bounded_per_row(tmp_path: Path) -> None:
    measurements, design = write_inspection_csv(tmp_path, ROWS)
    out = tmp_path / "batch.h5"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(measurements), str(design), str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["parts"] == ROWS // ROWS_PER_PART and out.stat().st_size > 0
    added = got["peak"] - got["base"]
    bound = BYTES_PER_ROW * ROWS + CONSTANT
    assert added <= bound, (
        f"importing {ROWS} rows ({measurements.stat().st_size / 1e6:.0f} MB) added {added / 1e6:.0f} MB "
        f"to the peak memory, more than {bound / 1e6:.0f} MB ({BYTES_PER_ROW} bytes a row + {CONSTANT / 1e6:.0f} MB)"
    )
