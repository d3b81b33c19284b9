"""Fixtures of the QC tests: synthetic batches, a simulated prediction, CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecmsim.io import write_result
from ecmsim.qc.synth import synthesize, write_synthetic


@pytest.fixture(scope="session")
def prediction(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short simulated STEM hole (coarse grid) as a result file."""
    from ecmsim.simulation import simulate

    result = simulate("example:stem-in718", overrides=["motion.depth_mm=1.2", "numerics.cell_size_mm=0.02"])
    path = tmp_path_factory.mktemp("pred") / "stem.h5"
    write_result(path, result)
    return path


@pytest.fixture(scope="session")
def synth_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Default synthetic batch with faults (no prediction): CSVs, batch.h5, spec.toml, truth.json."""
    out = tmp_path_factory.mktemp("synth")
    return write_synthetic(out, synthesize())


@pytest.fixture(scope="session")
def synth_pred_files(tmp_path_factory: pytest.TempPathFactory, prediction: Path) -> dict[str, Path]:
    """Synthetic batch with faults around the simulated prediction."""
    out = tmp_path_factory.mktemp("synthpred")
    paths = write_synthetic(out, synthesize(prediction=prediction, seed=7))
    paths["prediction"] = prediction
    return paths
