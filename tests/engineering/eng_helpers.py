"""Helpers shared by the engineering tests (a module name of its own: "conftest" is taken)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecmsim.io import write_batch
from ecmsim.io.batch import Batch, Design

NOISE_MM = 0.005


#: Station depths of :func:`synthetic_batch`, mm (a 1 mm hole).
STATIONS_MM = np.array([0.1, 0.4, 0.7, 0.95])


def synthetic_batch(
    path: Path, diameter: float | np.ndarray, rng: np.random.Generator, batch_id: str, parts: int = 5,
    noise_mm: float = NOISE_MM,
) -> None:  # fmt: skip
    """Parts × 2 holes × 4 stations measured around ``diameter`` (mm, one or one per station) with Gaussian noise."""
    stations = STATIONS_MM
    h, s = 2, stations.size
    design = Design(["H1", "H2"], ["A", "A"], np.full(h, 1.5), np.full(h, np.nan), np.full(h, np.nan),
                    np.full(h, 1.0), stations, np.ones((h, s), bool))  # fmt: skip
    dia = (np.asarray(diameter, float) + noise_mm * rng.standard_normal((parts, h, s))).astype(np.float32)
    zeros = np.zeros_like(dia)
    write_batch(path, Batch(
        {"part_number": "NGV-1", "drawing_revision": "A", "batch_id": batch_id}, [f"SN{i:03d}" for i in range(parts)],
        design, ["CMM"], np.array([0.004]), dia, zeros, zeros, np.zeros(dia.shape, np.int16),
        np.full((parts, h), np.nan, np.float32), np.full((parts, h), -1, np.int16), np.zeros((parts, h), bool),
        [""] * parts,
    ))  # fmt: skip
