"""The HDF5 result file: round trip, units, provenance, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecmsim.errors import InputDataError
from ecmsim.io import RESULT_SCHEMA, read_result, write_result
from ecmsim.simulation import simulate


@pytest.fixture(scope="module")
def small_result():
    return simulate("example:stem-in718", overrides=["motion.depth_mm=0.3", "numerics.cell_size_mm=0.02"])


def test_round_trip_and_units(small_result, tmp_path: Path) -> None:
    out = tmp_path / "r.h5"
    write_result(out, small_result)
    back = read_result(out)
    assert back["attrs"]["schema"] == RESULT_SCHEMA
    assert back["attrs"]["config_hash"] == small_result.process.config.hash()
    assert back["summary"]["status"] == small_result.status
    np.testing.assert_array_equal(back["history"]["current"], small_result.current)
    np.testing.assert_array_equal(back["profile"]["wall_radius"], small_result.wall_radius)
    assert back["config"]["tool"]["outer_diameter_mm"] == 0.8
    with h5py.File(out, "r") as f:

        def check(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fi":
                assert "units" in obj.attrs, name

        f.visititems(check)
        assert f["history/current"].dims[0][0].name == "/history/time"
        for key in ("ecmsim_version", "hdf5_version", "written_at", "started_at"):
            assert f.attrs[key]
        assert json.loads(f["summary_json"][()])["depth_mm"] > 0


def test_failed_write_leaves_previous_file(small_result, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "r.h5"
    out.write_bytes(b"previous")
    import ecmsim.io.result as io_result

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(io_result, "write_provenance", boom)  # called inside the atomic write
    with pytest.raises(RuntimeError):
        write_result(out, small_result)
    assert out.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["r.h5"]  # no temporary left


def test_read_rejects_foreign_files(tmp_path: Path) -> None:
    p = tmp_path / "x.h5"
    p.write_bytes(b"not hdf5")
    with pytest.raises(InputDataError, match="not a readable HDF5"):
        read_result(p)
    with h5py.File(tmp_path / "y.h5", "w") as f:
        f.attrs["schema"] = "other"
    with pytest.raises(InputDataError, match="not an ecmsim simulation result"):
        read_result(tmp_path / "y.h5")


def test_result_reader_refuses_external_links(small_result, tmp_path: Path) -> None:
    out = tmp_path / "r.h5"
    write_result(out, small_result)
    other = tmp_path / "elsewhere.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3.0)
    with h5py.File(out, "a") as f:
        f["history/extra"] = h5py.ExternalLink(str(other), "/x")
    with pytest.raises(InputDataError, match=r"points outside itself.*external link"):
        read_result(out)
