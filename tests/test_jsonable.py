"""The one JSON cleaner."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ecmsim.jsonable import to_jsonable


def test_non_finite_numbers_become_null_and_numpy_becomes_python() -> None:
    data = {
        "a": math.nan,
        "b": [1.0, math.inf, (2, -math.inf)],
        3: np.float32(1.5),
        "c": np.array([[1.0, np.nan], [2.0, 3.0]]),
        "d": np.int64(7),
        "e": np.bool_(True),
        "f": Path("x/y.h5"),
        "g": None,
        "h": "text",
    }
    out = to_jsonable(data)
    assert out == {
        "a": None,
        "b": [1.0, None, [2, None]],
        "3": 1.5,
        "c": [[1.0, None], [2.0, 3.0]],
        "d": 7,
        "e": True,
        "f": "x/y.h5",
        "g": None,
        "h": "text",
    }
    json.dumps(out, allow_nan=False)  # strict JSON
    assert type(out["d"]) is int and type(out["e"]) is bool
