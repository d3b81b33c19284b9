"""The one conversion of results to JSON-ready values.

Every ``--json`` output and JSON file goes through :func:`to_jsonable`: NumPy
scalars and arrays become Python numbers and lists, tuples become lists, keys
become strings, and a non-finite number (NaN, ±inf) becomes ``null``, because
JSON has no such numbers and a reader must not mistake one for a value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

__all__ = ["to_jsonable"]


def to_jsonable(x: Any) -> Any:
    """``x`` with every value JSON can hold as itself, NaN and ±inf as ``None``.

    Handles ``float``, ``int``, ``bool``, ``str``, ``None``, paths (as text),
    NumPy scalars and arrays, mappings, lists and tuples (recursively).  Other
    objects are returned unchanged, for ``json.dumps`` to accept or refuse.
    """
    if isinstance(x, bool) or x is None or isinstance(x, str | int):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, PurePath):
        return str(x)
    if isinstance(x, Mapping):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [to_jsonable(v) for v in x]
    # NumPy is imported only where its types can occur (this module stays light).
    tolist = getattr(x, "tolist", None)
    if tolist is not None and type(x).__module__ == "numpy":
        return to_jsonable(tolist())
    return x
