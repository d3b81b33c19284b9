"""The grid study (``ecmsim simulate CONFIG --grid-study``): its arithmetic and a real run.

The arithmetic is checked on synthetic sequences f(h) = f0 + C h^p with known f0
and p; the real run is the zero-feed dwell of a planar gap, whose frontal gap has
the analytic value sqrt(h0² + 2kT) (verification.md case 3, first order in h).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from ecmsim.config import config_from_dict
from ecmsim.grid_study import (
    GridStudy,
    Tolerances,
    grid_study,
    observed_order,
    quantity_convergence,
    round_cell_down,
)
from ecmsim.process import resolve
from ecmsim.testing import planar_gap_config

TOL = Tolerances(length_mm=0.005, relative_pct=1.0, angle_deg=0.1)
# The dwell case: no feed, the gap grows from 0.1 mm for 5 s; 40, 20 and 10 µm cells.
DWELL = {"feed_rate_mm_per_min": 0.0, "depth_mm": 0.1, "initial_gap_mm": 0.1, "dwell_s": 5.0}
CELLS = (0.04, 0.02, 0.01)


def judge(cells: tuple[float, ...], values: list[float], kind: str = "length"):  # type: ignore[no-untyped-def]
    return quantity_convergence("frontal_gap_mm", "frontal gap", "mm", kind, cells, values, TOL)


@pytest.mark.parametrize("order", [1.0, 1.5, 2.0])
@pytest.mark.parametrize("cells", [(0.04, 0.02, 0.01), (0.05, 0.02, 0.01), (0.03, 0.02, 0.0125)])
def test_known_order_and_limit_are_recovered(order: float, cells: tuple[float, ...]) -> None:
    f0, c = 0.3254, 4.0
    values = [f0 + c * h**order for h in cells]
    q = judge(cells, values)
    assert q.verdict == "converging"
    assert q.order == pytest.approx(order, rel=1e-6)
    assert q.estimate == pytest.approx(f0, abs=1e-10)
    assert q.errors == pytest.approx([c * h**order for h in cells], rel=1e-6)
    # the coarsest cell whose error C h^p stays within 0.005 mm (capped at the coarsest grid)
    assert q.needed_cell_mm == pytest.approx(min((0.005 / c) ** (1 / order), max(cells)), rel=1e-6)


def test_observed_order_with_a_constant_ratio_is_the_textbook_formula() -> None:
    h, f = (0.01, 0.02, 0.04), (1.0010, 1.0030, 1.0090)
    assert observed_order(h, f) == pytest.approx(math.log((1.0090 - 1.0030) / (1.0030 - 1.0010)) / math.log(2))


def test_oscillating_differences_give_no_order() -> None:
    q = judge(CELLS, [0.3436, 0.3469, 0.3453])
    assert q.verdict == "oscillating"
    assert q.order is None and q.estimate is None and q.errors is None
    # spread 3.3 µm: within a 10 µm tolerance on every grid, no judgement under a 1 µm one
    tight = quantity_convergence("x", "x", "mm", "length", CELLS, [0.3436, 0.3469, 0.3453], Tolerances(0.001))
    assert tight.needed_cell_mm is None and "above the tolerance" in tight.note
    loose = quantity_convergence("x", "x", "mm", "length", CELLS, [0.3436, 0.3469, 0.3453], Tolerances(0.01))
    assert loose.needed_cell_mm == math.inf and "within the tolerance" in loose.note


def test_growing_differences_and_irregular_orders_give_no_estimate() -> None:
    diverging = judge(CELLS, [1.0, 1.001, 1.003])  # the finer, the larger the change
    assert diverging.verdict == "diverging" and diverging.order is None and diverging.estimate is None
    irregular = judge(CELLS, [1.0 + 2.0 * h**6 for h in CELLS])
    assert irregular.verdict == "irregular" and irregular.order == pytest.approx(6.0)
    assert irregular.estimate is None and irregular.needed_cell_mm is None


def test_two_grids_assume_first_order_and_same_values_are_grid_independent() -> None:
    q = judge((0.02, 0.01), [1.02, 1.01])
    assert q.verdict == "two grids" and q.order == 1.0
    assert q.estimate == pytest.approx(1.0) and q.errors == pytest.approx([0.02, 0.01])
    same = judge(CELLS, [5.0, 5.0, 5.0])
    assert same.verdict == "grid-independent" and same.needed_cell_mm == math.inf
    missing = quantity_convergence("exit_diameter_mm", "exit diameter", "mm", "length", CELLS, [1.0, None, 1.1], TOL)
    assert missing.verdict == "missing" and missing.needed_cell_mm is None


def test_relative_tolerance_scales_with_the_value() -> None:
    q = quantity_convergence("charge_C", "charge", "C", "relative", CELLS, [30.0 + 40 * h for h in CELLS], TOL)
    assert q.tolerance == pytest.approx(0.01 * 30.4)
    assert q.needed_cell_mm == pytest.approx(0.304 / 40)


def test_round_cell_sizes() -> None:
    assert [round_cell_down(x) for x in (0.0137, 0.01, 0.0999, 0.0026, 0.00049)] == [
        0.012, 0.01, 0.08, 0.0025, 0.0004,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def dwell_study() -> tuple[GridStudy, float]:
    """The dwell case at 40, 20 and 10 µm, and its analytic final gap (mm)."""
    doc = planar_gap_config(0.01, **DWELL)
    k = resolve(config_from_dict(doc)).machining_constant
    exact_mm = math.sqrt(0.1e-3**2 + 2 * k * DWELL["dwell_s"]) * 1e3
    return grid_study(doc, CELLS), exact_mm


def test_real_run_observes_first_order_and_richardson_improves(dwell_study: tuple[GridStudy, float]) -> None:
    study, exact = dwell_study
    assert study.cells_mm == CELLS and set(study.statuses) == {"completed"}
    gap = {q.key: q for q in study.quantities}["frontal_gap_mm"]
    # Measured: 0.33091, 0.32815, 0.32676 mm, order 0.99, estimate 0.325349 mm (exact 0.325400).
    assert gap.verdict == "converging"
    assert gap.order == pytest.approx(1.0, abs=0.2)
    assert gap.values[-1] - exact > 1e-3  # the finest grid alone is 1.4 µm off
    assert abs(gap.estimate - exact) < 0.1 * abs(gap.values[-1] - exact)
    # the estimated error on the finest grid is the true one within 10 %
    assert gap.errors[-1] == pytest.approx(gap.values[-1] - exact, rel=0.1)
    # a 5 µm tolerance is met at 40 µm except where charge (1 %) needs finer cells
    assert study.recommended_cell_mm is not None and study.recommended_cell_mm <= max(CELLS)


def test_cli_grid_study_json_file_and_bad_options(tmp_path: Path, minimal_config: Path) -> None:
    sets = [
        "tool.outer_diameter_mm=2.0", "tool.inner_diameter_mm=0", "tool.coating_thickness_mm=0",
        "motion.feed_rate_mm_per_min=0", "motion.depth_mm=0.1", "motion.initial_gap_mm=0.1", "motion.dwell_s=5",
        "numerics.electrolyte_above_surface_mm=0", "electrical.overpotential_V=2",
    ]  # fmt: skip
    args = ["simulate", str(minimal_config), *[a for s in sets for a in ("--set", s)]]
    out = tmp_path / "study.json"

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from ecmsim.cli.main import main; main()", *args, *extra],
            capture_output=True, text=True, timeout=300, cwd=tmp_path,
        )  # fmt: skip

    proc = run("--grid-study", "--grid-cells-um", "40,20", "--json", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    written = json.loads(out.read_text(encoding="utf-8"))
    assert printed.pop("output") == str(out)
    assert printed == written
    gap = written["quantities"]["frontal_gap_mm"]
    assert written["cell_sizes_mm"] == [0.04, 0.02] and gap["verdict"] == "two grids" and gap["order_assumed"]
    assert not list(tmp_path.glob("*.h5"))  # a grid study writes no result files
    text = run("--grid-study", "--grid-cells-um", "40,20")
    assert text.returncode == 0 and "frontal gap" in text.stdout and "first order assumed" in text.stdout
    # bad input: exit 2, a message, nothing written
    for extra, words in (
        (["--grid-study", "--grid-cells-um", "20,abc"], "cell sizes in µm"),
        (["--tolerance-mm", "0.01"], "--grid-study"),
        (["--grid-study", "--grid-cells-um", "80,40"], "80 µm cells"),  # 80 µm does not resolve the 0.1 mm gap
    ):
        bad = run(*extra, "-o", str(tmp_path / "bad.json"))
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
        assert not (tmp_path / "bad.json").exists()


def test_cli_equilibrium_grid_study_reports_the_gaps_orders(tmp_path: Path) -> None:
    """``simulate CONFIG --equilibrium --grid-study``: the steady shape on three grids, each gap judged.

    The study's values are the equilibrium solves' own (the finest checked against
    a direct call), every equilibrium quantity is judged from three grids (an order
    observed, or a stated reason why none is), and no result file is written.
    """
    from ecmsim.cli.grid_study_cmd import format_study
    from ecmsim.config import load_config
    from ecmsim.equilibrium import solve_equilibrium
    from ecmsim.grid_study import EQUILIBRIUM_QUANTITIES, ORDER_RANGE
    from ecmsim.testing import FAST_STEM_TOML

    config = tmp_path / "stem.toml"
    config.write_text(FAST_STEM_TOML, encoding="utf-8")
    out = tmp_path / "study.json"
    proc = subprocess.run(
        [sys.executable, "-c", "from ecmsim.cli.main import main; main()", "simulate", str(config),
         "--equilibrium", "--grid-study", "--grid-cells-um", "50,40,30", "--json", "-o", str(out)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert printed.pop("output") == str(out) and printed == doc
    assert doc["mode"] == "equilibrium" and doc["cell_sizes_mm"] == [0.05, 0.04, 0.03]
    assert list(doc["quantities"]) == [key for key, *_ in EQUILIBRIUM_QUANTITIES]
    for key in ("frontal_gap_mm", "side_gap_mm"):
        q = doc["quantities"][key]
        assert len(q["values"]) == 3 and all(0.1 < v < 0.5 for v in q["values"]), q
        assert q["verdict"] in ("converging", "grid-independent", "oscillating", "diverging", "irregular"), q
        assert not q["order_assumed"]
        if q["verdict"] == "converging":
            assert ORDER_RANGE[0] <= q["order"] <= ORDER_RANGE[1] and q["estimate"] is not None
        elif q["verdict"] != "grid-independent":
            assert q["order"] is None and q["estimate"] is None and q["note"]
    finest = solve_equilibrium(load_config(config, ["numerics.cell_size_mm=0.03"])).summary()
    for key in ("frontal_gap_mm", "side_gap_mm", "diameter_mm", "current_A"):
        assert doc["quantities"][key]["values"][-1] == pytest.approx(finest[key], rel=1e-12)
    text = "\n".join(format_study(doc))
    assert "(equilibrium)" in text and "frontal gap" in text and "side gap (overcut)" in text
    assert not list(tmp_path.glob("*.h5"))
