"""The 3D potential solver: the system of ``ecmsim.kernels.potential3d`` solved by multigrid CG.

The 3D counterpart of :mod:`ecmsim.solvers` for a Cartesian window with the mirror plane
``y = 0``: :func:`check_system3d` checks the arrays before a kernel sees them and
:class:`MultigridCGSolver3D` runs conjugate gradients preconditioned with one 3D
geometric multigrid V-cycle (``ecmsim.kernels.multigrid3d``: Galerkin coarse operators,
red-black and eight-colour Gauss-Seidel), returning the :class:`ecmsim.solvers.SolveStats`
of the 2D solvers.  The system is the 7-point stencil, one float64 array of shape
``(7, nx, ny, nz)`` indexed by ``potential3d.DIAG, XM, XP, YM, YP, ZM, ZP``, and the
right-hand side on the ``(nx, ny, nz)`` grid, unknowns where ``kind == 0``.

NumPy and the kernels are imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecmsim.solvers import SolveStats, check_grid_system

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]
    KindArray = npt.NDArray[np.int8]


def check_system3d(kind: KindArray, stencil: FloatArray, rhs: FloatArray, x: FloatArray) -> tuple[int, int, int]:
    """Check the arrays of a 3D potential system before a kernel sees them.

    Parameters
    ----------
    kind
        int8 ``(nx, ny, nz)``.
    stencil
        float64 ``(7, nx, ny, nz)`` (``potential3d`` contract).
    rhs, x
        float64 ``(nx, ny, nz)``; ``x`` must be writeable.

    Returns
    -------
    tuple of int
        The grid shape ``(nx, ny, nz)``.

    Raises
    ------
    TypeError
        An argument is not a NumPy array or has the wrong dtype.
    ValueError
        Wrong shape or memory layout, or ``x`` is read-only; the message names the
        array, the expected and the actual value.
    """
    nx, ny, nz = check_grid_system(kind, stencil, rhs, x, ("nx", "ny", "nz"), 7)
    return nx, ny, nz


class MultigridCGSolver3D:
    """Conjugate gradients preconditioned with a 3D geometric multigrid V-cycle.

    The hierarchy storage is allocated for a grid shape and kept; every call refills it
    for the current operator (Galerkin coarse operators and the coarsest factor).

    Parameters
    ----------
    nu
        Gauss-Seidel sweeps before and after the coarse-grid correction on every level.
    min_size
        An axis is coarsened while it has more than this many nodes; the coarsest level
        (at most ``min_size`` nodes along every axis) is solved by dense Cholesky.
    """

    name = "mg-cg-3d"

    def __init__(self, nu: int = 2, min_size: int = 5) -> None:
        if nu < 1:
            raise ValueError(f"nu must be at least 1, got {nu}")
        if not 3 <= min_size <= 8:
            raise ValueError(f"min_size must be between 3 and 8, got {min_size}")
        self.nu = int(nu)
        self.min_size = int(min_size)
        self._shape: tuple[int, int, int] | None = None

    @property
    def levels(self) -> int:
        """Number of grid levels of the current hierarchy (0 before the first solve)."""
        return 0 if self._shape is None else int(self._hier.levels.shape[0])

    def solve(
        self, kind: KindArray, stencil: FloatArray, rhs: FloatArray, x: FloatArray, tol: float, maxiter: int
    ) -> SolveStats:
        """Solve ``A x = rhs`` in place; ``x`` in V.

        Parameters
        ----------
        kind
            Node kinds, int8 ``(nx, ny, nz)`` (0 unknown).
        stencil
            float64 ``(7, nx, ny, nz)`` from ``potential3d.assemble`` (symmetric).
        rhs
            float64 ``(nx, ny, nz)`` from ``potential3d.assemble`` (V).
        x
            float64 ``(nx, ny, nz)``: initial guess, overwritten with the solution on unknowns.
        tol
            Relative residual tolerance.
        maxiter
            Iteration limit.

        Returns
        -------
        SolveStats

        Raises
        ------
        TypeError, ValueError
            If an array has the wrong type, dtype, shape or memory layout
            (:func:`check_system3d`).
        """
        from ecmsim.kernels import multigrid3d

        shape = check_system3d(kind, stencil, rhs, x)
        if self._shape != shape:
            self._hier = multigrid3d.allocate(*shape, self.min_size)
            self._shape = shape
        its, rel, rel0 = multigrid3d.mgcg(kind, stencil, rhs, x, float(tol), int(maxiter), self.nu, self._hier)
        return SolveStats.from_kernel(its, rel, rel0)
