"""Frozen Phase I control limits (HDF5, schema ``ecmsim-spc-limits``).

A limits file records, for every monitored series (a characteristic of a
hole group, or a residual summary) and chart kind, the process parameters
the chart is computed from: the centre ``mu`` and the short-term sigma
``sigma`` of the *individual* plotted quantity (a per-part value), in the
series' unit.  Control limits for subgroups of any size follow from them
(``docs/spc.md``).  Provenance: ecmsim/h5py/HDF5/NumPy versions, time, the
Phase I batch files and their SHA-256, the spec and its SHA-256, the run
rules and the subgrouping.  Written atomically through
:func:`ecmsim.io.common.atomic_h5`; read with :func:`read_spc_limits`.

Layout (one small group per series, never per hole or part)::

    /                 attrs schema, schema_version, versions, written_at, frozen_at,
                            spec_file, spec_sha256, rules, subgroup, n_series, phase1_signals
    /sources/file     (n,) S1024   Phase I inspection files as given
    /sources/sha256   (n,) S64     their SHA-256
    /series/NNN       attrs key, characteristic, group, unit, chart, n_points, n_signals,
                            subgroup_size, lambda, L, k, h (chart parameters, NaN if unused)
    /series/NNN/mu    scalar f8, units = the series' unit
    /series/NNN/sigma scalar f8, units = the series' unit

Schema version 2: ``mu`` is the mean of the *measured* per-part value (version 1 stored deviations
from the nominal and is refused: freeze again); chart kinds include ``within`` (ln of the
within-part standard deviation) and ``blocked`` (blocked holes per part, a c chart: ``mu`` = c̄,
``sigma`` = √c̄, which may be 0).  Every value is validated on reading (:func:`validate_limit`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io.common import H5_ERRORS, SPC_LIMITS_FILE, atomic_h5, check_header, open_h5, write_dataset, write_header

SPC_LIMITS_SCHEMA = SPC_LIMITS_FILE.schema
SPC_LIMITS_SCHEMA_VERSION = SPC_LIMITS_FILE.version
_PARAMS = ("lambda", "L", "k", "h")


@dataclass
class FrozenLimit:
    """Phase I parameters of one chart of one series."""

    key: str
    characteristic: str
    group: str
    unit: str
    chart: str
    mu: float
    sigma: float
    subgroup_size: float
    n_points: int
    n_signals: int
    params: dict[str, float] = field(default_factory=dict)


@dataclass
class SpcLimits:
    """The content of a limits file."""

    limits: list[FrozenLimit]
    sources: list[tuple[str, str]]
    spec_file: str
    spec_sha256: str
    rules: tuple[str, ...]
    subgroup: str
    frozen_at: str
    path: str = ""
    ecmsim_version: str = ""
    alarm_rate: float = math.nan  # family-wise false-alarm rate of the auto rules (NaN: explicit rules)

    def get(self, key: str, chart: str) -> FrozenLimit | None:
        for lim in self.limits:
            if lim.key == key and lim.chart == chart:
                return lim
        return None

    @property
    def phase1_signals(self) -> int:
        return sum(lim.n_signals for lim in self.limits)


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def write_spc_limits(path: str | Path, lim: SpcLimits) -> None:
    """Write a limits file atomically (the target is absent, the old file or the complete new one).

    Raises
    ------
    OutputError
        The file cannot be written.
    """
    try:
        with atomic_h5(path) as f:
            write_header(
                f,
                SPC_LIMITS_FILE,
                {
                    "frozen_at": lim.frozen_at,
                    "spec_file": lim.spec_file[-1024:],
                    "spec_sha256": lim.spec_sha256,
                    "rules": ",".join(lim.rules),
                    "subgroup": lim.subgroup,
                    "n_series": len(lim.limits),
                    "phase1_signals": lim.phase1_signals,
                    "alarm_rate": lim.alarm_rate,
                    "description": "frozen Phase I control-chart parameters (ecmsim qc spc --freeze)",
                },
            )
            src = f.create_group("sources")
            src.attrs["description"] = "Phase I inspection batch files"
            files = np.array([p[-1024:].encode() for p, _ in lim.sources], dtype="S1024")
            write_dataset(src, "file", files, None, "file as given")
            hashes = np.array([h.encode() for _, h in lim.sources], dtype="S64")
            write_dataset(src, "sha256", hashes, None, "SHA-256 of the file's bytes")
            ser = f.create_group("series")
            for i, fl in enumerate(lim.limits):
                g = ser.create_group(f"{i:03d}")
                for k in ("key", "characteristic", "group", "unit", "chart"):
                    g.attrs[k] = getattr(fl, k)
                g.attrs["n_points"] = fl.n_points
                g.attrs["n_signals"] = fl.n_signals
                g.attrs["subgroup_size"] = fl.subgroup_size
                for p in _PARAMS:
                    g.attrs[p] = float(fl.params.get(p, math.nan))
                write_dataset(g, "mu", fl.mu, fl.unit, "centre: process mean of the per-part value")
                write_dataset(g, "sigma", fl.sigma, fl.unit, "short-term sigma of the per-part value")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the limits file: {exc}") from None


def validate_limit(fl: FrozenLimit, path: str | Path) -> None:
    """Refuse a frozen chart whose parameters cannot define limits (:class:`InputDataError`).

    ``mu`` finite; ``sigma`` finite and > 0 (a c chart of blocked holes: ``mu`` = c̄ ≥ 0 and
    ``sigma`` ≥ 0); λ in (0, 1]; L, k, h finite and > 0.
    """
    where = f"{path}: series {fl.key!r}, chart {fl.chart!r}"
    if not math.isfinite(fl.mu) or (fl.chart == "blocked" and fl.mu < 0):
        allowed = "a finite count ≥ 0" if fl.chart == "blocked" else "a finite number"
        raise InputDataError(f"{where}: mu = {fl.mu!r}; allowed: {allowed}")
    ok = math.isfinite(fl.sigma) and (fl.sigma >= 0 if fl.chart == "blocked" else fl.sigma > 0)
    if not ok:
        allowed = "finite and ≥ 0" if fl.chart == "blocked" else "finite and > 0"
        raise InputDataError(f"{where}: sigma = {fl.sigma!r}; allowed: {allowed} (no control limits without it)")
    for name, v in fl.params.items():
        bad = not (math.isfinite(v) and v > 0) or (name == "lambda" and v > 1)
        if bad:
            allowed = "0 < λ ≤ 1" if name == "lambda" else "finite and > 0"
            raise InputDataError(f"{where}: {name} = {v!r}; allowed: {allowed}")


def read_spc_limits(path: str | Path) -> SpcLimits:
    """Read a limits file; refuse other schemas, other versions and invalid values (:class:`InputDataError`)."""
    p = Path(path)
    with open_h5(p, "SPC limits file") as f:
        if f.attrs.get("schema") in ("ecmsim-spc-limits", b"ecmsim-spc-limits") and f.attrs.get("schema_version") == 1:
            raise InputDataError(
                f"{p}: SPC limits file of schema version 1 (limits of deviations from the nominal); this ecmsim "
                "charts measured values: freeze the limits again with --freeze"
            )
        check_header(f, p, SPC_LIMITS_FILE)
        try:
            sources = list(
                zip(
                    [_s(x) for x in f["sources/file"][()].tolist()],
                    [_s(x) for x in f["sources/sha256"][()].tolist()],
                    strict=True,
                )
            )
            limits = []
            for name in sorted(f["series"]):
                g = f["series"][name]
                limits.append(
                    FrozenLimit(
                        key=_s(g.attrs["key"]),
                        characteristic=_s(g.attrs["characteristic"]),
                        group=_s(g.attrs["group"]),
                        unit=_s(g.attrs["unit"]),
                        chart=_s(g.attrs["chart"]),
                        mu=float(g["mu"][()]),
                        sigma=float(g["sigma"][()]),
                        subgroup_size=float(g.attrs["subgroup_size"]),
                        n_points=int(g.attrs["n_points"]),
                        n_signals=int(g.attrs["n_signals"]),
                        params={k: float(g.attrs[k]) for k in _PARAMS if not math.isnan(float(g.attrs[k]))},
                    )
                )
                validate_limit(limits[-1], p)
            rules = tuple(r for r in _s(f.attrs["rules"]).split(",") if r)
            return SpcLimits(
                limits=limits,
                sources=sources,
                spec_file=_s(f.attrs["spec_file"]),
                spec_sha256=_s(f.attrs["spec_sha256"]),
                rules=rules,
                subgroup=_s(f.attrs["subgroup"]),
                frozen_at=_s(f.attrs["frozen_at"]),
                path=str(p),
                ecmsim_version=_s(f.attrs.get("ecmsim_version", "")),
                alarm_rate=float(f.attrs.get("alarm_rate", math.nan)),
            )
        except KeyError as exc:
            raise InputDataError(f"{p}: SPC limits file lacks {exc}") from None
        except (*H5_ERRORS, AttributeError, IndexError) as exc:  # values of the wrong type or shape
            raise InputDataError(f"{p}: damaged SPC limits file ({type(exc).__name__}: {exc})") from None
