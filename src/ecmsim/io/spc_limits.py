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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecmsim.errors import InputDataError, OutputError
from ecmsim.io.common import SPC_LIMITS_FILE, atomic_h5, check_header, open_h5, write_dataset, write_header

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


def read_spc_limits(path: str | Path) -> SpcLimits:
    """Read a limits file; refuse other schemas and newer versions (:class:`InputDataError`)."""
    p = Path(path)
    with open_h5(p, "SPC limits file") as f:
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
                        params={k: float(g.attrs[k]) for k in _PARAMS if math.isfinite(float(g.attrs[k]))},
                    )
                )
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
            )
        except KeyError as exc:
            raise InputDataError(f"{p}: SPC limits file lacks {exc}") from None
