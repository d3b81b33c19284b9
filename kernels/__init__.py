"""Numba kernels of ecmsim: pure functions of arrays and scalars.

Every module here imports only ``numpy``, ``numba`` and ``math`` and never
anything from ``ecmsim`` outside this package (``multigrid`` takes the stencil
index constants from ``potential``).  Import them as ``ecmsim.kernels.<module>``.
"""
