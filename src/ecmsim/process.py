"""A process config resolved against the materials data, in SI units.

:func:`resolve` turns a validated :class:`~ecmsim.config.ProcessConfig`
into a :class:`Process`: alloy, ω, κ at temperature, the efficiency model
and the derived quantities of process-physics.md and verification.md:

* effective voltage U_eff = U − ΔU;
* duty factor d (pulse on-fraction × forward-polarity fraction): the mean
  dissolution rate is d times the DC rate;
* equilibrium current density j_e where η(j_e) ω j_e d = f;
* equilibrium frontal gap h_e = κ U_eff / j_e (= η ω κ U_eff d / f for a
  constant efficiency);
* the machining constant k = η ω κ U_eff d (m²/s).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ecmsim.config import ProcessConfig
from ecmsim.control import Control
from ecmsim.datafiles import builtin_files, env_files, load_raw
from ecmsim.electrolytes import (
    CurrentEfficiency,
    Electrolyte,
    ElectrolyteDB,
    efficiency_from_mapping,
)
from ecmsim.errors import ConfigError, DataError
from ecmsim.gap_physics import Supply
from ecmsim.geometry import Tool
from ecmsim.materials import Alloy, Equivalent, MaterialsDB
from ecmsim.units import A_PER_CM2, MM, MM3, MM_PER_MIN, MS


@dataclass(frozen=True)
class Process:
    """Everything the simulator needs, in SI units.

    This is the one place where config values (mm, mm/min, A/cm², ms) become SI;
    the domain, the stepper and the equilibrium solver read only these fields
    (and ``config`` for dimensionless settings such as ``[numerics] cfl``).

    Attributes
    ----------
    config : ProcessConfig
        The validated config this was resolved from (config units).
    omega : float
        Volumetric electrochemical equivalent, m³/C.
    conductivity : float
        Electrolyte conductivity at the working temperature, S/m.
    u_eff : float
        Voltage across the electrolyte, U − ΔU, V.
    feed : float
        Tool feed rate, m/s.
    duty : float
        Fraction of the time during which the anode dissolves (0–1].
    tool : Tool
        Tube radii, coating thickness and bare-tip length, m.
    cell_size : float
        Grid spacing h, m.
    depth : float
        Final depth of the tool face below the original surface, m.
    initial_gap : float
        Distance of the tool face above the surface at the start, m.
    dwell : float
        Time the tool stays at depth after the feed stops, s.
    thickness : float or None
        Plate thickness, m (None: a thick block, the hole stays blind).
    short_circuit_gap : float
        A tool–workpiece gap below this ends the run as a short circuit, m
        (default half a cell).
    max_current_density : float
        Anode current density that ends the run, A/m² (``inf``: no limit).
    domain_radius : float or None
        Radius of the grid, m (None: sized from the expected side gap).
    domain_margin : float
        ``[numerics] domain_margin_mm``, m: electrolyte and metal kept beyond the
        expected extent of the hole (radially, below the final depth, at both ends
        of the window).
    electrolyte_above_surface : float
        Height of the flooded electrolyte film above the surface, m.
    window_behind : float or None
        ``[numerics] window_behind_mm``, m (None: the domain chooses it).
    output_interval : float
        Tool travel between wall snapshots, m.
    diameter_station : float
        ``[numerics] diameter_station_mm``, m: depth below the surface of the
        entry diameter (and above the bottom or exit of the exit diameter).
    machining_time : float
        Feed travel (initial gap plus depth) over the feed rate, plus the dwell,
        s (inf without feed).
    steady_tolerance : float
        ``[numerics] steady_tolerance_mm``, m: how little the frame profile may
        change for the steady-segment jump.
    supply : Supply or None
        The electrolyte supply with ``[physics] secondary = true`` (None: the
        primary model, one conductivity everywhere).
    overpotential : float
        Sum of the electrode overpotentials ΔU, V.
    control : Control
        Supply and feed control (``[electrical] control``, ``[motion] feed_control``);
        ``u_eff`` and ``feed`` are then the values of the first step.
    """

    config: ProcessConfig
    alloy: Alloy
    equivalent: Equivalent
    electrolyte: Electrolyte
    efficiency: CurrentEfficiency
    efficiency_origin: str
    conductivity: float
    conductivity_origin: str
    u_eff: float
    feed: float
    duty: float
    tool: Tool
    cell_size: float
    depth: float
    initial_gap: float
    dwell: float
    thickness: float | None
    short_circuit_gap: float
    max_current_density: float
    domain_radius: float | None
    domain_margin: float
    electrolyte_above_surface: float
    window_behind: float | None
    output_interval: float
    diameter_station: float
    machining_time: float
    steady_tolerance: float
    supply: Supply | None = None
    overpotential: float = 0.0
    control: Control = Control()

    @property
    def omega(self) -> float:
        return self.equivalent.omega

    @property
    def equilibrium_current_density(self) -> float:
        """j_e in A/m² (``inf`` with no feed)."""
        if self.feed == 0:
            return float("inf")
        return self.efficiency.equilibrium_current_density(self.omega * self.duty, self.feed)

    @property
    def equilibrium_gap(self) -> float:
        """Equilibrium frontal gap h_e in m (``inf`` with no feed)."""
        if self.feed == 0:
            return float("inf")
        return self.conductivity * self.u_eff / self.equilibrium_current_density

    @property
    def machining_constant(self) -> float:
        """k = η ω κ U_eff d in m²/s, with η taken at the equilibrium current density."""
        j = self.equilibrium_current_density if self.feed > 0 else 1e6
        eta = float(self.efficiency(j)) if j != float("inf") else 1.0
        return eta * self.omega * self.conductivity * self.u_eff * self.duty

    def derived(self) -> dict[str, dict[str, Any]]:
        """Derived quantities in engineering units, for reports and ``config show``."""
        h_e = self.equilibrium_gap
        j_e = self.equilibrium_current_density
        out: dict[str, dict[str, Any]] = {
            "alloy": {"value": self.alloy.name, "unit": "", "note": self.alloy.key},
            "electrochemical_equivalent": {
                "value": self.omega / MM3, "unit": "mm³/C", "note": self.equivalent.basis,
            },
            "electrochemical_equivalent_per_A_min": {
                "value": self.omega / MM3 * 60.0, "unit": "mm³/(A·min)", "note": "",
            },
            "conductivity": {
                "value": self.conductivity, "unit": "S/m", "note": self.conductivity_origin,
            },
            "current_efficiency_model": {
                "value": self.efficiency.model, "unit": "", "note": self.efficiency_origin,
            },
            "effective_voltage": {"value": self.u_eff, "unit": "V", "note": "U − ΔU"},
            "duty_factor": {"value": self.duty, "unit": "", "note": "pulse × polarity"},
            "equilibrium_current_density": {
                "value": j_e / A_PER_CM2, "unit": "A/cm²", "note": "η(j) ω j d = f",
            },
            "equilibrium_current_efficiency": {
                "value": float(self.efficiency(j_e)) if self.feed > 0 else None,
                "unit": "", "note": "",
            },
            "equilibrium_frontal_gap": {
                "value": h_e / MM if self.feed > 0 else None, "unit": "mm",
                "note": "h_e = η ω κ (U − ΔU) d / f",
            },
        }  # fmt: skip
        return out


def duty_factor(cfg: ProcessConfig) -> float:
    """Fraction of the time the anode dissolves: pulse on-fraction × forward fraction."""
    e = cfg.electrical
    d = 1.0
    if e.pulse_on_ms is not None and e.pulse_off_ms is not None:
        d *= e.pulse_on_ms / (e.pulse_on_ms + e.pulse_off_ms)
    if e.reverse_period_s is not None and e.reverse_duration_ms is not None:
        d *= 1.0 - e.reverse_duration_ms * MS / e.reverse_period_s
    return d


def _control(cfg: ProcessConfig) -> Control:
    """The supply and feed control of ``cfg`` in SI units."""
    e, m = cfg.electrical, cfg.motion
    servo = m.feed_control == "servo"
    return Control(
        supply=e.control,
        current=e.current_A if e.control == "current" else None,
        max_voltage=e.max_voltage_V if e.control == "current" else None,
        feed=m.feed_control,
        servo_target=m.servo_target if servo else None,
        target_current=m.target_current_A if servo else None,
        target_gap=_mm(m.target_frontal_gap_mm) if servo else None,
        min_feed=m.min_feed_rate_mm_per_min * MM_PER_MIN if servo else 0.0,
        max_feed=m.max_feed_rate_mm_per_min * MM_PER_MIN if servo and m.max_feed_rate_mm_per_min else math.inf,
        time_constant=m.servo_time_constant_s,
    )


def _mm(value_mm: float | None) -> float | None:
    """A length in mm from the config as m (None stays None)."""
    return None if value_mm is None else length(value_mm)


def length(value_mm: float) -> float:
    """A length given in mm (a config value, or an argument in the config's units) in m."""
    return value_mm * MM


def _machining_time(cfg: ProcessConfig) -> float:
    """The planned machining time, s: feed travel over the feed rate plus the dwell (inf without feed)."""
    m = cfg.motion
    if m.feed_rate_mm_per_min <= 0:
        return math.inf
    return (m.depth_mm + m.initial_gap_mm) / m.feed_rate_mm_per_min * 60.0 + m.dwell_s


def _tool(cfg: ProcessConfig) -> Tool:
    t = cfg.tool
    return Tool(
        r_inner=0.5 * t.inner_diameter_mm * MM,
        r_outer=0.5 * t.outer_diameter_mm * MM,
        coating=t.coating_thickness_mm * MM,
        bare_tip=t.bare_tip_length_mm * MM,
    )


T = TypeVar("T")


def _look_up(find: Callable[[], T], key: str, cfg: ProcessConfig) -> T:
    """``find()``, with a :class:`DataError` raised as a :class:`ConfigError` naming ``key``."""
    try:
        return find()
    except DataError as exc:
        raise ConfigError(f"{key}{exc}", cfg.source) from None


def _equivalent(cfg: ProcessConfig, mdb: MaterialsDB) -> tuple[Alloy, Equivalent]:
    w = cfg.workpiece
    alloy = _look_up(lambda: mdb.alloy(w.alloy), "[workpiece] alloy: ", cfg)
    if w.electrochemical_equivalent_mm3_per_C is not None:
        return alloy, Equivalent(w.electrochemical_equivalent_mm3_per_C * MM3, "config")
    eq = _look_up(
        lambda: mdb.equivalent(alloy, w.valence_set, w.valences or None, use_measured=not w.valences),
        "[workpiece] valences: ",
        cfg,
    )
    return alloy, eq


def _conductivity(cfg: ProcessConfig, electrolyte: Electrolyte) -> tuple[float, str]:
    """κ at the working temperature (S/m) and where it came from."""
    e = cfg.electrolyte
    if e.conductivity_S_per_m is not None:
        kappa, k_origin = e.conductivity_S_per_m, "config"
    else:
        kappa = _look_up(
            lambda: electrolyte.conductivity(e.concentration_wt_pct, e.temperature_C), "[electrolyte]: ", cfg
        )
        k_origin = f"table at {electrolyte.reference_temperature_C:g} °C + temperature law"
    if e.conductivity_factor != 1.0:
        kappa *= e.conductivity_factor
        k_origin += f" × calibration factor {e.conductivity_factor:g}"
    if e.temperature_C >= electrolyte.boiling_point_C:
        raise ConfigError(
            f"[electrolyte] temperature_C = {e.temperature_C} °C is at or above the boiling "
            f"point of {electrolyte.key} ({electrolyte.boiling_point_C:g} °C)",
            cfg.source,
        )
    return kappa, k_origin


def _efficiency(
    cfg: ProcessConfig, edb: ElectrolyteDB, electrolyte: Electrolyte, alloy: Alloy
) -> tuple[CurrentEfficiency, str]:
    """The current-efficiency model η(j) and where it came from."""
    if cfg.current_efficiency is not None:
        return efficiency_from_mapping(cfg.current_efficiency, "[current_efficiency]"), "config [current_efficiency]"
    eff = _look_up(lambda: edb.efficiency(electrolyte, alloy.key), "", cfg)
    return eff, eff.source or "data file"


def _supply(cfg: ProcessConfig, electrolyte: Electrolyte, kappa: float) -> Supply | None:
    """The electrolyte supply of ``[flow]`` for the secondary physics (None when it is off)."""
    if not cfg.physics.secondary:
        return None
    from ecmsim import channel as ch

    e, f = cfg.electrolyte, cfg.flow
    rho, mu, cp = _look_up(lambda: electrolyte.bulk_properties(e.concentration_wt_pct), "[electrolyte]: ", cfg)
    a20, t20 = electrolyte.temperature_coefficient_per_K, electrolyte.reference_temperature_C
    # κ(T) is the data's straight line, referred to the working temperature where κ is known
    a_t = a20 / (1.0 + a20 * (e.temperature_C - t20))
    t_in = e.temperature_C if f.inlet_temperature_C is None else f.inlet_temperature_C
    if t_in >= electrolyte.boiling_point_C:
        raise ConfigError(
            f"[flow] inlet_temperature_C = {t_in} °C is at or above the boiling point of {electrolyte.key} "
            f"({electrolyte.boiling_point_C:g} °C)",
            cfg.source,
        )
    fluid = ch.Fluid(
        density=rho,
        viscosity=mu,
        viscosity_temperature=t20 + ch.ZERO_CELSIUS,
        specific_heat=cp,
        conductivity=kappa,
        temperature_coefficient=a_t,
        reference_temperature=e.temperature_C + ch.ZERO_CELSIUS,
        bruggeman_exponent=cfg.physics.bruggeman_exponent,
    )
    return Supply(
        fluid=fluid,
        inlet_pressure=None if f.inlet_pressure_MPa is None else f.inlet_pressure_MPa * 1e6,
        flow_rate=None if f.flow_rate_l_per_min is None else f.flow_rate_l_per_min * 1e-3 / 60.0,
        inlet_temperature=t_in + ch.ZERO_CELSIUS,
        outlet_pressure=f.outlet_pressure_MPa * 1e6,
        tube_length=f.tube_length_mm * MM,
        wall_heat_transfer=f.wall_heat_transfer_W_per_m2_K,
        losses=ch.MinorLosses(f.bore_entrance_loss, f.tip_turn_loss, f.exit_loss),
        heating=cfg.physics.heating,
        gas=cfg.physics.gas,
        boiling_elevation=electrolyte.boiling_point_C - 100.0,
        boiling_margin=f.boiling_margin_K,
        max_void_fraction=f.max_void_fraction,
        min_flow_rate=f.min_flow_rate_l_per_min * 1e-3 / 60.0,
    )


#: The databases of the built-in data alone, by the files' (path, modification time, size).
_BUILTIN_DBS: dict[tuple[tuple[str, int, int], ...], tuple[MaterialsDB, ElectrolyteDB]] = {}


def _databases(cfg: ProcessConfig) -> tuple[MaterialsDB, ElectrolyteDB]:
    """The materials and electrolyte databases of ``cfg``'s data files.

    With the built-in data alone (no ``[data] files``, no ``ECMSIM_DATA``) they
    are built once per process: a parameter search resolves hundreds of configs.
    """
    files = cfg.data_files()
    if files or env_files():
        raw = _look_up(lambda: load_raw(files), "", cfg)
        return _look_up(lambda: (MaterialsDB(raw), ElectrolyteDB(raw)), "", cfg)
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in builtin_files())
    if stamp not in _BUILTIN_DBS:
        raw = _look_up(lambda: load_raw(()), "", cfg)
        _BUILTIN_DBS[stamp] = _look_up(lambda: (MaterialsDB(raw), ElectrolyteDB(raw)), "", cfg)
    return _BUILTIN_DBS[stamp]


def resolve(cfg: ProcessConfig) -> Process:
    """Resolve a config against the materials data (built-in, env and ``[data] files``).

    Raises
    ------
    ConfigError
        When the alloy or electrolyte is unknown or the concentration or
        temperature lies outside the data; the message names the config key.
    """
    mdb, edb = _databases(cfg)
    alloy, eq = _equivalent(cfg, mdb)
    electrolyte = _look_up(lambda: edb.electrolyte(cfg.electrolyte.name), "[electrolyte] name: ", cfg)
    kappa, k_origin = _conductivity(cfg, electrolyte)
    eff, e_origin = _efficiency(cfg, edb, electrolyte, alloy)
    n, m = cfg.numerics, cfg.motion
    h = n.cell_size_mm * MM
    j_max = cfg.electrical.max_current_density_A_per_cm2
    return Process(
        config=cfg,
        alloy=alloy,
        equivalent=eq,
        electrolyte=electrolyte,
        efficiency=eff,
        efficiency_origin=e_origin,
        conductivity=kappa,
        conductivity_origin=k_origin,
        u_eff=cfg.electrical.voltage_V - cfg.electrical.overpotential_V,
        feed=cfg.motion.feed_rate_mm_per_min * MM_PER_MIN,
        duty=duty_factor(cfg),
        tool=_tool(cfg),
        cell_size=h,
        depth=m.depth_mm * MM,
        initial_gap=m.initial_gap_mm * MM,
        dwell=m.dwell_s,
        thickness=_mm(cfg.workpiece.thickness_mm),
        short_circuit_gap=(n.short_circuit_gap_mm * MM) if n.short_circuit_gap_mm else 0.5 * h,
        max_current_density=j_max * A_PER_CM2 if j_max else math.inf,
        domain_radius=_mm(n.domain_radius_mm),
        domain_margin=n.domain_margin_mm * MM,
        electrolyte_above_surface=n.electrolyte_above_surface_mm * MM,
        window_behind=_mm(n.window_behind_mm),
        output_interval=n.output_interval_mm * MM,
        diameter_station=n.diameter_station_mm * MM,
        machining_time=_machining_time(cfg),
        steady_tolerance=n.steady_tolerance_mm * MM,
        supply=_supply(cfg, electrolyte, kappa),
        overpotential=cfg.electrical.overpotential_V,
        control=_control(cfg),
    )
