"""Driver and state apart: a frozen domain, a state the stepper advances, one history table."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from ecmsim.config import load_config
from ecmsim.domain import Domain
from ecmsim.history import HISTORY_COLUMNS, HistoryRecorder
from ecmsim.process import resolve
from ecmsim.simulation import Simulation
from ecmsim.state import DrillingState
from ecmsim.stepper import Stepper
from ecmsim.units import A_PER_CM2, MM

SMALL = ["motion.depth_mm=0.3", "numerics.cell_size_mm=0.02"]


def small_process(*extra: str):
    return resolve(load_config("example:stem-in718", [*SMALL, *extra]))


def test_process_holds_the_config_in_si() -> None:
    p = small_process("electrical.max_current_density_A_per_cm2=500", "numerics.short_circuit_gap_mm=0.004")
    c = p.config
    assert p.cell_size == c.numerics.cell_size_mm * MM
    assert p.tool.r_outer == 0.5 * c.tool.outer_diameter_mm * MM
    assert p.tool.r_inner == 0.5 * c.tool.inner_diameter_mm * MM
    assert p.tool.bare_tip == c.tool.bare_tip_length_mm * MM
    assert p.depth == c.motion.depth_mm * MM and p.initial_gap == c.motion.initial_gap_mm * MM
    assert p.max_current_density == 500 * A_PER_CM2
    assert p.short_circuit_gap == 0.004 * MM
    default = small_process()
    assert default.max_current_density == math.inf  # no limit set
    assert default.short_circuit_gap == 0.5 * default.cell_size  # half a cell


def test_domain_is_frozen_and_stepping_leaves_it_unchanged() -> None:
    domain = Domain.build(small_process())
    with pytest.raises(dataclasses.FrozenInstanceError):
        domain.band = 1.0  # type: ignore[misc]
    before = {k: getattr(domain, k).copy() for k in ("rr", "zz", "outside")}
    sim = Simulation(domain.process, domain)
    for _ in range(5):
        sim.step()
    for k, arr in before.items():
        np.testing.assert_array_equal(getattr(domain, k), arr, err_msg=k)
    assert domain.flooded().outside.sum() == 0 and domain.outside.sum() > 0


def test_the_stepper_holds_no_run_state() -> None:
    """Two states stepped in turn by one stepper end exactly as one state stepped alone."""
    domain = Domain.build(small_process())
    stepper = Stepper(domain)
    a, b = DrillingState.start(domain), DrillingState.start(domain)
    for _ in range(6):
        stepper.step(a)
        stepper.step(b)
    alone = DrillingState.start(domain)
    for _ in range(6):
        Stepper(domain).step(alone)
    for s in (a, b):
        np.testing.assert_array_equal(s.psi_w, alone.psi_w)
        np.testing.assert_array_equal(s.phi, alone.phi)
        assert (s.t, s.z_tip, s.charge, s.removed, s.steps) == (
            alone.t, alone.z_tip, alone.charge, alone.removed, alone.steps,
        )  # fmt: skip


def test_history_columns_feed_the_result() -> None:
    sim = Simulation(small_process())
    for _ in range(4):
        sim.step()
    result = sim.result()
    assert list(result.history) == [c.name for c in HISTORY_COLUMNS]
    assert result.history.n_steps == 4
    for col in HISTORY_COLUMNS:
        arr = result.history[col.name]
        assert arr.dtype == np.float64 and arr.shape == (4,), col.name
        assert getattr(result, col.name) is arr  # the columns are attributes too
    with pytest.raises(AttributeError, match="no attribute 'not_a_column'"):
        _ = result.not_a_column


def test_recorder_refuses_a_row_that_does_not_match_the_table() -> None:
    rec = HistoryRecorder()
    row = {c.name: 1.0 for c in HISTORY_COLUMNS}
    rec.record(**row)
    assert len(rec) == 1
    del row["current"]
    with pytest.raises(KeyError, match=r"missing \['current'\]"):
        rec.record(**row)
    with pytest.raises(KeyError, match=r"unknown \['extra'\]"):
        rec.record(**row, current=1.0, extra=2.0)
