"""Superalloys and their electrochemical equivalent.

The volumetric electrochemical equivalent of an alloy (process-physics.md,
eq. 3) is

    ω = 1 / (ρ F Σ_i w_i z_i / M_i)        [m³/C]

with w_i the mass fraction, z_i the valence and M_i the molar mass of
element i, ρ the density and F the Faraday constant.  Carbon and boron are
inert mass (they take no charge).  The valence assumption alone moves ω by
25–35 %, so the valence set is a choice ("low", "high", or per-element
overrides), and a measured ω overrides the computed one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmsim.datafiles import DataEntry, NameIndex, RawData, load_raw
from ecmsim.errors import DataError
from ecmsim.units import FARADAY, G_PER_CM3, MM3

VALENCE_SETS = ("low", "high")


@dataclass(frozen=True)
class Element:
    """A chemical element as the dissolution model sees it."""

    symbol: str
    molar_mass_g_per_mol: float
    valence_low: float | None
    valence_high: float | None
    inert: bool
    source: str

    def valence(self, valence_set: str) -> float:
        """Valence in the named set (0 for an inert element)."""
        if self.inert:
            return 0.0
        value = self.valence_low if valence_set == "low" else self.valence_high
        assert value is not None  # checked on load
        return value


@dataclass(frozen=True, kw_only=True)
class Alloy(DataEntry):
    """A superalloy: nominal composition and density, with sources."""

    base: str
    density_g_per_cm3: float
    composition_wt_pct: Mapping[str, float]
    density_source: str
    composition_source: str
    notes: str = ""
    measured_omega_mm3_per_C: float | None = None
    measured_omega_source: str = ""
    balance_element: str = ""

    @property
    def density(self) -> float:
        """Density, kg/m³."""
        return self.density_g_per_cm3 * G_PER_CM3


@dataclass(frozen=True)
class Equivalent:
    """An electrochemical equivalent and how it was obtained."""

    omega: float  # m³/C
    basis: str  # "low", "high", "custom" or "measured" or "config"
    valences: Mapping[str, float] = field(default_factory=dict)

    @property
    def omega_mm3_per_C(self) -> float:
        return self.omega / MM3

    @property
    def omega_mm3_per_A_min(self) -> float:
        return self.omega / MM3 * 60.0


def _num(entry: Mapping[str, Any], key: str, where: str, positive: bool = True) -> float:
    if key not in entry:
        raise DataError(f"{where}: missing key {key!r}")
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{where}: {key} = {value!r} must be a number")
    if positive and not value > 0:
        raise DataError(f"{where}: {key} = {value!r} must be > 0")
    return float(value)


def _str(entry: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
    value = entry.get(key, "" if not required else None)
    if value is None:
        raise DataError(f"{where}: missing key {key!r}")
    if not isinstance(value, str):
        raise DataError(f"{where}: {key} = {value!r} must be a string")
    return value


def _element(symbol: str, entry: Mapping[str, Any]) -> Element:
    where = f"{entry['_file']}: [elements.{symbol}]"
    allowed = {"molar_mass_g_per_mol", "valence_low", "valence_high", "inert", "source"}
    _check_keys(entry, allowed, where)
    inert = bool(entry.get("inert", False))
    lo = hi = None
    if not inert:
        lo = _num(entry, "valence_low", where)
        hi = _num(entry, "valence_high", where)
    return Element(
        symbol=symbol,
        molar_mass_g_per_mol=_num(entry, "molar_mass_g_per_mol", where),
        valence_low=lo,
        valence_high=hi,
        inert=inert,
        source=_str(entry, "source", where),
    )


def _check_keys(entry: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in entry:
        if key.startswith("_") or key in allowed:
            continue
        near = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise DataError(f"{where}: unknown key {key!r}{hint} (allowed: {', '.join(sorted(allowed))})")


def _alloy(key: str, entry: Mapping[str, Any], elements: Mapping[str, Element]) -> Alloy:
    where = f"{entry['_file']}: [alloys.{key}]"
    allowed = {
        "name", "aliases", "base", "density_g_per_cm3", "density_source",
        "composition_source", "composition_wt_pct", "notes",
        "measured_electrochemical_equivalent_mm3_per_C",
        "measured_electrochemical_equivalent_source",
    }  # fmt: skip
    _check_keys(entry, allowed, where)
    comp_raw = entry.get("composition_wt_pct")
    if not isinstance(comp_raw, dict) or not comp_raw:
        raise DataError(f"{where}: composition_wt_pct must be a table of element = wt %")
    balance = [el for el, v in comp_raw.items() if v == "balance"]
    if len(balance) != 1:
        raise DataError(f'{where}: composition_wt_pct needs exactly one element = "balance", found {len(balance)}')
    comp: dict[str, float] = {}
    for el, value in comp_raw.items():
        if el not in elements:
            raise DataError(f"{where}: element {el!r} has no [elements.{el}] entry")
        if value == "balance":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 100:
            raise DataError(f"{where}: composition_wt_pct.{el} = {value!r} must be in [0, 100)")
        comp[el] = float(value)
    rest = 100.0 - sum(comp.values())
    if rest <= 0:
        raise DataError(f"{where}: alloying elements sum to {100 - rest:.3f} wt %, no balance left")
    comp[balance[0]] = rest
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise DataError(f"{where}: aliases must be a list of strings")
    measured = entry.get("measured_electrochemical_equivalent_mm3_per_C")
    if measured is not None:
        measured = _num(entry, "measured_electrochemical_equivalent_mm3_per_C", where)
    return Alloy(
        key=key,
        name=_str(entry, "name", where),
        base=_str(entry, "base", where),
        aliases=tuple(aliases),
        density_g_per_cm3=_num(entry, "density_g_per_cm3", where),
        composition_wt_pct=dict(sorted(comp.items(), key=lambda kv: -kv[1])),
        density_source=_str(entry, "density_source", where),
        composition_source=_str(entry, "composition_source", where),
        notes=_str(entry, "notes", where, required=False),
        measured_omega_mm3_per_C=measured,
        measured_omega_source=_str(entry, "measured_electrochemical_equivalent_source", where, required=False),
        file=str(entry["_file"]),
        balance_element=balance[0],
    )


class MaterialsDB:
    """Elements and alloys from the built-in and user data files."""

    def __init__(self, raw: RawData) -> None:
        self.files = list(raw.files)
        self.elements = {s: _element(s, e) for s, e in raw.elements.items()}
        self.alloys = {k: _alloy(k, e, self.elements) for k, e in raw.alloys.items()}
        self._index = NameIndex(self.alloys, "alloy", "; add your own in a data file, see README 'Materials'")

    @classmethod
    def load(cls, extra_files: Iterable[str | Path] = ()) -> MaterialsDB:
        """Load built-in data plus ``ECMSIM_DATA`` and ``extra_files``."""
        return cls(load_raw(extra_files))

    def alloy(self, name: str) -> Alloy:
        """Look an alloy up by key, name or alias (case and accents ignored)."""
        return self.alloys[self._index.key(name)]

    def valences(
        self, alloy: Alloy, valence_set: str, overrides: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Valence of each element of ``alloy`` in ``valence_set`` with overrides."""
        if valence_set not in VALENCE_SETS:
            raise DataError(f"valence set {valence_set!r} unknown; allowed: low, high")
        out = {el: self.elements[el].valence(valence_set) for el in alloy.composition_wt_pct}
        for el, z in (overrides or {}).items():
            if el not in out:
                raise DataError(
                    f"valence override for {el!r}, which is not in {alloy.name} (elements: {', '.join(out)})"
                )
            out[el] = float(z)
        return out

    def equivalent(
        self,
        alloy: Alloy,
        valence_set: str = "low",
        overrides: Mapping[str, float] | None = None,
        use_measured: bool = True,
    ) -> Equivalent:
        """Volumetric electrochemical equivalent ω of ``alloy`` (m³/C).

        A measured value in the data file wins unless ``use_measured`` is
        false or valence overrides are given.
        """
        if use_measured and not overrides and alloy.measured_omega_mm3_per_C is not None:
            return Equivalent(alloy.measured_omega_mm3_per_C * MM3, "measured")
        z = self.valences(alloy, valence_set, overrides)
        charge_per_kg = 0.0  # mol of electrons per kg of alloy, × F later
        for el, wt in alloy.composition_wt_pct.items():
            m = self.elements[el].molar_mass_g_per_mol * 1e-3  # kg/mol
            charge_per_kg += (wt / 100.0) * z[el] / m
        omega = 1.0 / (alloy.density * FARADAY * charge_per_kg)
        return Equivalent(omega, "custom" if overrides else valence_set, z)


def electrochemical_equivalent(
    alloy: str, valence_set: str = "low", overrides: Mapping[str, float] | None = None
) -> float:
    """Convenience: ω in m³/C of a built-in alloy (measured value ignored)."""
    db = MaterialsDB.load()
    return db.equivalent(db.alloy(alloy), valence_set, overrides, use_measured=False).omega
