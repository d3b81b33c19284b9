"""A Numba cache folder keyed by the kernel sources, for tests and benchmarks.

Numba's on-disk cache (``@njit(cache=True)``) keys each compiled function on
its own source file only.  When a cached kernel calls an ``@njit`` function
defined in another file and only that other file is edited, the cache does
not notice: the caller keeps running the old machine code, with the old
callee (and module-level constants) frozen into it.  A test run would then
pass or fail on code that is no longer there.

:func:`use_keyed_cache_dir` points ``NUMBA_CACHE_DIR`` at a folder named by a
hash of every source file of :mod:`ecmsim.kernels` (and the Numba version),
so any edit to any kernel starts from an empty cache.  It must run before
Numba is imported: Numba reads the variable once, at import.  This module
imports neither Numba nor the kernels.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["kernel_source_hash", "use_keyed_cache_dir"]


def kernel_source_hash() -> str:
    """SHA-256 (first 16 hex digits) of every ``.py`` file of ``ecmsim.kernels`` and the Numba version."""
    spec = importlib.util.find_spec("ecmsim.kernels")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("ecmsim.kernels is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    try:
        digest.update(importlib.metadata.version("numba").encode())
    except importlib.metadata.PackageNotFoundError:
        digest.update(b"numba-unknown")
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def use_keyed_cache_dir(base: str | Path | None = None) -> Path:
    """Set ``NUMBA_CACHE_DIR`` to ``BASE/kernels-<hash>`` and return that folder.

    ``BASE`` is, in this order: the argument, an existing ``NUMBA_CACHE_DIR``
    (unless it is already a keyed folder of this hash), then
    ``~/.cache/ecmsim/numba``.

    Raises
    ------
    RuntimeError
        Numba was imported already, so the setting could not take effect.
    """
    name = f"kernels-{kernel_source_hash()}"
    current = os.environ.get("NUMBA_CACHE_DIR")
    if base is None and current and Path(current).name == name:
        folder = Path(current)
    else:
        if base is None:
            base = current or Path.home() / ".cache" / "ecmsim" / "numba"
        folder = Path(base) / name
    if "numba" in sys.modules and os.environ.get("NUMBA_CACHE_DIR") != str(folder):
        raise RuntimeError("numba was imported before the keyed cache folder was set; call use_keyed_cache_dir() first")
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(folder)
    return folder
