"""Resource estimates made before any work starts, and the memory budget they must fit.

Every command that may need much memory (a simulation, a sweep, a grid study,
an equilibrium solve, importing or reading an inspection batch) first asks
this module how much memory and, roughly, how much time the job will take,
from sizes alone: the grid of a config, the declared shapes of an HDF5 file,
the row and hole counts of a CSV import.  Nothing is allocated or read for
the estimate.  A job whose memory estimate exceeds the budget is refused with
a :class:`ResourceError` (exit 2, bad input) that names the value to change.

The budget is the memory this machine has free (``MemAvailable`` of
``/proc/meminfo``, lowered to a container's cgroup limit or the address-space
limit when those are tighter), or ``ECMSIM_MEMORY_BUDGET_GB`` (gigabytes,
10⁹ bytes) when set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ecmsim.errors import EcmsimError

if TYPE_CHECKING:
    from ecmsim.process import Process

#: Environment variable that sets the memory budget, GB (10⁹ bytes).
BUDGET_ENV = "ECMSIM_MEMORY_BUDGET_GB"
#: Bytes in a GB, the unit of the budget and of the messages.
GB = 1e9
#: Budget when the free memory cannot be read (no /proc/meminfo, no sysconf), bytes.
FALLBACK_BUDGET = 4 * GB

#: Bytes per node of the full (nr, nz) grid: domain coordinates, masks and distances,
#: level set and potential, their copies in the result, and the temporaries of building them.
FULL_GRID_BYTES = 80.0
#: Bytes per node of the window the stepper solves: ~20 float64 work arrays, the
#: stepper's temporaries and the multigrid hierarchy (float32, ~1.33x the fine grid).
#: Together with FULL_GRID_BYTES fitted to the peak memory measured on runs of
#: 80 000 to 240 000 nodes (220-265 bytes per node); tests/reliability/test_resources.py
#: re-measures it.
WINDOW_BYTES = 170.0
#: Bytes per value of a history column while recording (a Python float in a list),
#: its float64 array in the result and its image in the HDF5 file built in memory.
HISTORY_VALUE_BYTES = 56.0
#: History columns of a run (primary physics; secondary adds a few more).
HISTORY_COLUMNS = 22
#: Bytes per value of a wall-radius snapshot: the list of copies, the stacked array and the file image.
SNAPSHOT_VALUE_BYTES = 32.0
#: Steps per cell of surface travel is 1/cfl; the start (a gap below the equilibrium one,
#: a faster surface) and the edges of the tool add about this factor.
STEP_FACTOR = 1.0
#: CPU seconds per node of the window and time step (mg-cg, measured on a 2.x GHz core).
SECONDS_PER_NODE_STEP = 2e-7
#: Fixed cost of a simulation: Numba kernels loaded from the cache, grid set-up, s.
SECONDS_FIXED = 2.0


class ResourceError(EcmsimError):
    """A job would need more memory than the budget allows (exit 2, bad input)."""


@dataclass(frozen=True)
class Estimate:
    """Memory and time a job is expected to need, from sizes alone.

    Attributes
    ----------
    memory_bytes : float
        Peak memory above the interpreter's own, bytes.
    seconds_order : float
        Run time, s: an order of magnitude, not a promise.
    what : str
        The job and the sizes the estimate comes from, for messages.
    parts : tuple of (str, float)
        The main terms of ``memory_bytes``: what, bytes.
    """

    memory_bytes: float
    seconds_order: float
    what: str
    parts: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        """One line: memory and time order, e.g. ``about 1.2 GB of memory, minutes``."""
        return f"about {format_bytes(self.memory_bytes)} of memory, {format_duration(self.seconds_order)}"

    def main_part(self) -> str:
        """The largest term of the memory, e.g. ``grid 1201 x 4000 nodes: 5.3 GB``."""
        if not self.parts:
            return self.what
        label, size = max(self.parts, key=lambda p: p[1])
        return f"{label}: {format_bytes(size)}"

    def as_dict(self) -> dict[str, float | str]:
        """JSON-ready form: ``memory_GB``, ``time_s_order``, ``what``."""
        return {"memory_GB": round(self.memory_bytes / GB, 4), "time_s_order": self.seconds_order, "what": self.what}


@dataclass(frozen=True)
class Budget:
    """The memory a job may use, bytes, and where that figure comes from (for messages)."""

    memory_bytes: float
    source: str


def format_bytes(n: float) -> str:
    """``n`` bytes in kB, MB, GB, TB or PB (powers of 1000), two significant digits at least."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.3e} {unit}"
    return f"{n:.0f} bytes"


def format_duration(seconds: float) -> str:
    """An order of magnitude of a run time: ``seconds``, ``about 20 min``, ``about 3 days``, …"""
    if not math.isfinite(seconds):
        return "a run time beyond any limit"
    if seconds < 10:
        return "seconds"
    for unit, size in (("years", 3.15e7), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            value = _one_digit(seconds / size)
            return f"about {value} {unit[:-1] if value == '1' and unit.endswith('s') else unit}"
    return f"about {_one_digit(seconds)} s"


def _one_digit(x: float) -> str:
    """``x`` rounded to one significant digit (an order of magnitude, not a measurement)."""
    if x >= 1e6:
        return f"{x:.0e}"
    digits = max(0, 1 - int(math.floor(math.log10(x))) - 1)
    return f"{round(x, -int(math.floor(math.log10(x)))):.{digits}f}" if x >= 1 else f"{x:.1g}"


# ------------------------------------------------------------------ the budget
def memory_budget(environ: Mapping[str, str] | None = None) -> Budget:
    """The memory budget: ``ECMSIM_MEMORY_BUDGET_GB`` if set, else the memory this machine has free.

    Raises
    ------
    ResourceError
        When ``ECMSIM_MEMORY_BUDGET_GB`` is not a positive number.
    """
    env = os.environ if environ is None else environ
    text = env.get(BUDGET_ENV, "").strip()
    if text:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ResourceError(
                f"environment variable {BUDGET_ENV} = {text[:40]!r}: must be a positive number of GB "
                "(10⁹ bytes), e.g. 8 or 0.5; unset it to use the memory this machine has free"
            )
        return Budget(value * GB, f"{BUDGET_ENV} = {text}")
    free, source = _free_memory()
    return Budget(free, source)


def _free_memory() -> tuple[float, str]:
    """Free memory, bytes, and its description: MemAvailable, capped by cgroup and rlimit."""
    free, source = _meminfo_available()
    limit = _cgroup_room()
    if limit is not None and limit < free:
        free, source = limit, "the room left under this container's memory limit"
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and 0 < soft < free:
            free, source = float(soft), "the address-space limit (ulimit -v)"
    except (ImportError, OSError, ValueError):
        pass
    return free, source


def _meminfo_available() -> tuple[float, str]:
    """MemAvailable of /proc/meminfo; elsewhere the free pages (sysconf), else a fixed 4 GB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024, "the memory this machine has free, MemAvailable"
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return float(pages * size), "the memory this machine has free"
    except (ValueError, OSError, AttributeError):
        pass
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return 0.5 * pages * size, "half of this machine's memory"
    except (ValueError, OSError, AttributeError):
        pass
    return FALLBACK_BUDGET, "a default of 4 GB (the free memory could not be read)"


def _cgroup_room() -> float | None:
    """Memory left under a cgroup v2 limit (memory.max − memory.current), bytes; None without one."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        used = float((base / "memory.current").read_text().strip())
        return max(float(limit) - used, 0.0)
    except (OSError, ValueError):
        return None


def check_budget(estimate: Estimate, hint: str, budget: Budget | None = None) -> None:
    """Refuse a job whose memory estimate exceeds the budget.

    Parameters
    ----------
    estimate
        The job's estimate.
    hint
        What to change to make the job smaller, naming the file and the value,
        e.g. ``"cfg.toml: raise [numerics] cell_size_mm = 0.0005 mm to at least 0.004 mm"``.
    budget
        Default :func:`memory_budget`.

    Raises
    ------
    ResourceError
        Naming the job, its estimate and largest term, the budget and where it
        comes from, ``hint`` and the environment variable that raises the budget.
    """
    b = memory_budget() if budget is None else budget
    if estimate.memory_bytes <= b.memory_bytes:
        return
    raise ResourceError(
        f"{estimate.what} needs {estimate.describe()} (largest part: {estimate.main_part()}); "
        f"that is more than the memory budget of {format_bytes(b.memory_bytes)} ({b.source}). "
        f"Nothing was started. To make the job smaller: {hint}; or, on a machine with more memory, "
        f"set {BUDGET_ENV} to the GB it may use."
    )


# ------------------------------------------------------------------ simulations
@dataclass(frozen=True)
class SimulationSizes:
    """The sizes a simulation's memory and time follow from.

    Attributes
    ----------
    nr, nz : int
        Grid nodes in r and z.
    window_rows : int
        Rows the stepper solves each step (``nz`` without a window).
    steps : float
        Expected time steps (capped by ``[numerics] max_steps``).
    snapshots : float
        Expected wall-radius snapshots.
    """

    nr: int
    nz: int
    window_rows: int
    steps: float
    snapshots: float


def simulation_sizes(process: Process) -> SimulationSizes:
    """Grid, window, step and snapshot counts of a run of ``process``, without building anything."""
    from ecmsim.domain import _gap_scale, _grid, window_extent

    p, n = process, process.config.numerics
    gap_scale = _gap_scale(p)
    grid = _grid(p, gap_scale)
    use_window = n.window == "on" or (n.window == "auto" and p.tool.coated)
    rows = grid.nz
    if use_window:
        behind, ahead = window_extent(p, gap_scale)
        rows = min(grid.nz, math.ceil((behind + ahead) / grid.h) + 2)
    # Surface travel: the tool's (initial gap + depth) and the gap it opens, or a dwell's gap growth.
    travel = p.initial_gap + p.depth + gap_scale if p.feed > 0 else gap_scale
    if p.feed > 0 and p.dwell > 0:
        travel += math.sqrt(gap_scale**2 + 2 * p.machining_constant * p.dwell) - gap_scale
    steps = min(float(n.max_steps), STEP_FACTOR * travel / (n.cfl * p.cell_size) + 1)
    tool_travel = p.initial_gap + p.depth if p.feed > 0 else 0.0
    snapshots = min(steps, tool_travel / p.output_interval + 2)
    return SimulationSizes(grid.nr, grid.nz, rows, steps, snapshots)


def estimate_simulation(process: Process, what: str = "the simulation") -> Estimate:
    """Memory and time of one transient run of ``process`` (``ecmsim simulate``).

    Memory: the full grid (:data:`FULL_GRID_BYTES` per node), the window the stepper
    solves (:data:`WINDOW_BYTES` per node, multigrid levels included), the histories
    (steps x columns) and the snapshots (snapshots x rows), each with its image in the
    HDF5 result that is built in memory before it is written.  Time: window nodes x
    steps x :data:`SECONDS_PER_NODE_STEP`.
    """
    s = simulation_sizes(process)
    grid = FULL_GRID_BYTES * s.nr * s.nz
    window = WINDOW_BYTES * s.nr * s.window_rows
    history = HISTORY_VALUE_BYTES * HISTORY_COLUMNS * s.steps
    snaps = SNAPSHOT_VALUE_BYTES * s.snapshots * s.nz
    seconds = SECONDS_FIXED + SECONDS_PER_NODE_STEP * s.nr * s.window_rows * s.steps
    return Estimate(
        memory_bytes=grid + window + history + snaps,
        seconds_order=seconds,
        what=f"{what} ({s.nr} x {s.nz} grid nodes, {s.window_rows} rows solved per step, "
        f"~{s.steps:.2g} time steps, ~{s.snapshots:.2g} snapshots)",
        parts=(
            (f"grid of {s.nr} x {s.nz} nodes", grid),
            (f"solver window of {s.nr} x {s.window_rows} nodes", window),
            (f"histories of ~{s.steps:.2g} steps", history),
            (f"~{s.snapshots:.2g} wall snapshots", snaps),
        ),
    )


def simulation_hint(process: Process, budget: Budget | None = None) -> str:
    """What to change in the config to fit the budget: the key behind the largest term, with a value."""
    cfg, n = process.config, process.config.numerics
    est = estimate_simulation(process)
    label = max(est.parts, key=lambda p: p[1])[0]
    src = cfg.source
    if label.startswith("histories"):
        return (
            f"{src}: the run takes ~{simulation_sizes(process).steps:.2g} time steps at [numerics] cell_size_mm = "
            f"{n.cell_size_mm:g} mm; raise cell_size_mm or lower [numerics] max_steps = {n.max_steps}"
        )
    if label.startswith("~") and "snapshots" in label:
        return f"{src}: raise [numerics] output_interval_mm = {n.output_interval_mm:g} mm (travel between snapshots)"
    b = memory_budget() if budget is None else budget
    fit = _fitting_cell_size(process, b)
    advice = f"to at least {_round_up(fit)} mm" if fit is not None else "(no cell size up to 1 mm fits)"
    return (
        f"{src}: raise [numerics] cell_size_mm = {n.cell_size_mm:g} mm {advice}, "
        f"or make the hole smaller ([motion] depth_mm = {cfg.motion.depth_mm:g} mm"
        + (f", [workpiece] thickness_mm = {cfg.workpiece.thickness_mm:g} mm" if cfg.workpiece.thickness_mm else "")
        + ")"
    )


def _fitting_cell_size(process: Process, budget: Budget) -> float | None:
    """The smallest cell size (in steps of 10 %) whose run fits ``budget``, mm; None: none up to 1 mm."""
    from ecmsim.errors import ConfigError
    from ecmsim.process import resolve

    cfg = process.config
    h = cfg.numerics.cell_size_mm
    while h < 1.0:
        h = min(h * 1.1, 1.0)
        try:
            trial = resolve(cfg.replace({"numerics.cell_size_mm": float(f"{h:.4g}")}))
        except ConfigError:
            return None  # too coarse for the tool: the hole itself must be smaller
        if estimate_simulation(trial).memory_bytes <= budget.memory_bytes:
            return h
    return None


def _round_up(x: float) -> str:
    """``x`` rounded up to two significant digits, as text."""
    if x <= 0 or not math.isfinite(x):
        return f"{x:g}"
    scale = 10 ** (math.floor(math.log10(x)) - 1)
    return f"{math.ceil(x / scale) * scale:.3g}"


def check_simulation(process: Process, what: str = "the simulation") -> Estimate:
    """Estimate a run of ``process`` and refuse it beyond the budget (:func:`check_budget`)."""
    budget = memory_budget()
    est = estimate_simulation(process, what)
    if est.memory_bytes > budget.memory_bytes:
        check_budget(est, simulation_hint(process, budget), budget)
    return est


# ------------------------------------------------------------------ sweeps and studies
#: Bytes per planned point of a sweep: its row of the plan, its hash, its payload, its row of
#: results and of the sweep file built in memory (1.1 kB measured for the plan alone).
SWEEP_POINT_BYTES = 2000.0
#: Seconds to plan one point (resolve and hash its config).
SWEEP_POINT_SECONDS = 2.5e-4


def estimate_grid(process: Process, what: str) -> Estimate:
    """Memory of one grid of ``process`` and its solver, without the history of a transient run.

    For the equilibrium iteration, whose pseudo-travel is short: the full grid and the
    solver window, both of which it allocates whatever its number of steps.
    """
    s = simulation_sizes(process)
    grid = FULL_GRID_BYTES * s.nr * s.nz
    window = WINDOW_BYTES * s.nr * s.window_rows
    seconds = SECONDS_FIXED + SECONDS_PER_NODE_STEP * s.nr * s.window_rows * s.nz
    return Estimate(
        grid + window, seconds, f"{what} ({s.nr} x {s.nz} grid nodes)",
        ((f"grid of {s.nr} x {s.nz} nodes", grid), (f"solver window of {s.nr} x {s.window_rows} nodes", window)),
    )  # fmt: skip


def estimate_sweep(point: Estimate, n_points: int, workers: int) -> Estimate:
    """Memory and time of a sweep: ``workers`` points at a time, plus the plan and its results.

    Parameters
    ----------
    point
        The estimate of one point (its largest config).
    n_points
        Planned points.
    workers
        Points computed at the same time (processes).
    """
    table = SWEEP_POINT_BYTES * n_points
    running = point.memory_bytes * max(workers, 1)
    seconds = SWEEP_POINT_SECONDS * n_points + point.seconds_order * n_points / max(workers, 1)
    return Estimate(
        table + running, seconds, f"the sweep of {n_points} points on {workers} worker(s)",
        ((f"plan and results of {n_points} points", table), (f"{workers} point(s) at a time", running)),
    )  # fmt: skip


# ------------------------------------------------------------------ inspection batches
#: Bytes per part x hole x station of a batch: diameter, x and y deviations (float32) and the
#: device index (int16) in memory, and their image in the HDF5 file built in memory.
BATCH_VALUE_BYTES = 14.0 * 3
#: Bytes per text value read from a batch (serial numbers, times): the Python string and its list slot.
TEXT_VALUE_BYTES = 90.0
#: Seconds per part x hole x station to check and store (order of magnitude).
BATCH_VALUE_SECONDS = 5e-8


def estimate_import(n_parts: int, n_holes: int, n_stations: int, what: str) -> Estimate:
    """Memory and time of building a batch of ``n_parts`` x ``n_holes`` x ``n_stations`` measurements."""
    values = float(n_parts) * n_holes * n_stations
    dense = BATCH_VALUE_BYTES * values
    text = TEXT_VALUE_BYTES * 2 * n_parts
    return Estimate(
        dense + text, 1.0 + BATCH_VALUE_SECONDS * values,
        f"{what} ({n_parts} parts x {n_holes} holes x {n_stations} stations)",
        ((f"measurement arrays of {n_parts} x {n_holes} x {n_stations} values", dense),
         (f"serials and times of {n_parts} parts", text)),
    )  # fmt: skip
