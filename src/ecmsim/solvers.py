"""Linear solvers for the potential system, behind one interface the driver can switch.

Every solver takes the system that ``ecmsim.kernels.potential.assemble`` builds (five
stencil arrays and the right-hand side on the ``(nr, nz)`` grid, unknowns where
``kind == 0``), warm-starts from ``x``, updates ``x`` in place on the unknowns only and
stops when ``||rhs - A x|| / ||rhs|| <= tol`` (or after ``maxiter`` iterations).

- ``"mic-cg"``: :class:`MICCGSolver`, conjugate gradients with a modified incomplete
  Cholesky preconditioner (``potential.pcg``).  Iterations grow like ``1/sqrt(h)``.
- ``"mg-cg"``: :class:`MultigridCGSolver`, conjugate gradients preconditioned by one
  geometric multigrid V-cycle with Galerkin coarse operators
  (``ecmsim.kernels.multigrid``).  Iterations stay flat (about 6) as the grid is
  refined; the hierarchy is rebuilt, in O(nr nz), at every call because the operator
  changes with the geometry.  The V-cycle runs in float32 by default (CG stays
  float64), which changes neither the iterations nor the accuracy.

Kernels are imported lazily, so importing this module does not start Numba.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
KindArray = npt.NDArray[np.int8]

#: Names accepted by :func:`make_solver`.
SOLVER_NAMES = ("mic-cg", "mg-cg")


@dataclass(frozen=True)
class SolveStats:
    """Outcome of one linear solve.

    Attributes
    ----------
    iterations
        Conjugate-gradient iterations carried out (0 if the initial guess was good
        enough or the right-hand side is zero).
    relative_residual
        Final ``||rhs - A x|| / ||rhs||`` (recursively updated residual).
    convergence_factor
        Average residual reduction per iteration,
        ``(relative_residual / initial_relative_residual) ** (1 / iterations)``;
        0 when no iteration was needed.
    initial_relative_residual
        ``||rhs - A x0|| / ||rhs||`` of the initial guess.
    """

    iterations: int
    relative_residual: float
    convergence_factor: float
    initial_relative_residual: float


class PotentialSolver(Protocol):
    """What the driver needs from a potential solver."""

    name: str

    def solve(
        self,
        kind: KindArray,
        diag: FloatArray,
        c_rm: FloatArray,
        c_rp: FloatArray,
        c_zm: FloatArray,
        c_zp: FloatArray,
        rhs: FloatArray,
        x: FloatArray,
        tol: float,
        maxiter: int,
    ) -> SolveStats:
        """Solve ``A x = rhs`` in place; arrays have shape ``(nr, nz)``, ``x`` in V.

        Parameters
        ----------
        kind
            Node kinds (int8, 0 unknown).
        diag, c_rm, c_rp, c_zm, c_zp, rhs
            System from ``potential.assemble`` (symmetric).
        x
            Initial guess, overwritten with the solution on unknowns.
        tol
            Relative residual tolerance.
        maxiter
            Iteration limit.

        Returns
        -------
        SolveStats
        """
        ...


def _factor(rel: float, rel0: float, iterations: int) -> float:
    if iterations <= 0 or rel0 <= 0.0:
        return 0.0
    if rel <= 0.0:
        return 0.0
    return float((rel / rel0) ** (1.0 / iterations))


def _stats(iterations: int, rel: float, rel0: float) -> SolveStats:
    return SolveStats(
        iterations=int(iterations),
        relative_residual=float(rel),
        convergence_factor=_factor(float(rel), float(rel0), int(iterations)),
        initial_relative_residual=float(rel0),
    )


class MICCGSolver:
    """Conjugate gradients preconditioned with MIC(0): ``potential.pcg``.

    The work array is allocated once per grid shape and reused.
    """

    name = "mic-cg"

    def __init__(self) -> None:
        self._shape: tuple[int, int] | None = None
        self._work: FloatArray = np.zeros((6, 0, 0))

    def solve(
        self,
        kind: KindArray,
        diag: FloatArray,
        c_rm: FloatArray,
        c_rp: FloatArray,
        c_zm: FloatArray,
        c_zp: FloatArray,
        rhs: FloatArray,
        x: FloatArray,
        tol: float,
        maxiter: int,
    ) -> SolveStats:
        """Solve ``A x = rhs`` in place (see :meth:`PotentialSolver.solve`)."""
        from ecmsim.kernels import potential

        shape = (int(kind.shape[0]), int(kind.shape[1]))
        if self._shape != shape:
            self._work = np.zeros((6, *shape))
            self._shape = shape
        # initial residual, for the average convergence factor (work[5] is unused by pcg)
        q = self._work[5]
        potential.apply(kind, diag, c_rm, c_rp, c_zm, c_zp, x, q)
        mask = kind == 0
        bnorm = float(np.linalg.norm(rhs[mask]))
        rel0 = float(np.linalg.norm(rhs[mask] - q[mask])) / bnorm if bnorm > 0.0 else 0.0
        its, rel = potential.pcg(kind, diag, c_rm, c_rp, c_zm, c_zp, rhs, x, tol, maxiter, self._work)
        return _stats(its, rel, rel0)


class MultigridCGSolver:
    """Conjugate gradients preconditioned with a geometric multigrid V-cycle.

    The hierarchy storage is allocated for a grid shape and kept; every call refills
    it for the current operator (Galerkin coarse operators and the coarsest
    factorisation, O(nr nz)).

    Parameters
    ----------
    nu
        Gauss-Seidel sweeps before and after the coarse-grid correction on every level
        (V(nu, nu)); 2 is the measured optimum.
    min_size
        Coarsening stops once the shorter side of a level has at most this many nodes;
        the coarsest level is solved by banded Cholesky.
    precision
        Floating-point type of the preconditioner (``"float32"`` or ``"float64"``).  CG
        itself, its residual and its stopping test are always float64; a float32
        V-cycle streams half the bytes and is about as effective (the iteration counts
        pinned in the tests hold for both).
    """

    name = "mg-cg"

    def __init__(self, nu: int = 2, min_size: int = 6, precision: str = "float32") -> None:
        if nu < 1:
            raise ValueError(f"nu must be at least 1, got {nu}")
        if precision not in ("float32", "float64"):
            raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")
        self.nu = int(nu)
        self.min_size = int(min_size)
        self.precision = precision
        self._shape: tuple[int, int] | None = None

    def _allocate(self, shape: tuple[int, int]) -> None:
        from ecmsim.kernels import multigrid

        self._levels = multigrid.hierarchy(shape[0], shape[1], self.min_size)
        n_nodes, n_stencil, n_rows, n_coarsest, bandwidth = multigrid.storage_sizes(self._levels)
        dtype = np.dtype(self.precision)
        self._kinds = np.zeros(n_nodes, dtype=np.int8)
        self._spans = np.zeros((n_rows, 2), dtype=np.int64)
        self._sten = np.zeros(n_stencil, dtype=dtype)
        self._band = np.zeros((n_coarsest, bandwidth + 1))
        self._vec = np.zeros((3, n_nodes), dtype=dtype)
        self._coef = np.zeros((3, *shape), dtype=dtype)
        self._work = np.zeros((3, *shape))
        self._shape = shape

    @property
    def levels(self) -> int:
        """Number of grid levels of the current hierarchy (0 before the first solve)."""
        return 0 if self._shape is None else int(self._levels.shape[0])

    def solve(
        self,
        kind: KindArray,
        diag: FloatArray,
        c_rm: FloatArray,
        c_rp: FloatArray,
        c_zm: FloatArray,
        c_zp: FloatArray,
        rhs: FloatArray,
        x: FloatArray,
        tol: float,
        maxiter: int,
    ) -> SolveStats:
        """Solve ``A x = rhs`` in place (see :meth:`PotentialSolver.solve`)."""
        from ecmsim.kernels import multigrid

        shape = (int(kind.shape[0]), int(kind.shape[1]))
        if self._shape != shape:
            self._allocate(shape)
        its, rel, rel0 = multigrid.mgcg(
            kind,
            diag,
            c_rm,
            c_rp,
            c_zm,
            c_zp,
            rhs,
            x,
            tol,
            maxiter,
            self.nu,
            self._levels,
            self._kinds,
            self._spans,
            self._sten,
            self._band,
            self._vec,
            self._coef,
            self._work,
        )
        return _stats(its, rel, rel0)


def make_solver(name: str) -> PotentialSolver:
    """A potential solver by name.

    Parameters
    ----------
    name
        ``"mic-cg"`` or ``"mg-cg"``.

    Returns
    -------
    PotentialSolver

    Raises
    ------
    ValueError
        For any other name (the message lists the valid ones).
    """
    if name == "mic-cg":
        return MICCGSolver()
    if name == "mg-cg":
        return MultigridCGSolver()
    raise ValueError(f"unknown potential solver {name!r}; valid: {', '.join(SOLVER_NAMES)}")
