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

from dataclasses import dataclass
from typing import Any

from ecmsim.config import ProcessConfig
from ecmsim.datafiles import load_raw
from ecmsim.electrolytes import (
    CurrentEfficiency,
    Electrolyte,
    ElectrolyteDB,
    efficiency_from_mapping,
)
from ecmsim.errors import ConfigError, DataError
from ecmsim.materials import Alloy, Equivalent, MaterialsDB
from ecmsim.units import A_PER_CM2, MM, MM3, MM_PER_MIN


@dataclass(frozen=True)
class Process:
    """Everything the simulator needs, in SI units.

    Attributes
    ----------
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
        d *= 1.0 - e.reverse_duration_ms * 1e-3 / e.reverse_period_s
    return d


def resolve(cfg: ProcessConfig) -> Process:
    """Resolve a config against the materials data (built-in, env and ``[data] files``).

    Raises
    ------
    ConfigError
        When the alloy or electrolyte is unknown or the concentration or
        temperature lies outside the data; the message names the config key.
    """
    try:
        raw = load_raw(cfg.data_files())
        mdb, edb = MaterialsDB(raw), ElectrolyteDB(raw)
    except DataError as exc:
        raise ConfigError(str(exc), cfg.source) from None
    w = cfg.workpiece
    try:
        alloy = mdb.alloy(w.alloy)
    except DataError as exc:
        raise ConfigError(f"[workpiece] alloy: {exc}", cfg.source) from None
    if w.electrochemical_equivalent_mm3_per_C is not None:
        eq = Equivalent(w.electrochemical_equivalent_mm3_per_C * MM3, "config")
    else:
        try:
            eq = mdb.equivalent(alloy, w.valence_set, w.valences or None, use_measured=not w.valences)
        except DataError as exc:
            raise ConfigError(f"[workpiece] valences: {exc}", cfg.source) from None
    e = cfg.electrolyte
    try:
        electrolyte = edb.electrolyte(e.name)
    except DataError as exc:
        raise ConfigError(f"[electrolyte] name: {exc}", cfg.source) from None
    if e.conductivity_S_per_m is not None:
        kappa, k_origin = e.conductivity_S_per_m, "config"
    else:
        try:
            kappa = electrolyte.conductivity(e.concentration_wt_pct, e.temperature_C)
        except DataError as exc:
            raise ConfigError(f"[electrolyte]: {exc}", cfg.source) from None
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
    if cfg.current_efficiency is not None:
        eff = efficiency_from_mapping(cfg.current_efficiency, "[current_efficiency]")
        e_origin = "config [current_efficiency]"
    else:
        try:
            eff = edb.efficiency(electrolyte, alloy.key)
        except DataError as exc:
            raise ConfigError(str(exc), cfg.source) from None
        e_origin = eff.source or "data file"
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
    )
