"""Readers: files written here in each community layout read back exactly; bad files are located."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
import xarray as xr

import sciml
from sciml.datasets import DataFileError, LazyOperatorDataset, read, read_splits
from sciml.datasets.readers import detect_format

RNG = np.random.default_rng(0)


def _f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _cells(n):
    return ((np.arange(n) + 0.5) / n).astype(np.float32)


# -- neuraloperator .pt ----------------------------------------------------------------------------
@pytest.fixture
def darcy_pt(tmp_path):
    x, y = torch.from_numpy(_f32(6, 16, 16)), torch.from_numpy(_f32(6, 16, 16))
    torch.save({"x": x, "y": y}, tmp_path / "darcy_train_16.pt")
    torch.save({"x": x[:2] * 2, "y": y[:2] * 2}, tmp_path / "darcy_test_16.pt")
    return tmp_path / "darcy_train_16.pt", x, y


def test_neuraloperator_pt_reads_back_exactly(darcy_pt):
    path, x, y = darcy_pt
    data = read(path)
    assert detect_format(path) == "neuraloperator"
    assert torch.equal(data.inputs.values[:, 0], x) and torch.equal(data.targets.values[:, 0], y)
    assert data.inputs.on == sciml.Grid.uniform((16, 16)) and data.inputs.channel_names == ("x",)
    splits = read_splits(path, path.with_name("darcy_test_16.pt"), n_train=4)
    assert len(splits.train) == 4 and torch.equal(splits.test.inputs.values[:, 0], x[:2] * 2)
    one_file = read_splits(path, n_train=4, n_test=2)
    assert torch.equal(one_file.test.targets.values[:, 0], y[4:6])


def test_neuraloperator_bad_files_are_located(darcy_pt, tmp_path):
    path, x, y = darcy_pt
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataFileError, match=r"cut.pt: not a readable PyTorch file"):
        read(truncated)
    torch.save({"x": x}, tmp_path / "no_y.pt")
    with pytest.raises(DataFileError, match=r"no_y.pt: variable 'y': missing key; the file has \['x'\]"):
        read(tmp_path / "no_y.pt")
    torch.save({"x": x, "y": y[:5]}, tmp_path / "short.pt")
    with pytest.raises(DataFileError, match=r"variable 'y': expected 6 samples like 'x', got 5"):
        read(tmp_path / "short.pt")
    torch.save({"x": x, "y": y[:, :8]}, tmp_path / "dims.pt")
    with pytest.raises(DataFileError, match=r"variable 'y': expected the spatial shape \(16, 16\)"):
        read(tmp_path / "dims.pt")
    bad = x.clone()
    bad[3, 2, 2] = float("inf")
    torch.save({"x": bad, "y": y}, tmp_path / "inf.pt")
    with pytest.raises(DataFileError, match=r"inf.pt: variable 'x', sample 3: expected finite values, found 0 NaN and 1"):
        read(tmp_path / "inf.pt")


# -- PDEBench HDF5 --------------------------------------------------------------------------------------
def _pdebench_burgers(path, n=4, t=5, x=32):
    u = _f32(n, t, x)
    with h5py.File(path, "w") as f:
        f["tensor"] = u
        f["x-coordinate"] = _cells(x)
        f["t-coordinate"] = np.linspace(0, 0.05 * t, t + 1).astype(np.float32)
    return u


def test_pdebench_1d_tensor_layout(tmp_path):
    path = tmp_path / "1D_Burgers_Sols_Nu0.001.hdf5"
    u = _pdebench_burgers(path)
    final = read(path)
    assert detect_format(path) == "pdebench"
    assert np.array_equal(final.inputs.values[:, 0].numpy(), u[:, 0])
    assert np.array_equal(final.targets.values[:, 0].numpy(), u[:, -1])
    axis = final.inputs.on.axes[0]
    assert (axis.kind, axis.periodic, axis.lo, axis.size) == ("cell", True, 0.0, 32)
    np.testing.assert_allclose(axis.coordinates, _cells(32), atol=1e-7)
    steps = read(path, pairs="steps", window=2, n=3)
    assert len(steps) == 3 * 3
    assert np.array_equal(steps.inputs.values[4].numpy(), u[1, 1:3])          # trajectory 1, step 1
    assert np.array_equal(steps.targets.values[4, 0].numpy(), u[1, 3])


def test_pdebench_darcy_cfd_and_grouped_layouts(tmp_path):
    nu, sol = _f32(3, 8, 8), _f32(3, 1, 8, 8)
    with h5py.File(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5", "w") as f:
        f["nu"], f["tensor"] = nu, sol
        f["x-coordinate"], f["y-coordinate"] = _cells(8), _cells(8)
    darcy = read(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5")
    assert np.array_equal(darcy.inputs.values[:, 0].numpy(), nu) and np.array_equal(darcy.targets.values.numpy(), sol)
    assert darcy.inputs.on.kinds == ("cell", "cell") and darcy.inputs.on.domain == sciml.Domain.unit(2)

    fields = {name: _f32(2, 3, 8, 4) for name in ("density", "pressure", "Vx", "Vy")}
    with h5py.File(tmp_path / "2D_CFD_Rand_periodic_Train.hdf5", "w") as f:
        for name, values in fields.items():
            f[name] = values
        f["x-coordinate"], f["y-coordinate"], f["t-coordinate"] = _cells(8), _cells(4), np.arange(4.0)
    cfd = read(tmp_path / "2D_CFD_Rand_periodic_Train.hdf5", pairs="trajectory")
    assert cfd.inputs.channel_names == ("density", "pressure", "Vx", "Vy") and cfd.inputs.on.domain.periodic == (True, True)
    assert np.array_equal(cfd.targets.values[:, 4 + 2].numpy(), fields["Vx"][:, 2])     # time 2, channel Vx

    data = _f32(2, 4, 8, 8, 2)                                                  # [N, T, X, Y, C]
    with h5py.File(tmp_path / "2D_diff-react_NA_NA.h5", "w") as f:
        for i in range(2):
            f[f"{i:04d}/data"] = data[i]
            f[f"{i:04d}/grid/x"], f[f"{i:04d}/grid/y"] = _cells(8), _cells(8)
            f[f"{i:04d}/grid/t"] = np.linspace(0, 1, 4)
    grouped = read(tmp_path / "2D_diff-react_NA_NA.h5")
    assert np.array_equal(grouped.targets.values.numpy(), np.moveaxis(data[:, -1], -1, 1))


def test_pdebench_bad_files_are_located(tmp_path):
    path = tmp_path / "b.hdf5"
    u = _pdebench_burgers(path)
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DataFileError, match=r"cut.hdf5: not a readable HDF5 file"):
        read(cut, format="pdebench")
    u[2, 3, 5] = np.nan
    with h5py.File(tmp_path / "nan.hdf5", "w") as f:
        f["tensor"], f["x-coordinate"] = u, _cells(32)
    with pytest.raises(DataFileError, match=r"nan.hdf5: variable 'tensor', sample 2: expected finite values, found 1 NaN"):
        read(tmp_path / "nan.hdf5")
    with h5py.File(tmp_path / "darcy.hdf5", "w") as f:
        f["nu"], f["tensor"] = _f32(3, 8, 8), _f32(3, 8, 8)
    with pytest.raises(DataFileError, match=r"variable 'tensor': expected 4 dimensions, got shape \(3, 8, 8\)"):
        read(tmp_path / "darcy.hdf5")
    with h5py.File(tmp_path / "nocoords.hdf5", "w") as f:
        f["tensor"] = _f32(2, 3, 8)
    with pytest.raises(DataFileError, match=r"variable 'x-coordinate': missing dataset"):
        read(tmp_path / "nocoords.hdf5")


# -- The Well HDF5 ----------------------------------------------------------------------------------------
def _the_well(path, b=2, t=4, w=8, h=4):
    tracer, velocity, viscosity = _f32(b, t, w, h), _f32(b, t, w, h, 2), _f32(b, w, h)
    with h5py.File(path, "w") as f:
        f.attrs.update(dataset_name="shear_flow", grid_type="cartesian", n_spatial_dims=2, n_trajectories=b,
                       simulation_parameters=["Reynolds"], Reynolds=1e4)
        dims = f.create_group("dimensions")
        dims.attrs["spatial_dims"] = ["x", "y"]
        dims["time"] = np.linspace(0, 1, t).astype(np.float32)
        dims["x"], dims["y"] = np.arange(w, dtype=np.float32) / w, np.arange(h, dtype=np.float32) / h
        for d, n in (("x", w), ("y", h)):
            bc = f.create_group(f"boundary_conditions/{d}_periodic")
            bc.attrs.update(associated_dims=[d], associated_fields=[], bc_type="PERIODIC", sample_varying=False,
                            time_varying=False)
            bc["mask"] = np.zeros(n, dtype=bool)
        f.create_group("scalars").attrs["field_names"] = ["Reynolds"]
        f["scalars/Reynolds"] = np.float32(1e4)
        t0 = f.create_group("t0_fields")
        t0.attrs["field_names"] = ["tracer", "viscosity"]
        t0["tracer"], t0["viscosity"] = tracer, viscosity
        t0["tracer"].attrs.update(dim_varying=[True, True], sample_varying=True, time_varying=True)
        t0["viscosity"].attrs.update(dim_varying=[True, True], sample_varying=True, time_varying=False)
        t1 = f.create_group("t1_fields")
        t1.attrs["field_names"] = ["velocity"]
        t1["velocity"] = velocity
        t1["velocity"].attrs.update(dim_varying=[True, True], sample_varying=True, time_varying=True)
        f.create_group("t2_fields").attrs["field_names"] = []
    return tracer, velocity, viscosity


def test_the_well_layout_reads_back_exactly(tmp_path):
    path = tmp_path / "shear_flow_Reynolds_1e4.hdf5"
    tracer, velocity, viscosity = _the_well(path)
    assert detect_format(path) == "the_well"
    data = read(path)                                                      # one-step pairs
    assert data.inputs.channel_names == ("tracer@k", "velocity_x@k", "velocity_y@k", "viscosity")
    assert data.targets.channel_names == ("tracer@k+1", "velocity_x@k+1", "velocity_y@k+1")
    assert len(data) == 2 * 3
    k = 3 + 1                                                               # trajectory 1, step 1
    assert np.array_equal(data.inputs.values[k, 0].numpy(), tracer[1, 1])
    assert np.array_equal(data.inputs.values[k, 2].numpy(), velocity[1, 1, ..., 1])
    assert np.array_equal(data.inputs.values[k, 3].numpy(), viscosity[1])
    assert np.array_equal(data.targets.values[k, 1].numpy(), velocity[1, 2, ..., 0])
    grid = data.inputs.on
    assert grid.domain.periodic == (True, True) and grid.kinds == ("node", "node") and grid.domain.upper == (1.0, 1.0)
    final = read(path, fields=["tracer"], pairs="final", n=1)
    assert np.array_equal(final.targets.values[0, 0].numpy(), tracer[0, -1])


def test_the_well_bad_files_are_located(tmp_path):
    path = tmp_path / "w.hdf5"
    _the_well(path)
    with pytest.raises(DataFileError, match=r"w.hdf5: variable 'pressure': missing fields \['pressure'\]"):
        read(path, fields=["pressure"])
    with h5py.File(path, "a") as f:
        f["t0_fields/tracer"][1, 2, 3, 0] = np.nan
    with pytest.raises(DataFileError, match=r"variable 't0_fields/tracer', sample 1: expected finite values"):
        read(path)
    with h5py.File(path, "a") as f:
        del f["t1_fields/velocity"]
        f["t1_fields/velocity"] = _f32(2, 4, 8, 4)                         # the vector axis is missing
    with pytest.raises(DataFileError, match=r"variable 't1_fields/velocity': expected shape \(2, 4, 8, 4, 2\)"):
        read(path, fields=["velocity"])


# -- explicit mapping: netCDF, zarr, HDF5 --------------------------------------------------------------------
def _labelled(n=5):
    a, u = _f32(n, 6, 4), _f32(n, 3, 6, 4)
    x, y = np.linspace(0, 2, 6), np.linspace(-1, 1, 4)
    return xr.Dataset({"a": (("run", "x", "y"), a), "u": (("run", "time", "x", "y"), u)},
                      coords={"x": x, "y": y, "time": [0.5, 1.0, 1.5]}), a, u


MAPPING = {"input": "a", "output": "u", "sample_dim": "run", "spatial_dims": ["x", "y"], "time_dim": "time"}


@pytest.mark.parametrize("name", ["fields.nc", "fields.zarr"])
def test_mapping_reads_netcdf_and_zarr_with_dims_in_any_order(tmp_path, name):
    ds, a, u = _labelled()
    path = tmp_path / name
    shuffled = ds.transpose("y", "run", "x", "time")
    shuffled.to_netcdf(path, engine="h5netcdf") if name.endswith(".nc") else shuffled.to_zarr(path, consolidated=False)
    data = read(path, mapping=MAPPING)
    assert np.array_equal(data.inputs.values[:, 0].numpy(), a)
    assert np.array_equal(data.targets.values[:, 0].numpy(), u[:, -1])
    assert data.inputs.on.domain.bounds == ((0.0, 2.0), (-1.0, 1.0)) and data.inputs.on.kinds == ("node", "node")
    lazy = read(path, mapping=MAPPING, pairs="trajectory", lazy=True)
    assert isinstance(lazy, LazyOperatorDataset)
    assert np.array_equal(lazy[2][1].numpy(), u[2].reshape(3, 6, 4))
    assert lazy.channel_names[1] == ["u@t=0.5", "u@t=1", "u@t=1.5"]


def test_mapping_reads_plain_hdf5_with_coordinates(tmp_path):
    _, a, u = _labelled()
    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f["inputs/a"], f["outputs/u"], f["xc"] = a, u[:, 0], np.linspace(0, 2, 6)
    data = read(tmp_path / "plain.h5", format="mapping",
                mapping={"input": "inputs/a", "output": "outputs/u", "spatial_dims": ["x", "y"], "coords": {"x": "xc"}})
    assert np.array_equal(data.targets.values[:, 0].numpy(), u[:, 0])
    assert data.inputs.on.domain.bounds == ((0.0, 2.0), (0.0, 1.0))      # y: no coordinates, unit interval


def test_mapping_errors_name_file_variable_and_sample(tmp_path):
    ds, _, _ = _labelled()
    path = tmp_path / "f.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    with pytest.raises(DataFileError, match=r"f.nc: no known layout; pass mapping="):
        read(path)
    with pytest.raises(DataFileError, match=r"f.nc: variable 'v': missing variable; the store has \['a', 'u'\]"):
        read(path, mapping={**MAPPING, "output": "v"})
    with pytest.raises(DataFileError, match=r"variable 'a': expected dims \('run', 'x'\) \(any order\), got \('run', 'x', 'y'\)"):
        read(path, mapping={**MAPPING, "spatial_dims": ["x"]})
    with pytest.raises(ValueError, match=r"unknown keys \['inputs'\]"):
        read(path, mapping={**MAPPING, "inputs": "a"})
    bad = ds.copy(deep=True)
    bad["u"][3, 1, 2, 2] = np.inf
    bad.to_netcdf(tmp_path / "inf.nc", engine="h5netcdf")
    with pytest.raises(DataFileError, match=r"inf.nc: variable 'u', sample 3: expected finite values, found 0 NaN and 1"):
        read(tmp_path / "inf.nc", mapping=MAPPING)
