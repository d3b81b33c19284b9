"""Inspection batch files: round trip, schema, units, filters, validation, refusal of outside links."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qc_helpers import assert_same_batch

from ecmsim.errors import InputDataError
from ecmsim.io import INSPECTION_SCHEMA, open_batch, read_batch, write_batch
from ecmsim.qc.synth import synthesize


def _small(p: int = 3, h: int = 4, s: int = 3, seed: int = 0):
    return synthesize(n_parts=p, n_holes=h, n_stations=s, seed=seed, faults=False).batch


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=st.integers(1, 40), h=st.integers(2, 7), s=st.integers(2, 5), seed=st.integers(0, 99))
def test_round_trip_any_shape(tmp_path: Path, p: int, h: int, s: int, seed: int) -> None:
    batch = _small(p, h, s, seed)
    batch.diameter[0, 0, 0] = np.nan  # not measured
    path = tmp_path / f"b{p}_{h}_{s}_{seed}.h5"
    write_batch(path, batch)
    assert_same_batch(batch, read_batch(path))
    with open_batch(path) as r:  # streaming in blocks gives the same arrays
        got = np.concatenate([m["diameter"] for _, _, m in r.iter_chunks(parts_per_chunk=7)])
    np.testing.assert_array_equal(got, batch.diameter)


def test_schema_units_filters_scales(tmp_path: Path) -> None:
    path = tmp_path / "b.h5"
    write_batch(path, _small(300, 20, 11))
    with h5py.File(path, "r") as f:
        assert f.attrs["schema"] == INSPECTION_SCHEMA and f.attrs["schema_version"] == 1
        for key in ("ecmsim_version", "h5py_version", "hdf5_version", "numpy_version", "written_at"):
            assert f.attrs[key]
        assert f["batch"].attrs["batch_id"] == "SYN-0000"

        def check(name, obj):
            if isinstance(obj, h5py.Dataset):
                if obj.dtype.kind in "fiu":
                    assert "units" in obj.attrs, name
                if obj.size:
                    assert obj.compression == "gzip" and obj.shuffle and obj.fletcher32, name
            for k, v in obj.attrs.items():
                assert len(np.asarray(v).tobytes()) < 64 * 1024, (name, k)

        f.visititems(check)
        d = f["measurements/diameter"]
        assert d.dtype == np.float32 and d.attrs["units"] == "mm"
        assert d.dims[2][0].name == "/design/station_depth"
        assert d.dims[0][0].name == "/parts/serial"
        assert f["parts/serial"].dtype == np.dtype("S32")  # fixed length
        assert d.chunks[1:] == (20, 11)


@pytest.mark.parametrize(
    ("serial", "match"),
    [("X" * 33, "at most 32"), ("SN 1", "letters, digits"), ("SNé1", "ASCII"), ("", "letters, digits")],
)
def test_serials_validated_on_write(tmp_path: Path, serial: str, match: str) -> None:
    batch = _small()
    batch.serials[1] = serial
    with pytest.raises(InputDataError, match=match):
        write_batch(tmp_path / "b.h5", batch)
    assert not list(tmp_path.iterdir())


def test_duplicate_serials_refused(tmp_path: Path) -> None:
    batch = _small()
    batch.serials[2] = batch.serials[0]
    with pytest.raises(InputDataError, match="more than once"):
        write_batch(tmp_path / "b.h5", batch)


def test_required_metadata(tmp_path: Path) -> None:
    batch = _small()
    batch.meta["part_number"] = ""
    with pytest.raises(InputDataError, match="part_number"):
        write_batch(tmp_path / "b.h5", batch)


def test_external_link_and_virtual_dataset_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.h5"
    write_batch(path, _small())
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3.0)
    ext = tmp_path / "ext.h5"
    ext.write_bytes(path.read_bytes())
    with h5py.File(ext, "a") as f:
        f["batch/sneaky"] = h5py.ExternalLink(str(other), "/x")
    with pytest.raises(InputDataError, match="external link"):
        read_batch(ext)
    virt = tmp_path / "virt.h5"
    virt.write_bytes(path.read_bytes())
    with h5py.File(virt, "a") as f:
        layout = h5py.VirtualLayout(shape=(3,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "x", shape=(3,))
        f["batch"].create_virtual_dataset("v", layout)
    with pytest.raises(InputDataError, match="virtual dataset"):
        read_batch(virt)


def test_foreign_newer_and_damaged_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(InputDataError, match="not a readable HDF5"):
        read_batch(bad)
    path = tmp_path / "b.h5"
    write_batch(path, _small())
    newer = tmp_path / "n.h5"
    newer.write_bytes(path.read_bytes())
    with h5py.File(newer, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(InputDataError, match="version 99"):
        read_batch(newer)
    other = tmp_path / "o.h5"
    with h5py.File(other, "w") as f:
        f.attrs["schema"] = "something-else"
    with pytest.raises(InputDataError, match="not an ecmsim inspection batch"):
        read_batch(other)


def test_checksum_catches_corruption(tmp_path: Path) -> None:
    path = tmp_path / "b.h5"
    batch = _small(200, 10, 6)
    write_batch(path, batch)
    with h5py.File(path, "r") as f:
        offset = f["measurements/diameter"].id.get_chunk_info(0).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(InputDataError, match="damaged"):
        read_batch(path)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    batch = _small()
    batch.diameter = batch.diameter[:, :, :2]  # inconsistent shape
    with pytest.raises(InputDataError, match="shape"):
        write_batch(tmp_path / "b.h5", batch)
    assert not list(tmp_path.iterdir())
