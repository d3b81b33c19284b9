"""Steady-segment jump: advance the tool over the part of a hole where nothing changes in its frame.

At a constant feed and voltage, with one conductivity and a coated tool, the
hole seen from the tool settles after a few gaps of travel: the frontal gap,
the wall beside the bare tip and the finished wall behind the coating stop
changing, and every further millimetre of hole is the same wall radius
extruded.  :class:`SteadyJump` watches the tool-frame profile while the run
marches; once its mean over a settling travel (1 to 3 gaps h_e, about 40 cells)
has changed by less than ``[numerics] steady_tolerance_mm`` since each of the two
travels before, it moves the whole
tool-frame state down by a whole number of grid rows in one go (the frozen
rows above the window are extended with the settled finished wall), adds the
time of that travel at the feed, the charge and the Faraday volume at the
rates of the settled segment, the level set's own volume change, one history
row per cell of travel and the snapshots the travel passes.  The march then
goes on to the final depth, the dwell or the plate's far face.

It is off wherever the frame state need not be steady: no window (bare tool,
``window = "off"``), no feed, current control or a servo feed, secondary
physics (the channel's resistance grows with depth), and before the entry
flare has left the window.  ``[numerics] steady_jump = false`` turns it off.
Everything is SI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecmsim.domain import Domain
from ecmsim.geometry import FloatArray
from ecmsim.state import DrillingState

#: Tool travel, in gaps h_e, over which the mean frame profile is compared with the travels before
#: (at most; at least :data:`SETTLE_MIN_GAPS`, and :data:`SETTLE_CELLS` cells where that lies between).
SETTLE_GAPS = 3.0
#: Shortest settling travel, in gaps h_e: the frontal gap relaxes over about one gap of travel.
SETTLE_MIN_GAPS = 1.0
#: Settling travel in cells that averages out the sawtooth of the cut and the ripple of the finished wall.
SETTLE_CELLS = 40
#: Tool travel between two samples of the frame profile, as a fraction of the settling travel.
SAMPLE_FRACTION = 1.0 / 12.0
#: Travel, in gaps h_e, marched after the jump before the final depth (or the far face's reach).
RESERVE_GAPS = 2.0


@dataclass(frozen=True)
class JumpRecord:
    """The depth range a run crossed in one jump.

    Attributes
    ----------
    from_depth, to_depth : float
        Tool face depth before and after the jump, m.
    first_row, rows : int
        Index of the first history row the jump added, and how many it added.
    drift : float
        Largest change of the frame profile measured over the settling travel, m.
    """

    from_depth: float
    to_depth: float
    first_row: int
    rows: int
    drift: float


@dataclass
class _Sample:
    z_tip: float
    t: float
    charge: float
    faraday: float
    row: int  # history rows so far
    profile: FloatArray  # wall radius at fixed offsets from the tool face, then the frontal gap, m


def off_reason(domain: Domain) -> str | None:
    """Why the steady jump cannot apply to this run (None: it may, once the state is steady)."""
    p = domain.process
    if not p.config.numerics.steady_jump:
        return "off ([numerics] steady_jump = false)"
    if domain.window_behind is None:
        return "no window (bare tool or [numerics] window = off)"
    if p.feed <= 0:
        return "no feed"
    if p.control.active:
        return "current control or servo feed"
    if p.supply is not None:
        return "secondary physics (the gap's conductivity changes with depth)"
    return None


class SteadyJump:
    """Detects the settled tool-frame state of a run and jumps the tool over the steady segment.

    Parameters
    ----------
    domain
        The run's domain (its process gives feed, depth, tolerance).
    """

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        p = domain.process
        self.h_e = domain.gap_scale
        self.tolerance = p.steady_tolerance
        self.samples: list[_Sample] = []
        self.done: JumpRecord | None = None
        self.active = off_reason(domain) is None
        #: travel over which the mean frame profile is compared, m
        self.settle = max(SETTLE_MIN_GAPS * self.h_e, min(SETTLE_GAPS * self.h_e, SETTLE_CELLS * domain.h))
        behind = domain.window_behind or 0.0
        h = domain.h
        # offsets from the tool face where the wall is compared: the window above the face
        self.offsets = -np.arange(2 * h, behind - h, h)[::-1]

    def target(self) -> float:
        """Deepest tool position a jump may reach, m."""
        d, p = self.domain, self.domain.process
        end = p.depth - RESERVE_GAPS * self.h_e
        if p.thickness is not None:
            # the window's whole reach is marched again before it meets the far face
            end = min(end, p.thickness - d.window_ahead - (d.window_behind or 0.0))
        return end

    def after_step(self, state: DrillingState) -> None:
        """Sample the frame profile when due; jump once it has settled."""
        if not self.active or self.done is not None or state.status is not None:
            return
        if self.samples and state.z_tip - self.samples[-1].z_tip < SAMPLE_FRACTION * self.settle:
            return
        sample = self._sample(state)
        if sample is None:
            return
        self.samples.append(sample)
        drift = self._drift(sample)
        if drift is None or drift >= self.tolerance or self.target() - state.z_tip < 4 * self.domain.h:
            return
        win = state.window
        assert win is not None
        if self.domain.grid.z[win.j0] >= 3.0 * self.h_e:  # the entry flare has left the window
            self._jump(state, drift)

    def _sample(self, state: DrillingState) -> _Sample | None:
        g = self.domain.grid
        ok = np.isfinite(state.wall)
        if ok.sum() < 2:
            return None
        wall = np.interp(state.z_tip + self.offsets, g.z[ok], state.wall[ok])
        gap = state.history.last("frontal_gap", math.nan)
        if not math.isfinite(gap):
            return None
        return _Sample(
            state.z_tip, state.t, state.charge, state.faraday_volume, len(state.history), np.append(wall, gap)
        )

    def _drift(self, now: _Sample) -> float | None:
        """Largest change of the mean frame profile between settling travels (None: too early).

        The mean over the last settling travel is compared with the mean over the one before and
        the one before that, so that the sawtooth of the cut and the small ripple of the finished wall
        (a fixed feature in the workpiece that passes through the frame) average out, while a trend
        over the last three travels does not.
        """
        settle = self.settle
        means = []
        for n in range(3):
            seg = [s.profile for s in self.samples if now.z_tip - (n + 1) * settle < s.z_tip <= now.z_tip - n * settle]
            if not seg or self.samples[0].z_tip > now.z_tip - 3 * settle:
                return None
            means.append(np.mean(seg, axis=0))
        return float(max(np.max(np.abs(means[0] - means[1])), np.max(np.abs(means[0] - means[2]))))

    def _jump(self, state: DrillingState, drift: float) -> None:
        """Move the frame state down by whole rows to :meth:`target`, with its time, charge and histories."""
        d, p = self.domain, self.domain.process
        h = d.h
        now = self.samples[-1]
        ref = [s for s in self.samples if s.z_tip <= now.z_tip - self.settle][-1]
        k = math.floor((self.target() - state.z_tip) / h)
        win = state.window
        assert win is not None
        win.store(state)
        j_s = win.j0
        first = len(state.history)
        before = _slab_volume(d, state.psi_w, j_s)
        rate_q = (now.charge - ref.charge) / (now.t - ref.t)
        rate_f = (now.faraday - ref.faraday) / (now.t - ref.t)
        wall_before = state.wall.copy()
        for arr in (state.psi_w, state.phi, state.wall):
            shift_rows(arr, j_s, k)
        dv = _slab_volume(d, state.psi_w, j_s) - before
        dt = k * h / p.feed
        _add_rows(state, ref.row, k, h, dt / k, rate_q, rate_f, dv, p.overpotential + p.u_eff, p.feed)
        _snapshots(state, wall_before, j_s, k, h, p.output_interval)
        z0 = state.z_tip
        state.z_tip += k * h
        state.t += dt
        state.charge += rate_q * dt
        state.faraday_volume += rate_f * dt
        state.removed += dv
        state.window = None
        state.place_window(d)
        self.done = JumpRecord(z0, state.z_tip, first, k, drift)


def shift_rows(arr: FloatArray, j_s: int, k: int) -> None:
    """Move rows ``j_s:`` of ``arr`` (last axis: rows) down by ``k`` and fill the gap with row ``j_s``, in place.

    Parameters
    ----------
    arr
        Array of shape (..., nz); the last ``k`` rows drop out.
    j_s
        First row that moves (the rows above it are unchanged).
    k
        Rows to move, ≥ 1.
    """
    arr[..., j_s + k :] = arr[..., j_s : arr.shape[-1] - k].copy()
    arr[..., j_s : j_s + k] = arr[..., j_s : j_s + 1]


def _slab_volume(d: Domain, psi: FloatArray, j_s: int) -> float:
    """Electrolyte volume of rows from three above ``j_s`` down, m³ (rows above never change)."""
    from ecmsim.kernels import levelset

    j = max(j_s - 3, 0)
    slab = np.where(d.outside[:, j:], -d.band, psi[:, j:])
    return float(levelset.electrolyte_volume(np.ascontiguousarray(slab), d.h))


def _add_rows(
    state: DrillingState, ref_row: int, k: int, h: float, dt: float, rate_q: float, rate_f: float,
    dv: float, voltage: float, feed: float,
) -> None:  # fmt: skip
    """One history row per cell of the jump's travel: the settled segment's means, cumulative values advanced."""
    rec = state.history
    seg = {name: np.asarray(rec.column(name)[ref_row:], dtype=float) for name in ("frontal_gap", "min_gap")}
    steps = np.arange(1, k + 1, dtype=float)
    current = rate_q
    rows = {
        "time": state.t + steps * dt,
        "tool_depth": state.z_tip + steps * h,
        "current": np.full(k, current),
        "charge": state.charge + rate_q * dt * steps,
        "frontal_gap": np.full(k, float(seg["frontal_gap"].mean())),
        "min_gap": np.full(k, float(seg["min_gap"].mean())),
        "removed_volume": state.removed + dv * steps / k,
        "faraday_volume": state.faraday_volume + rate_f * dt * steps,
        "max_current_density": np.full(k, float(np.mean(rec.column("max_current_density")[ref_row:]))),
        "solver_iterations": np.zeros(k),
        "solver_convergence_factor": np.zeros(k),
        "voltage": np.full(k, voltage),
        "feed_rate": np.full(k, feed),
    }
    rec.extend(rows)


def _snapshots(state: DrillingState, wall_before: FloatArray, j_s: int, k: int, h: float, interval: float) -> None:
    """The wall snapshots due during the jump: the wall before it moved down by the rows travelled."""
    snaps = state.snapshots
    while snaps.next_depth < state.z_tip + k * h:
        m = math.floor((snaps.next_depth - state.z_tip) / h + 0.5)
        if m < 1:
            snaps.next_depth += interval
            continue
        wall = wall_before.copy()
        shift_rows(wall, j_s, m)
        snaps.take(state.z_tip + m * h, wall, interval)
