"""Parameter sweeps: a grid or a Latin hypercube of configs, run side by side, resumable.

``--vary table.key=start:stop:n`` gives n evenly spaced values (grid),
``table.key=a,b,c`` a list, ``table.key=lo:hi`` a range for a Latin
hypercube of ``--samples N`` points (:class:`scipy.stats.qmc.LatinHypercube`).

Executors (numerics.md: parallelism comes from running simulations side by
side, one Numba thread each):

* ``serial``: in this process;
* ``pool`` (default with more than one worker): a
  :class:`concurrent.futures.ProcessPoolExecutor` of spawned processes with
  ``NUMBA_NUM_THREADS=1``; the JIT cache is warmed in the parent first, as
  concurrent cache writes have crashed workers;
* ``dask``: a running Dask distributed scheduler (``tcp://host:port``); the
  same worker function, Numba limited to one thread on every worker.

Each finished point goes to the journal at once and into the HDF5 file at
least every ``merge_every_s`` seconds and at the end (see
:mod:`ecmsim.io.sweep`): an interrupted sweep resumes without recomputing
finished points, matched by their parameter hash (SHA-256 of the point's
resolved config and the evaluation mode).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

import numpy as np

from ecmsim.config import ProcessConfig
from ecmsim.engineering.common import (
    ConfigLike,
    ExecutorError,
    Key,
    choose_mode,
    evaluate_config,
    key_changes,
    load,
    resolve_key,
    set_numba_threads,
)
from ecmsim.errors import ConfigError, EcmsimError, OutputError
from ecmsim.jsonable import to_jsonable

if TYPE_CHECKING:
    from ecmsim.io.sweep import SweepData

#: One evaluated point as the journal and the sweep file hold it: ``param_hash``, ``values``,
#: ``status``, ``message`` and every metric of :data:`~ecmsim.io.sweep.SWEEP_METRICS` (JSON values).
Row: TypeAlias = dict[str, Any]
ProgressFn = Callable[[int, int, float | None], None]
MAX_POINTS = 100_000


class Payload(TypedDict):
    """What a worker gets for one point: the base config, the point's changes to it, the mode."""

    config: ProcessConfig
    changes: dict[str, float]
    mode: str
    values: list[float]
    param_hash: str


Evaluate = Callable[[Payload], Row]


@dataclass(frozen=True)
class VarySpec:
    """One varied parameter: explicit values (grid/list) or a range (Latin hypercube)."""

    key: Key
    low: float
    high: float
    values: tuple[float, ...] | None  # None: a range for the Latin hypercube


def parse_vary(text: str, samples: int | None = None) -> VarySpec:
    """Parse ``table.key=start:stop:n``, ``table.key=a,b,c`` or (Latin hypercube) ``table.key=lo:hi``.

    Raises
    ------
    ConfigError
        Unknown key (with the nearest one), bad numbers, n < 1, values outside the schema range.
    """
    what = f"--vary {text!r}"
    if "=" not in text:
        raise ConfigError(f"{what}: expected table.key=start:stop:n (grid) or table.key=lo:hi (with --samples)")
    name, _, spec = text.partition("=")
    key = resolve_key(name, f"{what}:")
    spec = spec.strip()

    def num(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise ConfigError(f"{what}: {s.strip()!r} is not a number") from None
        if not math.isfinite(v):
            raise ConfigError(f"{what}: {s.strip()!r} is not a finite number")
        return v

    values: tuple[float, ...] | None
    if "," in spec:
        values = tuple(num(s) for s in spec.split(",") if s.strip())
        if not values:
            raise ConfigError(f"{what}: empty list of values")
        low, high = min(values), max(values)
    elif ":" in spec:
        parts = spec.split(":")
        if len(parts) == 2:
            low, high = num(parts[0]), num(parts[1])
            if samples is None:
                raise ConfigError(
                    f"{what}: a grid needs start:stop:n (e.g. {key.path}={parts[0]}:{parts[1]}:5); "
                    "a range lo:hi is for a Latin hypercube (--samples N)"
                )
            if not low < high:
                raise ConfigError(f"{what}: the range {low:g}:{high:g} is empty (need lo < hi)")
            values = None
        elif len(parts) == 3:
            low, high = num(parts[0]), num(parts[1])
            try:
                n = int(parts[2])
            except ValueError:
                raise ConfigError(f"{what}: the number of values {parts[2]!r} is not an integer") from None
            if n < 1:
                raise ConfigError(f"{what}: the number of values must be at least 1 (got {n})")
            if n == 1 and low != high:
                raise ConfigError(f"{what}: one value between {low:g} and {high:g}? use start:stop:n with n >= 2")
            if samples is not None:
                raise ConfigError(f"{what}: a Latin hypercube (--samples) takes ranges lo:hi; drop ':{n}'")
            values = tuple(float(v) for v in np.linspace(low, high, n))
        else:
            raise ConfigError(f"{what}: expected start:stop:n, lo:hi or a,b,c")
    else:
        values = (num(spec),)
        low = high = values[0]
    for v in (low, high):
        key.check(v, what)
    if key.kind == "int" and values is not None:
        values = tuple(float(round(v)) for v in values)
    return VarySpec(key, min(low, high), max(low, high), values)


def plan_points(specs: Sequence[VarySpec], samples: int | None = None, seed: int = 0) -> np.ndarray:
    """The planned points, (N, P): the full grid, or ``samples`` Latin-hypercube points."""
    if not specs:
        raise ConfigError("nothing to sweep: give at least one --vary table.key=start:stop:n")
    paths = [s.key.path for s in specs]
    dup = {p for p in paths if paths.count(p) > 1}
    if dup:
        raise ConfigError(f"--vary: {', '.join(sorted(dup))} is given more than once")
    if samples is not None:
        if samples < 1:
            raise ConfigError(f"--samples {samples}: need at least 1 point")
        from scipy.stats import qmc

        fixed = [s for s in specs if s.values is not None and len(s.values) > 1]
        if fixed:
            raise ConfigError(
                f"--vary {fixed[0].key.path}: a Latin hypercube takes ranges lo:hi (or one fixed value), not lists"
            )
        unit = qmc.LatinHypercube(d=len(specs), seed=np.random.default_rng(seed)).random(samples)
        lo = np.array([s.low for s in specs])
        hi = np.array([s.high for s in specs])
        pts = lo + unit * (hi - lo)
        for j, s in enumerate(specs):
            if s.key.kind == "int":
                pts[:, j] = np.round(pts[:, j])
        return pts
    n = math.prod(len(s.values or ()) for s in specs)
    if n > MAX_POINTS:
        raise ConfigError(f"--vary: the grid has {n} points; at most {MAX_POINTS} are allowed")
    grids = np.meshgrid(*[np.asarray(s.values, float) for s in specs], indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


def check_sweep_budget(
    cfg: ProcessConfig, mode: str, specs: Sequence[VarySpec], samples: int | None, workers: int
) -> None:
    """Refuse a sweep whose plan, results and running points need more memory than the budget.

    Each point is estimated at the corners of the parameter ranges (the largest grid
    among them), ``workers`` of them at a time (0: they run on a Dask cluster).
    Nothing is planned or run before this check.

    Raises
    ------
    ResourceError
        Naming the number of points (``--samples`` or the ``--vary`` grid) and ``--workers``.
    """
    from ecmsim.process import resolve
    from ecmsim.resources import (
        SWEEP_POINT_BYTES,
        check_budget,
        estimate_grid,
        estimate_simulation,
        estimate_sweep,
        memory_budget,
    )

    n = samples if samples is not None else math.prod(len(s.values or ()) for s in specs)
    if not specs or (n > MAX_POINTS and samples is None):
        return  # plan_points explains what is wrong
    points = []
    for corner in itertools.product(*[(s.low, s.high) for s in specs]):
        try:
            proc = resolve(cfg.replace(key_changes([s.key for s in specs], np.array(corner))))
        except EcmsimError:
            continue  # an invalid corner is recorded as such, it allocates nothing
        what = "one point"
        points.append(estimate_grid(proc, what) if mode == "equilibrium" else estimate_simulation(proc, what))
    if not points:
        return
    point = max(points, key=lambda e: e.memory_bytes)
    est = estimate_sweep(point, n, workers)
    size = f"--samples {samples}" if samples is not None else f"the --vary grid of {n} points"
    room = memory_budget().memory_bytes - point.memory_bytes * workers
    fit = f"at most about {int(room / SWEEP_POINT_BYTES):,} points fit" if room > 0 else "no point fits"
    check_budget(est, f"fewer points than {size} ({fit} with --workers {workers}), fewer --workers, or a "
                 "coarser [numerics] cell_size_mm (one point needs " + point.describe() + ")")  # fmt: skip


def point_hash(cfg: ProcessConfig, changes: dict[str, float], mode: str) -> str:
    """SHA-256 of the point's config (resolved when valid, else as given) and the evaluation mode."""
    try:
        doc = cfg.replace(changes, source="<sweep>").to_dict()
    except EcmsimError:
        doc = cfg.changed_document(changes)
    text = json.dumps({"config": doc, "mode": mode}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- the worker
def evaluate_point(payload: Payload) -> Row:
    """Evaluate one sweep point (the result is plain data: a journal row).

    Worker processes limit their Numba threads in their initializer
    (:func:`_init_pool_worker`, ``client.run`` on Dask); a serial sweep runs here
    in the caller's process, whose thread settings are left alone (changing them
    after Numba has launched its threads breaks later compilations).
    """
    row: Row = {"param_hash": payload["param_hash"], "values": list(payload["values"])}
    try:
        cfg = payload["config"].replace(payload["changes"])
    except EcmsimError as exc:
        from ecmsim.io.sweep import SWEEP_METRICS

        row.update({name: None for name in SWEEP_METRICS}, status="invalid", message=str(exc))
        return row
    status, message, metrics = evaluate_config(cfg, payload["mode"])
    row.update(to_jsonable(metrics), status=status, message=message)
    return row


def warm_jit(cfg: ProcessConfig, mode: str) -> None:
    """Compile (or load from the cache) every kernel a sweep point uses, in this process.

    Runs a tiny version of the bundled STEM example (coarse grid, shallow
    hole) with the sweep's potential solver, so that workers started
    afterwards only read the Numba cache.
    """
    from ecmsim.config import load_config
    from ecmsim.process import resolve
    from ecmsim.simulation import Simulation

    tiny = load_config(
        "example:stem-in718",
        [f"numerics.solver={json.dumps(cfg.numerics.solver)}", "numerics.cell_size_mm=0.05", "motion.depth_mm=0.4",
         "tool.bare_tip_length_mm=0.2", "motion.initial_gap_mm=0.1"],
    )  # fmt: skip
    Simulation(resolve(tiny)).run()
    if mode == "equilibrium":
        from ecmsim.kernels import levelset

        psi = np.ones((8, 8))
        levelset.redistance(psi, 1.0, 4.0, 1, np.empty_like(psi))


# --------------------------------------------------------------------------- executors
def _run_serial(payloads: list[Payload], evaluate: Evaluate) -> Iterator[Row]:
    for p in payloads:
        yield evaluate(p)


def _init_pool_worker() -> None:
    from ecmsim.interrupt import ignore_in_worker

    ignore_in_worker()  # a Ctrl-C stops the sweep in the main process, which then stops the workers
    set_numba_threads(1)


@contextlib.contextmanager
def workers_deaf_to_ctrl_c() -> Iterator[None]:
    """Block SIGINT and SIGHUP while worker processes may be started: they inherit the mask and never
    see a Ctrl-C (even during their start-up), which the main process handles by stopping them."""
    import signal

    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _run_pool(payloads: list[Payload], evaluate: Evaluate, workers: int) -> Iterator[Row]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads and open files
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_pool_worker)
    try:
        # Keep at most 2 tasks per worker queued: an interrupt then loses little work.
        pending = list(reversed(payloads))
        running: set[Future[Row]] = set()
        while pending or running:
            while pending and len(running) < 2 * workers:
                with workers_deaf_to_ctrl_c():
                    running.add(pool.submit(evaluate, pending.pop()))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    yield fut.result()
                except BrokenProcessPool:
                    raise ExecutorError(
                        "a sweep worker process died (out of memory or killed); finished points are kept, "
                        "run the same command again to resume"
                    ) from None
    except BaseException:
        # stopped (a signal, an error, the consumer gone): do not wait for points still running
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(payloads: list[Payload], evaluate: Evaluate, address: str, timeout: float) -> Iterator[Row]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ExecutorError("--scheduler needs Dask distributed: pip install 'ecmsim[dask]'") from None
    try:
        client = Client(address, timeout=f"{timeout:g}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"cannot connect to the Dask scheduler at {address}: {exc}") from None
    try:
        client.run(set_numba_threads, 1)
        futures = client.map(evaluate, payloads, pure=False)
        try:
            for fut in as_completed(futures, loop=client.loop):
                try:
                    yield fut.result()
                except Exception as exc:  # a worker died or raised: keep what is done, report
                    raise ExecutorError(f"a Dask task failed: {type(exc).__name__}: {exc}") from None
        finally:
            client.cancel(futures)
    finally:
        client.close()


# --------------------------------------------------------------------------- the sweep
@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did: the file, how many points were planned, skipped and computed."""

    path: Path
    planned: int
    skipped: int
    computed: int
    executor: str
    wall_clock_s: float


def run_sweep(
    config: ConfigLike, vary: Sequence[str | VarySpec], output: str | Path, *, samples: int | None = None,
    seed: int = 0, mode: str = "transient", overrides: Sequence[str] = (), workers: int | None = None,
    scheduler: str | None = None, progress: ProgressFn | None = None, evaluate: Evaluate = evaluate_point,
    merge_every_s: float = 10.0, warm: bool = True, scheduler_timeout: float = 10.0,
) -> SweepOutcome:  # fmt: skip
    """Run (or resume) a sweep and write it to ``output``.

    Parameters
    ----------
    config
        A config path (or ``example:NAME``) or a validated :class:`~ecmsim.config.ProcessConfig`.
    vary
        ``table.key=start:stop:n`` (grid), ``table.key=a,b,c`` or, with ``samples``, ``table.key=lo:hi``.
    output
        The sweep file (HDF5).  When it exists with the same base config and
        mode, the sweep resumes: points already there are not recomputed.
    samples, seed
        Points and seed of a Latin hypercube (``None``: the full grid).
    mode
        ``transient`` (drill each hole in time: taper and entry diameter),
        ``equilibrium`` (steady shape, coated tools) or ``auto``.
    overrides
        ``table.key=value`` strings applied to a config read from a file.
    workers
        Processes of the local pool (default: the number of CPUs); 1 runs in this process.
    scheduler
        ``tcp://host:port`` of a Dask scheduler: run the points there instead.
    progress
        Called as ``progress(done, total, seconds_left)`` after every point.
    evaluate
        The worker function (for tests); must be picklable for the pool and Dask.
    merge_every_s
        Seconds between merges of the journal into the sweep file.
    warm
        Compile the kernels in this process before starting workers.
    scheduler_timeout
        Seconds to wait for the Dask scheduler.
    """
    from ecmsim.qc.textfiles import check_output_folder

    t_start = time.perf_counter()
    out = check_output_folder(output)
    cfg = load(config, overrides)
    mode = choose_mode(cfg, mode)
    specs = [v if isinstance(v, VarySpec) else parse_vary(v, samples) for v in vary]
    check_sweep_budget(cfg, mode, specs, samples, 0 if scheduler is not None else (workers or os.cpu_count() or 1))
    plan = _Plan.build(cfg, mode, specs, samples, seed)
    recorder = _Recorder(out, plan)
    payloads = recorder.pending()
    executor = _Executor.choose(workers, scheduler, len(payloads))
    if payloads and warm and executor.name != "serial":
        warm_jit(cfg, plan.mode)
    stream = executor.run(payloads, evaluate, scheduler_timeout)
    recorder.record(stream, len(payloads), progress, merge_every_s)
    total = len(plan.unique)
    skipped = total - len(payloads)
    return SweepOutcome(out, total, skipped, recorder.computed, executor.name, time.perf_counter() - t_start)


@dataclass(frozen=True)
class _Plan:
    """The planned points of a sweep, their parameter hashes and the sweep record they go to."""

    cfg: ProcessConfig
    mode: str
    keys: list[Key]
    points: np.ndarray  # (N, P)
    hashes: list[str]  # (N,)
    sweep: SweepData

    @classmethod
    def build(
        cls, cfg: ProcessConfig, mode: str, vary: Sequence[str | VarySpec], samples: int | None, seed: int
    ) -> _Plan:
        from ecmsim.io.sweep import SweepData

        specs = [v if isinstance(v, VarySpec) else parse_vary(v, samples) for v in vary]
        pts = plan_points(specs, samples, seed)
        keys = [s.key for s in specs]
        hashes = [point_hash(cfg, key_changes(keys, row), mode) for row in pts]
        sweep = SweepData(
            mode=mode, design="lhs" if samples is not None else "grid", parameters=[k.path for k in keys],
            units=[k.unit for k in keys], base_config=cfg.raw_document(), base_config_hash=cfg.hash(),
            config_source=str(cfg.source), plan=pts, plan_hash=hashes, seed=seed, base_dir=str(cfg.base_dir),
        )  # fmt: skip
        return cls(cfg, mode, keys, pts, hashes, sweep)

    @property
    def unique(self) -> list[str]:
        """The distinct hashes in plan order (two planned points may be the same config)."""
        return list(self.first)

    @functools.cached_property
    def first(self) -> dict[str, int]:
        """Index of the first planned point of each distinct hash, in plan order."""
        first: dict[str, int] = {}
        for i, h in enumerate(self.hashes):
            first.setdefault(h, i)
        return first

    def payload(self, param_hash: str) -> Payload:
        """The worker's input for the first planned point of ``param_hash``."""
        row = self.points[self.first[param_hash]]
        return Payload(
            config=self.cfg, changes=key_changes(self.keys, row), mode=self.mode,
            values=[float(v) for v in row], param_hash=param_hash,
        )  # fmt: skip


class _Recorder:
    """The rows of a sweep: those already in the file or its journal, then each new one as it comes.

    Every new row goes to the journal at once; the rows are merged into the
    sweep file every ``merge_every_s`` and at the end, also on an interrupt.
    Other sweeps may extend the same file at the same time: journal appends and
    merges hold the folder's write lock (:func:`~ecmsim.io.common.output_lock`),
    and every merge first takes in the points the file and the journal hold at
    that moment, so no process's points are lost.
    """

    def __init__(self, out: Path, plan: _Plan) -> None:
        self.out, self.plan = out, plan
        self.rows: dict[str, Row] = {}
        self.computed = 0
        self.sweep_key = _sweep_key(plan.sweep)
        self.journal_rows = self._take_in(own=False)

    def _take_in(self, own: bool) -> int:
        """Add the points of the sweep file and its journal not known yet; the number from the journal.

        With ``own`` (a merge), this run's rows win over the file's, else the file's are read first.
        """
        from ecmsim.io.sweep import read_journal, read_sweep

        found: dict[str, Row] = {}
        if self.out.exists():
            old = read_sweep(self.out)
            _check_resumable(self.out, old, self.plan.sweep)
            found.update((r["param_hash"], r) for r in old.rows())
        planned = set(self.plan.hashes)
        from_journal = 0
        for r in read_journal(self.out):
            # Rows of this sweep (any run extending it), or of an older journal without the key but planned
            # here; a journal of another sweep (killed before its merge) has other keys or hashes: ignored.
            ours = r.get("sweep_key") == self.sweep_key or ("sweep_key" not in r and r["param_hash"] in planned)
            if ours and len(r["values"]) == len(self.plan.keys):
                found[r["param_hash"]] = r
                from_journal += 1
        if own:
            for h, r in found.items():
                self.rows.setdefault(h, r)
        else:
            self.rows.update(found)
        return from_journal

    def pending(self) -> list[Payload]:
        """Inputs of the planned points not finished yet, in plan order."""
        return [self.plan.payload(h) for h in self.plan.unique if h not in self.rows]

    def save(self) -> None:
        """Merge the rows (in plan order) into the sweep file; the journal is then empty."""
        from ecmsim.io.common import output_lock
        from ecmsim.io.sweep import journal_path, remove_journal, write_sweep

        with output_lock(self.out):
            self._take_in(own=True)  # points another sweep extending this file added meanwhile
            order = {h: i for i, h in enumerate(self.plan.unique)}
            rows = sorted(self.rows.values(), key=lambda r: order.get(r["param_hash"], len(order)))
            self.plan.sweep.set_rows(rows)
            try:
                write_sweep(self.out, self.plan.sweep)
            except OutputError as exc:
                journal = journal_path(self.out)
                if not journal.exists():
                    raise
                raise OutputError(
                    f"{exc}; the finished points are kept in {journal}: run the same command again to resume"
                ) from None
            remove_journal(self.out)

    def append(self, row: Row) -> None:
        """Journal one finished point (under the folder's write lock, so no merge drops it)."""
        from ecmsim.io.common import output_lock
        from ecmsim.io.sweep import append_journal

        row = {**row, "sweep_key": self.sweep_key}
        with output_lock(self.out):
            append_journal(self.out, row)
        self.rows[row["param_hash"]] = row

    def record(self, stream: Iterator[Row], pending: int, progress: ProgressFn | None, merge_every_s: float) -> None:
        """Take the rows of ``stream`` (``pending`` of them) as they finish, reporting progress."""
        total = len(self.plan.unique)
        skipped = total - pending
        if progress is not None:
            progress(skipped, total, None)
        last_merge = time.monotonic()
        t_run = time.perf_counter()
        try:
            for row in stream:
                self.append(row)
                self.computed += 1
                if progress is not None:
                    rate = (time.perf_counter() - t_run) / self.computed
                    progress(skipped + self.computed, total, rate * (pending - self.computed))
                if time.monotonic() - last_merge > merge_every_s:
                    self.save()
                    last_merge = time.monotonic()
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            if self.computed or self.journal_rows:
                self.save()  # also on an interrupt: everything finished so far is in the file


@dataclass(frozen=True)
class _Executor:
    """Where the points run: ``serial`` (this process), a pool of processes, or a Dask scheduler."""

    name: str
    processes: int = 1
    scheduler: str | None = None

    @classmethod
    def choose(cls, workers: int | None, scheduler: str | None, pending: int) -> _Executor:
        n_workers = workers if workers is not None else (os.cpu_count() or 1)
        if n_workers < 1:
            raise ConfigError(f"--workers {n_workers}: need at least 1")
        if scheduler is not None:
            return cls(f"dask {scheduler}", scheduler=scheduler)
        if n_workers > 1 and pending > 1:
            n = min(n_workers, pending)
            return cls(f"pool of {n} processes", processes=n)
        return cls("serial")

    def run(self, payloads: list[Payload], evaluate: Evaluate, timeout: float) -> Iterator[Row]:
        """The rows of ``payloads`` as they finish (a generator: nothing runs before the first is asked for)."""
        if self.scheduler is not None:
            return _run_dask(payloads, evaluate, self.scheduler, timeout)
        if self.processes == 1:
            return _run_serial(payloads, evaluate)
        return _run_pool(payloads, evaluate, self.processes)


def _sweep_key(sweep: SweepData) -> str:
    """What makes two runs the same sweep (extendable into one file): mode, base config, parameters."""
    text = json.dumps([sweep.mode, sweep.base_config_hash, sweep.parameters])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_resumable(path: Path, old: SweepData, new: SweepData) -> None:
    if old.mode != new.mode or old.base_config_hash != new.base_config_hash or old.parameters != new.parameters:
        what = []
        if old.mode != new.mode:
            what.append(f"mode {old.mode} (now {new.mode})")
        if old.base_config_hash != new.base_config_hash:
            what.append("a different base config")
        if old.parameters != new.parameters:
            what.append(f"parameters {', '.join(old.parameters)} (now {', '.join(new.parameters)})")
        raise ConfigError(
            f"{path} holds another sweep ({'; '.join(what)}); it cannot be resumed with these settings. "
            "Choose another output file (-o) or delete this one."
        )
