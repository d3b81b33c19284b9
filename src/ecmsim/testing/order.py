"""Observed order of accuracy from a convergence study.

A discretisation of order ``p`` has errors ``e(h) ~ C h^p`` once ``h`` is small
enough, so ``log e`` is a straight line of slope ``p`` in ``log h``.  The
observed order is the least-squares slope of that line over at least three
resolutions: with only two, one unlucky resolution (a boundary cut at a
favourable fraction of a cell) decides the result alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["assert_observed_order", "observed_order", "pairwise_orders"]

ArrayLike = Sequence[float] | npt.NDArray[np.floating]

#: Fewest resolutions a fitted order is taken from.
MIN_RESOLUTIONS = 3


def _log_pairs(h: ArrayLike, errors: ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    hs = np.asarray(h, dtype=np.float64)
    es = np.asarray(errors, dtype=np.float64)
    if hs.ndim != 1 or hs.shape != es.shape:
        raise ValueError(f"h and errors must be 1-D of the same length, got shapes {hs.shape} and {es.shape}")
    if hs.size < MIN_RESOLUTIONS:
        raise ValueError(f"an observed order needs at least {MIN_RESOLUTIONS} resolutions, got {hs.size}")
    if not (np.all(np.isfinite(hs)) and np.all(hs > 0.0)):
        raise ValueError(f"every h must be finite and > 0, got {hs.tolist()}")
    if np.unique(hs).size != hs.size:
        raise ValueError(f"the resolutions h must differ from each other, got {hs.tolist()}")
    if not (np.all(np.isfinite(es)) and np.all(es > 0.0)):
        raise ValueError(f"every error must be finite and > 0 (its logarithm is fitted), got {es.tolist()}")
    return np.log(hs), np.log(es)


def observed_order(h: ArrayLike, errors: ArrayLike) -> float:
    """Least-squares slope of ``log(errors)`` against ``log(h)``.

    Parameters
    ----------
    h : sequence of float, shape (n,), n >= 3
        Grid spacings (any unit: only ratios matter), all different and > 0.
    errors : sequence of float, shape (n,)
        Error norms at those spacings, all > 0.

    Returns
    -------
    float
        The fitted order ``p`` of ``errors ~ C h^p``.

    Raises
    ------
    ValueError
        Fewer than three resolutions, mismatched lengths, repeated or non-positive
        ``h``, or an error that is zero, negative or not finite.
    """
    x, y = _log_pairs(h, errors)
    return float(np.polyfit(x, y, 1)[0])


def pairwise_orders(h: ArrayLike, errors: ArrayLike) -> list[float]:
    """Orders between consecutive resolutions, ``log(e_k+1/e_k) / log(h_k+1/h_k)``.

    Same arguments as :func:`observed_order`; returns ``n - 1`` floats in the
    order given.
    """
    x, y = _log_pairs(h, errors)
    return [float(v) for v in np.diff(y) / np.diff(x)]


def assert_observed_order(h: ArrayLike, errors: ArrayLike, expected: float, tol: float) -> float:
    """Assert that ``errors`` converge at least at order ``expected - tol``.

    The fitted order is the least-squares slope of :func:`observed_order`; a
    higher order than expected passes (a case may superconverge), a lower one
    fails with a message that lists every ``h``, every error, the orders between
    consecutive resolutions and the fitted order.

    Parameters
    ----------
    h : sequence of float, shape (n,), n >= 3
        Grid spacings (any unit), all different and > 0.
    errors : sequence of float, shape (n,)
        Error norms at those spacings, all > 0.
    expected : float
        Order of the method (e.g. 2.0 for a second-order scheme).
    tol : float
        Allowed shortfall of the fitted order, >= 0.

    Returns
    -------
    float
        The fitted order, for a test that also wants to report it.

    Raises
    ------
    AssertionError
        The fitted order is below ``expected - tol``.
    ValueError
        Unusable input (see :func:`observed_order`) or ``tol < 0``.
    """
    if not tol >= 0.0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    fitted = observed_order(h, errors)
    if fitted >= expected - tol:
        return fitted
    pairs = pairwise_orders(h, errors)
    rows = "\n".join(f"  h = {hk:.6g}  error = {ek:.6g}" for hk, ek in zip(h, errors, strict=True))
    raise AssertionError(
        f"observed order {fitted:.3f} is below the expected {expected:g} - {tol:g} = {expected - tol:g}\n"
        f"{rows}\n"
        f"  pairwise orders: {', '.join(f'{p:.3f}' for p in pairs)}\n"
        f"  least-squares order: {fitted:.3f}"
    )
