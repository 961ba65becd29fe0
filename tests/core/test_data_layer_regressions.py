"""Regression tests for bugs found in review of the data layer (each failed before its fix)."""

import math

import numpy as np
import pytest
import torch

from sciml import Domain, Grid, Mesh, PointCloud, Sampled, losses
from sciml.derivatives import partial


def test_from_xarray_follows_transposed_and_sliced_dims():
    grid = Grid.uniform((4, 5))
    x, y = grid.mesh().unbind(-1)
    u = Sampled((x + 10 * y)[None, None], grid)
    back = Sampled.from_xarray(u.to_xarray().transpose("batch", "channel", "y", "x"))
    assert back.on == grid and torch.equal(back.values, u.values)
    part = Sampled.from_xarray(u.to_xarray().isel(x=slice(0, 2)))
    torch.testing.assert_close(part.values, u.values[:, :, :2])
    np.testing.assert_allclose(part.on.axes[0].coordinates, [0.0, 1 / 3])


def test_coordinate_and_weight_getters_return_copies():
    grid = Grid.chebyshev((5, 3))
    before = grid.weights().clone()
    grid.coordinates()[0].add_(1.0)
    grid.weights().mul_(10.0)
    grid.weights_shaped().zero_()
    assert grid == Grid.chebyshev((5, 3))
    torch.testing.assert_close(grid.weights(), before, rtol=0, atol=0)
    with pytest.raises(ValueError, match="read-only"):
        grid.axes[0].weights[:] = 0
    mesh, cloud = Mesh.structured((3, 3)), PointCloud([[0.0, 0.0], [1.0, 1.0]])
    for disc in (mesh, cloud):
        disc.points().add_(5.0)
        disc.weights().zero_()
    assert float(mesh.weights().sum()) == pytest.approx(1.0) and float(mesh.points().max()) == 1.0
    assert float(cloud.points().max()) == 1.0 and float(cloud.weights().sum()) > 0


def test_explicit_axes_weights_cover_the_whole_domain():
    one = Grid.from_coordinates([[0.3]], Domain.unit(1))
    assert one.weights().tolist() == [1.0]
    inner = Grid.from_coordinates([[0.25, 0.5, 0.75]], Domain.unit(1))
    np.testing.assert_allclose(inner.weights(), [0.375, 0.25, 0.375])
    u = Sampled(torch.ones(1, 1, 1), one)
    assert float(losses.relative_lp(2 * u.values, u)) == pytest.approx(1.0)


def test_derivative_along_a_one_point_axis_is_zero():
    grid = Grid.uniform((1, 8), centring="cell")
    values = torch.rand(2, 1, 1, 8, dtype=torch.float64)
    assert torch.equal(partial(values, grid, 0), torch.zeros_like(values))
    assert torch.isfinite(losses.h1_norm(Sampled(values, grid))).all()


def test_half_precision_integrals_are_accurate():
    grid = Grid.uniform((200, 200), Domain.unit(2, periodic=True))
    ones = Sampled(torch.ones(1, 1, 200, 200, dtype=torch.float16), grid)
    assert float(ones.integrate()) == pytest.approx(1.0, abs=1e-5)  # was 0.95 when summed in float16


def test_quad_lumped_mass_is_equal_shares_independent_of_numbering():
    pts = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    for conn in ([0, 1, 2, 3], [1, 2, 3, 0]):
        mesh = Mesh(pts, {"quad": [conn]})
        np.testing.assert_allclose(mesh.weights(), [0.25] * 4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_xarray_round_trip(dtype):
    u = Sampled(torch.randn(2, 1, 3, 4).to(dtype), Grid.uniform((3, 4)))
    back = Sampled.from_xarray(u.to_xarray())
    assert back.dtype == dtype and torch.equal(back.values, u.values)


def test_tensor_prediction_takes_the_targets_discretization():
    grid = Grid.uniform((1, 6), centring="cell")
    target = Sampled(torch.ones(1, 1, 1, 6), grid)
    assert float(losses.RelativeL2()(2 * target.values, target)) == pytest.approx(1.0)


@pytest.mark.parametrize("source, target", [(("cell", 32), ("node", 64)), (("node", 16), ("cell", 16)),
                                            (("cell", 24), ("cell", 12))])
def test_fourier_resampling_on_cell_centred_periodic_grids_is_exact(source, target):
    domain = Domain([(0.0, 2.0)], periodic=True)
    g, h = (Grid.uniform(n, domain, centring=c) for c, n in (source, target))

    def f(x):
        return torch.sin(math.pi * 3 * x) + 0.5 * torch.cos(math.pi * 5 * x + 0.3)

    v = Sampled(f(g.coordinates()[0])[None, None], g).resample(h, method="fourier")
    torch.testing.assert_close(v.values[0, 0], f(h.coordinates()[0]), atol=1e-13, rtol=0)


def test_registries_refuse_a_different_class_under_a_taken_name_but_allow_reloads():
    import sciml
    from sciml.discretization import register_discretization

    shadow = type("Grid", (Grid,), {"__module__": "user_code"})
    with pytest.raises(ValueError, match="cls: a discretization named 'Grid' is registered already"):
        register_discretization(shadow)
    assert register_discretization(Grid) is Grid

    from dataclasses import dataclass

    @dataclass
    class Config:
        width: int = 1

    def make(module):
        return type("Reloaded", (torch.nn.Module,), {"config_class": Config, "__module__": module,
                                                     "__qualname__": "Reloaded"})

    first, again = make("user_models"), make("user_models")
    sciml.register_model("reloaded-test")(first)
    assert sciml.register_model("reloaded-test")(again) is again  # same module.qualname: a reload
    with pytest.raises(ValueError, match="a model named 'reloaded-test' is registered already"):
        sciml.register_model("reloaded-test")(make("other_package"))
