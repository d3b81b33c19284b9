"""The process config: one strict schema, defaults in one place.

A process config is a TOML file with the tables below.  Each table is a
frozen dataclass; each field carries its unit and help text in its
metadata, so ``ecmsim config show``, the README table and the validator
all come from this one source.  Unknown tables or keys, wrong types,
out-of-range and inconsistent values are :class:`~ecmsim.errors.ConfigError`
naming the key, the value, what is allowed and the nearest valid key.

Units are the ones engineers use (mm, V, mm/min, °C, S/m, A/cm²); the
unit is part of the key name.  :mod:`ecmsim.process` converts to SI.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from ecmsim.errors import ConfigError
from ecmsim.solvers import solver_names
from ecmsim.units import MS

SCHEMA_VERSION = 1


def param(
    default: Any = None,
    *,
    unit: str = "",
    help: str,
    kind: str = "float",
    required: bool = False,
    min: float | None = None,
    min_exclusive: bool = False,
    max: float | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """Declare a config field with its unit, help text and allowed range."""
    meta = {
        "unit": unit,
        "help": help,
        "kind": kind,
        "required": required,
        "min": min,
        "min_exclusive": min_exclusive,
        "max": max,
        "choices": tuple(choices) if choices else None,
    }
    if kind in ("dict", "list"):
        factory = dict if kind == "dict" else list
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


#: Smallest pulse duty cycle (on time over period) a config may ask for: below it the hole
#: would take thousands of times the DC machining time.
MIN_PULSE_DUTY = 1e-3


@dataclass(frozen=True)
class WorkpieceConfig:
    """[workpiece] the part being drilled (the anode)."""

    alloy: str = param(kind="str", required=True, help="alloy name or alias (ecmsim materials list)")
    thickness_mm: float | None = param(
        unit="mm", min=0.0, min_exclusive=True,
        help="plate thickness: the hole breaks through at the far face; omit for a blind hole",
    )  # fmt: skip
    valence_set: str = param(
        "low", kind="str", choices=("low", "high"),
        help="dissolution valences: low (Cr3+, Fe2+, Mo3+) or high (Cr6+, Fe3+, Mo6+, Re7+)",
    )  # fmt: skip
    valences: dict[str, float] = param(
        kind="dict", max=8.0, help="per-element valence overrides, e.g. {Cr = 3.5} (makes the set custom)"
    )
    electrochemical_equivalent_mm3_per_C: float | None = param(
        unit="mm³/C", min=0.0, min_exclusive=True, max=1.0,
        help="measured volumetric electrochemical equivalent ω; overrides the computed value",
    )  # fmt: skip


@dataclass(frozen=True)
class ToolConfig:
    """[tool] the tubular tool electrode (the cathode)."""

    outer_diameter_mm: float = param(
        unit="mm", required=True, min=0.05, max=20.0, help="outer diameter of the bare metal tube"
    )
    inner_diameter_mm: float = param(0.0, unit="mm", min=0.0, help="bore diameter; 0 for a solid rod")
    coating_thickness_mm: float = param(
        0.0, unit="mm", min=0.0, help="insulating coating on the outside; 0 for a bare tool"
    )
    bare_tip_length_mm: float = param(
        0.3, unit="mm", min=0.0,
        help="uncoated length of the outer wall behind the tip face (ignored for a bare tool)",
    )  # fmt: skip


@dataclass(frozen=True)
class ElectrolyteConfig:
    """[electrolyte] the electrolyte pumped through the tool."""

    name: str = param(kind="str", required=True, help="electrolyte (ecmsim materials electrolytes)")
    concentration_wt_pct: float = param(
        unit="wt %", required=True, min=0.0, min_exclusive=True, max=70.0,
        help="mass concentration of the solute",
    )  # fmt: skip
    temperature_C: float = param(20.0, unit="°C", min=0.0, max=100.0, help="inlet temperature")
    conductivity_S_per_m: float | None = param(
        unit="S/m", min=0.0, min_exclusive=True, max=1000.0,
        help="measured conductivity at temperature_C; overrides the tabulated value",
    )  # fmt: skip
    conductivity_factor: float = param(
        1.0, min=0.0, min_exclusive=True, max=10.0,
        help="calibration factor on the conductivity (gas and heating in the gap); κ = factor × κ(table or measured)",
    )  # fmt: skip


@dataclass(frozen=True)
class ElectricalConfig:
    """[electrical] the power supply."""

    voltage_V: float = param(
        unit="V", required=True, min=0.0, min_exclusive=True, max=200.0,
        help="applied voltage U between tool and workpiece",
    )  # fmt: skip
    overpotential_V: float = param(
        2.0, unit="V", min=0.0, max=20.0,
        help="sum of electrode overpotentials ΔU; the electrolyte sees U − ΔU",
    )  # fmt: skip
    pulse_on_ms: float | None = param(unit="ms", min=1e-3, max=1e6, help="pulse on time; omit for DC")
    pulse_off_ms: float | None = param(unit="ms", min=1e-3, max=1e6, help="pulse off time; omit for DC")
    reverse_period_s: float | None = param(
        unit="s", min=0.0, min_exclusive=True,
        help="period of the polarity-reversal cycle (STEM deposit stripping); omit for none",
    )  # fmt: skip
    reverse_duration_ms: float | None = param(
        unit="ms", min=0.0, min_exclusive=True,
        help="reversed-polarity time in each reverse_period_s (no dissolution meanwhile)",
    )  # fmt: skip
    max_current_density_A_per_cm2: float | None = param(
        unit="A/cm²", min=0.0, min_exclusive=True,
        help="sparking/boiling limit; exceeding it ends the run as limit_exceeded; omit for none",
    )  # fmt: skip
    control: str = param(
        "voltage", kind="str", choices=("voltage", "current"),
        help="supply mode: voltage (holds voltage_V) or current (the voltage follows the gap to hold current_A, "
        "up to max_voltage_V; voltage_V is then only the first solve's, rescaled at once)",
    )  # fmt: skip
    current_A: float | None = param(
        unit="A", min=0.0, min_exclusive=True, max=10000.0,
        help="with control = current: the set cell current the supply holds",
    )  # fmt: skip
    max_voltage_V: float | None = param(
        unit="V", min=0.0, min_exclusive=True, max=200.0,
        help="with control = current: the supply's voltage limit; needing more ends the run as voltage_limit",
    )  # fmt: skip


@dataclass(frozen=True)
class MotionConfig:
    """[motion] the tool feed."""

    feed_rate_mm_per_min: float = param(
        unit="mm/min", required=True, min=0.0, max=100.0,
        help="tool feed rate f along the hole axis (0: stationary tool)",
    )  # fmt: skip
    depth_mm: float = param(
        unit="mm", required=True, min=0.0, min_exclusive=True,
        help="tool travel below the workpiece surface at which drilling stops",
    )  # fmt: skip
    initial_gap_mm: float = param(
        0.1, unit="mm", min=0.0, min_exclusive=True,
        help="gap between the tool face and the workpiece surface at the start",
    )  # fmt: skip
    dwell_s: float = param(0.0, unit="s", min=0.0, help="time the tool stays at depth_mm after the feed stops")
    feed_control: str = param(
        "constant", kind="str", choices=("constant", "servo"),
        help="constant: feed_rate_mm_per_min throughout; servo: a gap controller adapts the feed (starting from "
        "feed_rate_mm_per_min) within [min_feed_rate_mm_per_min, max_feed_rate_mm_per_min] to hold servo_target",
    )  # fmt: skip
    servo_target: str | None = param(
        kind="str", choices=("current", "frontal_gap"),
        help="with feed_control = servo: the quantity held, target_current_A or target_frontal_gap_mm",
    )  # fmt: skip
    target_current_A: float | None = param(
        unit="A", min=0.0, min_exclusive=True, max=10000.0,
        help="with servo_target = current: the cell current the feed holds",
    )  # fmt: skip
    target_frontal_gap_mm: float | None = param(
        unit="mm", min=0.0, min_exclusive=True, max=10.0,
        help="with servo_target = frontal_gap: the frontal gap the feed holds (tool face to hole bottom)",
    )  # fmt: skip
    min_feed_rate_mm_per_min: float = param(
        0.0, unit="mm/min", min=0.0, max=100.0,
        help="with feed_control = servo: the slowest feed (0: the tool may stop)",
    )  # fmt: skip
    max_feed_rate_mm_per_min: float | None = param(
        unit="mm/min", min=0.0, min_exclusive=True, max=100.0,
        help="with feed_control = servo: the fastest feed (required)",
    )  # fmt: skip
    servo_time_constant_s: float = param(
        2.0, unit="s", min=0.01, max=1000.0,
        help="with feed_control = servo: time in which the controller removes a gap error (first-order approach)",
    )  # fmt: skip


@dataclass(frozen=True)
class NumericsConfig:
    """[numerics] grid and solver settings."""

    cell_size_mm: float = param(0.01, unit="mm", min=0.0005, max=1.0, help="grid spacing h of the (r, z) grid")
    domain_radius_mm: float | None = param(
        unit="mm", min=0.0, min_exclusive=True,
        help="radial extent of the grid; default: the expected side wall (coaxial estimate) + domain_margin_mm",
    )  # fmt: skip
    domain_margin_mm: float = param(
        0.2, unit="mm", min=0.0,
        help="electrolyte and metal modelled beyond the expected hole: radially, below the final depth, "
        "and at both ends of the window that follows the tool",
    )  # fmt: skip
    electrolyte_above_surface_mm: float = param(
        0.2, unit="mm", min=0.0,
        help="height of electrolyte modelled above the workpiece surface (flooded entry)",
    )  # fmt: skip
    cfl: float = param(
        0.4, min=0.0, min_exclusive=True, max=0.5,
        help="time step as a fraction of a cell per fastest surface speed (≤ 0.5)",
    )  # fmt: skip
    solver: str = param(
        "mg-cg", kind="str", choices=solver_names(),
        help="potential solver: multigrid-preconditioned CG (mg-cg) or MIC(0)-preconditioned CG (mic-cg)",
    )  # fmt: skip
    solver_tolerance: float = param(
        1e-8, min=1e-13, max=1e-2,
        help="relative residual at which the potential solve stops (double precision reaches about 1e-13)",
    )  # fmt: skip
    max_solver_iterations: int = param(5000, kind="int", min=1, help="iteration cap of one potential solve")
    redistance_every: int = param(5, kind="int", min=1, help="steps between re-initialisations of the level set")
    theta_min: float = param(
        1e-3, min=0.0, min_exclusive=True, max=0.5,
        help="smallest cut-link fraction used at an embedded boundary",
    )  # fmt: skip
    short_circuit_gap_mm: float | None = param(
        unit="mm", min=0.0, min_exclusive=True,
        help="gap below which the run ends as a short circuit; default: half a cell",
    )  # fmt: skip
    max_steps: int = param(1_000_000, kind="int", min=1, help="safety cap on the number of time steps")
    window: str = param(
        "auto", kind="str", choices=("auto", "on", "off"),
        help="solve only a window that follows the tool tip (auto: for coated tools)",
    )  # fmt: skip
    window_behind_mm: float | None = param(
        unit="mm", min=0.0, min_exclusive=True,
        help="window length above the tool face; default: bare tip + 8 equilibrium gaps + domain_margin_mm",
    )  # fmt: skip
    steady_jump: bool = param(
        True, kind="bool",
        help="once the hole seen from the tool has settled (constant feed and voltage, coated tool, "
        "primary physics), cross the steady part of the hole in one jump instead of time steps",
    )  # fmt: skip
    steady_tolerance_mm: float = param(
        0.0001, unit="mm", min=0.0, min_exclusive=True, max=0.01,
        help="largest change of the tool-frame profile (wall radius, frontal gap) over 3 and 6 "
        "equilibrium gaps of travel below which the state counts as steady",
    )  # fmt: skip
    output_interval_mm: float = param(
        0.05, unit="mm", min=0.0, min_exclusive=True,
        help="tool travel between recorded diameter-profile snapshots",
    )  # fmt: skip
    diameter_station_mm: float = param(
        0.2, unit="mm", min=0.0,
        help="depth below the entry surface (and above a plate's far face) where entry and exit diameters are read",
    )  # fmt: skip


@dataclass(frozen=True)
class FlowConfig:
    """[flow] the electrolyte supply through the tool (read with [physics] secondary = true)."""

    inlet_pressure_MPa: float | None = param(
        unit="MPa", min=0.0, min_exclusive=True, max=50.0,
        help="absolute pressure at the tool inlet (pressure-controlled pump); give this or flow_rate_l_per_min",
    )  # fmt: skip
    flow_rate_l_per_min: float | None = param(
        unit="L/min", min=0.0, min_exclusive=True, max=100.0,
        help="electrolyte flow through the tool (flow-controlled pump); give this or inlet_pressure_MPa",
    )  # fmt: skip
    inlet_temperature_C: float | None = param(
        unit="°C", min=0.0, max=100.0, help="electrolyte temperature at the inlet; default: [electrolyte] temperature_C"
    )
    outlet_pressure_MPa: float = param(
        0.101325, unit="MPa", min=0.0, min_exclusive=True, max=50.0,
        help="absolute pressure where the electrolyte leaves the hole (default: one atmosphere)",
    )  # fmt: skip
    tube_length_mm: float = param(
        100.0, unit="mm", min=0.0, min_exclusive=True, max=5000.0,
        help="length of the tool bore from the inlet (where the pressure is set) to the tip",
    )  # fmt: skip
    wall_heat_transfer_W_per_m2_K: float = param(
        0.0, unit="W/(m²·K)", min=0.0, max=1e6,
        help="heat transfer from the electrolyte to the walls; 0: adiabatic (an upper bound of the heating)",
    )  # fmt: skip
    bore_entrance_loss: float = param(0.5, min=0.0, max=20.0, help="minor-loss coefficient K at the bore entrance")
    tip_turn_loss: float = param(1.5, min=0.0, max=20.0, help="minor-loss coefficient K of the turn at the tool face")
    exit_loss: float = param(1.0, min=0.0, max=20.0, help="minor-loss coefficient K where the flow leaves the hole")
    boiling_margin_K: float = param(
        5.0, unit="K", min=0.0, max=100.0,
        help="the run ends as boiling when the electrolyte comes this close to its boiling point at the local pressure",
    )  # fmt: skip
    max_void_fraction: float = param(
        0.6, min=0.0, min_exclusive=True, max=1.0,
        help="the run ends as gas_choking when the gas void fraction along the gap exceeds this",
    )  # fmt: skip
    min_flow_rate_l_per_min: float = param(
        0.005, unit="L/min", min=0.0, max=100.0,
        help="the run ends as flow_starvation when the electrolyte flow falls below this",
    )  # fmt: skip


@dataclass(frozen=True)
class PhysicsConfig:
    """[physics] which physics a simulation includes."""

    secondary: bool = param(
        False, kind="bool",
        help="flow, heating and gas along the gap set the conductivity each step (needs a tube tool and [flow]); "
        "false: one conductivity everywhere",
    )  # fmt: skip
    heating: bool = param(True, kind="bool", help="with secondary: Joule heating raises the temperature along the gap")
    gas: bool = param(True, kind="bool", help="with secondary: hydrogen and oxygen fill part of the gap")
    bruggeman_exponent: float = param(
        1.5, min=0.0, max=5.0, help="exponent of (1 − void fraction) in the conductivity of the bubbly electrolyte"
    )


@dataclass(frozen=True)
class DataConfig:
    """[data] extra materials/electrolyte data files (paths relative to the config)."""

    files: list[str] = param(kind="list", help="TOML data files adding alloys or electrolytes")


TABLES: dict[str, type] = {
    "workpiece": WorkpieceConfig,
    "tool": ToolConfig,
    "electrolyte": ElectrolyteConfig,
    "electrical": ElectricalConfig,
    "motion": MotionConfig,
    "numerics": NumericsConfig,
    "flow": FlowConfig,
    "physics": PhysicsConfig,
    "data": DataConfig,
}
#: A free-form table validated by :func:`ecmsim.electrolytes.efficiency_from_mapping`.
EFFICIENCY_TABLE = "current_efficiency"
EFFICIENCY_KEYS = (
    "model", "efficiency", "efficiency_max", "threshold_A_per_cm2", "saturation_A_per_cm2",
    "current_density_A_per_cm2", "source",
)  # fmt: skip
OPTIONAL_TABLES = ("numerics", "flow", "physics", "data", EFFICIENCY_TABLE)


@dataclass(frozen=True)
class ProcessConfig:
    """A validated process config.

    Attributes
    ----------
    source
        Where the config came from (file path or ``"<dict>"``).
    defaulted
        ``"table.key"`` names whose value is the schema default.
    raw
        The config as read, with overrides applied (for provenance).
    """

    workpiece: WorkpieceConfig
    tool: ToolConfig
    electrolyte: ElectrolyteConfig
    electrical: ElectricalConfig
    motion: MotionConfig
    numerics: NumericsConfig = field(default_factory=NumericsConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    current_efficiency: Mapping[str, Any] | None = None
    source: str = "<dict>"
    base_dir: str = "."
    defaulted: frozenset[str] = frozenset()
    raw: Mapping[str, Any] = field(default_factory=dict)

    def data_files(self) -> list[Path]:
        """Extra data files, resolved against the config's folder."""
        return [Path(self.base_dir) / f for f in self.data.files]

    def to_dict(self) -> dict[str, Any]:
        """Resolved values of every table (defaults filled in)."""
        out: dict[str, Any] = {}
        for name in TABLES:
            obj = getattr(self, name)
            out[name] = {f.name: copy.deepcopy(getattr(obj, f.name)) for f in fields(obj)}
        if self.current_efficiency is not None:
            out[EFFICIENCY_TABLE] = dict(self.current_efficiency)
        return out

    def raw_document(self) -> dict[str, Any]:
        """A copy of the config as read (overrides applied), tables as fresh dicts."""
        return {k: copy.deepcopy(dict(v)) if isinstance(v, Mapping) else copy.deepcopy(v) for k, v in self.raw.items()}

    def changed_document(
        self, changes: Mapping[str, Any] | None = None, *, remove: Iterable[str] = (), source: str | None = None
    ) -> dict[str, Any]:
        """The config as read with ``changes`` applied and ``remove`` dropped, not validated.

        The document :meth:`replace` validates; also what a variant that fails
        validation is known by, and what a changed config is written back as.
        The arguments are those of :meth:`replace`.
        """
        doc = self.raw_document()
        for name in remove:
            table, _, key = name.partition(".")
            sub = doc.get(table)
            if isinstance(sub, dict):
                sub.pop(key, None)
        for name, value in (changes or {}).items():
            table, dot, key = name.partition(".")
            if not dot or not key:
                raise ConfigError(f"config change {name!r}: expected 'table.key'", source or self.source)
            sub = doc.setdefault(table, {})
            if not isinstance(sub, dict):
                raise ConfigError(f"config change {name!r}: [{table}] is not a table", source or self.source)
            sub[key] = value
        return doc

    def replace(
        self,
        changes: Mapping[str, Any] | None = None,
        *,
        remove: Iterable[str] = (),
        source: str | None = None,
    ) -> ProcessConfig:
        """A variant of this config, validated afresh.

        Parameters
        ----------
        changes
            ``{"table.key": value}`` in the units of the config file, applied to
            the config as read (so unchanged keys keep their defaulted status).
        remove
            ``"table.key"`` names to drop (they fall back to their defaults).
        source
            The variant's source for messages; this config's by default.

        Raises
        ------
        ConfigError
            A change names an unknown key or gives a value the schema refuses.
        """
        doc = self.changed_document(changes, remove=remove, source=source)
        return config_from_dict(doc, source=source or self.source, base_dir=self.base_dir)

    def hash(self) -> str:
        """SHA-256 of the resolved values (stable across key order and formatting)."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def _suggest(key: str, allowed: Iterable[str]) -> str:
    near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def _describe_allowed(meta: Mapping[str, Any]) -> str:
    kind = meta["kind"]
    if meta["choices"]:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    if kind == "str":
        return "a string"
    if kind == "bool":
        return "true or false"
    if kind == "dict":
        return "a table of element = number"
    if kind == "list":
        return "a list of strings"
    parts = ["an integer" if kind == "int" else "a number"]
    if meta["min"] is not None:
        parts.append(f"{'>' if meta['min_exclusive'] else '>='} {meta['min']:g}")
    if meta["max"] is not None:
        parts.append(f"<= {meta['max']:g}")
    return " ".join(parts[:1]) + (" " + " and ".join(parts[1:]) if parts[1:] else "")


def _finite(value: float) -> bool:
    """True for a number that converts to a finite float."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _check_value(table: str, key: str, value: Any, meta: Mapping[str, Any], src: str) -> Any:
    unit = f" {meta['unit']}" if meta["unit"] else ""
    what = f"[{table}] {key} = {value!r}{unit}"

    def bad() -> ConfigError:
        return ConfigError(f"{what} is not allowed: expected {_describe_allowed(meta)}", src)

    kind = meta["kind"]
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise bad()
        if meta["choices"] and value not in meta["choices"]:
            raise bad()
        return value
    if kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad()
        return list(value)
    if kind == "dict":
        if not isinstance(value, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and _finite(v) and 0 < v <= meta["max"]
            for v in value.values()
        ):
            raise ConfigError(f"{what}: expected a table of element = number > 0 and <= {meta['max']:g}", src)
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad()
    if kind == "int" and not isinstance(value, int):
        raise bad()
    if not _finite(value):  # also integers too large for a float (TOML allows 400 digits)
        raise bad()
    if kind == "int" and not -(2**63) <= value < 2**63:
        raise bad()
    lo, hi = meta["min"], meta["max"]
    if lo is not None and (value <= lo if meta["min_exclusive"] else value < lo):
        raise bad()
    if hi is not None and value > hi:
        raise bad()
    return int(value) if kind == "int" else float(value)


def parse_override(text: str) -> tuple[str, str, Any]:
    """Parse ``table.key=value`` (value in TOML syntax, bare words as strings)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected table.key=value")
    path, _, value_text = text.partition("=")
    parts = path.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set {text!r}: the key must be table.key, e.g. electrical.voltage_V")
    try:
        value = tomllib.loads(f"v = {value_text.strip()}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        value = value_text.strip()
    return parts[0], parts[1], value


def apply_overrides(doc: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``doc`` with ``--set table.key=value`` overrides applied."""
    out = copy.deepcopy(doc)
    for text in overrides:
        table, key, value = parse_override(text)
        if table not in TABLES and table != EFFICIENCY_TABLE:
            raise ConfigError(
                f"--set {text!r}: unknown table [{table}]{_suggest(table, TABLES)} "
                f"(tables: {', '.join([*TABLES, EFFICIENCY_TABLE])})"
            )
        allowed = EFFICIENCY_KEYS if table == EFFICIENCY_TABLE else [f.name for f in fields(TABLES[table])]
        if key not in allowed:
            raise ConfigError(
                f"--set {text!r}: unknown key {key!r} in [{table}]{_suggest(key, allowed)} (keys: {', '.join(allowed)})"
            )
        sub = out.setdefault(table, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"--set {text!r}: [{table}] in the config is not a table")
        sub[key] = value
    return out


def _table(name: str, cls: type, doc: Mapping[str, Any], src: str, defaulted: set[str]) -> Any:
    given = doc.get(name, {})
    if not isinstance(given, dict):
        raise ConfigError(f"[{name}] must be a table, got {given!r}", src)
    allowed = [f.name for f in fields(cls)]
    for key in given:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {key!r} in [{name}]{_suggest(key, allowed)} (allowed: {', '.join(allowed)})",
                src,
            )
    values = {}
    for f in fields(cls):
        meta = f.metadata
        if f.name in given:
            values[f.name] = _check_value(name, f.name, given[f.name], meta, src)
        elif meta["required"]:
            unit = f" ({meta['unit']})" if meta["unit"] else ""
            raise ConfigError(f"[{name}] {f.name}{unit} is required: {meta['help']}", src)
        else:
            defaulted.add(f"{name}.{f.name}")
            if f.default is MISSING and f.default_factory is not MISSING:
                values[f.name] = f.default_factory()
    return cls(**values)


def _check_consistency(cfg: ProcessConfig, src: str) -> None:
    t, m, w, e, n = cfg.tool, cfg.motion, cfg.workpiece, cfg.electrical, cfg.numerics
    if t.inner_diameter_mm >= t.outer_diameter_mm:
        raise ConfigError(
            f"[tool] inner_diameter_mm = {t.inner_diameter_mm} mm must be smaller than "
            f"outer_diameter_mm = {t.outer_diameter_mm} mm (0 for a solid rod)",
            src,
        )
    if t.coating_thickness_mm > 0.5 * t.outer_diameter_mm:
        raise ConfigError(
            f"[tool] coating_thickness_mm = {t.coating_thickness_mm} mm is thicker than the tool "
            f"radius ({0.5 * t.outer_diameter_mm:g} mm); the coating cannot fit in the hole",
            src,
        )
    if t.bare_tip_length_mm > m.depth_mm and t.coating_thickness_mm > 0:
        raise ConfigError(
            f"[tool] bare_tip_length_mm = {t.bare_tip_length_mm} mm exceeds [motion] depth_mm = "
            f"{m.depth_mm} mm: the coating would never enter the hole; use coating_thickness_mm = 0",
            src,
        )
    if w.thickness_mm is not None and m.depth_mm > w.thickness_mm:
        raise ConfigError(
            f"[motion] depth_mm = {m.depth_mm} mm is beyond the plate: [workpiece] thickness_mm = "
            f"{w.thickness_mm} mm (set depth_mm <= thickness_mm; the hole breaks through "
            "ahead of the tool)",
            src,
        )
    if e.overpotential_V >= e.voltage_V:
        raise ConfigError(
            f"[electrical] overpotential_V = {e.overpotential_V} V must be below voltage_V = "
            f"{e.voltage_V} V (nothing dissolves otherwise)",
            src,
        )
    for a, b in (("pulse_on_ms", "pulse_off_ms"), ("reverse_period_s", "reverse_duration_ms")):
        if (getattr(e, a) is None) != (getattr(e, b) is None):
            raise ConfigError(f"[electrical] {a} and {b} must be given together", src)
    if e.pulse_on_ms is not None and e.pulse_off_ms is not None:
        duty = e.pulse_on_ms / (e.pulse_on_ms + e.pulse_off_ms)
        if duty < MIN_PULSE_DUTY:
            raise ConfigError(
                f"[electrical] pulse_on_ms = {e.pulse_on_ms} ms with pulse_off_ms = {e.pulse_off_ms} ms is a duty "
                f"cycle of {duty:.3g}: at least {MIN_PULSE_DUTY:g} (lengthen pulse_on_ms or shorten pulse_off_ms)",
                src,
            )
    if e.reverse_period_s is not None and e.reverse_duration_ms is not None:
        if e.reverse_duration_ms * MS >= e.reverse_period_s:
            raise ConfigError(
                f"[electrical] reverse_duration_ms = {e.reverse_duration_ms} ms must be shorter "
                f"than reverse_period_s = {e.reverse_period_s} s",
                src,
            )
    if m.feed_rate_mm_per_min == 0 and m.dwell_s == 0:
        raise ConfigError("[motion] feed_rate_mm_per_min = 0 needs dwell_s > 0 (how long to machine)", src)
    h = n.cell_size_mm
    wall = 0.5 * (t.outer_diameter_mm - t.inner_diameter_mm)
    if wall < 2 * h:
        raise ConfigError(
            f"[numerics] cell_size_mm = {h} mm does not resolve the tube wall "
            f"({wall:g} mm): use at most {wall / 2:g} mm",
            src,
        )
    if m.initial_gap_mm < 2 * h:
        raise ConfigError(
            f"[motion] initial_gap_mm = {m.initial_gap_mm} mm is under two cells "
            f"([numerics] cell_size_mm = {h} mm): use at least {2 * h:g} mm",
            src,
        )
    if n.domain_radius_mm is not None:
        need = 0.5 * t.outer_diameter_mm + t.coating_thickness_mm + 4 * h
        if n.domain_radius_mm < need:
            raise ConfigError(
                f"[numerics] domain_radius_mm = {n.domain_radius_mm} mm leaves no room beside "
                f"the tool: use at least {need:g} mm",
                src,
            )


def _check_flow(cfg: ProcessConfig, src: str) -> None:
    """[flow] and [physics]: one way to set the flow, and what secondary physics needs."""
    f = cfg.flow
    given = [k for k in ("inlet_pressure_MPa", "flow_rate_l_per_min") if getattr(f, k) is not None]
    if len(given) == 2:
        raise ConfigError(
            f"[flow] inlet_pressure_MPa = {f.inlet_pressure_MPa} MPa and flow_rate_l_per_min = "
            f"{f.flow_rate_l_per_min} L/min are both given: give exactly one (a pump sets either the pressure "
            "or the flow)",
            src,
        )
    if not cfg.physics.secondary:
        return
    if not given:
        raise ConfigError(
            "[physics] secondary = true needs the supply: give [flow] inlet_pressure_MPa or flow_rate_l_per_min", src
        )
    if cfg.tool.inner_diameter_mm == 0:
        raise ConfigError(
            "[physics] secondary = true needs a tube tool (the electrolyte flows through its bore): "
            "[tool] inner_diameter_mm = 0 is a solid rod",
            src,
        )
    if f.inlet_pressure_MPa is not None and f.inlet_pressure_MPa <= f.outlet_pressure_MPa:
        raise ConfigError(
            f"[flow] inlet_pressure_MPa = {f.inlet_pressure_MPa} MPa must exceed outlet_pressure_MPa = "
            f"{f.outlet_pressure_MPa} MPa (absolute pressures) for the electrolyte to flow",
            src,
        )
    if f.tube_length_mm < cfg.motion.depth_mm:
        raise ConfigError(
            f"[flow] tube_length_mm = {f.tube_length_mm} mm is shorter than [motion] depth_mm = "
            f"{cfg.motion.depth_mm} mm: the tube must reach the hole bottom",
            src,
        )


def _check_control(cfg: ProcessConfig, src: str) -> None:
    """[electrical] control and [motion] feed_control: what each mode needs."""
    e, m = cfg.electrical, cfg.motion
    if e.control == "current":
        for key, unit in (("current_A", "A"), ("max_voltage_V", "V")):
            if getattr(e, key) is None:
                raise ConfigError(
                    f'[electrical] control = "current" needs {key} ({unit}): '
                    + ("the set current the supply holds" if key == "current_A" else "the supply's voltage limit"),
                    src,
                )
        assert e.max_voltage_V is not None
        if e.max_voltage_V <= e.overpotential_V:
            raise ConfigError(
                f"[electrical] max_voltage_V = {e.max_voltage_V} V must exceed overpotential_V = "
                f"{e.overpotential_V} V (nothing dissolves below it)",
                src,
            )
    if m.feed_control != "servo":
        return
    if m.servo_target is None:
        raise ConfigError(
            '[motion] feed_control = "servo" needs servo_target = "current" (with target_current_A) or '
            '"frontal_gap" (with target_frontal_gap_mm)',
            src,
        )
    key = "target_current_A" if m.servo_target == "current" else "target_frontal_gap_mm"
    if getattr(m, key) is None:
        raise ConfigError(f'[motion] servo_target = "{m.servo_target}" needs {key}: the value the feed holds', src)
    if m.servo_target == "current" and e.control == "current":
        raise ConfigError(
            '[motion] servo_target = "current" with [electrical] control = "current": the supply already holds '
            'the current; use servo_target = "frontal_gap" or control = "voltage"',
            src,
        )
    if m.max_feed_rate_mm_per_min is None:
        raise ConfigError(
            '[motion] feed_control = "servo" needs max_feed_rate_mm_per_min (mm/min): the fastest feed', src
        )
    lo, hi = m.min_feed_rate_mm_per_min, m.max_feed_rate_mm_per_min
    if lo >= hi:
        raise ConfigError(
            f"[motion] min_feed_rate_mm_per_min = {lo} mm/min must be below max_feed_rate_mm_per_min = {hi} mm/min",
            src,
        )
    if not lo <= m.feed_rate_mm_per_min <= hi:
        raise ConfigError(
            f"[motion] feed_rate_mm_per_min = {m.feed_rate_mm_per_min} mm/min (the starting feed of the servo) "
            f"must lie within [min_feed_rate_mm_per_min, max_feed_rate_mm_per_min] = [{lo:g}, {hi:g}] mm/min",
            src,
        )
    gap = m.target_frontal_gap_mm
    if m.servo_target == "frontal_gap" and gap is not None and gap < 2 * cfg.numerics.cell_size_mm:
        raise ConfigError(
            f"[motion] target_frontal_gap_mm = {gap} mm is under two cells ([numerics] cell_size_mm = "
            f"{cfg.numerics.cell_size_mm} mm): use at least {2 * cfg.numerics.cell_size_mm:g} mm",
            src,
        )


def config_from_dict(
    doc: Mapping[str, Any],
    source: str = "<dict>",
    base_dir: str | Path = ".",
    overrides: Iterable[str] = (),
) -> ProcessConfig:
    """Validate a config given as a nested mapping (as read from TOML).

    Raises
    ------
    ConfigError
        On any unknown, missing, mistyped, out-of-range or inconsistent value.
    """
    doc = apply_overrides(dict(doc), overrides)
    known = [*TABLES, EFFICIENCY_TABLE]
    for name in doc:
        if name not in known:
            raise ConfigError(
                f"unknown table [{name}]{_suggest(name, known)} (tables: {', '.join(known)})",
                source,
            )
    for name in TABLES:
        if name not in doc and name not in OPTIONAL_TABLES:
            raise ConfigError(f"missing table [{name}]", source)
    defaulted: set[str] = set()
    tables = {name: _table(name, cls, doc, source, defaulted) for name, cls in TABLES.items()}
    eff = doc.get(EFFICIENCY_TABLE)
    if eff is not None:
        if not isinstance(eff, dict):
            raise ConfigError(f"[{EFFICIENCY_TABLE}] must be a table", source)
        for key in eff:
            if key not in EFFICIENCY_KEYS:
                raise ConfigError(
                    f"unknown key {key!r} in [{EFFICIENCY_TABLE}]{_suggest(key, EFFICIENCY_KEYS)} "
                    f"(allowed: {', '.join(EFFICIENCY_KEYS)})",
                    source,
                )
        # Validate the model now so `config validate` catches it.
        from ecmsim.electrolytes import efficiency_from_mapping
        from ecmsim.errors import DataError

        try:
            efficiency_from_mapping(eff, f"[{EFFICIENCY_TABLE}]")
        except DataError as exc:
            raise ConfigError(str(exc), source) from None
    cfg = ProcessConfig(
        **tables,
        current_efficiency=eff,
        source=source,
        base_dir=str(base_dir),
        defaulted=frozenset(defaulted),
        raw=doc,
    )
    _check_consistency(cfg, source)
    _check_flow(cfg, source)
    _check_control(cfg, source)
    return cfg


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> ProcessConfig:
    """Read and validate a process config file (TOML).

    Parameters
    ----------
    path
        The TOML file.  ``example:NAME`` loads a bundled example from configs/.
    overrides
        ``table.key=value`` strings applied on top of the file.
    """
    from ecmsim.datafiles import read_toml

    p = resolve_config_path(path)
    doc = read_toml(p, "config file", ConfigError, reading="")
    return config_from_dict(doc, source=str(path), base_dir=p.parent, overrides=overrides)


def example_names() -> list[str]:
    """Names of the example configs bundled with ecmsim."""
    from importlib import resources

    base = resources.files("ecmsim.configs")
    return sorted(p.name[:-5] for p in base.iterdir() if p.name.endswith(".toml"))


def resolve_config_path(path: str | Path) -> Path:
    """Map ``example:NAME`` to the bundled file; other paths pass through."""
    text = str(path)
    if not text.startswith("example:"):
        return Path(path)
    from importlib import resources

    name = text.split(":", 1)[1].removesuffix(".toml")
    names = example_names()
    if name not in names:
        raise ConfigError(f"unknown example {name!r}{_suggest(name, names)} (examples: {', '.join(names)})")
    return Path(str(resources.files("ecmsim.configs") / f"{name}.toml"))


def schema_fields() -> Iterable[tuple[str, str, Mapping[str, Any], Any]]:
    """(table, key, metadata, default) of every field, for docs and ``config show``."""
    for name, cls in TABLES.items():
        for f in fields(cls):
            default = (
                f.default
                if f.default is not MISSING
                else (f.default_factory() if f.default_factory is not MISSING else None)
            )
            yield name, f.name, f.metadata, default
