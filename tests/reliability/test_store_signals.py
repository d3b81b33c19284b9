"""Real ``qc check`` processes stopped by a signal at random moments: the store holds whole records or none.

Each backend gets 50 trials.  A trial starts a check into a store that
already holds the records of the trials before, and sends SIGKILL, SIGTERM,
SIGHUP or SIGINT after a random delay spanning the whole run (start-up,
checking, archiving, commit).  After every trial the store must verify
(notes about a killed check's leftover files are allowed, findings are not),
and every record of a serial must be whole and verified.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ecmsim.io.store import open_store

CLI = [sys.executable, "-c", "from ecmsim.cli.main import main; main()"]
TRIALS = 50
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def test_a_check_stopped_by_any_signal_leaves_the_whole_record_or_none(tmp_path: Path, store_location: str) -> None:
    batch = tmp_path / "synth"
    subprocess.run([*CLI, "qc", "synth", "-o", str(batch), "--parts", "12", "--holes", "10", "--stations", "3"],
                   check=True, capture_output=True)  # fmt: skip
    args = [*CLI, "qc", "check", str(batch / "batch.h5"), "--spec", str(batch / "spec.toml"), "--store", store_location]
    t0 = time.monotonic()
    assert subprocess.run(args, capture_output=True).returncode == 1  # a whole run (rejects injected faults)
    full = time.monotonic() - t0
    rng = random.Random(2026)
    n_before, outcomes = 1, {"recorded": 0, "none": 0}
    for _ in range(TRIALS):
        sig = rng.choice(SIGNALS)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3 * full, 1.1 * full))
        if proc.poll() is None:
            proc.send_signal(sig)
        proc.wait(timeout=120)
        qs = open_store(store_location)
        rep = qs.verify()
        assert rep.ok, [f.line() for f in rep.findings]
        n = qs.n_records()
        assert n in (n_before, n_before + 1)
        outcomes["recorded" if n > n_before else "none"] += 1
        n_before = n
        qs.engine.dispose()
    records = open_store(store_location).trace("SN01-00001")
    assert len(records) == n_before and all(r["verified"] for r in records)
    assert outcomes["recorded"] >= 3 and outcomes["none"] >= 3, outcomes  # both sides of the commit were hit
