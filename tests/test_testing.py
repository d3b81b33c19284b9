"""Tests of ecmsim.testing: the observed-order assertion, the standard problems, the imports."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

from ecmsim.config import config_from_dict
from ecmsim.geometry import ANODE, CATHODE, ELECTROLYTE, INSULATOR, OUTSIDE
from ecmsim.testing import problems, strategies
from ecmsim.testing.order import assert_observed_order, observed_order, pairwise_orders

H = [0.1, 0.05, 0.025, 0.0125]


# ------------------------------------------------------------------- observed order
def test_power_laws_give_their_order() -> None:
    for p in (1.0, 2.0, 3.5):
        e = [3.0 * h**p for h in H]
        assert observed_order(H, e) == pytest.approx(p, rel=1e-12)
        assert pairwise_orders(H, e) == pytest.approx([p] * 3, rel=1e-12)
        assert assert_observed_order(H, e, expected=p, tol=1e-9) == pytest.approx(p)


def test_first_order_fails_when_second_is_expected() -> None:
    e = [0.7 * h for h in H]
    with pytest.raises(AssertionError) as info:
        assert_observed_order(H, e, expected=2.0, tol=0.3)
    msg = str(info.value)
    assert "observed order 1.000 is below the expected 2 - 0.3 = 1.7" in msg
    for h, err in zip(H, e, strict=True):  # every resolution and its error is listed
        assert f"h = {h:.6g}  error = {err:.6g}" in msg
    assert "pairwise orders: 1.000, 1.000, 1.000" in msg
    assert "least-squares order: 1.000" in msg


def test_fitted_order_is_least_squares_not_the_last_pair() -> None:
    # second order, but the finest pair stalls (round-off floor): the pairs show it,
    # the fit over all four resolutions decides
    e = [1e-2, 2.5e-3, 6.25e-4, 4e-4]
    pairs = pairwise_orders(H, e)
    assert pairs[:2] == pytest.approx([2.0, 2.0]) and pairs[2] < 1.0
    fitted = observed_order(H, e)
    assert fitted == pytest.approx(np.polyfit(np.log(H), np.log(e), 1)[0], rel=1e-12)
    assert 1.5 < fitted < 2.0
    with pytest.raises(AssertionError, match=r"pairwise orders: 2\.000, 2\.000, 0\.644"):
        assert_observed_order(H, e, expected=2.0, tol=0.2)


def test_a_higher_order_than_expected_passes() -> None:
    assert assert_observed_order(H, [h**3 for h in H], expected=2.0, tol=0.1) == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("h", "e", "match"),
    [
        ([0.1, 0.05], [1e-2, 2.5e-3], "at least 3 resolutions, got 2"),
        ([0.1, 0.05, 0.025], [1e-2, 2.5e-3], "same length"),
        ([0.1, 0.05, 0.05], [1e-2, 2.5e-3, 2e-3], "must differ"),
        ([0.1, 0.0, 0.025], [1e-2, 2.5e-3, 6e-4], "finite and > 0"),
        ([0.1, 0.05, 0.025], [1e-2, 0.0, 6e-4], "every error must be finite and > 0"),
        ([0.1, 0.05, 0.025], [1e-2, math.nan, 6e-4], "every error must be finite and > 0"),
    ],
)
def test_unusable_studies_are_refused(h: list[float], e: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        assert_observed_order(h, e, expected=2.0, tol=0.5)


def test_negative_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="tol must be >= 0"):
        assert_observed_order(H, [h**2 for h in H], expected=2.0, tol=-0.1)


# ------------------------------------------------------------------------- problems
def test_grid_and_node_kinds() -> None:
    r, z = problems.grid(3, 4, 0.5, z0=-1.0)
    assert r.shape == z.shape == (3, 4)
    np.testing.assert_array_equal(r[:, 0], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(z[0], [-1.0, -0.5, 0.0, 0.5])
    psi_w = 0.9 - r  # anode beyond r = 0.9
    psi_t = z + 0.6  # tool above z = -0.6
    blocked = np.zeros(r.shape, dtype=bool)
    blocked[1, 2] = blocked[0, 0] = True
    kind = problems.node_kinds(psi_w, psi_t, blocked, OUTSIDE)
    assert kind.dtype == np.int8
    assert kind[0, 0] == CATHODE  # blocked but metal: stays metal
    assert kind[2, 0] == ANODE  # both metals: the workpiece wins
    assert kind[1, 2] == OUTSIDE and kind[0, 2] == ELECTROLYTE
    assert np.all(problems.node_kinds(psi_w, psi_t, blocked)[blocked & (kind == OUTSIDE)] == INSULATOR)


def test_floating_pockets() -> None:
    r, _ = problems.grid(12, 12, 1.0)
    kind = problems.node_kinds(9.3 - r, r - 2.6)
    assert not problems.floating_pockets(kind).any()
    kind[4:9, 3] = kind[4:9, 7] = kind[4, 3:8] = kind[8, 3:8] = INSULATOR
    pocket = problems.floating_pockets(kind)
    assert pocket.sum() == 9 and np.all(pocket[5:8, 4:7])


def test_coaxial_problem_is_exact() -> None:
    p = problems.coaxial_cylinders(1.1e-3 / 20)
    assert p.kind.shape == (math.ceil(0.75e-3 / p.h) + 3, 8)
    inner = p.r[:, 0] < p.r_cathode
    outer = p.r[:, 0] > p.r_anode
    assert np.all(p.kind[inner] == CATHODE) and np.all(p.kind[outer] == ANODE)
    assert np.all(p.kind[~inner & ~outer] == ELECTROLYTE)
    # phi solves (r phi')' = 0 with phi(r_c) = 0, phi(r_a) = U
    log = math.log(p.r_anode / p.r_cathode)
    r = p.r[:, 0]
    np.testing.assert_allclose(p.phi_exact[:, 3], p.u_anode * np.log(np.maximum(r, p.r_cathode) / p.r_cathode) / log)
    assert p.anode_gradient == pytest.approx(p.u_anode / (p.r_anode * log))
    assert p.anode_flux_sum == pytest.approx(p.r_anode * p.anode_gradient * 8)
    with pytest.raises(ValueError, match="r_cathode < r_anode"):
        problems.coaxial_cylinders(1e-5, r_cathode=1e-3, r_anode=0.5e-3)


def test_tool_in_hole_problems() -> None:
    p = problems.stem_solver_problem(2.0e-5)
    assert p.kind.shape == (61, 141) and p.psi_w.shape == p.psi_t.shape == p.kind.shape
    assert set(np.unique(p.kind)) == {ELECTROLYTE, ANODE, CATHODE, INSULATOR}
    assert not problems.floating_pockets(p.kind).any()
    kind, psi_w, psi_t = problems.grid_tool_in_hole(20, 30, 8.0, -15.0, 2.0, 6.5, -13.0, coat=1.5, bare=4.0)
    assert kind.shape == psi_w.shape == psi_t.shape == (20, 30)
    assert kind[4, 10] == CATHODE and kind[4, 4] == ELECTROLYTE and kind[19, 29] == ELECTROLYTE and kind[19, 0] == ANODE
    assert np.any(kind == INSULATOR)


def test_stencil_matrix_takes_arrays_or_one_stacked_array() -> None:
    kind = np.zeros((3, 4), dtype=np.int8)
    kind[0, 0] = OUTSIDE
    rng = np.random.default_rng(1)
    stencil = rng.random((5, 3, 4))
    stencil[:, kind != ELECTROLYTE] = 0.0
    stencil[1, 0, :] = stencil[2, -1, :] = stencil[3, :, 0] = stencil[4, :, -1] = 0.0  # no links off the grid
    stencil[2, 0, 0] = stencil[1, 1, 0] = stencil[4, 0, 0] = stencil[3, 0, 1] = 0.0  # nor to the outside node
    a = problems.stencil_matrix(kind, stencil)
    assert a.shape == (11, 11)
    np.testing.assert_array_equal(a.diagonal(), stencil[0][kind == ELECTROLYTE])
    assert a[0, 4] == -stencil[2, 0, 1]  # (0, 1) -> (1, 1): nodes 0 -> 4 in C order, (0, 0) is outside
    assert (problems.stencil_matrix(kind, list(stencil)) != a).nnz == 0


def test_configs_are_valid() -> None:
    doc = problems.drilling_config(motion={"depth_mm": 1.6})
    assert doc["motion"] == {"feed_rate_mm_per_min": 2.0, "depth_mm": 1.6, "initial_gap_mm": 0.1}
    config_from_dict(doc)
    planar = problems.planar_gap_config(0.01, feed_rate_mm_per_min=0.0, dwell_s=5.0)
    cfg = config_from_dict(planar)
    assert cfg.tool.inner_diameter_mm == 0.0 and cfg.numerics.cell_size_mm == 0.01
    assert planar["motion"]["dwell_s"] == 5.0
    assert problems.tube_tool_overrides(0.02, 3.0) == [
        "tool.outer_diameter_mm=1.0", "tool.inner_diameter_mm=0.5", "numerics.cell_size_mm=0.02", "motion.depth_mm=3.0",
    ]  # fmt: skip


# -------------------------------------------------------------------------- imports
def test_importing_ecmsim_testing_needs_neither_hypothesis_nor_numba() -> None:
    code = (
        "import sys, ecmsim.testing\n"
        "bad = [m for m in ('hypothesis', 'numba', 'ecmsim.kernels') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------- strategies
@settings(deadline=None, max_examples=25, database=None)
@given(strategies.level_sets())
def test_level_sets_strategy(data: tuple) -> None:
    psi, h, rng = data
    assert 2 <= min(psi.shape) and max(psi.shape) <= 12 and 0.1 <= h <= 2.0
    assert np.all(np.isfinite(psi)) and isinstance(rng, np.random.Generator)


@settings(deadline=None, max_examples=25, database=None)
@given(strategies.electrode_geometries())
def test_electrode_geometries_strategy(geom: tuple) -> None:
    kind, psi_w, psi_t, u, h = geom
    assert kind.dtype == np.int8 and kind.shape == psi_w.shape == psi_t.shape
    assert 3 <= min(kind.shape) and max(kind.shape) <= 14 and h == 1.0 and 0.5 <= u <= 20.0
    assert not problems.floating_pockets(kind).any()
    assert np.all(kind[psi_w <= 0] == ANODE)


@settings(deadline=None, max_examples=25, database=None)
@given(strategies.tool_in_hole_geometries())
def test_tool_in_hole_geometries_strategy(geom: tuple) -> None:
    kind, psi_w, psi_t, u = geom
    assert kind.shape == psi_w.shape == psi_t.shape and 5 <= min(kind.shape) and 0.5 <= u <= 20.0
    assert set(np.unique(kind)) <= {ELECTROLYTE, ANODE, CATHODE, INSULATOR, OUTSIDE}
    assert not problems.floating_pockets(kind).any()
