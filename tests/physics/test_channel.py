"""The 1D channel model along the electrolyte path against analytic solutions and balances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecmsim import channel as ch
from ecmsim.electrolytes import ElectrolyteDB
from ecmsim.errors import DataError, SolverError
from ecmsim.units import FARADAY

T_IN = 298.15
#: 15 % H2SO4 at 25 °C (κ re-referenced to 25 °C), a gas-free baseline.
ACID = ch.Fluid(
    density=1102.0,
    viscosity=1.367e-3,
    viscosity_temperature=293.15,
    specific_heat=3685.0,
    conductivity=57.3,
    temperature_coefficient=0.0128,
    reference_temperature=T_IN,
)
ISOTHERMAL = ch.Fluid(**{**ACID.__dict__, "temperature_coefficient": 0.0})


def test_laminar_pipe_matches_hagen_poiseuille() -> None:
    d, length, q = 0.4e-3, 0.1, 1e-7
    path = ch.pipe(d, length, 25)
    prof = ch.channel_state(path, ACID, q, inlet_temperature=T_IN)
    mu = float(ACID.viscosity_at(T_IN))
    assert prof.reynolds.max() < 2300
    expected = 128.0 * mu * q * length / (math.pi * d**4)
    assert prof.inlet_pressure - ch.ATMOSPHERE == pytest.approx(expected, rel=1e-12)
    # and the inverse: the flow a pressure drives
    back = ch.flow_from_pressure(path, ACID, ch.ATMOSPHERE + expected, inlet_temperature=T_IN)
    assert back.flow_rate == pytest.approx(q, rel=1e-9)


def test_laminar_annulus_matches_the_exact_formula() -> None:
    r1, r2, length, q = 0.45e-3, 0.5e-3, 5e-3, 2e-8
    prof = ch.channel_state(ch.annulus(r1, r2, length, 10), ACID, q, inlet_temperature=T_IN)
    mu = float(ACID.viscosity_at(T_IN))
    exact = 8.0 * mu * q * length / (math.pi * (r2**4 - r1**4 - (r2**2 - r1**2) ** 2 / math.log(r2 / r1)))
    assert prof.inlet_pressure - ch.ATMOSPHERE == pytest.approx(exact, rel=1e-12)
    # a narrow annulus is a slot of width w and perimeter 2π r̄: Δp → 12 μ Q L/(2π r̄ w³)
    w = r2 - r1
    slot = 12.0 * mu * q * length / (2.0 * math.pi * 0.5 * (r1 + r2) * w**3)
    assert exact == pytest.approx(slot, rel=1e-2)


def test_radial_gap_matches_the_disc_formula() -> None:
    ri, ro, h, q = 0.2e-3, 0.4e-3, 0.05e-3, 1e-8
    prof = ch.channel_state(ch.radial_gap(ri, ro, h, 7), ACID, q, inlet_temperature=T_IN)
    mu = float(ACID.viscosity_at(T_IN))
    assert prof.inlet_pressure - ch.ATMOSPHERE == pytest.approx(
        6 * mu * q * math.log(ro / ri) / (math.pi * h**3), rel=1e-12
    )


def test_turbulent_pipe_follows_blasius_and_drop_rises_with_flow() -> None:
    d, length = 1e-3, 0.2
    path = ch.pipe(d, length, 10)
    mu = float(ACID.viscosity_at(T_IN))
    q = 1e-5  # 0.6 L/min: Re ≈ 10⁴
    prof = ch.channel_state(path, ACID, q, inlet_temperature=T_IN)
    u = q / (0.25 * math.pi * d**2)
    re = ACID.density * u * d / mu
    assert re == pytest.approx(prof.reynolds[0]) and re > 5000
    blasius = 0.316 * re**-0.25 * length / d * 0.5 * ACID.density * u**2
    assert prof.inlet_pressure - ch.ATMOSPHERE == pytest.approx(blasius, rel=1e-12)
    flows = np.geomspace(1e-8, 3e-5, 60)  # laminar through transition to turbulent
    drops = [ch.channel_state(path, ACID, float(f), inlet_temperature=T_IN).inlet_pressure for f in flows]
    assert np.all(np.diff(drops) > 0)


def test_minor_losses_add_k_times_dynamic_pressure() -> None:
    d, q = 0.4e-3, 1e-7
    plain = ch.pipe(d, 0.01, 4)
    lossy = ch.connect([plain], entry_losses=[0.5], exit_loss=1.0)
    dyn = 0.5 * ACID.density * (q / (0.25 * math.pi * d**2)) ** 2
    dp0 = ch.channel_state(plain, ACID, q, inlet_temperature=T_IN).inlet_pressure
    dp1 = ch.channel_state(lossy, ACID, q, inlet_temperature=T_IN).inlet_pressure
    assert dp1 - dp0 == pytest.approx(1.5 * dyn, rel=1e-12)


def _slot(width: float, gap: float, length: float, cells: int) -> ch.Channel:
    """A planar slot (plates ``width`` wide, ``gap`` apart): parallel-plate flow."""
    n = cells
    return ch.Channel(
        length=np.full(n, length / n),
        area=np.full(n, width * gap),
        hydraulic_diameter=np.full(n, 2.0 * gap),
        laminar_resistance=np.full(n, 12.0 / (width * gap**3)),
        wetted_perimeter=np.full(n, 2.0 * width),
        entry_loss=np.zeros(n),
        segment=np.full(n, ch.FRONTAL_GAP, dtype=np.int8),
    )


def test_heated_planar_channel_matches_the_exponential_conductivity_law() -> None:
    """Verification case 2: κ(x) = κ_in exp[a_T κ_in U² x/(ρ c_p u h²)] for a gap h at voltage U."""
    width, gap, length, n, u_gap, q = 1e-3, 0.1e-3, 5e-3, 50, 8.0, 2e-7
    path = _slot(width, gap, length, n)
    joule = (u_gap / gap) ** 2 * width * gap * path.length  # ∫|∇φ|² dV, uniform field U/h
    prof = ch.channel_state(path, ACID, q, joule_conductance=joule, inlet_temperature=T_IN)
    u = q / (width * gap)
    x = prof.position
    rate = (
        ACID.temperature_coefficient * ACID.conductivity * u_gap**2 / (ACID.density * ACID.specific_heat * u * gap**2)
    )
    kappa_faces = ACID.conductivity_at(prof.temperature)
    np.testing.assert_allclose(kappa_faces, ACID.conductivity * np.exp(rate * x), rtol=1e-10)
    assert kappa_faces[-1] / kappa_faces[0] > 1.05  # a real effect, not a trivially flat profile


def test_adiabatic_energy_balance() -> None:
    """ρ c_p Q ΔT at the exit equals the Joule power, with and without the temperature feedback."""
    path = ch.tool_path(0.2e-3, 0.4e-3, 0.05e-3, 0.3e-3, 2e-3, 0.1, 0.15e-3, 0.75e-3, 0.75e-3)
    joule = np.zeros(path.size)
    tip = (path.segment == ch.FRONTAL_GAP) | (path.segment == ch.BARE_TIP)
    joule[tip] = 10.0 / ACID.conductivity / tip.sum()  # 10 W at the inlet conductivity
    q = 1e-6
    for fluid in (ISOTHERMAL, ACID):
        prof = ch.channel_state(path, fluid, q, joule_conductance=joule, inlet_temperature=T_IN)
        carried = fluid.density * fluid.specific_heat * q * (prof.outlet_temperature - T_IN)
        assert carried == pytest.approx(prof.joule_power.sum(), rel=1e-10)
    prof_iso = ch.channel_state(path, ISOTHERMAL, q, joule_conductance=joule, inlet_temperature=T_IN)
    assert prof_iso.joule_power.sum() == pytest.approx(10.0, rel=1e-12)
    # the same balance, within 1 %, against the Joule power at each cell's own conductivity
    prof = ch.channel_state(path, ACID, q, joule_conductance=joule, inlet_temperature=T_IN)
    assert prof.joule_power.sum() == pytest.approx(float(np.sum(prof.conductivity * joule)), rel=1e-2)
    # a wall loss carries some of it away
    cooled = ch.channel_state(path, ACID, q, joule_conductance=joule, inlet_temperature=T_IN, wall_heat_transfer=2e4)
    assert T_IN < cooled.outlet_temperature < prof.outlet_temperature


def test_void_fraction_at_constant_pressure() -> None:
    """Verification case 3: α(x) = G x/(G x + Q_l), G the gas volume produced per unit length."""
    n, length, q = 40, 2e-3, 1e-7
    path = ch.Channel(
        length=np.full(n, length / n),
        area=np.full(n, 1e-7),
        hydraulic_diameter=np.full(n, 1e-4),
        laminar_resistance=np.zeros(n),  # frictionless: the pressure stays the outlet's
        wetted_perimeter=np.full(n, 4e-3),
        entry_loss=np.zeros(n),
        segment=np.full(n, ch.BARE_TIP, dtype=np.int8),
    )
    moles = np.full(n, 2e-6 / n)
    prof = ch.channel_state(path, ISOTHERMAL, q, gas_moles=moles, inlet_temperature=T_IN, outlet_pressure=2e5)
    g = 2e-6 / length * ch.GAS_CONSTANT * T_IN / 2e5
    x = prof.position
    np.testing.assert_allclose(prof.pressure, 2e5, rtol=1e-14)
    np.testing.assert_allclose(prof.void_fraction, g * x / (g * x + q), rtol=1e-12)


def test_gas_outflow_matches_faraday_and_ideal_gas() -> None:
    """Hydrogen out of the gap: η_c I/(2F) · RT/p within 1 %, with friction and heating acting."""
    path = ch.tool_path(0.2e-3, 0.4e-3, 0.05e-3, 0.3e-3, 2e-3, 0.1, 0.15e-3, 0.75e-3, 0.75e-3)
    tip = (path.segment == ch.FRONTAL_GAP) | (path.segment == ch.BARE_TIP)
    current, eta = 2.2, 0.95
    per_cell = np.where(tip, current / tip.sum(), 0.0)
    moles = ch.gas_production(per_cell, (1 - eta) * per_cell)
    joule = np.where(tip, 10.0 / ACID.conductivity / tip.sum(), 0.0)
    prof = ch.flow_from_pressure(path, ACID, 0.5e6, joule_conductance=joule, gas_moles=moles, inlet_temperature=T_IN)
    t_out, p_exit = prof.outlet_temperature, float(prof.pressure[-1])
    expected = (current / (2 * FARADAY) + (1 - eta) * current / (4 * FARADAY)) * ch.GAS_CONSTANT * t_out / p_exit
    assert prof.gas_flow[-1] == pytest.approx(expected, rel=1e-2)
    # hydrogen alone: 0.127 mL per coulomb at 25 °C and 1 atm
    h2 = ch.gas_production(1.0) * ch.GAS_CONSTANT * T_IN / ch.ATMOSPHERE
    assert float(h2) == pytest.approx(0.127e-6, rel=5e-3)
    # the mixture takes the gas, so the tip carries a void and the conductivity falls
    assert 0.05 < prof.void_fraction[path.first_cell(ch.ANNULUS)] < 0.5
    assert prof.conductivity[tip].min() < 0.95 * ACID.conductivity


def test_bruggeman_law() -> None:
    alpha = np.linspace(0.0, 0.9, 10)
    np.testing.assert_allclose(
        ISOTHERMAL.conductivity_at(T_IN, alpha), ACID.conductivity * (1 - alpha) ** 1.5, rtol=1e-14
    )
    hot = ACID.conductivity_at(T_IN + 10.0, 0.2)
    assert hot == pytest.approx(ACID.conductivity * (1 + 0.128) * 0.8**1.5, rel=1e-14)


def test_saturation_temperature_of_water() -> None:
    p = np.array([0.101325, 0.2, 0.3, 0.5, 1.0]) * 1e6
    t_c = ch.saturation_temperature(p) - ch.ZERO_CELSIUS
    np.testing.assert_allclose(t_c, [99.97, 120.21, 133.52, 151.83, 179.88], atol=0.02)


def test_a_tight_annulus_moves_the_drop_to_the_tip() -> None:
    """With a wide return annulus the tip is near the outlet pressure; a tight one raises it."""
    wide = ch.tool_path(0.2e-3, 0.4e-3, 0.05e-3, 0.3e-3, 10e-3, 0.1, 0.15e-3, 0.75e-3, 0.75e-3)
    tight = ch.tool_path(0.2e-3, 0.4e-3, 0.05e-3, 0.3e-3, 10e-3, 0.1, 0.15e-3, 0.5e-3, 0.5e-3)
    p_in = 0.5e6
    tip = [
        ch.flow_from_pressure(p, ACID, p_in, inlet_temperature=T_IN).pressure_at(ch.FRONTAL_GAP) for p in (wide, tight)
    ]
    assert tip[0] - ch.ATMOSPHERE < 0.1 * (p_in - ch.ATMOSPHERE) < tip[1] - ch.ATMOSPHERE
    with pytest.raises(SolverError, match="cannot drive"):
        ch.flow_from_pressure(wide, ACID, 0.9 * ch.ATMOSPHERE, inlet_temperature=T_IN)


def test_electrolyte_flow_properties_from_the_data() -> None:
    db = ElectrolyteDB.load()
    rho, mu, cp = db.electrolyte("H2SO4").bulk_properties(15.0)
    assert (rho, mu, cp) == (1102.0, pytest.approx(1.367e-3), 3685.0)
    rho, mu, _ = db.electrolyte("NaCl").bulk_properties(12.5)  # linear between 10 and 15 %
    assert rho == pytest.approx(0.5 * (1070.7 + 1108.5)) and mu == pytest.approx(0.5 * (1.193e-3 + 1.352e-3))
    with pytest.raises(DataError, match=r"(?i)H2SO4: concentration 45.0 wt % outside .* density and viscosity"):
        db.electrolyte("H2SO4").bulk_properties(45.0)
    # water's viscosity law: 1.002 mPa·s at 20 °C, 0.890 at 25 °C
    assert float(ch.water_viscosity(293.15)) == pytest.approx(1.002e-3, rel=3e-3)
    assert float(ch.water_viscosity(298.15)) == pytest.approx(0.890e-3, rel=5e-3)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            "property_concentration_wt_pct = [1, 10]\ndensity_g_per_cm3 = [1.0, 1.1]\nviscosity_mPa_s = [1.0]",
            "same length",
        ),
        ("viscosity_mPa_s = [1.0, 1.2]", "needs property_concentration_wt_pct"),
        (
            "property_concentration_wt_pct = [1, 10]\ndensity_g_per_cm3 = [1.0, 11]\nviscosity_mPa_s = [1.0, 1.2]",
            "0.5-3",
        ),
    ],
)
def test_bad_flow_properties_in_a_user_file_name_file_and_key(tmp_path, lines: str, message: str) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(
        "[electrolytes.KNO3]\nreference_temperature_C = 20.0\nconcentration_wt_pct = [1.0, 10.0]\n"
        "conductivity_S_per_m = [1.0, 8.0]\ntemperature_coefficient_per_K = 0.02\n"
        f"valid_temperature_C = [10.0, 50.0]\nboiling_point_C = 101.0\n{lines}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError, match=rf"(?i)mine\.toml: \[electrolytes\.KNO3\].*{message}"):
        ElectrolyteDB.load([f])
    good = tmp_path / "good.toml"
    good.write_text(f.read_text().split("property_")[0].split("viscosity_")[0], encoding="utf-8")
    with pytest.raises(DataError, match=r"(?i)KNO3 has no flow properties.*specific_heat_J_per_kg_K"):
        ElectrolyteDB.load([good]).electrolyte("KNO3").bulk_properties(5.0)
