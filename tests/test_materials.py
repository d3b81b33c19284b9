"""Materials and electrolyte data: ω against hand computations, look-ups, user files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecmsim.electrolytes import ElectrolyteDB
from ecmsim.errors import DataError
from ecmsim.materials import MaterialsDB, electrochemical_equivalent

F = 96485.33212


def hand_omega_mm3_per_C(density_g_cm3: float, parts: list[tuple[float, float, float]]) -> float:
    """ω = 1/(ρ F Σ w z / M) with (wt %, valence, g/mol) typed in by hand."""
    s = sum(wt / 100.0 * z / m for wt, z, m in parts)  # mol e- per g
    rho_g_per_mm3 = density_g_cm3 * 1e-3
    return 1.0 / (rho_g_per_mm3 * F * s)


def test_omega_inconel718_low_and_high_by_hand() -> None:
    # Inconel 718: Cr 19, Fe 18.5, Nb 5.1, Mo 3.05, Ti 0.9, Al 0.5, Co 0.5, C 0.04, Ni bal.
    ni = 100 - (19 + 18.5 + 5.1 + 3.05 + 0.9 + 0.5 + 0.5 + 0.04)
    common = [(5.1, 5, 92.906), (0.9, 4, 47.867), (0.5, 3, 26.982), (0.5, 2, 58.933), (ni, 2, 58.693)]
    low = [*common, (19, 3, 51.996), (18.5, 2, 55.845), (3.05, 3, 95.95)]
    high = [*common, (19, 6, 51.996), (18.5, 3, 55.845), (3.05, 6, 95.95)]
    w_low = hand_omega_mm3_per_C(8.19, low)
    w_high = hand_omega_mm3_per_C(8.19, high)
    assert w_low == pytest.approx(0.031, abs=0.0005)  # materials.md: ≈ 0.031 mm³/C
    assert w_high == pytest.approx(0.023, abs=0.0005)
    assert electrochemical_equivalent("Inconel 718", "low") * 1e9 == pytest.approx(w_low, rel=1e-4)
    assert electrochemical_equivalent("IN718", "high") * 1e9 == pytest.approx(w_high, rel=1e-4)


def test_omega_l605_cobalt_by_hand() -> None:
    # L-605: Cr 20, W 15, Ni 10, Fe 1.5 (half of ≤3), Mn 1.5, C 0.1, Si 0.2 (half of ≤0.4), Co bal.
    db = MaterialsDB.load()
    alloy = db.alloy("L-605")
    comp = alloy.composition_wt_pct
    assert comp["Co"] == pytest.approx(100 - sum(v for k, v in comp.items() if k != "Co"))
    molar = {"Co": 58.933, "Cr": 51.996, "W": 183.84, "Ni": 58.693, "Fe": 55.845, "Mn": 54.938, "Si": 28.085}
    z_low = {"Co": 2, "Cr": 3, "W": 6, "Ni": 2, "Fe": 2, "Mn": 2, "Si": 4}
    parts = [(comp[el], z_low[el], molar[el]) for el in molar if el in comp]
    w = hand_omega_mm3_per_C(alloy.density_g_per_cm3, parts)
    assert db.equivalent(alloy, "low").omega * 1e9 == pytest.approx(w, rel=1e-4)


def test_all_ten_alloys_present_and_in_range() -> None:
    db = MaterialsDB.load()
    assert len(db.alloys) >= 10
    for alloy in db.alloys.values():
        for vs in ("low", "high"):
            w = db.equivalent(alloy, vs, use_measured=False).omega_mm3_per_C
            assert 0.020 < w < 0.033, (alloy.key, vs, w)
        assert alloy.density_source and alloy.composition_source
        assert sum(alloy.composition_wt_pct.values()) == pytest.approx(100.0)
    # The high set can only lower ω (more charge per atom).
    for alloy in db.alloys.values():
        assert db.equivalent(alloy, "high").omega <= db.equivalent(alloy, "low").omega


def test_valence_override_and_mm3_per_A_min() -> None:
    db = MaterialsDB.load()
    a = db.alloy("inconel-718")
    low = db.equivalent(a, "low")
    cr35 = db.equivalent(a, "low", {"Cr": 3.5})
    assert cr35.basis == "custom" and cr35.omega < low.omega
    assert low.omega_mm3_per_A_min == pytest.approx(60 * low.omega_mm3_per_C)
    with pytest.raises(DataError, match="not in Inconel 718"):
        db.equivalent(a, "low", {"Re": 7})


def test_alloy_lookup_suggests_nearest() -> None:
    db = MaterialsDB.load()
    assert db.alloy("rene 80") is db.alloy("René 80")
    with pytest.raises(DataError, match="did you mean 'inconel-718'"):
        db.alloy("inconel 781")


def test_user_data_file_adds_alloy_and_measured_omega_wins(tmp_path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(
        """
[alloys.test-alloy]
name = "Test Alloy"
base = "Ni"
density_g_per_cm3 = 8.0
density_source = "test"
composition_source = "test"
composition_wt_pct = { Cr = 20.0, Ni = "balance" }
measured_electrochemical_equivalent_mm3_per_C = 0.0281
measured_electrochemical_equivalent_source = "mass loss, test"
""",
        encoding="utf-8",
    )
    db = MaterialsDB.load([f])
    a = db.alloy("test alloy")
    assert db.equivalent(a).omega_mm3_per_C == pytest.approx(0.0281)
    computed = db.equivalent(a, use_measured=False).omega_mm3_per_C
    expected = 1 / (8.0e-3 * F * (0.2 * 3 / 51.996 + 0.8 * 2 / 58.693))
    assert computed == pytest.approx(expected, rel=1e-4)


def test_bad_user_data_file_names_file_and_key(tmp_path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[alloys.x]\nname = "X"\ndensty_g_per_cm3 = 8\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.toml.*densty_g_per_cm3.*did you mean 'density_g_per_cm3'"):
        MaterialsDB.load([f])


def test_conductivity_interpolation_and_temperature_law() -> None:
    db = ElectrolyteDB.load()
    nacl = db.electrolyte("NaCl")
    k10 = nacl.conductivity(10.0, nacl.reference_temperature_C)
    assert k10 == pytest.approx(12.6, rel=0.02)  # CRC: 126 mS/cm at 10 %, 20 °C
    # Linear interpolation between table points.
    c, k = nacl.concentration_wt_pct, nacl.conductivity_S_per_m
    mid = 0.5 * (c[4] + c[5])
    assert nacl.conductivity(mid, 20.0) == pytest.approx(0.5 * (k[4] + k[5]))
    # κ(T) = κ_ref (1 + α ΔT)
    a = nacl.temperature_coefficient_per_K
    assert nacl.conductivity(10.0, 30.0) == pytest.approx(k10 * (1 + 10 * a))
    with pytest.raises(DataError, match="outside the tabulated range"):
        nacl.conductivity(60.0, 20.0)
    for name in ("NaNO3", "NaCl", "H2SO4", "HNO3"):
        e = db.electrolyte(name)
        assert e.conductivity_source and e.temperature_coefficient_source


def test_efficiency_models() -> None:
    db = ElectrolyteDB.load()
    nitrate = db.efficiency(db.electrolyte("NaNO3"), "inconel-718")
    assert nitrate.model in ("threshold", "table")
    j = np.array([0.0, 1e4, 1e8])
    eta = nitrate(j)
    assert eta[0] == 0 and 0 <= eta[1] < eta[2] <= 1
    acid = db.efficiency(db.electrolyte("H2SO4"), "inconel-718")
    assert acid.model == "constant"
    # Equilibrium current density solves η(j) ω j = f for every model.
    omega, feed = 3.0e-11, 2.0 / 60000
    for model in (nitrate, acid):
        je = model.equilibrium_current_density(omega, feed)
        assert float(model(je)) * omega * je == pytest.approx(feed, rel=1e-9)
    assert math.isfinite(acid.equilibrium_current_density(omega, feed))


def test_entries_are_found_by_key_name_or_alias_and_unknown_names_list_the_known_ones() -> None:
    mdb = MaterialsDB.load()
    assert mdb.alloy("René 80").key == mdb.alloy("rene 80").key  # case and accents ignored
    with pytest.raises(DataError, match=r"unknown alloy 'Rene 81'.*; add your own in a data file"):
        mdb.alloy("Rene 81")
    edb = ElectrolyteDB.load()
    assert edb.electrolyte("h2so4") is edb.electrolyte("H2SO4")
    with pytest.raises(DataError, match=r"unknown electrolyte 'H2SO5'; did you mean .*\(known: [^;]*\)$"):
        edb.electrolyte("H2SO5")
