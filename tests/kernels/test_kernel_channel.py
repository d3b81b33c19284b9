"""Channel marching kernels against their NumPy twins."""

from __future__ import annotations

import kernel_twins as tw
import numpy as np
from ecmsim.kernels import channel as kc
from hypothesis import given, settings
from hypothesis import strategies as st

from ecmsim.testing.strategies import seeds


def _path(seed: int, n: int):
    rng = np.random.default_rng(seed)
    length = rng.uniform(1e-5, 1e-3, n)
    area = rng.uniform(1e-8, 1e-6, n)
    dh = rng.uniform(5e-5, 5e-4, n)
    resistance = 8.0 / (np.pi * (0.5 * dh) ** 4) * rng.uniform(0.5, 2.0, n)
    entry = np.where(rng.random(n) < 0.2, rng.uniform(0.0, 2.0, n), 0.0)
    return rng, length, area, dh, resistance, entry


#: Draws of a heated path: seed, number of cells, flow (m³/s), temperature coefficient (1/K), wall cooling (W/m²K).
HEATED = {
    "seed": seeds,
    "n": st.integers(1, 40),
    "q_l": st.floats(1e-8, 1e-5),
    "a_t": st.floats(0.0, 0.03),
    "wall_h": st.sampled_from([0.0, 5e3]),
}


@settings(deadline=None, max_examples=30, database=None)
@given(**HEATED)
def test_temperature_march_matches_twin(seed, n, q_l, a_t, wall_h) -> None:
    rng, length, _, dh, _, _ = _path(seed, n)
    perimeter = 2.0 * dh
    joule = rng.uniform(0.0, 1e-2, n)
    n_mid = np.cumsum(rng.uniform(0.0, 1e-7, n))
    p_mid = rng.uniform(1e5, 1e6, n)
    args = (length, perimeter, joule, n_mid, p_mid, q_l, 298.0, 4e6 * q_l, 50.0, a_t, 293.15, 1.5, wall_h)
    temp, void = np.empty(n + 1), np.empty(n)
    kc.march_temperature(*args, temp, void)
    t_twin, v_twin = tw.march_temperature(*args)
    np.testing.assert_allclose(temp, t_twin, rtol=1e-9)
    np.testing.assert_allclose(void, v_twin, rtol=1e-9)


@settings(deadline=None, max_examples=30, database=None)
@given(seed=seeds, n=st.integers(1, 40), q_l=st.floats(1e-9, 1e-4), exit_loss=st.sampled_from([0.0, 1.0]))
def test_pressure_march_matches_twin(seed, n, q_l, exit_loss) -> None:
    rng, length, area, dh, resistance, entry = _path(seed, n)
    mu = rng.uniform(5e-4, 2e-3, n)
    temp = 298.0 + np.cumsum(np.concatenate([[0.0], rng.uniform(0.0, 1.0, n)]))
    n_faces = np.concatenate([[0.0], np.cumsum(rng.uniform(0.0, 1e-7, n))])
    args = (length, area, dh, resistance, entry, exit_loss, mu, temp, n_faces, q_l, 1100.0, 101325.0)
    p, re = np.empty(n + 1), np.empty(n)
    kc.march_pressure(*args, p, re)
    p_twin, re_twin = tw.march_pressure(*args)
    np.testing.assert_allclose(p, p_twin, rtol=1e-12)
    np.testing.assert_allclose(re, re_twin, rtol=1e-12)
    assert np.all(np.diff(p) <= 0.0)  # the pressure falls along the flow


@settings(deadline=None, max_examples=30, database=None)
@given(**HEATED, gas=st.sampled_from([0.0, 1e-7]))
def test_coupled_march_matches_twin(seed, n, q_l, a_t, gas, wall_h) -> None:
    """The fixed point of temperature, viscosity and pressure where gas couples them."""
    rng, length, area, dh, resistance, entry = _path(seed, n)
    perimeter = 2.0 * dh
    joule = rng.uniform(0.0, 1e-2, n)
    n_faces = np.concatenate([[0.0], np.cumsum(rng.uniform(0.0, gas, n))])
    args = (length, perimeter, area, dh, resistance, entry, 1.0, joule, n_faces, q_l, 298.0, 1100.0, 4e6 * q_l,
            50.0, a_t, 293.15, 1.5, wall_h, 1.2, 101325.0, 50)  # fmt: skip
    p, temp, void, re = np.empty(n + 1), np.empty(n + 1), np.empty(n), np.empty(n)
    iterations = kc.march_profile(*args, p, temp, void, re)
    p_twin, t_twin, v_twin, re_twin, it_twin = tw.march_profile(*args)
    # the twins' temperature march is a different closed form (within 1e-9, see above)
    np.testing.assert_allclose(p, p_twin, rtol=1e-9)
    np.testing.assert_allclose(temp, t_twin, rtol=1e-9)
    np.testing.assert_allclose(void, v_twin, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(re, re_twin, rtol=1e-9)
    assert iterations >= 1 and (gas > 0 or iterations == it_twin == 1)  # without gas one pass is exact
