"""Sampled: validation, batch slicing, devices, integration, xarray round trips."""

import numpy as np
import pytest
import torch
import xarray as xr

from sciml import Domain, Grid, Mesh, OperatorDataset, PointCloud, Sampled

PERIODIC = Grid.uniform((16, 12), Domain([(0, 1), (0, 2)], periodic=True))


def smooth_on(grid: Grid, batch: int = 2) -> Sampled:
    x, y = grid.mesh().unbind(-1)
    scale = torch.arange(1, batch + 1, dtype=torch.float64)[:, None, None, None]
    values = torch.stack([torch.sin(2 * np.pi * x) * torch.cos(np.pi * y), torch.cos(2 * np.pi * x) ** 2])
    return Sampled(scale * values[None], grid, channel_names=["u", "v"], attrs={"units": "m/s"})


def test_integrate_uses_quadrature_weights():
    u = smooth_on(PERIODIC)
    # exact: int sin(2pi x)cos(pi y) = 0 ; int cos^2(2 pi x) over [0,1]x[0,2] = 1
    expected = torch.tensor([[0.0, 1.0], [0.0, 2.0]], dtype=torch.float64)
    torch.testing.assert_close(u.integrate(), expected, atol=1e-14, rtol=0)


def test_batch_slicing_keeps_everything_but_the_batch():
    u = smooth_on(PERIODIC, batch=4)
    first = u[0]
    assert first.batch_size == 1 and first.on is u.on and first.channel_names == ("u", "v")
    torch.testing.assert_close(first.values[0], u.values[0])
    torch.testing.assert_close(u[-1].values[0], u.values[3])
    torch.testing.assert_close(u[1:3].values, u.values[1:3])
    torch.testing.assert_close(u[torch.tensor([3, 0])].values, u.values[[3, 0]])
    with pytest.raises(IndexError, match="index: expected a batch index in \\[-4, 4\\), got 4"):
        u[4]


def test_to_changes_dtype_and_device_only(devices):
    u = smooth_on(PERIODIC)
    for device in devices:
        v = u.to(device=device, dtype=torch.float32)
        assert v.values.dtype == torch.float32 and v.values.device.type == device
        assert v.on == u.on and v.attrs == u.attrs
        torch.testing.assert_close(v.values.cpu().double(), u.values, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(v.integrate().cpu().double(), u.integrate(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("disc", [
    PERIODIC,
    Grid.chebyshev((7,)),
    Grid.uniform((4, 5, 6), centring="cell"),
    Grid.from_coordinates([[0.0, 0.1, 0.7], [0.5, 1.5]]),
    PointCloud(np.random.default_rng(1).random((20, 3))),
    Mesh.structured((4, 4)),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_xarray_round_trip_is_lossless(disc, dtype):
    gen = torch.Generator().manual_seed(0)
    u = Sampled(torch.randn(3, 2, *disc.shape, generator=gen, dtype=dtype), disc,
                channel_names=["p", "q"], attrs={"source": "test", "t": 0.5})
    before = u.values.clone()
    da = u.to_xarray(name="u")
    assert da.dims[:2] == ("batch", "channel") and da.name == "u"
    back = Sampled.from_xarray(da)
    assert back.on == disc and back.channel_names == ("p", "q") and back.attrs == {"source": "test", "t": 0.5}
    assert back.values.dtype == dtype
    assert torch.equal(back.values, u.values) and torch.equal(u.values, before)


def test_xarray_coordinates_are_physical():
    da = smooth_on(PERIODIC).to_xarray()
    np.testing.assert_allclose(da.coords["y"].values, np.arange(12) * 2 / 12)
    value = da.sel(batch=1, channel="v").interp(x=0.25, y=0.5).item()
    assert value == pytest.approx(2 * np.cos(2 * np.pi * 0.25) ** 2, abs=1e-12)


def test_netcdf_file_round_trip(tmp_path):
    u = smooth_on(Grid.chebyshev((5, 6)))
    u.to_xarray(name="u").to_netcdf(tmp_path / "u.nc", engine="scipy")
    with xr.open_dataarray(tmp_path / "u.nc", engine="scipy") as da:
        back = Sampled.from_xarray(da.load())
    assert back.on == u.on and torch.equal(back.values, u.values) and back.attrs == u.attrs


def test_from_foreign_xarray_infers_grid_and_points():
    x, y = np.linspace(0, 1, 5), np.linspace(0, 2, 3)
    da = xr.DataArray(np.outer(x, y), dims=("x", "y"), coords={"x": x, "y": y})
    u = Sampled.from_xarray(da)
    assert u.shape == (1, 1, 5, 3) and u.on.kinds == ("explicit", "explicit")
    torch.testing.assert_close(u.on.points()[:, 0] * u.on.points()[:, 1], u.values.reshape(-1))
    pts = xr.DataArray(np.arange(4.0), dims=("point",), coords={"x": ("point", [0, 1, 2, 3.0]), "y": ("point", [1, 0, 1, 0.0])})
    assert isinstance(Sampled.from_xarray(pts).on, PointCloud)
    with pytest.raises(ValueError, match="array: grid dimensions \\['x'\\] have no coordinates"):
        Sampled.from_xarray(xr.DataArray(np.zeros(3), dims=("x",)))


def test_sampled_bad_input():
    grid = Grid.uniform((4, 4))
    with pytest.raises(ValueError, match="values: expected shape \\[batch, channels, 4, 4\\] .* got \\(1, 4, 4\\)"):
        Sampled(torch.zeros(1, 4, 4), grid)
    with pytest.raises(ValueError, match="values: expected shape .* got \\(1, 1, 4, 5\\)"):
        Sampled(torch.zeros(1, 1, 4, 5), grid)
    with pytest.raises(ValueError, match="values: expected finite values, found 4 NaN and 4 infinite entries out of 16"):
        Sampled(torch.tensor([[[[np.nan, np.inf, 0, 0]] * 4]]), grid)
    with pytest.raises(TypeError, match="on: expected a Discretization"):
        Sampled(torch.zeros(1, 1, 4, 4), (4, 4))
    with pytest.raises(TypeError, match="values: expected numeric values"):
        Sampled(np.array([["a"]]), grid)
    with pytest.raises(ValueError, match="channel_names: expected 1 names, got 2"):
        Sampled(torch.zeros(1, 1, 4, 4), grid, channel_names=["a", "b"])
    with pytest.raises(TypeError, match="array: expected xarray.DataArray"):
        Sampled.from_xarray(np.zeros(3))
    assert Sampled(torch.zeros(1, 1, 4, 4, dtype=torch.int64), grid).dtype == torch.get_default_dtype()


def test_operator_dataset_collate_subset_and_errors():
    grid = Grid.uniform((8,))
    a = Sampled(torch.arange(40.0).reshape(5, 1, 8), grid)
    u = Sampled(-torch.arange(40.0).reshape(5, 1, 8), grid)
    data = OperatorDataset(a, u)
    x, y = data.collate([data[4], data[1]])
    torch.testing.assert_close(x.values, a.values[[4, 1]])
    torch.testing.assert_close(y.values, u.values[[4, 1]])
    first, rest = data.split(2)
    assert len(first) == 2 and len(rest) == 3
    torch.testing.assert_close(rest.targets.values, u.values[2:])
    with pytest.raises(ValueError, match="targets: expected batch size 5 to match inputs, got 4"):
        OperatorDataset(a, u[0:4])
    with pytest.raises(TypeError, match="inputs: expected Sampled"):
        OperatorDataset(a.values, u)
    with pytest.raises(ValueError, match="n_first: expected 0 < n_first < 5, got 5"):
        data.split(5)
