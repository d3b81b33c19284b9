"""Tool signed distance kernel against a plain NumPy twin."""

from __future__ import annotations

import kernel_twins as tw
import numpy as np
from ecmsim.kernels import geometry
from hypothesis import given, settings
from hypothesis import strategies as st

from ecmsim.testing.strategies import seeds


@settings(deadline=None, max_examples=60, database=None)
@given(
    r_in=st.sampled_from([0.0, 0.1, 0.25]),
    wall=st.floats(0.05, 0.4),
    coating=st.sampled_from([0.0, 0.02, 0.07]),
    bare=st.floats(0.0, 0.5),
    z_tip=st.floats(-0.2, 0.6),
)
def test_tool_distance_matches_twin(r_in, wall, coating, bare, z_tip) -> None:
    h, z0, nr, nz = 0.013, -0.3, 60, 80
    out = np.empty((nr, nz))
    geometry.tool_signed_distance(h, z0, r_in, r_in + wall, coating, bare, z_tip, out)
    twin = tw.tool_signed_distance(h, z0, nr, nz, r_in, r_in + wall, coating, bare, z_tip)
    np.testing.assert_allclose(out, twin, atol=1e-12)


def test_tool_distance_is_exact_outside_a_tube() -> None:
    h = 0.01
    out = np.empty((50, 40))
    geometry.tool_signed_distance(h, 0.0, 0.1, 0.2, 0.0, 0.0, 0.1, out)
    assert np.isclose(out[15, 30], 0.2)  # 0.2 below the face, within the wall radii
    assert np.isclose(out[30, 10], 0.1)  # beside the wall
    assert np.isclose(out[5, 5], 0.05)  # in the bore, 0.05 from the inner wall
    assert out[15, 5] < 0  # inside the metal


@settings(deadline=None, max_examples=60, database=None)
@given(st.floats(0.05, 0.3), st.floats(0.01, 0.2), st.floats(-1.0, 2.0), seeds)
def test_insulator_signed_distance_matches_twin(r0, width, z_end, seed):
    nr, nz, h, z0 = 17, 23, 0.05, -0.4
    base = np.random.default_rng(seed).uniform(-0.2, 1.0, (nr, nz))
    out = np.full((nr, nz), np.nan)
    geometry.insulator_signed_distance(h, z0, r0, r0 + width, z_end, base, out)
    rr, zz = np.meshgrid(h * np.arange(nr), z0 + h * np.arange(nz), indexing="ij")
    want = np.minimum(base, tw.box_distance(rr, zz, r0, r0 + width, z_end))
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-14)
