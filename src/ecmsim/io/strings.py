"""Fixed-length ASCII text of the inspection and QC files: serial numbers, hole ids, names, times.

Identifiers are stored as fixed-length ASCII datasets (``S32``, ``S64``),
validated the same way on writing (:func:`fixed_strings`) and on reading
(:func:`read_strings`), so a value is never truncated or half-read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ecmsim.errors import InputDataError
from ecmsim.io.common import get_dataset, read_dataset

if TYPE_CHECKING:
    import h5py

#: Fixed lengths of the string datasets (bytes, ASCII).
SERIAL_LEN = 32
HOLE_ID_LEN = 32
GROUP_LEN = 32
DEVICE_LEN = 64
TIME_LEN = 32
#: Serial numbers, hole ids, groups and characteristics: a letter or digit, then letters, digits and ``._/+-``.
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/+\-]*$")


def fixed_strings(values: Sequence[str], length: int, what: str, pattern: re.Pattern[str] | None) -> np.ndarray:
    """``values`` as an ``S{length}`` array; each must be ASCII, fit ``length`` and match ``pattern``
    (None: any printable text)."""
    out = []
    for v in values:
        if not isinstance(v, str):
            raise InputDataError(f"{what} {v!r} is not a string")
        try:
            b = v.encode("ascii")
        except UnicodeEncodeError:
            raise InputDataError(f"{what} {v!r}: only ASCII characters are allowed") from None
        if len(b) > length:
            raise InputDataError(f"{what} {v!r} is {len(b)} characters long; at most {length} are allowed")
        if pattern is not None and not pattern.match(v):
            raise InputDataError(
                f"{what} {v!r}: must start with a letter or digit and contain only letters, digits and . _ / + -"
            )
        if pattern is None and (not v.isprintable()):
            raise InputDataError(f"{what} {v!r}: contains control characters")
        out.append(b)
    return np.array(out, dtype=f"S{length}")


def validate_serials(serials: Sequence[str]) -> np.ndarray:
    """Check serial numbers (ASCII, ≤ 32 characters, letters/digits/._/+-, unique); return ``S32`` array."""
    arr = fixed_strings(serials, SERIAL_LEN, "serial number", ID_RE)
    if arr.size != np.unique(arr).size:
        seen: set[str] = set()
        dup = next(s for s in serials if s in seen or seen.add(s))  # type: ignore[func-returns-value]
        raise InputDataError(f"serial number {dup!r} occurs more than once; serials must be unique")
    return arr


def decode_strings(arr: np.ndarray) -> list[str]:
    """An ASCII bytes array as a list of text."""
    return [b.decode("ascii") for b in np.asarray(arr).tolist()]


def read_strings(
    f: h5py.Group,
    name: str,
    path: Path,
    length: int,
    what: str,
    pattern: re.Pattern[str] | None,
    shape: tuple[int | None, ...] = (None,),
    unique: bool = False,
) -> list[str]:
    """A fixed-length ASCII string dataset, every value checked as on writing (never truncated)."""
    ds = get_dataset(f, name, path, kind="text", shape=shape)
    out: list[str] = []
    for i, b in enumerate(np.asarray(read_dataset(ds, path)).ravel().tolist()):
        try:
            v = b.decode("ascii")
        except UnicodeDecodeError:
            raise InputDataError(f"{path}: /{name}[{i}] = {b!r}: {what} must be ASCII text") from None
        if len(v) > length:
            raise InputDataError(
                f"{path}: /{name}[{i}]: {what} {v!r} is {len(v)} characters long; at most {length} are allowed"
            )
        if pattern is not None and not pattern.match(v):
            raise InputDataError(
                f"{path}: /{name}[{i}]: {what} {v!r} must start with a letter or digit and contain only "
                "letters, digits and . _ / + -"
            )
        if pattern is None and not v.isprintable():
            raise InputDataError(f"{path}: /{name}[{i}]: {what} {v!r} contains control characters")
        out.append(v)
    if unique and len(set(out)) != len(out):
        seen: dict[str, int] = {}
        for i, v in enumerate(out):
            if v in seen:
                raise InputDataError(
                    f"{path}: /{name}: {what} {v!r} occurs more than once (entries {seen[v]} and {i}); "
                    f"{what}s must be unique"
                )
            seen[v] = i
    return out
