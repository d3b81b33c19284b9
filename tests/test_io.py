"""The HDF5 result file: round trip, units, provenance, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecmsim.errors import InputDataError
from ecmsim.history import HISTORY_COLUMNS
from ecmsim.io import RESULT_SCHEMA, ResultFile, read_result, write_result
from ecmsim.simulation import simulate


@pytest.fixture(scope="module")
def small_result():
    return simulate("example:stem-in718", overrides=["motion.depth_mm=0.3", "numerics.cell_size_mm=0.02"])


def test_round_trip_and_units(small_result, tmp_path: Path) -> None:
    out = tmp_path / "r.h5"
    write_result(out, small_result)
    back = read_result(out)
    assert isinstance(back, ResultFile)
    assert back.provenance["schema"] == RESULT_SCHEMA and back.schema_version == 1
    assert back.provenance["config_hash"] == small_result.process.config.hash()
    assert back.summary["status"] == back.status == small_result.status
    for col in HISTORY_COLUMNS:  # every column of the table, bit for bit
        np.testing.assert_array_equal(back.history[col.name], small_result.history[col.name])
    assert sorted(back.history) == sorted(c.name for c in HISTORY_COLUMNS)
    np.testing.assert_array_equal(back.profile.wall_radius, small_result.wall_radius)
    np.testing.assert_array_equal(back.profile.depth, small_result.grid.z)
    depth, diameter = small_result.profile()
    np.testing.assert_array_equal(back.profile.hole_depth, depth)
    np.testing.assert_array_equal(back.profile.diameter, diameter)
    assert back.config["tool"]["outer_diameter_mm"] == 0.8
    with h5py.File(out, "r") as f:

        def check(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fi":
                assert "units" in obj.attrs, name

        f.visititems(check)
        assert f["history/current"].dims[0][0].name == "/history/time"
        for key in ("ecmsim_version", "hdf5_version", "written_at", "started_at"):
            assert f.attrs[key]
        assert json.loads(f["summary_json"][()])["depth_mm"] > 0


def test_history_datasets_follow_the_column_table(small_result, tmp_path: Path) -> None:
    """Each column of HISTORY_COLUMNS is one /history dataset with the table's unit and description,
    and docs/result-schema.md lists it with that unit."""
    out = tmp_path / "r.h5"
    write_result(out, small_result)
    with h5py.File(out, "r") as f:
        assert sorted(f["history"]) == sorted(c.name for c in HISTORY_COLUMNS)
        for col in HISTORY_COLUMNS:
            ds = f["history"][col.name]
            assert (ds.attrs["units"], ds.attrs["description"]) == (col.unit, col.description), col.name
            assert ds.shape == (small_result.history.n_steps,)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "result-schema.md").read_text(encoding="utf-8")
    for col in HISTORY_COLUMNS:
        assert f"| `history/{col.name}` | (n_steps,) | {col.unit} |" in doc, col.name


def test_failed_write_leaves_previous_file(small_result, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "r.h5"
    out.write_bytes(b"previous")
    import ecmsim.io.result as io_result

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(io_result, "write_header", boom)  # called inside the atomic write
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


# --------------------------------------------------------------------------- the header and dataset spine
def _reader(kind_schema: str):  # the public reader of each file kind that has one
    from ecmsim.io import read_batch, read_qc_result, read_spc_limits, read_sweep

    return {
        "ecmsim-simulation-result": read_result,
        "ecmsim-inspection-batch": read_batch,
        "ecmsim-qc-result": read_qc_result,
        "ecmsim-spc-limits": read_spc_limits,
        "ecmsim-sweep": read_sweep,
    }[kind_schema]


READABLE_KINDS = [
    "ecmsim-simulation-result",
    "ecmsim-inspection-batch",
    "ecmsim-qc-result",
    "ecmsim-spc-limits",
    "ecmsim-sweep",
]


@pytest.mark.parametrize("schema", READABLE_KINDS)
def test_every_reader_gives_the_same_header_messages(tmp_path: Path, schema: str) -> None:
    from ecmsim.io.common import FILE_KINDS

    kind = FILE_KINDS[schema]
    read = _reader(schema)
    title = kind.title
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as f:
        f["data"] = np.arange(3.0)
    with pytest.raises(
        InputDataError, match=rf"x\.h5: not an ecmsim {title} \(no schema attribute, expected '{schema}'\)"
    ):
        read(p)
    with h5py.File(p, "w") as f:
        f.attrs["schema"] = "ecmsim-something-else"
        f.attrs["schema_version"] = 1
    with pytest.raises(InputDataError, match=rf"not an ecmsim {title} \(schema 'ecmsim-something-else', expected"):
        read(p)
    with h5py.File(p, "w") as f:
        f.attrs["schema"] = schema
        f.attrs["schema_version"] = kind.version + 1
    with pytest.raises(
        InputDataError,
        match=rf"{title} schema version {kind.version + 1} is not readable by this ecmsim "
        rf"\(reads {kind.oldest}\.\.{kind.version}\); upgrade ecmsim for newer files",
    ):
        read(p)
    with h5py.File(p, "w") as f:
        f.attrs["schema"] = schema
    with pytest.raises(
        InputDataError, match=rf"{title} schema version 0 is not readable by this ecmsim \(reads {kind.oldest}\.\."
    ):
        read(p)


def test_header_is_self_describing_and_round_trips(tmp_path: Path) -> None:
    from ecmsim import __version__
    from ecmsim.io.common import FILE_KINDS, atomic_h5, check_header, open_h5, write_header

    for kind in FILE_KINDS.values():
        p = tmp_path / f"{kind.schema}.h5"
        with atomic_h5(p) as f:
            write_header(f, kind, {"batch_id": "B1"})
        with open_h5(p) as f:
            assert check_header(f, p, kind) == kind.version
            assert f.attrs["ecmsim_version"] == __version__
            for key in ("h5py_version", "hdf5_version", "numpy_version", "written_at", "batch_id"):
                assert f.attrs[key]


def test_dataset_writer_attributes_scales_and_one_storage_policy(tmp_path: Path) -> None:
    from ecmsim.io.common import GZIP_LEVEL, atomic_h5, write_dataset

    with atomic_h5(tmp_path / "d.h5") as f:
        depth = write_dataset(f, "g/depth", np.linspace(0, 1, 5), "m", "row depth", scale="depth")
        wall = write_dataset(f, "g/wall", np.ones((5, 3)), "m", "wall radius", dims=(depth,))
        empty = write_dataset(f, "g/none", np.zeros(0), "m", "nothing")
        scalar = write_dataset(f, "g/mu", 1.5, "mm", "centre")
        codes = write_dataset(f, "g/code", None, None, "verdict", shape=(4, 2), dtype="i1", fill=-1, chunks=(2, 2))
        assert wall.attrs["units"] == "m" and wall.attrs["description"] == "wall radius"
        assert "units" not in codes.attrs
        assert wall.dims[0][0].name == "/g/depth"
        for ds in (depth, wall, codes):  # every array, however small: chunked, compressed, checksummed
            assert ds.compression == "gzip" and ds.compression_opts == GZIP_LEVEL, ds.name
            assert ds.shuffle and ds.fletcher32 and ds.chunks, ds.name
        assert codes.chunks == (2, 2) and codes[0, 0] == -1
        assert empty.chunks is None and scalar.chunks is None  # stored plain
