"""Golden-result regression: the physics and the verdicts do not move while the code is reshaped.

The stored file ``golden.h5`` holds every array of :mod:`golden_cases` as
computed when it was last regenerated.  It is regenerated only on purpose,
after a change that is meant to move the numbers::

    pytest tests/regression --regenerate-golden

and the change of numbers is then explained in the commit.  Arrays compare at
a relative tolerance of 1e-12 (of each array's largest magnitude, so that
entries that are zero in the reference are held to the same absolute
standard); text (the QC JSON, statuses) compares exactly.
"""

from __future__ import annotations

from pathlib import Path

import golden_cases
import h5py
import numpy as np
import pytest

GOLDEN = Path(__file__).resolve().parent / "golden.h5"
RTOL = 1e-12


def _store(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = path.with_suffix(".h5.tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["about"] = "ecmsim golden regression results (tests/regression); regenerate with --regenerate-golden"
        for name, a in arrays.items():
            f.create_dataset(name, data=a, compression="gzip" if a.size > 64 else None)
    tmp.replace(path)


def _load(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.fixture(scope="module")
def computed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    arrays = {}
    arrays.update(golden_cases.transient_case())
    arrays.update(golden_cases.equilibrium_case())
    arrays.update(golden_cases.qc_case(tmp_path_factory.mktemp("golden-qc")))
    return arrays


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest, computed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if request.config.getoption("--regenerate-golden"):
        _store(GOLDEN, computed)
    assert GOLDEN.is_file(), f"{GOLDEN} is missing: run pytest tests/regression --regenerate-golden"
    return _load(GOLDEN)


def _compare(name: str, got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape, f"{name}: shape {got.shape} != stored {want.shape}"
    if name.endswith("report_json") or name.endswith("/status") or name.endswith("/solver"):
        assert bytes(got.astype(np.uint8)) == bytes(want.astype(np.uint8)), f"{name} changed"
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{name}: NaNs moved")
    finite = np.isfinite(want)
    scale = float(np.max(np.abs(want[finite]))) if finite.any() else 0.0
    np.testing.assert_allclose(got[finite], want[finite], rtol=RTOL, atol=RTOL * scale, err_msg=name)


@pytest.mark.parametrize("case", ["transient", "equilibrium", "qc"])
def test_golden(case: str, computed: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    got = {k: v for k, v in computed.items() if k.startswith(case + "/")}
    want = {k: v for k, v in reference.items() if k.startswith(case + "/")}
    assert got, f"the {case} case produced nothing"
    assert sorted(got) == sorted(want), f"{case}: arrays added or removed: {sorted(set(got) ^ set(want))}"
    for name in sorted(want):
        _compare(name, np.asarray(got[name]), np.asarray(want[name]))


def test_golden_detects_a_change(computed: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    """The comparison is sharp: a change of a few parts in 10^11 in one history value fails it."""
    name = "transient/history/current"
    bumped = np.array(computed[name], dtype=float)
    bumped[len(bumped) // 2] *= 1.0 + 5e-11
    with pytest.raises(AssertionError):
        _compare(name, bumped, np.asarray(reference[name]))
