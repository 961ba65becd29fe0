"""Storage: zarr/netCDF round trips, atomic replacement, chunk parts, damaged stores located."""

from __future__ import annotations

import copy
import importlib
import json
import os

import _heat_problem
import numpy as np
import pytest
import xarray as xr

from sciml.datasets import DataFileError, from_store, generate, open_dataset, write_dataset
from sciml.datasets.store import PartStore, store_format


def _labelled_dataset() -> xr.Dataset:
    rng = np.random.default_rng(0)
    x = (np.arange(8) + 0.5) / 8
    return xr.Dataset(
        {"a": (("sample", "x"), rng.standard_normal((6, 8)), {"units": "Pa", "role": "input"}),
         "u": (("sample", "t", "x"), rng.standard_normal((6, 3, 8)).astype(np.float32), {"units": "m/s"}),
         "seed": (("sample",), np.arange(6, dtype=np.int64) * 2**40)},
        coords={"sample": np.arange(6), "x": ("x", x, {"units": "m"}), "t": [0.1, 0.2, 0.4]},
        attrs={"problem": "toy", "config": json.dumps({"nu": 1e-3}), "seed": 7, "resolution": 8},
    )


@pytest.mark.parametrize("name", ["data.zarr", "data.nc"])
def test_round_trip_preserves_values_coordinates_attributes_and_does_not_mutate(tmp_path, name):
    ds = _labelled_dataset()
    before = copy.deepcopy(ds)
    out = write_dataset(ds, tmp_path / name, chunk_size=4)
    xr.testing.assert_identical(ds, before)
    with open_dataset(out) as back:
        assert back["u"].chunks[0] == (4, 2)                       # lazily chunked along the samples
        back = back.load()
    xr.testing.assert_identical(back, ds)
    assert back["u"].dtype == np.float32 and back["seed"].dtype == np.int64
    assert store_format(out) == ("netcdf" if name.endswith(".nc") else "zarr")


def test_generated_zarr_and_netcdf_hold_the_same_dataset(tmp_path):
    zarr_path = generate("poisson-test", 5, tmp_path / "p.zarr", params={"resolution": 8}, progress=False)
    nc_path = generate("poisson-test", 5, tmp_path / "p.nc", params={"resolution": 8}, progress=False)
    with open_dataset(zarr_path) as a, open_dataset(nc_path) as b:
        xr.testing.assert_identical(a.load(), b.load())


def test_write_refuses_to_clobber_and_replaces_atomically_when_asked(tmp_path):
    ds = _labelled_dataset()
    out = write_dataset(ds, tmp_path / "d.zarr")
    with pytest.raises(FileExistsError, match="d.zarr"):
        write_dataset(ds, out)
    write_dataset(ds.assign(a=ds["a"] * 2), out, overwrite=True)
    with open_dataset(out) as back:
        np.testing.assert_array_equal(back["a"].values, 2 * ds["a"].values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.zarr"]


def test_temporaries_of_dead_writers_are_pruned_and_live_ones_kept(tmp_path):
    dead = tmp_path / ".d.nc.tmp-999999999"
    live = tmp_path / f".d.nc.tmp-{os.getppid()}"
    dead.write_text("partial")
    live.write_text("being written")
    write_dataset(_labelled_dataset(), tmp_path / "d.nc")
    assert not dead.exists() and live.exists()


@pytest.mark.parametrize("name", ["r.zarr", "r.nc"])
def test_a_kill_between_the_two_renames_of_a_replacement_loses_nothing(tmp_path, name):
    out = tmp_path / name
    write_dataset(_labelled_dataset(), out)
    expected = open_dataset(out).load()
    os.replace(out, tmp_path / f".{name}.old-999999999")  # killed after moving the old store aside
    recovered = open_dataset(out).load()                   # the old store comes back
    xr.testing.assert_identical(recovered, expected)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_parts_with_other_settings_are_refused_and_damaged_parts_recomputed(tmp_path):
    parts = PartStore(tmp_path / "x.zarr")
    parts.start({"n": 4, "seed": 0})
    with pytest.raises(ValueError, match=r"other settings \(differing: \['seed'\]\)"):
        parts.start({"n": 4, "seed": 1})
    parts.write(0, {"u": np.ones((2, 3))}, seeds=np.array([1, 2]))
    parts.path(1).write_bytes(b"PK\x03\x04 truncated")
    assert parts.finished(2, {0: {"u": (2, 3)}, 1: {"u": (2, 3)}}) == [0]
    assert not parts.path(1).exists()
    with pytest.raises(DataFileError, match=r"chunk-000000.npz: variable 'v'"):
        parts.read(0, "v")


def test_a_damaged_part_is_solved_again_on_resume(tmp_path, monkeypatch):
    generation = importlib.import_module("sciml.datasets.generate")      # the module, not the function

    params = {"resolution": 8}
    reference = generate("heat-test", 6, tmp_path / "ref.zarr", params=params, chunk_size=2, progress=False)
    out = tmp_path / "h.zarr"

    def die(*args, **kwargs):
        raise KeyboardInterrupt("killed before the final store")

    monkeypatch.setattr(generation, "write_dataset", die)
    with pytest.raises(KeyboardInterrupt):
        generate("heat-test", 6, out, params=params, chunk_size=2, progress=False)
    monkeypatch.undo()
    parts = PartStore(out)
    assert parts.finished(3) == [0, 1, 2] and not out.exists()
    parts.path(1).write_bytes(parts.path(1).read_bytes()[:100])          # a damaged part
    calls = _heat_problem.CALLS["count"]
    generate("heat-test", 6, out, params=params, chunk_size=2, progress=False)
    assert _heat_problem.CALLS["count"] - calls == 1
    with open_dataset(out) as a, open_dataset(reference) as b:
        xr.testing.assert_identical(a.load(), b.load())


def test_corrupt_netcdf_is_reported_with_its_path(tmp_path):
    out = write_dataset(_labelled_dataset(), tmp_path / "d.nc")
    out.write_bytes(out.read_bytes()[:200])
    with pytest.raises(DataFileError, match=r"d.nc: not a readable netcdf store"):
        open_dataset(out)


def test_missing_zarr_chunk_is_reported_with_variable_and_sample(tmp_path):
    out = generate("poisson-test", 6, tmp_path / "p.zarr", params={"resolution": 8}, chunk_size=2, progress=False)
    chunk = out / "u" / "c" / "1" / "0" / "0"          # samples 2..3 of 'u'
    assert chunk.exists()
    chunk.unlink()                                      # zarr fills a missing chunk with NaN
    with pytest.raises(DataFileError, match=r"p.zarr: variable 'u', sample 2: expected finite values"):
        from_store(out)
    lazy = from_store(out, lazy=True)
    lazy[0]                                              # the first block is intact
    with pytest.raises(DataFileError, match="sample 2"):
        lazy[2]


@pytest.mark.parametrize("name", ["data.h5", "data.npz", "data.zarr.bak"])
def test_unknown_store_suffixes_are_refused_before_anything_is_written(tmp_path, name):
    with pytest.raises(ValueError, match=r"path: expected a store named \*\.zarr"):
        write_dataset(_labelled_dataset(), tmp_path / name)
    with pytest.raises(ValueError, match="path: expected"):
        generate("poisson-test", 2, tmp_path / name, params={"resolution": 8}, progress=False)
    assert list(tmp_path.iterdir()) == []
