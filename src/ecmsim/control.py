"""The machine's control laws: a current-controlled supply and a servo feed.

A STEM or ECD machine either holds its voltage or holds its current (the
voltage follows the gap, up to the supply's limit); a gap controller may adapt
the feed to hold a current or a frontal gap.  :class:`Control` holds the
resolved settings (SI) and the two laws the stepper evaluates once per step:

* :meth:`Control.voltage_scale`: in current control, the factor that takes the
  voltage across the electrolyte from the value just solved to the one that
  gives the set current.  With the conductivity of a step fixed (the primary
  model, and the secondary physics, whose conductivity lags one step) the
  potential and the current are linear in U − ΔU, so one rescale is exact.
* :meth:`Control.servo_feed`: the feed that makes the frontal gap approach its
  target as a first-order lag with time constant τ,
  ``f = v_b + (h − h*) / max(τ, 2 Δt)``, clipped to the feed limits, where
  ``v_b`` is the dissolution speed of the hole bottom and ``h`` the frontal
  gap.  Holding a current uses ``h* = h I / I*`` (the frontal current varies
  as 1/h at fixed voltage).  Then ``dh/dt = v_b − f = −(h − h*)/τ``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Control:
    """The supply and feed control of a run (SI units).

    Attributes
    ----------
    supply : str
        ``"voltage"`` or ``"current"`` (``[electrical] control``).
    current : float or None
        Set current of a current-controlled supply, A.
    max_voltage : float or None
        Voltage limit of a current-controlled supply, V (applied voltage, ΔU included).
    feed : str
        ``"constant"`` or ``"servo"`` (``[motion] feed_control``).
    servo_target : str or None
        ``"current"`` or ``"frontal_gap"``.
    target_current : float or None
        Current the servo holds, A.
    target_gap : float or None
        Frontal gap the servo holds, m.
    min_feed, max_feed : float
        Feed limits of the servo, m/s.
    time_constant : float
        Servo time constant τ, s.
    """

    supply: str = "voltage"
    current: float | None = None
    max_voltage: float | None = None
    feed: str = "constant"
    servo_target: str | None = None
    target_current: float | None = None
    target_gap: float | None = None
    min_feed: float = 0.0
    max_feed: float = math.inf
    time_constant: float = 2.0

    @property
    def current_control(self) -> bool:
        """The supply holds a current (the voltage adapts)."""
        return self.supply == "current"

    @property
    def servo(self) -> bool:
        """The feed adapts."""
        return self.feed == "servo"

    @property
    def active(self) -> bool:
        """Voltage or feed change during the run."""
        return self.current_control or self.servo

    def voltage_scale(self, current: float) -> float:
        """Factor on U − ΔU (and the potential) that turns ``current`` (A) into the set current.

        The potential solves a linear problem with the tool at U − ΔU and the
        workpiece at 0, so the current scales with U − ΔU at fixed geometry and
        conductivity.
        """
        assert self.current is not None
        if not current > 0.0:
            return math.inf
        return self.current / current

    def gap_error(self, frontal_gap: float, current: float) -> float:
        """Frontal gap minus the gap the target asks for, m (positive: feed faster)."""
        if self.servo_target == "frontal_gap":
            assert self.target_gap is not None
            return frontal_gap - self.target_gap
        assert self.target_current is not None
        # I ∝ 1/h at the frontal gap: the gap that carries the target current is h I / I*
        return frontal_gap * (1.0 - current / self.target_current)

    def servo_feed(self, feed: float, frontal_gap: float, bottom_speed: float, current: float, dt: float) -> float:
        """The feed of the next step, m/s.

        Parameters
        ----------
        feed
            Feed of the last step, m/s (kept when the gap cannot be measured).
        frontal_gap
            Tool face to hole bottom, m.
        bottom_speed
            Dissolution speed of the hole bottom, m/s.
        current
            Cell current, A.
        dt
            Last time step, s: the correction acts over at least two steps, so
            the discrete gap never overshoots its target.
        """
        if not (math.isfinite(frontal_gap) and math.isfinite(bottom_speed)):
            return feed
        tau = max(self.time_constant, 2.0 * dt)
        wanted = bottom_speed + self.gap_error(frontal_gap, current) / tau
        return min(max(wanted, self.min_feed), self.max_feed)
