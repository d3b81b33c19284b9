"""Large inspection CSV files for the import's memory test and benchmark.

:func:`write_inspection_csv` writes a design CSV of :data:`HOLES` holes with the
stations :data:`STATIONS_MM` and a measurements CSV of any number of rows,
every column given (about 80 bytes a row: 5 M rows are 400 MB), a part after
the other; it holds one block of rows in memory at a time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: Holes of the design.
HOLES = 50
#: Station depths of every hole (mm).
STATIONS_MM = (0.3, 1.1, 1.9, 2.7)
#: Rows of one part (every hole at every station).
ROWS_PER_PART = HOLES * len(STATIONS_MM)
_HEADER = "serial,hole_id,station_depth_mm,diameter_mm,x_dev_mm,y_dev_mm,depth_mm,device,uncertainty_mm,measured_at\n"
_BLOCK_PARTS = 500


def _rows(first_part: int, n_parts: int, rng: np.random.Generator) -> list[str]:
    """The rows of parts ``first_part .. first_part + n_parts - 1``."""
    n = n_parts * ROWS_PER_PART
    r = np.arange(n)
    part = first_part + r // ROWS_PER_PART
    hole, station = r // len(STATIONS_MM) % HOLES, r % len(STATIONS_MM)
    d, x, y = 1.0 + rng.normal(0, 0.005, n), rng.normal(0, 0.005, n), rng.normal(0, 0.005, n)
    depth = np.repeat(3.0 + rng.normal(0, 0.01, n_parts * HOLES), len(STATIONS_MM))
    return [
        f"SN-{p:06d},H{h:03d},{STATIONS_MM[s]},{dd:.4f},{xx:.4f},{yy:.4f},{zz:.4f},CT-{1 + p % 2},0.005,"
        f"2024-03-{1 + p % 28:02d}T{8 + p % 10:02d}:{p % 60:02d}:00Z\n"
        for p, h, s, dd, xx, yy, zz in zip(
            part.tolist(), hole.tolist(), station.tolist(), d.tolist(), x.tolist(), y.tolist(), depth.tolist(),
            strict=True,
        )
    ]  # fmt: skip


def write_inspection_csv(folder: str | Path, n_rows: int, seed: int = 1) -> tuple[Path, Path]:
    """Write ``design.csv`` and ``measurements.csv`` (``n_rows`` rows) into ``folder``; return their paths.

    Diameters about 1 mm (σ 5 µm), position deviations σ 5 µm, hole depths
    about 3 mm, two devices, one measurement time per part.  The last part is
    cut short when ``n_rows`` is not a multiple of :data:`ROWS_PER_PART`.
    """
    out = Path(folder)
    design = out / "design.csv"
    stations = ";".join(f"{s:g}" for s in STATIONS_MM)
    design.write_text(
        "hole_id,group,nominal_diameter_mm,depth_mm,x_mm,y_mm,stations_mm\n"
        + "".join(f"H{h:03d},{'AB'[h % 2]},1.0,3.0,{h % 10},{h // 10},{stations}\n" for h in range(HOLES))
    )
    rng = np.random.default_rng(seed)
    measurements = out / "measurements.csv"
    with open(measurements, "w", encoding="utf-8") as fh:
        fh.write(_HEADER)
        left = n_rows
        for first in range(0, -(-n_rows // ROWS_PER_PART), _BLOCK_PARTS):
            rows = _rows(first, _BLOCK_PARTS, rng)[:left]
            fh.writelines(rows)
            left -= len(rows)
            if not left:
                break
    return measurements, design
