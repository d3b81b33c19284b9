"""Grid study: one process at several cell sizes, observed orders, Richardson estimates.

:func:`grid_study` runs a config at two or more cell sizes (by default its own, and
two and four times coarser), and for every summary quantity reports the value on
each grid, the observed order of convergence, the Richardson estimate of the
grid-independent value, the estimated discretisation error at each cell size and
the coarsest cell size that keeps the error within a stated tolerance.  The
arithmetic is in :func:`quantity_convergence`, a pure function of cell sizes and
values.

Observed order from the three finest grids h1 < h2 < h3 with values f1, f2, f3: the
model f(h) = f0 + C h^p fitted exactly (for a constant ratio r = h2/h1 = h3/h2,
p = ln((f3 − f2)/(f2 − f1)) / ln r).  The order is only reported where the
differences have one sign and shrink (monotone convergence) and p lies in the range
a first- to second-order method shows (0.5–4); otherwise the quantity is
"oscillating", "diverging" or "irregular" and no estimate is made.  With only two
grids the order cannot be observed: the error is estimated assuming first order,
the conservative choice for this model (its boundaries converge at first to second
order).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmsim.config import ProcessConfig, config_from_dict, load_config
from ecmsim.errors import ConfigError

ProgressCallback = Callable[[dict[str, float]], None]

#: Quantities of a transient run, in the order ``ecmsim simulate`` prints its summary:
#: summary key, label, unit, tolerance kind.
TRANSIENT_QUANTITIES = (
    ("depth_mm", "depth", "mm", "length"), ("entry_diameter_mm", "entry diameter", "mm", "length"),
    ("exit_diameter_mm", "exit diameter", "mm", "length"),
    ("entry_edge_mm", "entry edge radius", "mm", "length"),
    ("min_diameter_mm", "min diameter", "mm", "length"), ("max_diameter_mm", "max diameter", "mm", "length"),
    ("taper_deg", "taper (half angle)", "°", "angle"), ("side_gap_mm", "side gap (overcut)", "mm", "length"),
    ("frontal_gap_mm", "frontal gap", "mm", "length"), ("machining_time_s", "machining time", "s", "relative"),
    ("charge_C", "charge", "C", "relative"), ("removed_volume_mm3", "removed volume", "mm³", "relative"),
    ("peak_current_A", "peak current", "A", "relative"),
)  # fmt: skip
#: Quantities of an equilibrium solve (``--equilibrium``).
EQUILIBRIUM_QUANTITIES = (
    ("frontal_gap_mm", "frontal gap", "mm", "length"),
    ("side_gap_mm", "side gap (overcut)", "mm", "length"),
    ("diameter_mm", "diameter", "mm", "length"),
    ("current_A", "current", "A", "relative"),
)
#: Range of observed orders in which a Richardson estimate is trusted.
ORDER_RANGE = (0.5, 4.0)
#: Order assumed when only two grids are given (first order: the conservative estimate).
ASSUMED_ORDER = 1.0
#: Default grids: the config's cell size times these factors.
DEFAULT_FACTORS = (4.0, 2.0, 1.0)
#: Largest number of grids in one study.
MAX_GRIDS = 5


@dataclass(frozen=True)
class Tolerances:
    """What error is acceptable, per kind of quantity.

    Attributes
    ----------
    length_mm
        Lengths (gaps, diameters, depth), mm.
    relative_pct
        Current, charge, time and volume, % of the value.
    angle_deg
        Taper, degrees.
    """

    length_mm: float = 0.005
    relative_pct: float = 1.0
    angle_deg: float = 0.1

    def absolute(self, kind: str, reference: float) -> float:
        """The tolerance of a quantity of ``kind`` whose value is about ``reference``, in its unit."""
        if kind == "length":
            return self.length_mm
        if kind == "angle":
            return self.angle_deg
        return 0.01 * self.relative_pct * abs(reference)


@dataclass(frozen=True)
class QuantityConvergence:
    """How one summary quantity converges with the cell size.

    Attributes
    ----------
    key, label, unit
        Summary key, its label and unit.
    cells_mm
        Cell sizes, coarse to fine, mm.
    values
        The quantity on each grid (None where a run does not define it).
    verdict
        ``converging`` (order observed), ``two grids`` (order assumed),
        ``grid-independent`` (the same on every grid), ``oscillating``,
        ``diverging``, ``irregular`` (order outside :data:`ORDER_RANGE`) or ``missing``.
    order
        Observed order p (assumed for two grids; None where not determinable).
    estimate
        Richardson estimate of the value at h → 0 (None where not determinable).
    errors
        Estimated error |f(h) − f0| at each cell size (None where not determinable).
    tolerance
        The acceptable error of this quantity, in its unit.
    needed_cell_mm
        Coarsest cell size whose estimated error is within ``tolerance``, mm: capped at
        the coarsest grid studied; None where it cannot be judged; ``inf`` where any
        cell size will do.
    note
        One sentence for the reader.
    """

    key: str
    label: str
    unit: str
    cells_mm: tuple[float, ...]
    values: tuple[float | None, ...]
    verdict: str
    order: float | None
    estimate: float | None
    errors: tuple[float, ...] | None
    tolerance: float
    needed_cell_mm: float | None
    note: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (``inf`` needed cell size becomes the coarsest grid)."""
        needed = self.needed_cell_mm
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "values": list(self.values),
            "verdict": self.verdict,
            "order": self.order,
            "order_assumed": self.verdict == "two grids",
            "estimate": self.estimate,
            "errors": None if self.errors is None else list(self.errors),
            "tolerance": self.tolerance,
            "needed_cell_mm": max(self.cells_mm) if needed == math.inf else needed,
            "note": self.note,
        }


@dataclass(frozen=True)
class GridStudy:
    """A process run at several cell sizes, and what that says about the grid error.

    Attributes
    ----------
    source
        Where the config came from.
    mode
        ``transient`` or ``equilibrium``.
    cells_mm
        Cell sizes, coarse to fine, mm.
    statuses
        Status of the run on each grid.
    quantities
        One :class:`QuantityConvergence` per summary quantity.
    tolerances
        The tolerances asked for.
    recommended_cell_mm
        Coarsest cell size that meets every tolerance among the quantities that could
        be judged, rounded down to a round value, mm (None: none could be judged).
        It covers every quantity only when ``not_judged`` is empty.
    limiting
        Labels of the quantities that set the recommendation.
    not_judged
        Labels of the quantities whose convergence could not be judged (oscillating
        above the tolerance, diverging, irregular, missing on a grid).
    warnings
        Sentences about the study as a whole (runs that ended differently, a
        recommendation finer than the grids studied).
    wall_clock_s
        Time the runs took, s.
    """

    source: str
    mode: str
    cells_mm: tuple[float, ...]
    statuses: tuple[str, ...]
    quantities: tuple[QuantityConvergence, ...]
    tolerances: Tolerances
    recommended_cell_mm: float | None
    limiting: tuple[str, ...]
    not_judged: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    wall_clock_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The study as one JSON-ready mapping."""
        t = self.tolerances
        return {
            "config": self.source,
            "mode": self.mode,
            "cell_sizes_mm": list(self.cells_mm),
            "statuses": list(self.statuses),
            "tolerance_mm": t.length_mm,
            "tolerance_pct": t.relative_pct,
            "tolerance_deg": t.angle_deg,
            "quantities": {q.key: q.to_dict() for q in self.quantities},
            "recommended_cell_mm": self.recommended_cell_mm,
            "recommendation_covers_all": not self.not_judged and self.recommended_cell_mm is not None,
            "limiting": list(self.limiting),
            "not_judged": list(self.not_judged),
            "warnings": list(self.warnings),
            "wall_clock_s": self.wall_clock_s,
        }


def observed_order(cells: Sequence[float], values: Sequence[float]) -> float | None:
    """Order p of f(h) = f0 + C h^p through three (cell size, value) pairs.

    Parameters
    ----------
    cells
        Three cell sizes, fine to coarse (h1 < h2 < h3), any length unit.
    values
        The quantity on those grids.

    Returns
    -------
    float or None
        The order, or None when the differences change sign, one of them is zero,
        or they do not shrink with the cell size (no positive order fits).
    """
    (h1, h2, h3), (f1, f2, f3) = cells, values
    d21, d32 = f2 - f1, f3 - f2
    if d21 == 0.0 or d32 == 0.0 or (d21 > 0) != (d32 > 0):
        return None
    ratio = d32 / d21
    r21, r32 = h2 / h1, h3 / h2

    def model(p: float) -> float:  # (h3^p − h2^p)/(h2^p − h1^p) with h1 = 1; increasing in p
        return r21**p * (r32**p - 1.0) / (r21**p - 1.0)

    lo, hi = 1e-9, 30.0
    if ratio <= model(lo):
        return None
    if ratio >= model(hi):
        return hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if model(mid) < ratio else (lo, mid)
    return 0.5 * (lo + hi)


def quantity_convergence(
    key: str,
    label: str,
    unit: str,
    kind: str,
    cells_mm: Sequence[float],
    values: Sequence[float | None],
    tolerances: Tolerances,
) -> QuantityConvergence:
    """Judge how one quantity converges: order, Richardson estimate, errors, needed cell size.

    Parameters
    ----------
    key, label, unit
        Summary key, label and unit of the quantity.
    kind
        ``length``, ``angle`` or ``relative`` (which tolerance applies).
    cells_mm
        Cell sizes, coarse to fine, mm (at least two, distinct).
    values
        The quantity on each grid (None: not defined there).
    tolerances
        The acceptable errors.

    Returns
    -------
    QuantityConvergence
    """
    cells = tuple(float(c) for c in cells_mm)
    vals = tuple(None if v is None else float(v) for v in values)

    def result(verdict: str, note: str, order: float | None = None, estimate: float | None = None,
               errors: tuple[float, ...] | None = None, tol: float = math.nan,
               needed: float | None = None) -> QuantityConvergence:  # fmt: skip
        return QuantityConvergence(key, label, unit, cells, vals, verdict, order, estimate, errors, tol, needed, note)

    if any(v is None or not math.isfinite(v) for v in vals):
        return result("missing", "not defined on every grid (the runs ended differently)")
    finite = [v for v in vals if v is not None]
    # fine to coarse, as the formulas read
    h = cells[::-1]
    f = finite[::-1]
    scale = max(abs(v) for v in f)
    tol = tolerances.absolute(kind, f[0])
    if max(f) - min(f) <= 1e-12 * max(scale, 1e-300):
        return result("grid-independent", "the same on every grid", estimate=f[0],
                      errors=tuple(0.0 for _ in f), tol=tol, needed=math.inf)  # fmt: skip
    if len(f) == 2:
        order, assumed = ASSUMED_ORDER, True
    else:
        order_or_none = observed_order(h[:3], f[:3])
        assumed = False
        diffs = [b - a for a, b in itertools.pairwise(f)]
        if any((d > 0) != (diffs[0] > 0) or d == 0.0 for d in diffs):
            spread = max(f) - min(f)
            needed = math.inf if spread <= tol else None
            within = "within" if spread <= tol else "above"
            return result(
                "oscillating",
                f"the differences between grids change sign (or vanish): order not determinable; spread "
                f"{spread:.3g} {unit}, "
                f"{within} the tolerance",
                tol=tol, needed=needed,
            )  # fmt: skip
        if order_or_none is None:
            return result("diverging", "the differences do not shrink as the cell size does: order not determinable",
                          tol=tol)  # fmt: skip
        order = order_or_none
        if not ORDER_RANGE[0] <= order <= ORDER_RANGE[1]:
            return result(
                "irregular",
                f"observed order {order:.2g} is outside {ORDER_RANGE[0]:g}-{ORDER_RANGE[1]:g}: the grids are not in "
                "the asymptotic range, no estimate",
                order=order, tol=tol,
            )  # fmt: skip
    c = (f[1] - f[0]) / (h[1] ** order - h[0] ** order)
    estimate = f[0] - c * h[0] ** order
    errors_fine_first = [abs(c) * hi**order for hi in h]
    needed = h[0] * (tol / errors_fine_first[0]) ** (1.0 / order) if tol > 0 else 0.0
    needed = min(needed, max(cells))
    note = f"observed order {order:.2f}" if not assumed else f"two grids: first order assumed ({ASSUMED_ORDER:g})"
    return result(
        "two grids" if assumed else "converging", note, order=order, estimate=estimate,
        errors=tuple(errors_fine_first[::-1]), tol=tol, needed=needed,
    )  # fmt: skip


def round_cell_down(cell_mm: float) -> float:
    """The largest round cell size (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k mm) not above ``cell_mm``."""
    if cell_mm <= 0:
        return 0.0
    k = math.floor(math.log10(cell_mm))
    best = 0.0
    for decade in (k - 1, k):
        for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0):
            v = float(f"{m * 10.0**decade:.6g}")
            if v <= cell_mm * (1 + 1e-9):
                best = max(best, v)
    return best


def default_cells_mm(config: ProcessConfig) -> tuple[float, ...]:
    """The default grids: the config's cell size, two and four times coarser, mm (coarse to fine)."""
    h = config.numerics.cell_size_mm
    return tuple(float(f"{k * h:.6g}") for k in DEFAULT_FACTORS)


def _configs_at(config: ProcessConfig, cells_mm: Sequence[float]) -> list[ProcessConfig]:
    """The config at each cell size (validated: a cell too coarse for the tool is refused here)."""
    out = []
    for cell in cells_mm:
        try:
            out.append(config.replace({"numerics.cell_size_mm": cell}))
        except ConfigError as exc:
            text = str(exc).removeprefix(f"{exc.source}: ") if exc.source else str(exc)
            raise ConfigError(
                f"grid study at {cell * 1000:g} µm cells: {text}; choose other cell sizes (--grid-cells-um)",
                exc.source,
            ) from None
    return out


def _check_cells(cells_mm: Sequence[float]) -> tuple[float, ...]:
    cells = tuple(sorted({float(c) for c in cells_mm}, reverse=True))
    if not 2 <= len(cells) <= MAX_GRIDS or len(cells) != len(cells_mm):
        raise ConfigError(
            f"grid study: cell sizes {', '.join(f'{c * 1000:g}' for c in cells_mm)} µm: give 2 to {MAX_GRIDS} "
            "different cell sizes"
        )
    if any(c <= 0 or not math.isfinite(c) for c in cells):
        raise ConfigError(f"grid study: cell sizes must be positive, got {', '.join(map(str, cells_mm))} mm")
    return cells


def _check_memory(finest: ProcessConfig, mode: str) -> None:
    """Refuse the study before its first run when its finest grid does not fit the memory budget."""
    from ecmsim.process import resolve
    from ecmsim.resources import check_budget, estimate_grid, estimate_simulation

    proc = resolve(finest)
    h = finest.numerics.cell_size_mm
    what = f"the grid study's finest run ({h * 1000:g} µm cells)"
    est = estimate_grid(proc, what) if mode == "equilibrium" else estimate_simulation(proc, what)
    check_budget(est, f"choose coarser cell sizes than {h * 1000:g} µm (--grid-cells-um, or [numerics] cell_size_mm)")


def _run(cfg: ProcessConfig, mode: str, progress: ProgressCallback | None) -> dict[str, Any]:
    """Summary of one run (transient or equilibrium)."""
    if mode == "equilibrium":
        from ecmsim.equilibrium import solve_equilibrium

        return solve_equilibrium(cfg).summary()
    from ecmsim.process import resolve
    from ecmsim.simulation import Simulation

    return Simulation(resolve(cfg)).run(progress).summary()


def grid_study(
    config: ProcessConfig | str | Path | Mapping[str, Any],
    cells_mm: Sequence[float] | None = None,
    tolerances: Tolerances | None = None,
    mode: str = "transient",
    progress: ProgressCallback | None = None,
    overrides: Sequence[str] = (),
) -> GridStudy:
    """Run a process at several cell sizes and judge each summary quantity's grid error.

    Parameters
    ----------
    config
        A :class:`~ecmsim.config.ProcessConfig`, a TOML path (or ``"example:NAME"``) or a
        nested dict.
    cells_mm
        Cell sizes, mm, 2 to :data:`MAX_GRIDS` distinct values (default: the config's
        cell size, two and four times coarser).
    tolerances
        Acceptable errors (default :class:`Tolerances`: 0.005 mm, 1 %, 0.1°).
    mode
        ``transient`` (:func:`~ecmsim.simulation.simulate`) or ``equilibrium``
        (:func:`~ecmsim.equilibrium.solve_equilibrium`).
    progress
        Called during every run with the keys of the simulation's progress plus
        ``run``, ``runs`` and ``cell_mm`` (transient mode only).
    overrides
        ``table.key=value`` strings applied to a path or dict config.

    Returns
    -------
    GridStudy
        Runs from the coarsest grid to the finest.

    Raises
    ------
    ConfigError
        Fewer than two or more than :data:`MAX_GRIDS` cell sizes, or a cell size the
        config does not allow.
    """
    if isinstance(config, ProcessConfig):
        cfg = config
    elif isinstance(config, Mapping):
        cfg = config_from_dict(config, overrides=overrides)
    else:
        cfg = load_config(config, tuple(overrides))
    if mode not in ("transient", "equilibrium"):
        raise ConfigError(f"grid study: mode {mode!r}: use 'transient' or 'equilibrium'")
    cells = _check_cells(default_cells_mm(cfg) if cells_mm is None else cells_mm)
    tol = tolerances or Tolerances()
    configs = _configs_at(cfg, cells)
    _check_memory(configs[-1], mode)
    start = time.perf_counter()
    summaries = []
    for k, (cell, c) in enumerate(zip(cells, configs, strict=True)):
        tagged = None
        if progress is not None:

            def tagged(info: dict[str, float], k: int = k, cell: float = cell) -> None:
                assert progress is not None
                progress({**info, "run": k + 1, "runs": len(cells), "cell_mm": cell})

        summaries.append(_run(c, mode, tagged))
    table = EQUILIBRIUM_QUANTITIES if mode == "equilibrium" else TRANSIENT_QUANTITIES
    quantities = tuple(
        quantity_convergence(key, label, unit, kind, cells, [s.get(key) for s in summaries], tol)
        for key, label, unit, kind in table
        if any(s.get(key) is not None for s in summaries)
    )
    statuses = tuple(str(s["status"]) for s in summaries)
    return _conclude(cfg.source, mode, cells, statuses, quantities, tol, time.perf_counter() - start)


def _conclude(
    source: str,
    mode: str,
    cells: tuple[float, ...],
    statuses: tuple[str, ...],
    quantities: tuple[QuantityConvergence, ...],
    tol: Tolerances,
    wall_clock_s: float,
) -> GridStudy:
    """The recommendation: the finest cell size any judged quantity needs, rounded down."""
    judged = [q for q in quantities if q.needed_cell_mm is not None]
    not_judged = tuple(q.label for q in quantities if q.needed_cell_mm is None)
    warnings = []
    if len(set(statuses)) > 1:
        runs = ", ".join(f"{s} at {c * 1000:g} µm" for s, c in zip(statuses, cells, strict=True))
        warnings.append(f"the runs ended differently ({runs}): the grids do not describe the same hole")
    recommended: float | None = None
    limiting: tuple[str, ...] = ()
    if judged:
        need = min(q.needed_cell_mm for q in judged if q.needed_cell_mm is not None)
        need = min(need, max(cells))
        if need < max(cells) * (1 - 1e-9):  # else every judged quantity is within tolerance on the coarsest grid
            limiting = tuple(
                q.label for q in judged if q.needed_cell_mm is not None and q.needed_cell_mm <= need * 1.001
            )
        on_grid = [c for c in cells if abs(c - need) <= 1e-9 * need]
        recommended = on_grid[0] if on_grid else round_cell_down(need)
        if recommended < min(cells) * (1 - 1e-9):
            warnings.append(
                f"the recommended cell size is finer than the finest grid studied ({min(cells) * 1000:g} µm): "
                "it extrapolates the observed orders; confirm it with a study that includes it"
            )
    return GridStudy(
        source=source, mode=mode, cells_mm=cells, statuses=statuses, quantities=quantities, tolerances=tol,
        recommended_cell_mm=recommended, limiting=limiting, not_judged=not_judged, warnings=tuple(warnings),
        wall_clock_s=wall_clock_s,
    )  # fmt: skip
