"""``qc trace`` at plant scale: 30,000 batch records in the store, on both backends, under 0.2 s.

The store is built through the API (:meth:`ecmsim.io.store.QCStore.commit`,
1,000 records per transaction), with five parts per batch, a failed
characteristic on every rejected part, and the traced serial re-checked in
three batches spread over the store's history.  The timed call is the whole
trace, including the verification of each record it returns (hash, chain
links, and its files re-hashed).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from ecmsim.io.store import QCStore, RecordDraft, dumps_predictions, open_store, result_file_name

N_BATCHES = 30_000
PER_COMMIT = 1_000
PARTS = 5
TRACED = "SN-TRACE-0001"


def _draft(qs: QCStore, stg: Path, spec, insp, b: int, rng: random.Random) -> RecordDraft:
    d = RecordDraft(fields={}, parts=[], failures=[], files=[])
    now = f"2026-{1 + b % 12:02d}-{1 + b % 28:02d}T08:00:{b % 60:02d}.{b:06d}Z"
    serials = [f"SN{b:06d}-{k}" for k in range(PARTS)]
    if b in (10, N_BATCHES // 2, N_BATCHES - 10):
        serials[0] = TRACED
    tmp = stg / f"r{b}.h5"
    tmp.write_bytes(f"results of batch {b}".encode())
    res = qs.stage_results(tmp, result_file_name(f"B{b:06d}", now, d.uid))
    d.files = [res, insp, spec]
    for i, s in enumerate(serials):
        bad = rng.random() < 0.1
        by_char = json.dumps({"diameter": 1} if bad else {})
        d.parts.append({"idx": i, "serial": s, "measured_at": now, "verdict": "fail" if bad else "pass",
                        "accepted": int(not bad), "n_rejected_holes": int(bad), "n_undecided": 0,
                        "model_deviation": 0, "rejected_by_characteristic": by_char})  # fmt: skip
        if bad:
            d.failures.append({"idx": i, "n": 0, "hole_id": "H001", "characteristic": "diameter", "station_mm": 0.5,
                               "value": 1.06, "lower": 0.95, "upper": 1.05, "uncertainty": 0.005, "unit": "mm",
                               "verdict": "fail"})  # fmt: skip
    d.fields = {"checked_at": now, "batch_id": f"B{b:06d}", "part_number": "NGV-1", "drawing_revision": "A",
                "decision_rule": "simple", "spec_name": "bench", "ecmsim_version": "bench",
                "inspection_file": "bench.h5", "inspection_path": insp.path, "inspection_sha256": insp.sha256,
                "spec_file": "spec.toml", "spec_path": spec.path, "spec_sha256": spec.sha256,
                "predictions": dumps_predictions([]), "results_path": res.path, "results_sha256": res.sha256,
                "n_parts": PARTS, "n_holes": 30, "n_accepted": sum(p["accepted"] for p in d.parts),
                "n_model_deviation": 0}  # fmt: skip
    return d


def build_store(location: str) -> QCStore:
    """A store with :data:`N_BATCHES` records, built through the API."""
    qs = open_store(location, create=True)
    rng = random.Random(5)
    with qs.staging() as stg:
        spec = qs.stage_bytes(stg, "spec", b"[tolerances]\n", ".toml")
        insp = qs.stage_bytes(stg, "inspection", b"inspection batch", ".h5")
        for start in range(0, N_BATCHES, PER_COMMIT):
            qs.commit([_draft(qs, stg, spec, insp, b, rng) for b in range(start, start + PER_COMMIT)])
    return qs


@pytest.mark.parametrize("backend", ["folder", "postgresql"])
def test_trace_with_30000_batches(benchmark, tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "folder":
        location = str(tmp_path / "store")
    else:
        location = request.getfixturevalue("postgres_server").create_database("bench_trace")
    t0 = time.perf_counter()
    qs = build_store(location)
    built = time.perf_counter() - t0
    assert qs.n_records() == N_BATCHES
    qs.trace(TRACED)  # warm the connection and the caches once

    walls: list[float] = []

    def trace() -> list[dict]:
        t = time.perf_counter()
        out = qs.trace(TRACED)
        walls.append(time.perf_counter() - t)
        return out

    records = benchmark.pedantic(trace, rounds=5, iterations=1)
    assert len(records) == 3 and all(r["verified"] for r in records)
    assert records[1]["supersedes"] == records[0]["uid"]
    best = min(walls)
    print(f"\n{backend}: built {N_BATCHES} records in {built:.1f} s; trace {best * 1e3:.1f} ms (best of {len(walls)})")
    assert best < 0.2
