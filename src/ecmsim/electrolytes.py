"""Electrolytes: conductivity and current-efficiency models.

Conductivity at the reference temperature is tabulated against
concentration (wt %) and interpolated linearly; the temperature law is
κ(T) = κ_ref [1 + α (T − T_ref)] (process-physics.md, secondary effects).

Current efficiency η(j) belongs to an alloy–electrolyte pair.  Three
models (process-physics.md, eq. 4):

* ``constant``:  η = efficiency;
* ``threshold``: η = η_max (1 − exp(−(j − j_th)/j_s)) for j > j_th, else 0
  (passivating nitrate);
* ``table``:     η tabulated against j, linear, held constant past the ends.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ecmsim.datafiles import DataEntry, NameIndex, RawData, load_raw, slug
from ecmsim.errors import DataError
from ecmsim.units import A_PER_CM2, G_PER_CM3, MPA_S

EFFICIENCY_MODELS = ("constant", "threshold", "table")
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True)
class Electrolyte(DataEntry):
    """An aqueous electrolyte with its tabulated conductivity."""

    kind: str
    reference_temperature_C: float
    concentration_wt_pct: tuple[float, ...]
    conductivity_S_per_m: tuple[float, ...]
    conductivity_source: str
    temperature_coefficient_per_K: float
    temperature_coefficient_source: str
    valid_temperature_C: tuple[float, float]
    boiling_point_C: float
    property_concentration_wt_pct: tuple[float, ...] = ()
    density_g_per_cm3: tuple[float, ...] = ()
    viscosity_mPa_s: tuple[float, ...] = ()
    specific_heat_J_per_kg_K: float | None = None

    def bulk_properties(self, concentration_wt_pct: float) -> tuple[float, float, float]:
        """Density (kg/m³), viscosity (Pa·s) and specific heat (J/(kg·K)) at a concentration.

        Density and viscosity are tabulated at ``reference_temperature_C``
        against ``property_concentration_wt_pct`` and interpolated linearly.

        Raises
        ------
        DataError
            When the entry lacks the properties or the concentration lies outside their table.
        """
        c = self.property_concentration_wt_pct
        if not c or self.specific_heat_J_per_kg_K is None:
            raise DataError(
                f"electrolyte {self.key} has no flow properties: its data entry needs property_concentration_wt_pct, "
                f"density_g_per_cm3, viscosity_mPa_s and specific_heat_J_per_kg_K ({self.file})"
            )
        if not c[0] <= concentration_wt_pct <= c[-1]:
            raise DataError(
                f"electrolyte {self.key}: concentration {concentration_wt_pct} wt % outside the range "
                f"{c[0]}–{c[-1]} wt % of its density and viscosity table ({self.file})"
            )
        rho = float(np.interp(concentration_wt_pct, c, self.density_g_per_cm3)) * G_PER_CM3
        mu = float(np.interp(concentration_wt_pct, c, self.viscosity_mPa_s)) * MPA_S
        return rho, mu, self.specific_heat_J_per_kg_K

    def conductivity(self, concentration_wt_pct: float, temperature_C: float) -> float:
        """Conductivity κ (S/m) at a concentration and temperature.

        Raises
        ------
        DataError
            When the concentration or temperature lies outside the data.
        """
        c = self.concentration_wt_pct
        if not c[0] <= concentration_wt_pct <= c[-1]:
            raise DataError(
                f"electrolyte {self.key}: concentration {concentration_wt_pct} wt % outside the "
                f"tabulated range {c[0]}–{c[-1]} wt % ({self.file})"
            )
        lo, hi = self.valid_temperature_C
        if not lo <= temperature_C <= hi:
            raise DataError(
                f"electrolyte {self.key}: temperature {temperature_C} °C outside the range "
                f"{lo}–{hi} °C of its temperature law ({self.file})"
            )
        k_ref = float(np.interp(concentration_wt_pct, c, self.conductivity_S_per_m))
        alpha = self.temperature_coefficient_per_K
        return k_ref * (1.0 + alpha * (temperature_C - self.reference_temperature_C))


@dataclass(frozen=True)
class CurrentEfficiency:
    """Current efficiency η(j) of one alloy–electrolyte pair.

    All current densities inside are SI (A/m²).
    """

    model: str
    efficiency: float = 1.0
    efficiency_max: float = 1.0
    threshold: float = 0.0  # A/m²
    saturation: float = 1.0  # A/m²
    table_j: tuple[float, ...] = ()  # A/m²
    table_eta: tuple[float, ...] = ()
    source: str = ""

    def __call__(self, j: FloatArray | float) -> FloatArray:
        """η at current density ``j`` (A/m², any shape); 0 for j ≤ 0."""
        jj = np.asarray(j, dtype=np.float64)
        if self.model == "constant":
            eta = np.full_like(jj, self.efficiency)
        elif self.model == "threshold":
            x = np.maximum(jj - self.threshold, 0.0) / self.saturation
            eta = self.efficiency_max * -np.expm1(-x)
        else:
            eta = np.interp(jj, self.table_j, self.table_eta)
        return np.where(jj > 0.0, eta, 0.0)

    @property
    def is_constant(self) -> bool:
        return self.model == "constant"

    def equilibrium_current_density(self, omega: float, feed: float) -> float:
        """Current density j_e (A/m²) where η(j) ω j = f (the frontal gap is steady).

        Parameters
        ----------
        omega : float
            Electrochemical equivalent, m³/C.
        feed : float
            Feed rate, m/s.
        """
        target = feed / omega  # A/m² of *effective* current
        if self.model == "constant":
            return target / self.efficiency

        def g(j: float) -> float:
            return float(self(j)) * j - target

        hi = max(target, 1.0)
        for _ in range(200):
            if g(hi) > 0:
                break
            hi *= 2.0
        else:
            raise DataError("current-efficiency model never reaches the feed rate")
        lo = 0.0
        for _ in range(200):  # bisection: η(j)·j is monotone for all three models
            mid = 0.5 * (lo + hi)
            if g(mid) > 0:
                hi = mid
            else:
                lo = mid
            if hi - lo <= 1e-12 * hi:
                break
        return 0.5 * (lo + hi)

    def describe(self) -> dict[str, Any]:
        """User-facing description in engineering units."""
        if self.model == "constant":
            return {"model": "constant", "efficiency": self.efficiency, "source": self.source}
        if self.model == "threshold":
            return {
                "model": "threshold",
                "efficiency_max": self.efficiency_max,
                "threshold_A_per_cm2": self.threshold / A_PER_CM2,
                "saturation_A_per_cm2": self.saturation / A_PER_CM2,
                "source": self.source,
            }
        return {
            "model": "table",
            "current_density_A_per_cm2": [j / A_PER_CM2 for j in self.table_j],
            "efficiency": list(self.table_eta),
            "source": self.source,
        }


def _fail(where: str, msg: str) -> DataError:
    return DataError(f"{where}: {msg}")


def _number(entry: Mapping[str, Any], key: str, where: str) -> float:
    if key not in entry:
        raise _fail(where, f"missing key {key!r}")
    v = entry[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _fail(where, f"{key} = {v!r} must be a finite number")
    return float(v)


def _numbers(entry: Mapping[str, Any], key: str, where: str) -> tuple[float, ...]:
    v = entry.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v):
        raise _fail(where, f"{key} must be a non-empty list of numbers, got {v!r}")
    return tuple(float(x) for x in v)


def efficiency_from_mapping(entry: Mapping[str, Any], where: str) -> CurrentEfficiency:
    """Build a :class:`CurrentEfficiency` from user units (A/cm²).

    Used for data-file entries and for the ``[current_efficiency]`` table
    of a process config alike, so both accept the same keys.
    """
    model = entry.get("model")
    if model not in EFFICIENCY_MODELS:
        raise _fail(where, f"model = {model!r}; allowed: {', '.join(EFFICIENCY_MODELS)}")
    keys = {
        "constant": {"efficiency"},
        "threshold": {"efficiency_max", "threshold_A_per_cm2", "saturation_A_per_cm2"},
        "table": {"current_density_A_per_cm2", "efficiency"},
    }[model]
    extra = {k for k in entry if not k.startswith("_")} - keys - {"model", "source", "electrolyte", "alloy"}
    if extra:
        raise _fail(
            where,
            f"key(s) {', '.join(sorted(extra))} not used by model {model!r} (it takes {', '.join(sorted(keys))})",
        )
    source = str(entry.get("source", ""))
    if model == "constant":
        eta = _number(entry, "efficiency", where)
        if not 0 < eta <= 1:
            raise _fail(where, f"efficiency = {eta} must be in (0, 1]")
        return CurrentEfficiency("constant", efficiency=eta, source=source)
    if model == "threshold":
        emax = _number(entry, "efficiency_max", where)
        jth = _number(entry, "threshold_A_per_cm2", where)
        js = _number(entry, "saturation_A_per_cm2", where)
        if not 0 < emax <= 1:
            raise _fail(where, f"efficiency_max = {emax} must be in (0, 1]")
        if jth < 0:
            raise _fail(where, f"threshold_A_per_cm2 = {jth} must be >= 0")
        if js <= 0:
            raise _fail(where, f"saturation_A_per_cm2 = {js} must be > 0")
        return CurrentEfficiency(
            "threshold",
            efficiency_max=emax,
            threshold=jth * A_PER_CM2,
            saturation=js * A_PER_CM2,
            source=source,
        )
    jt = _numbers(entry, "current_density_A_per_cm2", where)
    et = _numbers(entry, "efficiency", where)
    if len(jt) != len(et) or len(jt) < 2:
        raise _fail(where, "current_density_A_per_cm2 and efficiency need the same length >= 2")
    if any(b <= a for a, b in itertools.pairwise(jt)) or jt[0] < 0:
        raise _fail(where, "current_density_A_per_cm2 must be >= 0 and strictly increasing")
    if any(not 0 <= e <= 1 for e in et) or et[-1] <= 0:
        raise _fail(where, "efficiency values must lie in [0, 1], the last one > 0")
    return CurrentEfficiency(
        "table",
        table_j=tuple(j * A_PER_CM2 for j in jt),
        table_eta=et,
        source=source,
    )


def _electrolyte(key: str, entry: Mapping[str, Any]) -> Electrolyte:
    where = f"{entry['_file']}: [electrolytes.{key}]"
    allowed = {
        "name", "aliases", "kind", "reference_temperature_C", "concentration_wt_pct",
        "conductivity_S_per_m", "conductivity_source", "temperature_coefficient_per_K",
        "temperature_coefficient_source", "valid_temperature_C", "boiling_point_C",
        "boiling_point_source", "density_g_per_cm3", "density_source",
        "specific_heat_J_per_kg_K", "specific_heat_source", "notes",
        "property_concentration_wt_pct", "viscosity_mPa_s", "properties_source",
    }  # fmt: skip
    for k in entry:
        if not k.startswith("_") and k not in allowed:
            near = difflib.get_close_matches(k, sorted(allowed), n=1)
            raise _fail(where, f"unknown key {k!r}" + (f"; did you mean {near[0]!r}?" if near else ""))
    conc = _numbers(entry, "concentration_wt_pct", where)
    kappa = _numbers(entry, "conductivity_S_per_m", where)
    if len(conc) != len(kappa) or len(conc) < 2:
        raise _fail(where, "concentration_wt_pct and conductivity_S_per_m need the same length >= 2")
    if any(b <= a for a, b in itertools.pairwise(conc)):
        raise _fail(where, "concentration_wt_pct must be strictly increasing")
    if any(k <= 0 for k in kappa):
        raise _fail(where, "conductivity_S_per_m values must be > 0")
    props = _bulk_properties(entry, where)
    trange = _numbers(entry, "valid_temperature_C", where)
    if len(trange) != 2 or trange[0] >= trange[1]:
        raise _fail(where, "valid_temperature_C must be [low, high]")
    return Electrolyte(
        key=key,
        name=str(entry.get("name", key)),
        kind=str(entry.get("kind", "")),
        aliases=tuple(str(a) for a in entry.get("aliases", [])),
        reference_temperature_C=_number(entry, "reference_temperature_C", where),
        concentration_wt_pct=conc,
        conductivity_S_per_m=kappa,
        conductivity_source=str(entry.get("conductivity_source", "")),
        temperature_coefficient_per_K=_number(entry, "temperature_coefficient_per_K", where),
        temperature_coefficient_source=str(entry.get("temperature_coefficient_source", "")),
        valid_temperature_C=(trange[0], trange[1]),
        boiling_point_C=_number(entry, "boiling_point_C", where),
        file=str(entry["_file"]),
        **props,
    )


def _bulk_properties(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The optional flow properties of an electrolyte entry (all four keys or none but a scalar density)."""
    out: dict[str, Any] = {}
    if "specific_heat_J_per_kg_K" in entry:
        cp = _number(entry, "specific_heat_J_per_kg_K", where)
        if not 1000.0 <= cp <= 5000.0:
            raise _fail(where, f"specific_heat_J_per_kg_K = {cp} must lie in 1000-5000")
        out["specific_heat_J_per_kg_K"] = cp
    if "property_concentration_wt_pct" not in entry:
        if "viscosity_mPa_s" in entry:
            raise _fail(where, "viscosity_mPa_s needs property_concentration_wt_pct (the concentrations of its values)")
        return out
    conc = _numbers(entry, "property_concentration_wt_pct", where)
    rho = _numbers(entry, "density_g_per_cm3", where)
    mu = _numbers(entry, "viscosity_mPa_s", where)
    if not len(conc) == len(rho) == len(mu):
        raise _fail(where, "property_concentration_wt_pct, density_g_per_cm3 and viscosity_mPa_s need the same length")
    if any(b <= a for a, b in itertools.pairwise(conc)):
        raise _fail(where, "property_concentration_wt_pct must be strictly increasing")
    if any(not 0.5 <= r <= 3.0 for r in rho) or any(not 0.1 <= m <= 100.0 for m in mu):
        raise _fail(where, "density_g_per_cm3 values must lie in 0.5-3 and viscosity_mPa_s values in 0.1-100")
    out.update(property_concentration_wt_pct=conc, density_g_per_cm3=rho, viscosity_mPa_s=mu)
    return out


class ElectrolyteDB:
    """Electrolytes and current-efficiency entries from all data files."""

    def __init__(self, raw: RawData) -> None:
        self.files = list(raw.files)
        self.electrolytes = {k: _electrolyte(k, e) for k, e in raw.electrolytes.items()}
        self._index = NameIndex(self.electrolytes, "electrolyte")
        # (electrolyte key, alloy slug or "*") -> model; later files win.
        self.efficiencies: dict[tuple[str, str], CurrentEfficiency] = {}
        for entry in raw.current_efficiency:
            where = f"{entry['_file']}: current_efficiency entry {entry['_index']}"
            ename: Any = entry.get("electrolyte")
            alloy: Any = entry.get("alloy", "*")
            if not isinstance(ename, str) or ename not in self._index:
                raise _fail(where, f"electrolyte = {ename!r} is not a known electrolyte")
            if not isinstance(alloy, str):
                raise _fail(where, f'alloy = {alloy!r} must be a string or "*"')
            pair = (self._index.key(ename), "*" if alloy == "*" else slug(alloy))
            self.efficiencies[pair] = efficiency_from_mapping(entry, where)

    @classmethod
    def load(cls, extra_files: Iterable[str | Path] = ()) -> ElectrolyteDB:
        return cls(load_raw(extra_files))

    def electrolyte(self, name: str) -> Electrolyte:
        """Look an electrolyte up by key, name or alias (case-insensitive)."""
        return self.electrolytes[self._index.key(name)]

    def efficiency(self, electrolyte: Electrolyte, alloy_key: str) -> CurrentEfficiency:
        """Current-efficiency model of a pair (alloy entry first, then ``"*"``)."""
        for key in ((electrolyte.key, alloy_key), (electrolyte.key, "*")):
            if key in self.efficiencies:
                return self.efficiencies[key]
        raise DataError(
            f"no current-efficiency model for {alloy_key} in {electrolyte.key}: add a "
            "[[current_efficiency]] entry to a data file or a [current_efficiency] table "
            "to the process config"
        )
