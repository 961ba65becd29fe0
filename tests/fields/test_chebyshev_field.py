"""ChebyshevField: transforms against independent solves, spectral convergence, exact calculus.

Tolerances (fp64): transforms against a Vandermonde solve 1e-12; analytic functions resolved
to <= 1e-12 absolute on O(1) values; derivatives lose ~ degree^2 digits, checked to 1e-10;
integrals to 1e-13.
"""

import itertools
import math

import numpy as np
import pytest
import scipy.fft
import torch

import sciml
from sciml import Domain, Grid, Sampled
from sciml.fields.autodiff import gradient, laplacian
from sciml.fields.base import Field
from sciml.fields.chebyshev import ChebyshevField, chebyshev_basis, chebyshev_coefficients, chebyshev_values

F64 = torch.float64


def lobatto(n):
    return torch.tensor(sciml.quadrature.chebyshev_lobatto(n))


# -- transforms ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 3, 8, 33])
def test_coefficients_match_vandermonde_solve_and_scipy_dct1(n):
    g = torch.Generator().manual_seed(n)
    values = torch.randn(3, n, dtype=F64, generator=g)
    t = sciml.quadrature.chebyshev_lobatto(n)
    vander = np.polynomial.chebyshev.chebvander(t, n - 1)
    reference = np.linalg.solve(vander, values.numpy().T).T
    coefficients = chebyshev_coefficients(values)
    np.testing.assert_allclose(coefficients.numpy(), reference, rtol=0, atol=1e-12)
    # scipy's DCT-I on the values in cos(pi i / N) order, scaled as in the module docstring
    y = scipy.fft.dct(values.numpy()[:, ::-1], type=1) / (n - 1)
    y[:, [0, -1]] /= 2
    np.testing.assert_allclose(coefficients.numpy(), y, rtol=0, atol=1e-12)
    torch.testing.assert_close(chebyshev_values(coefficients), values, rtol=0, atol=1e-12)


def test_basis_matches_cosines():
    theta = torch.linspace(0, math.pi, 11, dtype=F64)
    basis = chebyshev_basis(torch.cos(theta), 9)
    expected = torch.cos(theta[:, None] * torch.arange(9, dtype=F64))
    torch.testing.assert_close(basis, expected, rtol=0, atol=1e-13)


def test_multi_axis_transform_is_separable():
    values = torch.randn(2, 5, 6, 7, dtype=F64)
    both = chebyshev_coefficients(values, (1, 3))
    one_by_one = chebyshev_coefficients(chebyshev_coefficients(values, 1), 3)
    torch.testing.assert_close(both, one_by_one, rtol=0, atol=1e-14)


# -- convergence -----------------------------------------------------------------------------------------------
def test_runge_function_converges_at_the_bernstein_ellipse_rate():
    """|f - p_n| = O(rho^-n) with rho = (1 + sqrt 26)/5, the ellipse through the poles +- i/5."""
    box = Domain([(-1.0, 1.0)])
    runge = lambda x: 1.0 / (1.0 + 25.0 * x[:, 0] ** 2)
    x = torch.linspace(-1, 1, 2001, dtype=F64)[:, None]
    degrees = np.arange(20, 161, 20)
    errors = []
    with torch.no_grad():
        for n in degrees:
            field = ChebyshevField.from_function(runge, box, degree=int(n))
            errors.append(float((field(x)[:, 0] - runge(x)).abs().max()))
    rate = -np.polyfit(degrees, np.log(errors), 1)[0]
    rho = (1 + math.sqrt(26)) / 5
    assert rate == pytest.approx(math.log(rho), rel=0.05)
    assert all(b < a for a, b in itertools.pairwise(errors))          # geometric decrease at every step
    assert errors[-1] < 1e-12


def test_adaptive_interpolation_reaches_machine_precision_at_modest_degree():
    box = Domain([(0.0, 1.0), (-1.0, 2.0), (0.0, 0.5)])
    f = lambda p: torch.exp(p[:, 0]) * torch.sin(2 * p[:, 1]) / (1 + p[:, 2] ** 2)
    field = ChebyshevField.from_function(f, box, tol=1e-15)
    assert max(field.degrees) <= 32
    points = torch.rand(500, 3, dtype=F64) * torch.tensor([1.0, 3.0, 0.5], dtype=F64) + torch.tensor([0, -1.0, 0])
    with torch.no_grad():
        assert float((field(points)[:, 0] - f(points)).abs().max()) <= 1e-12
    # nodes: evaluation at the grid points reproduces the data of from_sampled
    grid = Grid.chebyshev((9, 10, 11), box)
    values = f(grid.points())[None, None].reshape(1, 1, 9, 10, 11)
    sampled = ChebyshevField.from_sampled(Sampled(values, grid))
    with torch.no_grad():
        torch.testing.assert_close(sampled(grid.points()).reshape(values.shape), values, rtol=0, atol=1e-13)


def test_adaptive_errors_and_the_zero_function():
    box = Domain([(-1.0, 1.0)])
    with pytest.raises(ValueError, match="max_degree: the function is not resolved"):
        ChebyshevField.from_function(lambda x: x[:, 0].abs(), box, max_degree=64)
    zero = ChebyshevField.from_function(lambda x: 0 * x[:, 0], box)
    assert zero.degrees == (0,)
    two = ChebyshevField.from_function(lambda x: torch.stack([x[:, 0] ** 2, 1 + 0 * x[:, 0]], -1), box)
    assert two.out_channels == 2 and two.degrees == (2,)


# -- calculus ----------------------------------------------------------------------------------------------------
def closed_form_field():
    box = Domain([(0.0, 1.0), (-1.0, 2.0)])
    f = lambda p: torch.exp(p[:, 0]) * torch.sin(2 * p[:, 1])
    return box, f, ChebyshevField.from_function(f, box, tol=1e-15)


def test_derivatives_against_closed_forms():
    _, f, field = closed_form_field()
    p = torch.rand(200, 2, dtype=F64) * torch.tensor([1.0, 3.0], dtype=F64) + torch.tensor([0.0, -1.0])
    x, y = p.unbind(-1)
    with torch.no_grad():
        torch.testing.assert_close(field.derivative(0)(p)[:, 0], f(p), rtol=0, atol=1e-11)
        torch.testing.assert_close(field.derivative(1)(p)[:, 0], 2 * torch.exp(x) * torch.cos(2 * y), rtol=0,
                                   atol=1e-10)
        torch.testing.assert_close(field.derivative(1, order=2)(p)[:, 0], -4 * f(p), rtol=0, atol=1e-9)
        assert field.derivative(0, order=0).degrees == field.degrees
    # autograd through the recurrence agrees with the coefficient recurrence
    grad = gradient(lambda q: field(q), p)
    torch.testing.assert_close(grad[:, 1], field.derivative(1)(p)[:, 0].detach(), rtol=0, atol=1e-10)
    lap = laplacian(field, p[:5])
    torch.testing.assert_close(lap[:, 0], (f(p[:5]) - 4 * f(p[:5])), rtol=0, atol=1e-9)
    assert torch.autograd.gradcheck(lambda q: field(q), (p[:4].clone().requires_grad_(),))


def test_integral_and_antiderivative_against_closed_forms():
    _, _, field = closed_form_field()
    exact = (math.e - 1) * (math.cos(-2.0) - math.cos(4.0)) / 2
    assert field.integral().item() == pytest.approx(exact, abs=1e-13)
    # the same number is the Clenshaw–Curtis rule on the values (the grid's own weights)
    values = field.values_on_grid()
    assert float(values.integrate()) == pytest.approx(exact, abs=1e-13)
    p = torch.rand(100, 2, dtype=F64) * torch.tensor([1.0, 3.0], dtype=F64) + torch.tensor([0.0, -1.0])
    x, y = p.unbind(-1)
    with torch.no_grad():
        anti_y = field.antiderivative(1)(p)[:, 0]
        torch.testing.assert_close(anti_y, torch.exp(x) * (math.cos(-2.0) - torch.cos(2 * y)) / 2, rtol=0, atol=1e-13)
        anti_x = field.antiderivative(0)(p)[:, 0]
        torch.testing.assert_close(anti_x, (torch.exp(x) - 1) * torch.sin(2 * y), rtol=0, atol=1e-13)
        torch.testing.assert_close(field.antiderivative(0).derivative(0)(p), field(p), rtol=0, atol=1e-12)


def test_grid_sampling_fast_path_equals_pointwise():
    _, _, field = closed_form_field()
    target = Grid.uniform((7, 9), Domain([(0.0, 1.0), (-1.0, 2.0)]))
    torch.testing.assert_close(field.sample(target).values, Field.sample(field, target).values, rtol=0, atol=1e-13)


def test_checkpoint_round_trip(tmp_path):
    _, _, field = closed_form_field()
    loaded = sciml.load_checkpoint(sciml.save_checkpoint(tmp_path / "cheb", field)).model
    assert type(loaded) is ChebyshevField and loaded.degrees == field.degrees
    p = torch.rand(5, 2, dtype=F64)
    torch.testing.assert_close(loaded(p), field(p), rtol=0, atol=0)


def test_bad_input_errors():
    box = Domain([(0.0, 1.0)])
    f = lambda x: x[:, 0]
    with pytest.raises(ValueError, match="data: expected values on a Chebyshev Grid"):
        ChebyshevField.from_sampled(Sampled(torch.zeros(1, 1, 5), Grid.uniform((5,))))
    with pytest.raises(ValueError, match="degree: expected a positive int"):
        ChebyshevField.from_function(f, box, degree=0)
    with pytest.raises(ValueError, match=r"tol: expected a float in \(0, 1\)"):
        ChebyshevField.from_function(f, box, tol=2.0)
    with pytest.raises(TypeError, match="domain: expected a sciml.Domain"):
        ChebyshevField.from_function(f, [(0, 1)])
    with pytest.raises(ValueError, match="config.periodic"):
        ChebyshevField.for_domain(Domain.unit(1, periodic=True), degrees=(3,))
    with pytest.raises(ValueError, match="max_points"):
        ChebyshevField.from_function(lambda x: x[:, 0], Domain.unit(3), degree=100, max_points=1000)
    field = ChebyshevField.from_function(f, box, degree=3)
    with pytest.raises(ValueError, match=r"axis: expected an int in \[0, 1\)"):
        field.derivative(1)
    with pytest.raises(ValueError, match="values: expected at least 2 Chebyshev points"):
        chebyshev_coefficients(torch.ones(1, dtype=F64))
    with pytest.raises(ValueError, match="function: expected values"):
        ChebyshevField.from_function(lambda x: x[:5, 0], Domain.unit(2), degree=3)
