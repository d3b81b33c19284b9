"""What sweeps, the parameter search and calibration share.

* config keys given by engineers (``electrical.voltage_V``, ``voltage_V``,
  ``feed_rate``) resolved against the schema, with the nearest key suggested;
* the variant of a config at a point of the parameters (:func:`key_changes`
  for :meth:`ecmsim.config.ProcessConfig.replace`);
* one evaluation of the model for a config, transient or equilibrium, as a
  flat dict of metrics in engineering units (:data:`ecmsim.io.sweep.SWEEP_METRICS`);
* writing a config back as TOML text (calibrated and tuned configs).
"""

from __future__ import annotations

import difflib
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

from ecmsim.config import ProcessConfig, load_config
from ecmsim.errors import EXIT_REJECTED, EXIT_SOLVER, ConfigError, EcmsimError, OutputError

#: A process config given to an engineering function: a path, ``example:NAME`` or a validated config.
ConfigLike: TypeAlias = str | Path | ProcessConfig
#: Predicted metrics by name (:data:`ecmsim.io.sweep.SWEEP_METRICS`), engineering units; NaN: not available.
Metrics: TypeAlias = dict[str, float]

#: Short names engineers use, mapped to config keys.
ALIASES = {
    "voltage": "electrical.voltage_V",
    "overpotential": "electrical.overpotential_V",
    "feed": "motion.feed_rate_mm_per_min",
    "feed_rate": "motion.feed_rate_mm_per_min",
    "conductivity": "electrolyte.conductivity_S_per_m",
    "electrochemical_equivalent": "workpiece.electrochemical_equivalent_mm3_per_C",
    "omega": "workpiece.electrochemical_equivalent_mm3_per_C",
    "temperature": "electrolyte.temperature_C",
    "concentration": "electrolyte.concentration_wt_pct",
    "bare_tip": "tool.bare_tip_length_mm",
    "coating": "tool.coating_thickness_mm",
}
#: Statuses of a good run (transient or equilibrium).
GOOD_STATUSES = ("completed", "broke_through", "equilibrium")
#: Statuses whose predictions a search may use: an equilibrium solve on a coarse grid often stops at its
#: travel limit with gaps still drifting by a few µm ("not_converged"); its shape is close to the steady one.
USABLE_STATUSES = (*GOOD_STATUSES, "not_converged")
#: Metrics an equilibrium solve predicts (the others are NaN in that mode).
EQUILIBRIUM_METRICS = (
    "diameter_mm", "side_gap_mm", "frontal_gap_mm", "machining_time_s", "peak_current_A",
    "max_current_density_A_per_cm2", "wall_clock_s",
)  # fmt: skip
MODES = ("auto", "transient", "equilibrium")


class Evaluation(NamedTuple):
    """The outcome of one model run: its status, a message (why it failed) and its metrics."""

    status: str
    message: str
    metrics: Metrics


class TargetNotReachedError(EcmsimError):
    """The parameter search ran, but no parameters in the ranges meet the targets."""

    exit_code = EXIT_REJECTED


class ExecutorError(EcmsimError):
    """A sweep could not be run (pool or Dask cluster failure)."""

    exit_code = EXIT_SOLVER


@dataclass(frozen=True)
class Key:
    """A numeric config key: ``table.key`` with its unit, range and kind."""

    table: str
    name: str
    unit: str
    kind: str
    min: float | None
    min_exclusive: bool
    max: float | None
    help: str

    @property
    def path(self) -> str:
        return f"{self.table}.{self.name}"

    def allowed(self) -> str:
        lo = "" if self.min is None else f"{'>' if self.min_exclusive else '>='} {self.min:g}"
        hi = "" if self.max is None else f"<= {self.max:g}"
        return " and ".join(p for p in (lo, hi) if p) or "any number"

    def coerce(self, value: float) -> float:
        """``value`` as this key stores it: rounded to an integer for integer keys."""
        return int(round(value)) if self.kind == "int" else float(value)

    def check(self, value: float, what: str) -> None:
        """Raise :class:`ConfigError` when ``value`` is outside the schema range."""
        lo_bad = self.min is not None and (value <= self.min if self.min_exclusive else value < self.min)
        hi_bad = self.max is not None and value > self.max
        if lo_bad or hi_bad or not math.isfinite(value):
            unit = f" {self.unit}" if self.unit else ""
            raise ConfigError(f"{what}: {self.path} = {value:g}{unit} is outside the allowed range ({self.allowed()})")


def numeric_keys() -> dict[str, Key]:
    """Every numeric key of the config schema, by ``table.key``."""
    from ecmsim.config import TABLES

    out = {}
    for table, cls in TABLES.items():
        for f in fields(cls):
            m = f.metadata
            if m.get("kind") in ("float", "int"):
                out[f"{table}.{f.name}"] = Key(
                    table, f.name, m["unit"], m["kind"], m["min"], m["min_exclusive"], m["max"], m["help"]
                )
    return out


def resolve_key(name: str, what: str = "parameter") -> Key:
    """Map ``table.key``, a bare key (``voltage_V``) or an alias (``feed_rate``) to a :class:`Key`.

    Raises
    ------
    ConfigError
        Unknown or non-numeric key, naming the nearest valid one.
    """
    keys = numeric_keys()
    text = name.strip()
    if text in ALIASES:
        text = ALIASES[text]
    if text in keys:
        return keys[text]
    bare = {k.split(".", 1)[1]: k for k in keys}
    if text in bare:
        return keys[bare[text]]
    candidates = [*keys, *ALIASES, *bare]
    near = difflib.get_close_matches(text, candidates, n=1, cutoff=0.6)
    hint = f"; did you mean {ALIASES.get(near[0], bare.get(near[0], near[0]))!r}?" if near else ""
    raise ConfigError(
        f"{what} {name!r} is not a numeric config key{hint} "
        f"(use table.key, e.g. electrical.voltage_V; `ecmsim config show CONFIG` lists them)"
    )


def key_changes(keys: Sequence[Key], values: Iterable[float]) -> dict[str, float]:
    """``{"table.key": value}`` of one point of the parameters, for :meth:`~ecmsim.config.ProcessConfig.replace`."""
    return {k.path: k.coerce(v) for k, v in zip(keys, values, strict=True)}


def load(config: ConfigLike, overrides: Sequence[str] = ()) -> ProcessConfig:
    """``config`` itself when validated already, else the file with ``--set`` overrides."""
    return config if isinstance(config, ProcessConfig) else load_config(config, overrides)


def set_numba_threads(n: int = 1) -> None:
    """Limit Numba (and BLAS) threads in this process; call in workers before the first simulation."""
    import sys

    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if "numba" in sys.modules:  # already imported (a reused Dask worker): lower it at run time
        import numba

        try:
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        except Exception:  # threading layer not available: serial kernels need none
            pass


def choose_mode(cfg: ProcessConfig, mode: str, needs: Iterable[str] = ()) -> str:
    """``auto`` → ``equilibrium`` for a coated, feeding tool when every metric in ``needs`` is available."""
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is not allowed (one of {', '.join(MODES)})")
    can_eq = cfg.tool.coating_thickness_mm > 0 and cfg.motion.feed_rate_mm_per_min > 0
    if mode == "equilibrium":
        if not can_eq:
            raise ConfigError(
                "equilibrium mode needs a coated tool and a feed > 0 ([tool] coating_thickness_mm, "
                "[motion] feed_rate_mm_per_min); use the transient mode",
                cfg.source,
            )
        return mode
    if mode == "transient":
        return mode
    return "equilibrium" if can_eq and all(n in EQUILIBRIUM_METRICS for n in needs) else "transient"


def evaluate_config(cfg: ProcessConfig, mode: str) -> Evaluation:
    """Run the model for one validated config.

    Returns
    -------
    status, message, metrics
        ``metrics`` maps every name of :data:`~ecmsim.io.sweep.SWEEP_METRICS`
        to a float (NaN: not available in this mode or for this outcome).
        Solver failures come back as status ``error``; nothing is raised for them.
    """
    from ecmsim.errors import SolverError
    from ecmsim.io.sweep import SWEEP_METRICS

    metrics = {name: math.nan for name in SWEEP_METRICS}
    t0 = time.perf_counter()
    try:
        if mode == "equilibrium":
            from ecmsim.equilibrium import solve_equilibrium

            eq = solve_equilibrium(cfg)
            s = eq.summary()
            metrics.update(
                diameter_mm=s["diameter_mm"],
                side_gap_mm=s["side_gap_mm"],
                frontal_gap_mm=s["frontal_gap_mm"],
                machining_time_s=eq.process.machining_time,
                peak_current_A=s["current_A"],
                max_current_density_A_per_cm2=eq.process.equilibrium_current_density * 1e-4,
            )
            status, message = s["status"], ""
        else:
            from ecmsim.process import resolve
            from ecmsim.simulation import Simulation

            res = Simulation(resolve(cfg)).run()
            s = res.summary()
            for name in SWEEP_METRICS:
                v = s.get(name)
                if isinstance(v, int | float) and v is not None:
                    metrics[name] = float(v)
            if s.get("side_gap_mm") is not None:
                metrics["diameter_mm"] = cfg.tool.outer_diameter_mm + 2.0 * float(s["side_gap_mm"])
            if res.max_current_density.size:
                metrics["max_current_density_A_per_cm2"] = float(res.max_current_density.max()) * 1e-4
            status, message = s["status"], s.get("message") or ""
    except ConfigError as exc:
        status, message = "invalid", str(exc)
    except SolverError as exc:
        status, message = "error", str(exc)
    metrics["wall_clock_s"] = time.perf_counter() - t0
    return Evaluation(status, message, {k: float(v) for k, v in metrics.items()})


def surrogate_metrics(cfg: ProcessConfig) -> Metrics:
    """Instant estimates from the 1D theory (no solve): frontal gap h_e, side gap sqrt(h_e² + 2 h_e b).

    b is the bare tip length (coated tool) or the hole depth (bare tool).  Used
    to choose where a parameter search starts; within a few per cent of the
    equilibrium solve for coated tools.
    """
    from ecmsim.io.sweep import SWEEP_METRICS
    from ecmsim.process import resolve

    out = {name: math.nan for name in SWEEP_METRICS}
    m = cfg.motion
    if m.feed_rate_mm_per_min <= 0:
        return out
    proc = resolve(cfg)
    h_e = proc.equilibrium_gap * 1e3
    b = cfg.tool.bare_tip_length_mm if cfg.tool.coating_thickness_mm > 0 else m.depth_mm
    side = math.sqrt(h_e**2 + 2.0 * h_e * b)
    dia = cfg.tool.outer_diameter_mm + 2.0 * side
    out.update(
        diameter_mm=dia, entry_diameter_mm=dia, min_diameter_mm=dia, max_diameter_mm=dia, taper_deg=0.0,
        side_gap_mm=side, frontal_gap_mm=h_e, depth_mm=m.depth_mm,
        machining_time_s=proc.machining_time,
        max_current_density_A_per_cm2=proc.equilibrium_current_density * 1e-4,
    )  # fmt: skip
    return out


# --------------------------------------------------------------------------- TOML output
def _toml_value(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise OutputError(f"cannot write the non-finite value {v!r} to a TOML config")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise OutputError(f"cannot write {v!r} ({type(v).__name__}) to a TOML config")


def _toml_key(k: str) -> str:
    import json
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def config_toml(doc: Mapping[str, Any], header: Iterable[str] = ()) -> str:
    """TOML text of a config dict (tables of scalars, lists and inline tables); ``None`` values are left out."""
    lines = [f"# {h}" for h in header]
    for table, values in doc.items():
        if not isinstance(values, Mapping):
            raise OutputError(f"cannot write [{table}]: not a table")
        lines.append("")
        lines.append(f"[{table}]")
        for k, v in values.items():
            if v is None:
                continue
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def write_config_toml(path: str | Path, doc: Mapping[str, Any], header: Iterable[str] = ()) -> None:
    """Write a config as TOML atomically; the text is checked to load back as the same config."""
    import tomllib

    from ecmsim.qc.textfiles import write_text_atomic

    text = config_toml(doc, header)
    if tomllib.loads(text) != {t: {k: v for k, v in vs.items() if v is not None} for t, vs in doc.items()}:
        raise OutputError(f"{path}: the TOML text does not read back as the config (a bug)")
    write_text_atomic(path, text)
