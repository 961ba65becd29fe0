"""Derivatives on grids: spectral exactness, finite-difference convergence, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sciml import Domain, Grid, PointCloud, Sampled
from sciml.derivatives import axis_method, gradient, partial

PI = math.pi


def _periodic_grid(shape, centring="node"):
    return Grid.uniform(shape, Domain([(0.0, 2 * PI), (0.0, 1.0)], periodic=True), centring=centring)


# -- spectral -----------------------------------------------------------------------------------
@pytest.mark.parametrize("centring", ["node", "cell"])
def test_fourier_is_exact_for_trigonometric_polynomials(centring):
    grid = _periodic_grid((16, 12), centring)
    x, y = grid.mesh().unbind(-1)
    u = torch.sin(3 * x) * torch.cos(4 * PI * y) + torch.cos(5 * x) + 0.3 * torch.sin(10 * PI * y)
    dx = 3 * torch.cos(3 * x) * torch.cos(4 * PI * y) - 5 * torch.sin(5 * x)
    dy = -4 * PI * torch.sin(3 * x) * torch.sin(4 * PI * y) + 3 * PI * torch.cos(10 * PI * y)
    assert axis_method(grid.axes[0]) == "fourier"
    torch.testing.assert_close(partial(u, grid, 0), dx, atol=1e-10, rtol=0)
    torch.testing.assert_close(partial(u, grid, 1), dy, atol=1e-10, rtol=0)


def test_fourier_zeroes_the_nyquist_mode_and_stays_real():
    grid = Grid.uniform(16, Domain([(0.0, 1.0)], periodic=True))
    x = grid.coordinates()[0]
    nyquist = torch.cos(16 * PI * x)  # alternates +1, -1 on the nodes
    du = partial(nyquist + torch.sin(2 * PI * x), grid, 0)
    assert du.dtype == torch.float64
    torch.testing.assert_close(du, 2 * PI * torch.cos(2 * PI * x), atol=1e-11, rtol=0)


def test_fourier_complex_values():
    grid = Grid.uniform(12, Domain([(0.0, 3.0)], periodic=True))
    x = grid.coordinates()[0]
    k = 2 * PI * 2 / 3.0
    u = torch.exp(1j * k * x)
    torch.testing.assert_close(partial(u, grid, 0), 1j * k * u, atol=1e-12, rtol=0)


def test_fourier_float32_matches_float64():
    grid = _periodic_grid((32, 32))
    x, y = grid.mesh().unbind(-1)
    u = torch.exp(torch.sin(x)) * torch.cos(2 * PI * y)
    exact = partial(u, grid, 0)
    single = partial(u.float(), grid, 0)
    assert single.dtype == torch.float32
    torch.testing.assert_close(single.double(), exact, atol=1e-5, rtol=0)


def test_chebyshev_is_exact_for_polynomials_of_degree_below_n():
    grid = Grid.chebyshev(12, Domain([(-1.0, 3.0)]))
    x = grid.coordinates()[0]
    u = (x / 3) ** 11 - 2 * x**3 + 1
    du = 11 / 3 * (x / 3) ** 10 - 6 * x**2
    assert axis_method(grid.axes[0]) == "chebyshev"
    torch.testing.assert_close(partial(u, grid, 0), du, atol=1e-10, rtol=0)


def test_chebyshev_converges_spectrally():
    errors = []
    for n in (8, 16, 32):
        grid = Grid.chebyshev(n, Domain([(0.0, 2.0)]))
        x = grid.coordinates()[0]
        errors.append(float((partial(torch.sin(3 * x) + torch.exp(x), grid, 0)
                             - 3 * torch.cos(3 * x) - torch.exp(x)).abs().max()))
    assert errors[1] < 1e-6 and errors[2] < 1e-11, errors


# -- finite differences --------------------------------------------------------------------------
def _bounded_function(x):
    return torch.sin(3 * x) + torch.exp(x), 3 * torch.cos(3 * x) + torch.exp(x)


def _periodic_function(x):
    return (torch.sin(2 * PI * x) + torch.cos(4 * PI * x),
            2 * PI * torch.cos(2 * PI * x) - 4 * PI * torch.sin(4 * PI * x))


FD_CASES = {
    "uniform-node": (lambda n: Grid.uniform(n, Domain([(0.0, 2.0)])), _bounded_function),
    "uniform-cell": (lambda n: Grid.uniform(n, Domain([(0.0, 2.0)]), centring="cell"), _bounded_function),
    "explicit-stretched": (lambda n: Grid.from_coordinates(
        [2 * (np.linspace(0, 1, n) + 0.2 * np.sin(PI * np.linspace(0, 1, n)))]), _bounded_function),
    "chebyshev": (lambda n: Grid.chebyshev(n, Domain([(0.0, 2.0)])), _bounded_function),
    "periodic-node": (lambda n: Grid.uniform(n, Domain.unit(1, periodic=True)), _periodic_function),
    "periodic-explicit": (lambda n: Grid.from_coordinates(
        [np.arange(n) / n + 0.05 * np.sin(2 * PI * np.arange(n) / n)], Domain.unit(1, periodic=True)),
        _periodic_function),
}


@pytest.mark.parametrize("case", sorted(FD_CASES))
def test_finite_differences_converge_at_second_order(case):
    make_grid, function = FD_CASES[case]
    errors = []
    for n in (32, 64, 128):
        grid = make_grid(n)
        u, du = function(grid.coordinates()[0])
        errors.append(float((partial(u, grid, 0, method="fd") - du).abs().max()))  # ends included
    orders = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert min(orders) > 1.8, (errors, orders)


def test_finite_differences_are_exact_for_quadratics_on_random_nodes():
    rng = np.random.default_rng(0)
    coords = np.sort(rng.uniform(0.0, 1.0, 40))
    grid = Grid.from_coordinates([coords])
    x = grid.coordinates()[0]
    torch.testing.assert_close(partial(3 * x**2 - x + 2, grid, 0), 6 * x - 1, atol=1e-9, rtol=0)


def test_two_point_axis_is_exact_for_linear_functions():
    grid = Grid.uniform(2, Domain([(1.0, 3.0)]))
    x = grid.coordinates()[0]
    torch.testing.assert_close(partial(5 * x - 1, grid, 0), torch.full((2,), 5.0, dtype=torch.float64))


# -- gradient --------------------------------------------------------------------------------
def test_gradient_is_channel_major_with_names():
    grid = Grid.uniform((10, 12), Domain([(0.0, 2 * PI), (0.0, 2 * PI)], periodic=True))
    x, y = grid.mesh().unbind(-1)
    u = torch.stack([torch.sin(x) * torch.cos(2 * y), torch.cos(3 * x) + torch.sin(y)])[None]
    g = gradient(Sampled(u, grid, channel_names=["a", "b"]))
    expected = torch.stack([torch.cos(x) * torch.cos(2 * y), -2 * torch.sin(x) * torch.sin(2 * y),
                            -3 * torch.sin(3 * x), torch.cos(y)])[None]
    assert g.on == grid and g.channel_names == ("da/dx", "da/dy", "db/dx", "db/dy")
    torch.testing.assert_close(g.values, expected, atol=1e-12, rtol=0)


def test_gradient_of_a_tensor_uses_the_inferred_unit_grid():
    values = torch.rand(3, 2, 9, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    on_grid = gradient(Sampled(values, Grid.infer((9, 7)))).values
    torch.testing.assert_close(gradient(values), on_grid, atol=0, rtol=0)
    grid = Grid.infer((9, 7))
    torch.testing.assert_close(on_grid[:, 3], partial(values[:, 1], grid, 1), atol=0, rtol=0)


@pytest.mark.parametrize("grid", [
    Grid.uniform((4, 3), Domain.unit(2, periodic=True)),
    Grid.chebyshev((6, 5)),
    Grid.uniform((6, 5)),
    Grid.from_coordinates([[0.0, 0.1, 0.3, 0.7, 0.9], [0.0, 0.5, 0.6, 2.0]], Domain([(0, 1), (0, 2.5)], periodic=True)),
], ids=["fourier", "chebyshev", "fd", "fd-periodic-explicit"])
def test_gradcheck_float64(grid):
    values = torch.rand(2, 1, *grid.shape, dtype=torch.float64, requires_grad=True,
                        generator=torch.Generator().manual_seed(2))
    assert torch.autograd.gradcheck(lambda v: gradient(Sampled(v, grid, validate=False)).values, (values,))


# -- errors ------------------------------------------------------------------------------------
def test_gradient_needs_a_grid():
    cloud = PointCloud(torch.rand(10, 2, generator=torch.Generator().manual_seed(0)), domain=Domain.unit(2))
    with pytest.raises(ValueError, match="u: derivatives need values on a Grid"):
        gradient(Sampled(torch.zeros(1, 1, 10), cloud))


def test_argument_errors_name_the_argument():
    grid = Grid.uniform((8, 8))
    with pytest.raises(ValueError, match="method: 'spectral' needs"):
        partial(torch.zeros(8, 8), grid, 0, method="spectral")
    with pytest.raises(ValueError, match="method: expected one of"):
        partial(torch.zeros(8, 8), grid, 0, method="exact")
    with pytest.raises(ValueError, match="axis: expected an integer in"):
        partial(torch.zeros(8, 8), grid, 2)
    with pytest.raises(ValueError, match=r"values: expected trailing shape \(8, 8\)"):
        partial(torch.zeros(8, 7), grid, 0)
    with pytest.raises(TypeError, match="grid: expected a Grid"):
        partial(torch.zeros(8, 8), Domain.unit(2), 0)
    with pytest.raises(ValueError, match=r"u: expected a tensor \[batch, channels, \*spatial\]"):
        gradient(torch.zeros(8, 8))


def test_half_precision_values_keep_their_dtype():
    grid = _periodic_grid((16, 8))
    x, _ = grid.mesh().unbind(-1)
    du = partial(torch.sin(3 * x).to(torch.bfloat16), grid, 0)
    assert du.dtype == torch.bfloat16
    torch.testing.assert_close(du.double(), 3 * torch.cos(3 * x), atol=0.05, rtol=0)
