"""Process statistics over inspection batches: capability, control charts, residual drift and attribution.

What is monitored (``docs/spc.md`` has the reasoning):

* a **series** is one toleranced characteristic of one hole group, as the
  deviation from its nominal (mm, or deg for taper); groups are the holes of
  one electrode, so their statistics are not mixed;
* **capability** uses the individual values (every hole and station), so the
  expected fraction out of specification is per decision; the short-term
  sigma is the pooled within-part sigma (a part is the rational subgroup),
  the overall sigma is that of all values;
* **control charts** plot one value per part, the part mean of the series
  (Wheeler's "three-way" logic: the holes of one part are not independent
  repeats of the process, so limits from within-part scatter would flag
  every part); parts are in file order, batches in the order given; they
  are charted individually (I-MR, default) or in subgroups of N
  consecutive parts, or of consecutive parts sharing a batch field
  (X̄-R up to 10 parts, X̄-S above);
* with predictions, **residual** series (measured − predicted diameter):
  per part the mean offset over all holes and per hole group, and the
  taper error (mean least-squares slope of the residual over depth); EWMA
  and CUSUM detect sustained drifts on them; a signal is **attributed** to
  the factor whose levels drift differently (electrode/hole group, row,
  zone along x, station depth), or called uniform.

Batches are streamed part block by part block (like :mod:`ecmsim.qc.check`):
per part only sums are kept, plus a systematic sample of at most
:data:`MAX_SAMPLE` individual values per series for the normality test and
the non-normal methods.  Loops are per series, chart and block, never per value.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecmsim.errors import EXIT_OK, EXIT_REJECTED, ConfigError, InputDataError
from ecmsim.io.batch import BATCH_FIELDS, Design, open_batch
from ecmsim.io.common import sha256_file
from ecmsim.io.spc_limits import FrozenLimit, SpcLimits, read_spc_limits
from ecmsim.qc.capability import Capability, add_non_normal_indices, build_capability, pooled_sigma
from ecmsim.qc.charts import (
    CHARTS,
    CUSUM_H,
    CUSUM_K,
    EWMA_L,
    EWMA_LAMBDA,
    RULE_SETS,
    RULES,
    SIGMA_METHODS,
    Chart,
    ChartPanel,
    calibrate_cusum,
    calibrate_ewma,
    chart,
    count_chart,
    estimate_with_method,
    family_alpha,
    within_chart,
)
from ecmsim.qc.check import Predictions, _residual_stats, load_predictions, report_json
from ecmsim.qc.spec import CHARACTERISTICS, Spec, load_spec

#: Individual values kept per series for the normality test and the non-normal methods.
MAX_SAMPLE = 200_000
#: Factors a residual drift is attributed to, in reporting priority.
FACTORS = ("electrode", "row", "zone", "depth")
#: Significance level of the attribution test (differences of drift between the levels of a factor).
ATTRIBUTION_ALPHA = 0.01
#: Default family-wise false-alarm probability: per characteristic family, the chance that a stable
#: process gives at least one signal over the analysed parts (``auto`` rules).
ALARM_RATE = 0.01


# --------------------------------------------------------------------------- options
@dataclass
class SpcOptions:
    """What to chart and how (CLI options map one to one)."""

    charts: tuple[str, ...] = ()  # () = automatic (Shewhart chart by subgroup size)
    rules: tuple[str, ...] = RULE_SETS["auto"]
    subgroup: str = "1"  # parts per subgroup, or a batch field (batch_id, machine, electrode, …)
    confidence: float = 0.95
    drift: tuple[str, ...] = ("ewma", "cusum")
    lam: float = EWMA_LAMBDA
    L: float | None = None  # None: calibrated to the family-wise rate (auto rules) or EWMA_L
    k: float = CUSUM_K
    h: float | None = None  # None: calibrated (auto rules) or CUSUM_H
    alarm_rate: float = ALARM_RATE  # family-wise false-alarm probability per characteristic family and run

    @property
    def auto_rules(self) -> bool:
        """The default rules: probability limits from the family-wise false-alarm rate."""
        return self.rules == RULE_SETS["auto"]

    def subgroup_size(self) -> int | None:
        return int(self.subgroup) if self.subgroup.isdigit() else None

    def validate(self) -> None:
        n = self.subgroup_size()
        if n is None and self.subgroup not in BATCH_FIELDS:
            raise ConfigError(
                f"--subgroup {self.subgroup!r}: give a number of parts (1, 5, …) or a batch field "
                f"({', '.join(BATCH_FIELDS)})"
            )
        if n is not None and n < 1:
            raise ConfigError(f"--subgroup {n}: must be ≥ 1")
        bad = [c for c in self.charts if c not in CHARTS]
        if bad:
            raise ConfigError(f"--chart {bad[0]!r}: allowed: {', '.join(CHARTS)}")
        if n == 1 and any(c in ("xbar-r", "xbar-s") for c in self.charts):
            raise ConfigError("--chart xbar-r/xbar-s need subgroups: give --subgroup N (N ≥ 2) or a batch field")
        if n != 1 and "imr" in self.charts:
            raise ConfigError("--chart imr charts individual parts: use it with --subgroup 1")
        if not 0 < self.lam <= 1:
            raise ConfigError(f"EWMA lambda {self.lam}: must be in (0, 1]")
        for name, v in (("EWMA L", self.L), ("CUSUM k", self.k), ("CUSUM h", self.h)):
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name} = {v}: must be > 0")
        if not 0 < self.alarm_rate < 0.5:
            raise ConfigError(f"--alarm-rate {self.alarm_rate}: must be in (0, 0.5)")


# --------------------------------------------------------------------------- series definitions
@dataclass
class SeriesDef:
    """One monitored series: a characteristic of a hole group with uniform specification limits.

    Values are the measured values (mm, or deg for taper), not deviations from a nominal, so the
    non-normal capability methods see the data as measured.  ``ref`` is a scalar subtracted inside
    the streaming sums only (to keep sums of squares precise) and added back to every result.
    """

    key: str
    characteristic: str
    group: str
    unit: str
    lsl: float | None  # measured-value limits (absolute)
    usl: float | None
    mask: np.ndarray  # (H,) or (H, S) bool: which values belong to the series
    nominal: float  # mean nominal of the series' values (for descriptions; NaN without one)
    ref: float  # shift of the streaming sums (the nominal, or 0)


def _series_defs(spec: Spec, design: Design) -> list[SeriesDef]:
    rspec = spec.resolve(design)
    groups = np.asarray(design.group)
    has = design.station_mask.any(axis=1)
    out: list[SeriesDef] = []
    for char, unit in CHARACTERISTICS.items():
        lim = rspec.limits[char]
        spec_mask = lim.specified & (design.station_mask if char == "diameter" else has)
        if not spec_mask.any():
            continue
        lo_all, hi_all = np.round(lim.lo, 9), np.round(lim.hi, 9)
        for g in design.groups():
            gm = groups == g
            m = spec_mask & (gm[:, None] if char == "diameter" else gm)
            if not m.any():
                continue
            pairs = np.stack([lo_all[m], hi_all[m]], axis=1)
            uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
            inv = inv.ravel()
            for j, (lo, hi) in enumerate(uniq.tolist()):
                mm = np.zeros_like(m)
                mm[m] = inv == j
                nom = lim.nominal[mm]
                nominal = float(np.mean(nom[np.isfinite(nom)])) if np.isfinite(nom).any() else math.nan
                key = f"{char}:{g}" + (f":{j + 1}" if len(uniq) > 1 else "")
                out.append(
                    SeriesDef(
                        key=key,
                        characteristic=char,
                        group=g,
                        unit=unit,
                        lsl=None if not math.isfinite(lo) else float(lo),
                        usl=None if not math.isfinite(hi) else float(hi),
                        mask=mm,
                        nominal=nominal,
                        ref=nominal if math.isfinite(nominal) else 0.0,
                    )
                )
    return out


def _values(m: dict[str, np.ndarray], design: Design) -> dict[str, np.ndarray]:
    """Characteristic values of a block of parts: diameter (p, H, S), the others (p, H); mm or deg."""
    dia = m["diameter"].astype(float)
    sm = design.station_mask
    has = sm.any(axis=1)
    i_entry = np.argmax(sm, axis=1)
    i_exit = sm.shape[1] - 1 - np.argmax(sm[:, ::-1], axis=1)
    rows = np.arange(design.n_holes)
    z = design.station_depth
    length = np.where(has, z[i_exit] - z[i_entry], 0.0)
    de = np.where(has, dia[:, rows, i_entry], np.nan)
    dx = np.where(has, dia[:, rows, i_exit], np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        taper = np.degrees(np.arctan((de - dx) / (2.0 * np.where(length > 0, length, np.nan))))
        pos = np.fmax.reduce(2.0 * np.hypot(m["x_dev"].astype(float), m["y_dev"].astype(float)), axis=2)
    depth = np.where(m["blocked"], np.nan, m["depth"].astype(float))
    return {
        "diameter": dia,
        "entry_diameter": de,
        "exit_diameter": dx,
        "taper": taper,
        "position": pos,
        "depth": depth,
    }


# --------------------------------------------------------------------------- accumulators
@dataclass
class _Acc:
    """Streaming sums of one series: per part, overall, and a systematic sample."""

    n_parts: int
    stride: int
    count: np.ndarray = field(init=False)
    total: np.ndarray = field(init=False)
    sumsq: np.ndarray = field(init=False)
    seen: int = 0
    below: int = 0
    above: int = 0
    sample: list[np.ndarray] = field(default_factory=list)
    blocked: np.ndarray | None = None  # blocked holes per part (depth series only)

    def __post_init__(self) -> None:
        self.count = np.zeros(self.n_parts, np.int64)
        self.total = np.zeros(self.n_parts)
        self.sumsq = np.zeros(self.n_parts)

    def add(self, a: int, v: np.ndarray, sd: SeriesDef) -> None:
        """``v`` (p, …) measured values minus ``sd.ref``, NaN outside the series."""
        fin = np.isfinite(v)
        axes = tuple(range(1, v.ndim))
        v0 = np.where(fin, v, 0.0)
        b = a + v.shape[0]
        self.count[a:b] += fin.sum(axis=axes)
        self.total[a:b] += v0.sum(axis=axes)
        self.sumsq[a:b] += (v0 * v0).sum(axis=axes)
        flat = v[fin]
        if sd.lsl is not None:
            self.below += int((flat < sd.lsl - sd.ref).sum())
        if sd.usl is not None:
            self.above += int((flat > sd.usl - sd.ref).sum())
        pos = self.seen + np.arange(flat.size)
        self.sample.append(flat[pos % self.stride == 0])
        self.seen += flat.size

    def part_means(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / np.maximum(self.count, 1), np.nan)


# --------------------------------------------------------------------------- results
@dataclass
class SeriesResult:
    """Capability and charts of one series."""

    key: str
    characteristic: str
    group: str
    unit: str
    kind: str  # "characteristic" | "residual"
    description: str
    values: np.ndarray  # per-part value (P,)
    capability: Capability | None
    charts: dict[str, Chart]
    frozen: dict[str, bool]  # chart → limits came from a limits file
    labels: list[str]  # one per chart point (subgroup label)
    notes: list[str] = field(default_factory=list)
    sample: np.ndarray | None = None  # the individual values (or a systematic sample) of the capability

    @property
    def in_control(self) -> bool:
        return all(c.in_control for c in self.charts.values())


@dataclass
class SpcRun:
    """The outcome of one ``qc spc`` run."""

    spec: Spec
    options: SpcOptions
    phase: str  # "I" | "II"
    batches: list[dict[str, Any]]
    serials: list[str]
    series: list[SeriesResult]
    residuals: dict[str, Any] | None
    predictions: Predictions
    limits: SpcLimits | None
    analysed_at: str
    notes: list[str] = field(default_factory=list)

    @property
    def in_control(self) -> bool:
        return all(s.in_control for s in self.series)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.in_control else EXIT_REJECTED

    def verdict(self) -> dict[str, Any]:
        """Signals counted per series and panel, and the number a stable process would give by chance."""
        by_series: dict[str, dict[str, int]] = {}
        n_charts = 0
        expected = 0.0
        for s in self.series:
            for kind, c in s.charts.items():
                n_charts += 1
                expected += c.expected_false_alarms if math.isfinite(c.expected_false_alarms) else 0.0
                for p in c.panels:
                    k = int(p.any_signal().sum())
                    if k:
                        by_series.setdefault(s.key, {})[f"{kind} {p.name}"] = k
        n = sum(sum(v.values()) for v in by_series.values())
        rules = (
            f"probability limits, family-wise false-alarm rate {self.options.alarm_rate:g} per characteristic family"
            if self.options.auto_rules
            else "rules " + ",".join(self.options.rules) + " (3σ limits; the false-alarm rate grows with every chart)"
        )
        return {
            "in_control": self.in_control,
            "n_signals": n,
            "n_series": len(self.series),
            "n_charts": n_charts,
            "signals_by_series": by_series,
            "expected_chance_signals": expected,
            "rules": rules,
            "families": sorted({FAMILIES[s.characteristic] for s in self.series}),
        }

    def verdict_line(self) -> str:
        """One line: in or out of control, how many signals on what, and how many chance would give."""
        v = self.verdict()
        chance = f"{v['expected_chance_signals']:.2g} expected by chance with {v['rules']}"
        if v["in_control"]:
            return f"IN STATISTICAL CONTROL: no signal on {v['n_charts']} charts of {v['n_series']} series; {chance}"
        what = "; ".join(
            f"{key} ({', '.join(f'{panel} {k}' for panel, k in panels.items())})"
            for key, panels in list(v["signals_by_series"].items())[:8]
        )
        more = f"; … {len(v['signals_by_series']) - 8} more series" if len(v["signals_by_series"]) > 8 else ""
        return (
            f"OUT OF CONTROL: {v['n_signals']} signal(s) on {len(v['signals_by_series'])} of {v['n_series']} "
            f"series: {what}{more}; {chance} (exit code 1)"
        )

    def frozen_limits(self, frozen_at: str | None = None) -> SpcLimits:
        """The Phase I parameters of every chart, to be written with ``write_spc_limits``."""
        out = []
        for s in self.series:
            for kind, c in s.charts.items():
                out.append(
                    FrozenLimit(
                        key=s.key,
                        characteristic=s.characteristic,
                        group=s.group,
                        unit=s.unit,
                        chart=kind,
                        mu=c.mu,
                        sigma=c.sigma,
                        subgroup_size=float(np.median(c.n[c.n > 0])) if (c.n > 0).any() else math.nan,
                        n_points=int(c.n.size),
                        n_signals=len(c.signal_list()),
                        params=dict(c.params),
                    )
                )
        return SpcLimits(
            limits=out,
            sources=[(b["path"], b["sha256"]) for b in self.batches],
            spec_file=self.spec.source,
            spec_sha256=self.spec.sha256,
            rules=self.options.rules,
            subgroup=self.options.subgroup,
            frozen_at=frozen_at or self.analysed_at,
            alarm_rate=self.options.alarm_rate if self.options.auto_rules else math.nan,
        )

    def to_json(self) -> dict[str, Any]:
        """The run as JSON-ready values (``qc spc --json``; NaN as null)."""
        return report_json(
            "ecmsim-qc-spc-report",
            {
                "analysed_at": self.analysed_at,
                "phase": self.phase,
                "limits_file": self.limits.path if self.limits else None,
                "spec": {"path": self.spec.source, "sha256": self.spec.sha256, "name": self.spec.name},
                "predictions": [
                    {"path": p, "sha256": h}
                    for p, h in zip(self.predictions.paths, self.predictions.sha256, strict=True)
                ],
                "rules": {r: RULES[r] for r in self.options.rules},
                "subgroup": self.options.subgroup,
                "batches": self.batches,
                "n_parts": len(self.serials),
                "in_control": self.in_control,
                "exit_code": self.exit_code,
                "verdict": {**self.verdict(), "line": self.verdict_line()},
                "alarm_rate": self.options.alarm_rate if self.options.auto_rules else None,
                "series": [_series_json(s, self.serials) for s in self.series],
                "residuals": self.residuals,
                "notes": self.notes,
            },
        )


def _varies(a: np.ndarray) -> bool:
    f = a[np.isfinite(a)]
    return bool(f.size and np.ptp(f) > 0)


def _floats(a: np.ndarray) -> list[float | None]:
    return [float(x) if math.isfinite(x) else None for x in np.asarray(a, float).tolist()]


def _panel_json(p: ChartPanel) -> dict[str, Any]:
    """A panel with its values, centre, limits and rule hits at every point (NaN/inf as null)."""
    hits: list[list[str]] = [[] for _ in range(p.values.size)]
    for rule, sig in p.signals.items():
        for i in np.nonzero(sig)[0].tolist():
            hits[i].append(rule)
    return {
        "name": p.name,
        "center": float(p.center[0]) if p.center.size else None,
        "lcl": float(p.lcl[0]) if p.lcl.size and math.isfinite(p.lcl[0]) else None,
        "ucl": float(p.ucl[0]) if p.ucl.size and math.isfinite(p.ucl[0]) else None,
        "limits_vary": _varies(p.lcl) or _varies(p.ucl),
        "rules": list(p.rules),
        "points": {
            "value": _floats(p.values),
            "center": _floats(p.center),
            "lcl": _floats(p.lcl),
            "ucl": _floats(p.ucl),
            "sigma": _floats(p.sigma),
            "rule_hits": hits,
        },
    }


def _series_json(s: SeriesResult, serials: list[str]) -> dict[str, Any]:
    charts = {}
    for kind, c in s.charts.items():
        sig = c.signal_list()
        first = c.first_signal()
        for r in sig:
            r["subgroup"] = s.labels[r["index"]] if r["index"] < len(s.labels) else None
        charts[kind] = {
            "mu": c.mu,
            "sigma": c.sigma,
            "sigma_method": SIGMA_METHODS.get(c.sigma_method, c.sigma_method),
            "frozen": s.frozen.get(kind, False),
            "params": c.params,
            "alpha_per_point": c.alpha,
            "expected_chance_signals": c.expected_false_alarms,
            "points": s.labels,
            "subgroup_size": c.n.tolist(),
            "panels": [_panel_json(p) for p in c.panels],
            "in_control": c.in_control,
            "first_signal": first,
            "first_signal_subgroup": s.labels[first] if first is not None else None,
            "n_signals": len(sig),
            "signals": sig[:200],
        }
    return {
        "key": s.key,
        "characteristic": s.characteristic,
        "family": FAMILIES[s.characteristic],
        "group": s.group,
        "unit": s.unit,
        "kind": s.kind,
        "description": s.description,
        "in_control": s.in_control,
        "capability": s.capability.to_dict() if s.capability else None,
        "charts": charts,
        "notes": s.notes,
    }


# --------------------------------------------------------------------------- subgrouping
def _subgroup_bounds(p_: int, part_field: list[str], opts: SpcOptions) -> tuple[np.ndarray, np.ndarray]:
    """First part and one-past-last part of every chart point."""
    n = opts.subgroup_size()
    if n == 1:
        starts = np.arange(p_)
    elif n is not None:
        starts = np.arange(0, p_, n)
    else:  # consecutive parts sharing the field value
        f = np.asarray(part_field, dtype=object)
        change = np.ones(p_, bool)
        change[1:] = f[1:] != f[:-1]
        starts = np.nonzero(change)[0]
    return starts, np.append(starts[1:], p_)


def _subgroups(
    values: np.ndarray, part_field: list[str], opts: SpcOptions, serials: list[str]
) -> tuple[np.ndarray, list[str]]:
    """1-D (individuals) or 2-D (subgroups × parts, NaN-padded) values and a label per point."""
    n = opts.subgroup_size()
    p_ = values.size
    if n == 1:
        return values, list(serials)
    starts, ends = _subgroup_bounds(p_, part_field, opts)
    size = int((ends - starts).max()) if starts.size else 1
    idx = starts[:, None] + np.arange(size)[None, :]
    ok = idx < ends[:, None]
    out = np.where(ok, values[np.minimum(idx, p_ - 1)], np.nan)
    if n is not None:
        labels = [
            f"{serials[a]}…{serials[b - 1]}" if b - a > 1 else serials[a] for a, b in zip(starts, ends, strict=True)
        ]
    else:
        labels = [f"{part_field[a]} ({serials[a]}…{serials[b - 1]})" for a, b in zip(starts, ends, strict=True)]
    return out, labels


def _chart_kinds(opts: SpcOptions, values2: np.ndarray, residual: bool) -> tuple[str, ...]:
    if opts.charts:
        kinds = list(opts.charts)
    else:
        a = np.asarray(values2)
        if a.ndim == 1:
            kinds = ["imr"]
        else:
            nmax = int(np.isfinite(a).sum(axis=1).max()) if a.size else 1
            kinds = ["xbar-r" if nmax <= 10 else "xbar-s"]
    if residual:
        kinds += [d for d in opts.drift if d not in kinds]
    return tuple(kinds)


#: Characteristic families: the false-alarm rate is controlled per family (values of one family come
#: from the same measurements, e.g. every diameter-based characteristic).
FAMILIES = {
    "diameter": "diameter",
    "entry_diameter": "diameter",
    "exit_diameter": "diameter",
    "taper": "diameter",
    "position": "position",
    "depth": "depth",
    "residual_offset": "residual",
    "residual_taper_error": "residual",
}
_TESTS_PER_POINT = {"imr": 2, "xbar-r": 2, "xbar-s": 2, "ewma": 1, "cusum": 1, "within": 1, "blocked": 1}


@dataclass
class _Pending:
    """A series before its charts: values per point, chart kinds, capability (computed already)."""

    key: str
    characteristic: str
    group: str
    unit: str
    kind: str
    description: str
    values: np.ndarray  # per part
    capability: Capability | None
    values2: np.ndarray  # per chart point (1-D) or subgroup × parts (2-D)
    labels: list[str]
    kinds: tuple[str, ...]
    log_s: np.ndarray | None  # ln of the within-part standard deviation per point, or None
    notes: list[str] = field(default_factory=list)
    blocked: np.ndarray | None = None  # blocked holes per point (depth series)
    sample: np.ndarray | None = None  # individual values behind the capability

    @property
    def n_points(self) -> int:
        return len(self.labels)

    @property
    def tests(self) -> int:
        kinds = self.kinds + (("within",) if self.log_s is not None else ())
        kinds += ("blocked",) if self.blocked is not None else ()
        return self.n_points * sum(_TESTS_PER_POINT[k] for k in kinds)


def family_alphas(pending: Sequence[_Pending], opts: SpcOptions) -> dict[str, float | None]:
    """Per-point false-alarm probability of each family's tests (``None`` with explicit run rules)."""
    if not opts.auto_rules:
        return {f: None for f in FAMILIES.values()}
    tests: dict[str, int] = {}
    for p in pending:
        fam = FAMILIES[p.characteristic]
        tests[fam] = tests.get(fam, 0) + p.tests
    return {f: family_alpha(opts.alarm_rate, tests.get(f, 0)) for f in set(FAMILIES.values())}


def _finish(p: _Pending, opts: SpcOptions, limits: SpcLimits | None, alpha: float | None) -> SeriesResult:
    """Build the charts of a pending series (frozen parameters in Phase II)."""
    notes = list(p.notes)
    charts, frozen = _make_charts(p.key, p.values2, p.kinds, opts, limits, notes, alpha)
    if p.log_s is not None and np.isfinite(p.log_s).sum() >= 3:
        fl = limits.get(p.key, "within") if limits is not None else None
        if limits is not None and fl is None:
            notes.append(f"within: no frozen limits for {p.key} in {limits.path}; Phase I estimate used")
        c = within_chart(p.log_s, fl.mu if fl else None, fl.sigma if fl else None, alpha)
        if math.isfinite(c.sigma) and c.sigma > 0:
            charts["within"] = c
            frozen["within"] = fl is not None
    if p.blocked is not None:
        fl = limits.get(p.key, "blocked") if limits is not None else None
        charts["blocked"] = count_chart(p.blocked, fl.mu if fl else None, alpha)
        frozen["blocked"] = fl is not None
    return SeriesResult(p.key, p.characteristic, p.group, p.unit, p.kind, p.description, p.values, p.capability,
                        charts, frozen, p.labels, notes, p.sample)  # fmt: skip


def _drift_params(
    kind: str, key: str, opts: SpcOptions, limits: SpcLimits | None, alpha: float | None, n_points: int
) -> dict[str, float]:
    """λ, L (EWMA) or k, h (CUSUM): frozen in Phase II; else the options, L and h calibrated under auto rules."""
    fl = limits.get(key, kind) if limits is not None else None
    if fl is not None and fl.params:
        return dict(fl.params)
    p_any = None if alpha is None else -math.expm1(n_points * math.log1p(-alpha))  # the chart's share of the rate
    if kind == "ewma":
        L = opts.L
        if L is None:
            L = EWMA_L if p_any is None else calibrate_ewma(opts.lam, n_points, p_any)
        return {"lambda": opts.lam, "L": L}
    h = opts.h
    if h is None:
        h = CUSUM_H if p_any is None else calibrate_cusum(opts.k, n_points, p_any)
    return {"k": opts.k, "h": h}


def _make_charts(
    key: str,
    values2: np.ndarray,
    kinds: tuple[str, ...],
    opts: SpcOptions,
    limits: SpcLimits | None,
    notes: list[str],
    alpha: float | None = None,
) -> tuple[dict[str, Chart], dict[str, bool]]:
    charts: dict[str, Chart] = {}
    frozen: dict[str, bool] = {}
    a = np.asarray(values2, float)
    for kind in kinds:
        mu = sigma = None
        if limits is not None:
            fl = limits.get(key, kind)
            if fl is None:
                notes.append(f"{kind}: no frozen limits for {key} in {limits.path}; Phase I estimate used")
            else:
                mu, sigma = fl.mu, fl.sigma
        if kind in ("imr",) and a.ndim != 1:
            continue
        if kind in ("xbar-r", "xbar-s") and a.ndim != 2:
            continue
        if np.isfinite(a).sum() < 2:
            notes.append(f"{kind}: fewer than two values, no chart")
            continue
        drift = _drift_params(kind, key, opts, limits, alpha, a.shape[0]) if kind in ("ewma", "cusum") else {}
        c = chart(
            kind,
            a,
            mu=mu,
            sigma=sigma,
            rules=opts.rules,
            lam=drift.get("lambda", opts.lam),
            L=drift.get("L", EWMA_L),
            k=drift.get("k", opts.k),
            h=drift.get("h", CUSUM_H),
            alpha=alpha,
        )
        if not (math.isfinite(c.sigma) and c.sigma > 0):
            notes.append(f"{kind}: sigma is zero or undefined (constant data), no chart")
            continue
        charts[kind] = c
        frozen[kind] = mu is not None
    return charts, frozen


# --------------------------------------------------------------------------- the analysis
def run_spc(
    batch_paths: Sequence[str | Path],
    spec_path: str | Path,
    prediction_paths: Sequence[str | Path] = (),
    limits_path: str | Path | None = None,
    options: SpcOptions | None = None,
    analysed_at: str | None = None,
    progress: Callable[[int, int, float | None], None] | None = None,
) -> SpcRun:
    """Capability, control charts and residual monitoring of the parts of ``batch_paths`` (in order).

    Phase I (no ``limits_path``): limits are estimated from these parts.
    Phase II: the frozen parameters of ``limits_path`` are used.  The inputs are only read.
    ``progress(done, total, None)`` is called after every batch read and every series analysed.

    Raises
    ------
    ConfigError
        Bad spec or options.
    InputDataError
        Unreadable or inconsistent batches, predictions or limits file.
    """
    opts = options or SpcOptions()
    opts.validate()
    if not batch_paths:
        raise InputDataError("no inspection batch given")
    spec = load_spec(spec_path)
    preds = load_predictions(prediction_paths)
    limits = read_spc_limits(limits_path) if limits_path is not None else None
    now = analysed_at or datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    design, metas, p_total = _survey_batches(batch_paths, spec)
    stream = _SpcStream(design, spec, preds, metas, p_total, opts, str(batch_paths[0]))
    steps = len(batch_paths) + 2 * len(stream.defs) + (1 if stream.residuals is not None else 0)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, steps, None)

    for path, meta in zip(batch_paths, metas, strict=True):
        stream.add_batch(path, meta)
        step()
    stream.check_serials()
    pending = []
    for sd in stream.defs:
        pending.append(_prepare_characteristic(sd, stream.accs[sd.key], opts, stream.part_field, stream.serials))
        step()
    alphas = family_alphas(pending, opts)
    series = []
    for p in pending:
        series.append(_finish(p, opts, limits, alphas[FAMILIES[p.characteristic]]))
        step()
    residuals = None
    if stream.residuals is not None:
        rs, residuals = stream.residuals.finish(opts, limits, stream.part_field, stream.serials, spec)
        series += rs
        step()
    run = SpcRun(
        spec=spec,
        options=opts,
        phase="II" if limits is not None else "I",
        batches=stream.batches,
        serials=stream.serials,
        series=series,
        residuals=residuals,
        predictions=preds,
        limits=limits,
        analysed_at=now,
    )
    run.notes += _run_notes(spec, opts, limits, stream.pred_src)
    return run


def _survey_batches(batch_paths: Sequence[str | Path], spec: Spec) -> tuple[Design, list[dict[str, str]], int]:
    """The common design, every batch's metadata (checked against the spec) and the number of parts.

    Nothing but the headers is read: a batch that does not fit fails before any measurement is.
    """
    design: Design | None = None
    metas: list[dict[str, str]] = []
    n_parts = 0
    for path in batch_paths:
        with open_batch(path) as r:
            for key in ("part_number", "drawing_revision"):
                want = getattr(spec, key)
                if want and r.meta[key] != want:
                    raise InputDataError(
                        f"{path}: batch is for {key.replace('_', ' ')} {r.meta[key]!r}, but the spec "
                        f"{spec.source} is for {want!r}"
                    )
            if design is None:
                design = r.design
            else:
                _same_design(design, r.design, str(batch_paths[0]), str(path))
            metas.append(dict(r.meta))
            n_parts += r.n_parts
    assert design is not None
    if n_parts == 0:
        raise InputDataError("the batches hold no parts")
    return design, metas, n_parts


class _SpcStream:
    """Reads the batches in order into the series accumulators (and the residual accumulator)."""

    def __init__(
        self,
        design: Design,
        spec: Spec,
        preds: Predictions,
        metas: list[dict[str, str]],
        p_total: int,
        opts: SpcOptions,
        first_path: str,
    ) -> None:
        self.design = design
        self.defs = _series_defs(spec, design)
        if not self.defs:
            raise ConfigError("the spec tolerances no characteristic of these holes", spec.source)
        self.accs = {
            sd.key: _Acc(p_total, max(1, math.ceil(p_total * int(sd.mask.sum()) / MAX_SAMPLE))) for sd in self.defs
        }
        self.pred: np.ndarray | None = None
        self.pred_src: np.ndarray | None = None
        if preds:
            self.pred, self.pred_src = preds.match(design, first_path)
        self.residuals = _ResidualAcc(design, p_total, metas[0].get("electrode", "")) if self.pred is not None else None
        self.serials: list[str] = []
        self.part_field: list[str] = []
        self.batches: list[dict[str, object]] = []
        self.offset = 0
        self.field_name = opts.subgroup if opts.subgroup_size() is None else None

    def add_batch(self, path: str | Path, meta: dict[str, str]) -> None:
        """Stream one batch, block by block of parts, into the accumulators."""
        digest = sha256_file(path)
        with open_batch(path) as r:
            self.serials += r.serials
            self.part_field += [meta.get(self.field_name, "") if self.field_name else ""] * r.n_parts
            for a, _b, m in r.iter_chunks():
                vals = _values(m, self.design)
                for sd in self.defs:
                    v = vals[sd.characteristic]
                    shifted = np.where(sd.mask[None], v - sd.ref, np.nan)
                    acc = self.accs[sd.key]
                    acc.add(self.offset + a, shifted, sd)
                    if sd.characteristic == "depth":
                        if acc.blocked is None:
                            acc.blocked = np.zeros(acc.n_parts)
                        acc.blocked[self.offset + a : self.offset + a + v.shape[0]] += (m["blocked"] & sd.mask).sum(1)
                if self.residuals is not None and self.pred is not None:
                    self.residuals.add(self.offset + a, vals["diameter"] - self.pred[None])
            self.batches.append(
                {
                    "path": str(path),
                    "sha256": digest,
                    "batch_id": meta["batch_id"],
                    "parts": r.n_parts,
                    "metadata": meta,
                }
            )
        self.offset += r.n_parts

    def check_serials(self) -> None:
        """Each part occurs once over all batches."""
        seen: set[str] = set()
        for s in self.serials:
            if s in seen:
                raise InputDataError(f"serial {s!r} occurs in more than one batch; give each part once")
            seen.add(s)


def _run_notes(spec: Spec, opts: SpcOptions, limits: SpcLimits | None, pred_src: np.ndarray | None) -> list[str]:
    """What the reader of a run should know: limits from another spec or rules, holes without prediction."""
    notes = []
    if limits is not None and limits.spec_sha256 != spec.sha256:
        notes.append(
            f"the limits were frozen with another spec (sha256 {limits.spec_sha256[:12]}, {limits.spec_file}); "
            "control limits do not depend on the tolerances, but check that the characteristics are the same"
        )
    if limits is not None and tuple(limits.rules) != tuple(opts.rules):
        notes.append(f"run rules differ from Phase I ({','.join(limits.rules)})")
    if pred_src is not None and (pred_src < 0).any():
        notes.append(f"{int((pred_src < 0).sum())} holes have no prediction and no residuals")
    return notes


def _same_design(d0: Design, d1: Design, p0: str, p1: str) -> None:
    same = (
        d0.hole_id == d1.hole_id
        and d0.group == d1.group
        and d0.station_depth.shape == d1.station_depth.shape
        and np.allclose(d0.station_depth, d1.station_depth)
        and np.array_equal(d0.station_mask, d1.station_mask)
        and np.allclose(d0.nominal_diameter, d1.nominal_diameter)
    )
    if not same:
        raise InputDataError(
            f"{p1}: its hole design (hole ids, groups, stations or nominal diameters) differs from {p0}; "
            "process statistics need batches of the same design"
        )


def _capability_sigma(acc: _Acc, v2: np.ndarray, kinds: tuple[str, ...]) -> tuple[float, str]:
    """σ within of the capability indices and the name of its estimator.

    Parts holding several values of the series: the pooled within-part standard deviation / c4(ν + 1)
    (each part a rational subgroup).  One value per part: the estimator of the series' chart (MR̄/d2 of
    the parts, or R̄/d2, s̄/c4 of the subgroups of parts), so index and chart agree.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ss_in = acc.sumsq - np.where(acc.count > 0, acc.total**2 / np.maximum(acc.count, 1), 0.0)
    sw, nu = pooled_sigma(acc.count, acc.total, np.maximum(ss_in, 0.0))
    if nu >= 1:
        return sw, "pooled"
    kind = next((k for k in kinds if k in ("imr", "xbar-r", "xbar-s")), "imr")
    _, sig, method = estimate_with_method(kind, v2)
    return sig, method


def _within_log_s(acc: _Acc, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """ln of the pooled within-part standard deviation of each chart point (None: one value per part)."""
    if not (acc.count >= 2).any():
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        ss = np.maximum(acc.sumsq - np.where(acc.count > 0, acc.total**2 / np.maximum(acc.count, 1), 0.0), 0.0)
    dof = np.maximum(acc.count - 1, 0)
    ss_pt = np.add.reduceat(np.where(dof > 0, ss, 0.0), starts) if starts.size else np.zeros(0)
    dof_pt = np.add.reduceat(dof, starts) if starts.size else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(ss_pt / dof_pt)
        return np.where((dof_pt > 0) & (sd > 0), np.log(sd), np.nan)


def _prepare_characteristic(
    sd: SeriesDef, acc: _Acc, opts: SpcOptions, part_field: list[str], serials: list[str]
) -> _Pending:
    """Capability (on the measured values) and the chart inputs of one characteristic series."""
    notes: list[str] = []
    values = acc.part_means() + sd.ref
    v2, labels = _subgroups(values, part_field, opts, serials)
    kinds = _chart_kinds(opts, v2, residual=False)
    n = int(acc.count.sum())
    cap = None
    sample = None
    if n >= 2:
        mean = float(acc.total.sum() / n)
        ss_tot = float(acc.sumsq.sum() - n * mean * mean)
        s_over = math.sqrt(max(ss_tot, 0.0) / (n - 1))
        sw, method = _capability_sigma(acc, v2, kinds)
        sample = np.concatenate(acc.sample) + sd.ref if acc.sample else np.zeros(0)
        cap = build_capability(sample, n, mean + sd.ref, sw, s_over, method, sd.lsl, sd.usl, None, opts.confidence)
        if sample.size >= 8 and np.ptp(sample) > 0:  # the non-normal indices from the systematic sample
            add_non_normal_indices(cap, sample, sd.lsl, sd.usl, opts.confidence)
        if cap.normality.get("normal") is False:
            cap.notes.append(
                "the values are not normal (Anderson-Darling p < 0.05): prefer the percentile or Box-Cox indices"
            )
        cap.observed_out_of_spec = (acc.below + acc.above) / n
        if acc.stride > 1:
            cap.notes.append(f"normality and non-normal methods on a systematic sample of {sample.size} of {n} values")
    else:
        notes.append("fewer than two values: no capability")
    starts, ends = _subgroup_bounds(values.size, part_field, opts)
    log_s = _within_log_s(acc, starts, ends)
    blocked = np.add.reduceat(acc.blocked, starts) if acc.blocked is not None and starts.size else None
    lim = ", ".join(
        x for x in (f"LSL {sd.lsl:g}" if sd.lsl is not None else "", f"USL {sd.usl:g}" if sd.usl is not None else "")
        if x
    )  # fmt: skip
    nom = f", nominal {sd.nominal:g}" if math.isfinite(sd.nominal) else ""
    desc = f"{sd.characteristic} ({sd.unit}), hole group {sd.group} ({lim}{nom}); chart: per-part mean"
    return _Pending(sd.key, sd.characteristic, sd.group, sd.unit, "characteristic", desc, values, cap, v2, labels,
                    kinds, log_s, notes, blocked, sample)  # fmt: skip


# --------------------------------------------------------------------------- residuals
_ELECTRODE_RE = re.compile(r"\s*([^,()]+?)\s*\(\s*group\s+([^)]+?)\s*\)")


def electrode_names(meta_electrode: str, groups: list[str]) -> dict[str, str]:
    """Hole group → electrode name from batch metadata like ``"E1 (group A), E2 (group B)"``."""
    found = {g.strip(): e.strip() for e, g in _ELECTRODE_RE.findall(meta_electrode or "")}
    return {g: (f"{found[g]} (group {g})" if g in found else f"group {g}") for g in groups}


class _ResidualAcc:
    """Per part and per hole residual summaries, streamed."""

    def __init__(self, design: Design, p_total: int, electrode_meta: str) -> None:
        self.d = design
        h, s = design.n_holes, design.n_stations
        self.levels: dict[str, tuple[list[str], np.ndarray]] = {}
        groups = design.groups()
        names = electrode_names(electrode_meta, groups)
        gi = np.array([groups.index(g) for g in design.group])
        self.levels["electrode"] = ([names[g] for g in groups], gi)
        y = np.asarray(design.nominal_y, float)
        if np.isfinite(y).all() and np.unique(np.round(y, 3)).size > 1:
            uy, iy = np.unique(np.round(y, 3), return_inverse=True)
            self.levels["row"] = ([f"row y = {v:g} mm" for v in uy.tolist()], iy.ravel())
        x = np.asarray(design.nominal_x, float)
        if np.isfinite(x).all() and np.ptp(x) > 0:
            edges = np.quantile(x, [1 / 3, 2 / 3])
            iz = np.searchsorted(edges, x, side="right")
            names_z = [
                f"zone x < {edges[0]:g} mm",
                f"zone {edges[0]:g} ≤ x < {edges[1]:g} mm",
                f"zone x ≥ {edges[1]:g} mm",
            ]
            used = np.unique(iz)
            if used.size > 1:
                remap = {int(u): i for i, u in enumerate(used.tolist())}
                self.levels["zone"] = ([names_z[int(u)] for u in used.tolist()], np.array([remap[int(v)] for v in iz]))
        self.onehot = {f: np.eye(len(lv))[idx] for f, (lv, idx) in self.levels.items()}  # (H, L) per hole factor
        self.part_sum = {f: np.zeros((p_total, len(lv))) for f, (lv, _) in self.levels.items()}
        self.part_cnt = {f: np.zeros((p_total, len(lv))) for f, (lv, _) in self.levels.items()}
        self.depth_sum = np.zeros((p_total, s))
        self.depth_cnt = np.zeros((p_total, s))
        self.slope_sum = np.zeros(p_total)
        self.slope_cnt = np.zeros(p_total)
        self.worst = np.full(p_total, np.nan)
        self.worst_station = np.full(p_total, -1)
        self.worst_hole = np.full(p_total, -1)
        self.hole_mean_sum = np.zeros(h)
        self.hole_mean_cnt = np.zeros(h)
        self.hole_slope_sum = np.zeros(h)
        self.hole_slope_cnt = np.zeros(h)
        self.hole_station_sum = np.zeros((h, s))
        self.hole_station_cnt = np.zeros((h, s))
        self.hole_worst = np.full(h, np.nan)

    def add(self, a: int, r: np.ndarray) -> None:
        p = r.shape[0]
        b = a + p
        fin = np.isfinite(r)
        r0 = np.where(fin, r, 0.0)
        hs, hc = r0.sum(axis=2), fin.sum(axis=2)  # (p, H)
        for f, oh in self.onehot.items():
            self.part_sum[f][a:b] += hs @ oh
            self.part_cnt[f][a:b] += hc @ oh
        self.depth_sum[a:b] += r0.sum(axis=1)
        self.depth_cnt[a:b] += fin.sum(axis=1)
        st = _residual_stats(r, self.d.station_depth)
        sl = st["slope"]
        sok = np.isfinite(sl)
        self.slope_sum[a:b] += np.where(sok, sl, 0.0).sum(axis=1)
        self.slope_cnt[a:b] += sok.sum(axis=1)
        absr = np.where(fin, np.abs(r), -1.0).reshape(p, -1)
        j = np.argmax(absr, axis=1)
        best = absr[np.arange(p), j]
        self.worst[a:b] = np.where(best >= 0, best, np.nan)
        self.worst_hole[a:b] = np.where(best >= 0, j // r.shape[2], -1)
        self.worst_station[a:b] = np.where(best >= 0, j % r.shape[2], -1)
        mok = np.isfinite(st["mean"])
        self.hole_mean_sum += np.where(mok, st["mean"], 0.0).sum(axis=0)
        self.hole_mean_cnt += mok.sum(axis=0)
        self.hole_slope_sum += np.where(sok, sl, 0.0).sum(axis=0)
        self.hole_slope_cnt += sok.sum(axis=0)
        self.hole_station_sum += r0.sum(axis=0)
        self.hole_station_cnt += fin.sum(axis=0)
        self.hole_worst = np.fmax(self.hole_worst, np.fmax.reduce(st["max_abs"], axis=0))

    def finish(
        self, opts: SpcOptions, limits: SpcLimits | None, part_field: list[str], serials: list[str], spec: Spec
    ) -> tuple[list[SeriesResult], dict[str, Any]]:
        """The residual series (offset overall and per group, taper error), their drift signals and attribution."""
        mean = self._means()
        pending = [
            _residual_series(key, char, g, unit, vals, opts, part_field, serials)
            for key, char, g, unit, vals in self._series_inputs(mean)
        ]
        alpha = family_alphas(pending, opts)["residual"]
        out = [_finish(p, opts, limits, alpha) for p in pending]
        drift = _drift_signals(out)
        factors = dict(mean.levels)
        factors["depth"] = mean.by_depth
        level_names = {f: self.levels[f][0] for f in self.levels}
        level_names["depth"] = [f"station {z:g} mm" for z in self.d.station_depth.tolist()]
        attribution = attribute(factors, level_names, self.levels, part_field if opts.subgroup_size() != 1 else None)
        by_depth = mean.by_depth
        summary = {
            "definition": "residual = measured − predicted diameter at each station (mm); per hole: mean offset, "
            "least-squares slope over depth (taper error, mm/mm), station of the largest mean |residual|",
            "drift_detected": bool(drift),
            "drift_signals": drift,
            "attribution": attribution if drift else {**attribution, "conclusion": "no drift signal"},
            "per_hole": self._per_hole(mean),
            "per_part": self._per_part(mean, serials)[:2000],
            "by_depth_mean_mm": [
                float(x) for x in np.nanmean(np.where(np.isfinite(by_depth), by_depth, np.nan), axis=0)
            ]
            if np.isfinite(by_depth).any()
            else [],
            "model_bounds": {
                "max_residual_mm": spec.model.max_residual_mm,
                "max_mean_residual_mm": spec.model.max_mean_residual_mm,
            },
        }
        return out, summary

    def _means(self) -> _ResidualMeans:
        """Means of the streamed sums (NaN where nothing was summed)."""

        def ratio(total: np.ndarray, count: np.ndarray) -> np.ndarray:
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

        with np.errstate(invalid="ignore", divide="ignore"):
            tot_s = self.part_sum["electrode"].sum(axis=1)
            tot_c = self.part_cnt["electrode"].sum(axis=1)
            return _ResidualMeans(
                offset=ratio(tot_s, tot_c),
                levels={f: ratio(self.part_sum[f], self.part_cnt[f]) for f in self.levels},
                by_depth=ratio(self.depth_sum, self.depth_cnt),
                taper_error=ratio(self.slope_sum, self.slope_cnt),
                hole_mean=ratio(self.hole_mean_sum, self.hole_mean_cnt),
                hole_slope=ratio(self.hole_slope_sum, self.hole_slope_cnt),
                hole_station_mean=ratio(self.hole_station_sum, self.hole_station_cnt),
            )

    def _series_inputs(self, mean: _ResidualMeans) -> list[tuple[str, str, str, str, np.ndarray]]:
        """(key, characteristic, group, unit, per-part values) of every residual series."""
        series_in: list[tuple[str, str, str, str, np.ndarray]] = [
            ("residual_offset:all", "residual_offset", "all", "mm", mean.offset),
        ]
        enames, _ = self.levels["electrode"]
        if len(enames) > 1:
            for gi, g in enumerate(self.d.groups()):
                series_in.append((f"residual_offset:{g}", "residual_offset", g, "mm", mean.levels["electrode"][:, gi]))
        series_in.append(("residual_taper_error:all", "residual_taper_error", "all", "mm/mm", mean.taper_error))
        return series_in

    def _per_hole(self, mean: _ResidualMeans) -> list[dict[str, Any]]:
        d, hs_mean = self.d, mean.hole_station_mean
        return [
            {
                "hole": d.hole_id[i],
                "group": d.group[i],
                "mean_offset_mm": float(mean.hole_mean[i]),
                "taper_error_mm_per_mm": float(mean.hole_slope[i]),
                "worst_station_mm": (
                    float(d.station_depth[int(np.nanargmax(np.abs(hs_mean[i])))])
                    if np.isfinite(hs_mean[i]).any()
                    else None
                ),
                "max_abs_residual_mm": float(self.hole_worst[i]),
            }
            for i in range(d.n_holes)
        ]

    def _per_part(self, mean: _ResidualMeans, serials: list[str]) -> list[dict[str, Any]]:
        d, worst_i = self.d, self.worst_station
        return [
            {
                "serial": serials[i],
                "mean_offset_mm": float(mean.offset[i]),
                "taper_error_mm_per_mm": float(mean.taper_error[i]),
                "max_abs_residual_mm": float(self.worst[i]),
                "worst_hole": d.hole_id[int(self.worst_hole[i])] if self.worst_hole[i] >= 0 else None,
                "worst_station_mm": float(d.station_depth[int(worst_i[i])]) if worst_i[i] >= 0 else None,
            }
            for i in range(len(serials))
        ]


@dataclass
class _ResidualMeans:
    """Residual means per part (P,), per part and level (P, L), per part and station (P, S) and per hole (H,)."""

    offset: np.ndarray  # mean residual of the part (mm)
    levels: dict[str, np.ndarray]  # factor → (P, L) mean residual of each level
    by_depth: np.ndarray  # (P, S)
    taper_error: np.ndarray  # mean least-squares slope of the residual over depth (mm/mm)
    hole_mean: np.ndarray
    hole_slope: np.ndarray
    hole_station_mean: np.ndarray  # (H, S)


def _residual_series(
    key: str,
    char: str,
    g: str,
    unit: str,
    vals: np.ndarray,
    opts: SpcOptions,
    part_field: list[str],
    serials: list[str],
) -> _Pending:
    """Chart inputs of one residual series (no capability: residuals have no tolerance)."""
    v2, labels = _subgroups(vals, part_field, opts, serials)
    kinds = _chart_kinds(opts, v2, residual=True)
    if char == "residual_taper_error":
        kinds = tuple(k for k in kinds if k != "cusum")
    desc = (
        "mean residual (measured − predicted diameter) per part, " + ("all holes" if g == "all" else f"hole group {g}")
        if char == "residual_offset"
        else "taper error per part: mean least-squares slope of the residual over depth"
    )
    return _Pending(key, char, g, unit, "residual", desc, vals, None, v2, labels, kinds, None)


def _drift_signals(series: list[SeriesResult]) -> list[dict[str, Any]]:
    """The EWMA and CUSUM charts of the residual series that signal, with the first signal."""
    drift: list[dict[str, Any]] = []
    for s in series:
        for kind in ("ewma", "cusum"):
            c = s.charts.get(kind)
            if c is not None and not c.in_control:
                i = c.first_signal()
                drift.append(
                    {
                        "series": s.key,
                        "chart": kind,
                        "first_signal": i,
                        "subgroup": s.labels[i] if i is not None else None,
                        "run_length": None if i is None else i + 1,
                    }
                )
    return drift


def _level_slopes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slope per column of y (parts × levels) against the part index, and its standard error."""
    p_ = y.shape[0]
    t = np.arange(p_, dtype=float)
    ok = np.isfinite(y)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tm = (ok * t[:, None]).sum(axis=0) / n
        ym = np.where(ok, y, 0.0).sum(axis=0) / n
        dt = np.where(ok, t[:, None] - tm, 0.0)
        dy = np.where(ok, y - ym, 0.0)
        sxx = (dt * dt).sum(axis=0)
        b = (dt * dy).sum(axis=0) / sxx
        resid = np.where(ok, dy - b * dt, 0.0)
        s2 = (resid * resid).sum(axis=0) / (n - 2)
        se = np.sqrt(s2 / sxx)
    return b, se


def attribute(
    factors: dict[str, np.ndarray],
    level_names: dict[str, list[str]],
    hole_levels: dict[str, tuple[list[str], np.ndarray]],
    _field: list[str] | None = None,
) -> dict[str, Any]:
    """Which factor's levels drift differently (a χ² test of equal slopes per factor).

    For each factor the per-part mean residual of each level is regressed on
    the part index; the slopes are compared with χ² = Σ (bₗ − b̄)²/SEₗ²
    (b̄ the inverse-variance weighted mean), L − 1 degrees of freedom.  The
    factor with the smallest p-value below :data:`ATTRIBUTION_ALPHA` is named,
    with the level(s) whose slope differs from the others by more than 3 SE;
    factors that partition the holes identically are reported as confounded.
    If no factor is significant the drift is uniform: the process (electrolyte,
    temperature, machine) or a global model offset rather than one tool.
    """
    from scipy import stats

    results: list[dict[str, Any]] = []
    for f in FACTORS:
        if f not in factors:
            continue
        y = factors[f]
        if y.shape[1] < 2 or y.shape[0] < 4:
            continue
        b, se = _level_slopes(y)
        ok = np.isfinite(b) & np.isfinite(se) & (se > 0)
        if ok.sum() < 2:
            continue
        w = 1.0 / se[ok] ** 2
        bbar = float(np.sum(w * b[ok]) / w.sum())
        chi2 = float(np.sum((b[ok] - bbar) ** 2 * w))
        p = float(stats.chi2.sf(chi2, int(ok.sum()) - 1))
        # a level stands out when its slope differs from the mean of the other levels by > 3 SE and is larger
        out_lv = []
        for i in np.nonzero(ok)[0].tolist():
            others = ok.copy()
            others[i] = False
            wo = 1.0 / se[others] ** 2
            bo = float(np.sum(wo * b[others]) / wo.sum())
            seo = math.sqrt(1.0 / wo.sum())
            zl = (b[i] - bo) / math.hypot(se[i], seo)
            if abs(zl) > 3.0 and abs(b[i]) > abs(bo):  # this level carries the drift
                out_lv.append({"level": level_names[f][i], "drift_per_part": float(b[i]), "others_per_part": bo,
                               "z": float(zl)})  # fmt: skip
        results.append(
            {
                "factor": f,
                "p_value": p,
                "chi2": chi2,
                "levels": [
                    {"level": level_names[f][i], "drift_per_part_mm": float(b[i]), "se": float(se[i])}
                    for i in range(len(level_names[f]))
                ],
                "outstanding_levels": out_lv,
            }
        )
    sig = [r for r in results if r["p_value"] < ATTRIBUTION_ALPHA and r["outstanding_levels"]]
    conclusion: str
    named: dict[str, Any] | None = None
    confounded: list[str] = []
    if sig:
        best_p = min(r["p_value"] for r in sig)
        # the first factor (in FACTORS order) among those as significant as the best (ties: confounded designs)
        top = [r for r in sig if r["p_value"] <= best_p * 10 or r["p_value"] < 1e-12]
        named = top[0]
        for r in top[1:]:
            f0, f1 = named["factor"], r["factor"]
            if f0 in hole_levels and f1 in hole_levels and _same_partition(hole_levels[f0][1], hole_levels[f1][1]):
                confounded.append(f1)
        lvls = ", ".join(x["level"] for x in named["outstanding_levels"])
        conclusion = f"drift confined to {named['factor']} {lvls}"
        if named["factor"] == "electrode":
            conclusion += ": points to that electrode (wear, coating damage)"
        elif named["factor"] == "depth":
            conclusion += ": depth-dependent, points to the model or the tool tip"
        else:
            conclusion += ": points to the model or a tool for that region"
        if confounded:
            conclusion += f" (confounded with {', '.join(confounded)}: the design cannot separate them)"
    else:
        conclusion = (
            "uniform drift across electrodes, rows, zones and depth: points to the process or a global model offset"
        )
    return {"method": "χ² test of equal residual drift per part between the levels of each factor",
            "alpha": ATTRIBUTION_ALPHA, "factors": results, "attributed_to": named["factor"] if named else None,
            "levels": [x["level"] for x in named["outstanding_levels"]] if named else [],
            "confounded_with": confounded, "conclusion": conclusion}  # fmt: skip


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    return bool(pairs.shape[0] == np.unique(a).size == np.unique(b).size)


# --------------------------------------------------------------------------- terminal summary
def _f(x: float | None, nd: int = 2) -> str:
    return "–" if x is None or not math.isfinite(float(x)) else f"{float(x):.{nd}f}"


def summary_lines(run: SpcRun) -> list[str]:
    """Terminal summary: capability table, charts and signals, residual drift and attribution."""
    lines = [
        f"process statistics, phase {run.phase}"
        + (
            f" against {run.limits.path} (frozen {run.limits.frozen_at})"
            if run.limits
            else " (limits from these parts)"
        ),
        f"{len(run.serials)} parts in {len(run.batches)} batch(es); spec {run.spec.source}; rules "
        f"{','.join(run.options.rules)}; subgroup {run.options.subgroup}",
    ]
    head = f"{'series':<26} {'n':>7} {'Cp':>6} {'Cpk':>6} {'Pp':>6} {'Ppk':>6} {'ppm exp.':>9} {'normal':>7}  charts"
    lines += [head, "-" * len(head)]
    for s in run.series:
        cap = s.capability
        ch = " ".join(f"{k}:{'ok' if v.in_control else 'SIGNAL'}" for k, v in s.charts.items())
        if cap is not None:
            ppm = cap.expected_out_of_spec_overall
            nrm = cap.normality.get("normal")
            lines.append(
                f"{s.key[:26]:<26} {cap.n:>7} {_f(cap.cp):>6} {_f(cap.cpk):>6} {_f(cap.pp):>6} {_f(cap.ppk):>6} "
                f"{_f(None if ppm is None else ppm * 1e6, 0):>9} "
                f"{'yes' if nrm else ('no' if nrm is False else '–'):>7}  {ch}"
            )
        else:
            lines.append(f"{s.key[:26]:<26} {s.values.size:>7} {'':>6} {'':>6} {'':>6} {'':>6} {'':>9} {'':>7}  {ch}")
    for s in run.series:
        for kind, c in s.charts.items():
            sig = c.signal_list()
            if sig:
                first = sig[0]
                lines.append(
                    f"  {s.key} {kind}: {len(sig)} signal(s), first at {s.labels[first['index']]} "
                    f"({first['panel']}: {first['description']})"
                )
    if run.residuals is not None:
        att = run.residuals["attribution"]
        if run.residuals["drift_detected"]:
            d0 = run.residuals["drift_signals"][0]
            lines.append(
                f"residual drift: {d0['series']} {d0['chart']} signals at {d0['subgroup']} "
                f"(run length {d0['run_length']})"
            )
        else:
            lines.append("residual drift: none detected")
        lines.append(f"attribution: {att['conclusion']}")
    lines += [f"note: {n}" for n in run.notes]
    lines.append(run.verdict_line())
    return lines
