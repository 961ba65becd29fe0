"""The Field base: coordinate checks, sampling, and autograd derivatives against closed forms."""

import math

import pytest
import torch

from sciml import Domain, Grid, Mesh, PointCloud
from sciml.fields import Field, divergence, gradient, hessian, jacobian, laplacian


class Trig(Field):
    """f(x, y) = sin(a x) cos(b y), two channels (f, x*y)."""

    def __init__(self, domain, a=2.0, b=3.0):
        super().__init__(domain, out_channels=2)
        self.a = torch.nn.Parameter(torch.tensor(a, dtype=torch.float64))
        self.b = b

    def evaluate(self, x):
        f = torch.sin(self.a * x[:, 0]) * torch.cos(self.b * x[:, 1])
        return torch.stack([f, x[:, 0] * x[:, 1]], -1)


def scalar(field):
    return lambda x: field(x)[:, :1]


def test_forward_keeps_leading_shape_and_samples_on_grids_meshes_points():
    field = Trig(Domain.unit(2))
    x = torch.rand(4, 5, 2, dtype=torch.float64)
    assert field(x).shape == (4, 5, 2)
    grid = Grid.uniform((9, 7), Domain.unit(2))
    s = field.sample(grid, chunk=10)
    pts = grid.points(dtype=torch.float64)
    expected = field(pts).T.reshape(1, 2, 9, 7)
    torch.testing.assert_close(s.values, expected, rtol=0, atol=0)
    mesh = Mesh.structured((4, 4), Domain.unit(2))
    assert field.sample(mesh).values.shape == (1, 2, mesh.num_points)
    cloud = PointCloud(torch.rand(11, 2, dtype=torch.float64), domain=Domain.unit(2))
    torch.testing.assert_close(field.sample(cloud).values[0].T, field(cloud.points(dtype=torch.float64)))


def test_derivatives_match_closed_forms():
    a, b = 2.0, 3.0
    field = Trig(Domain.unit(2), a, b)
    x = torch.rand(16, 2, dtype=torch.float64)
    X, Y = x[:, 0], x[:, 1]
    grad = gradient(scalar(field), x)
    torch.testing.assert_close(grad[:, 0], a * torch.cos(a * X) * torch.cos(b * Y))
    torch.testing.assert_close(grad[:, 1], -b * torch.sin(a * X) * torch.sin(b * Y))
    hess = hessian(scalar(field), x)
    torch.testing.assert_close(hess[:, 0, 1], -a * b * torch.cos(a * X) * torch.sin(b * Y))
    torch.testing.assert_close(hess[:, 0, 1], hess[:, 1, 0])
    lap = laplacian(field, x)
    torch.testing.assert_close(lap[:, 0], -(a * a + b * b) * torch.sin(a * X) * torch.cos(b * Y))
    torch.testing.assert_close(lap[:, 1], torch.zeros_like(X))
    jac = jacobian(field, x)
    torch.testing.assert_close(jac[:, 1], torch.stack([Y, X], -1))
    div = divergence(field, x)
    torch.testing.assert_close(div[:, 0], grad[:, 0] + X)


def test_derivatives_stay_differentiable_in_parameters():
    field = Trig(Domain.unit(2))
    x = torch.rand(8, 2, dtype=torch.float64)
    lap = laplacian(scalar(field), x)
    (da,) = torch.autograd.grad(lap.sum(), field.a)
    # d/da of -(a^2+b^2) sin(a x) cos(b y), summed over points
    a, b = field.a.detach(), field.b
    X, Y = x[:, 0], x[:, 1]
    expected = (-2 * a * torch.sin(a * X) - (a * a + b * b) * X * torch.cos(a * X)) * torch.cos(b * Y)
    torch.testing.assert_close(da, expected.sum())


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.zeros(3, 3), r"\[\.\.\., 2\]"),
        (torch.tensor([[0.5, float("nan")]]), "finite"),
        (torch.tensor([[0.5, 1.5]]), "outside the domain"),
        (torch.zeros(3, 2, dtype=torch.int64), "floating"),
    ],
)
def test_bad_coordinates_are_refused(x, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Trig(Domain.unit(2))(x)


def test_periodic_axes_are_not_range_checked():
    field = Trig(Domain.unit(2, periodic=(True, False)))
    field(torch.tensor([[2.5, 0.5]], dtype=torch.float64))
    with pytest.raises(ValueError, match="outside"):
        field(torch.tensor([[0.5, -0.5]], dtype=torch.float64))
    assert math.isclose(field.num_parameters(), 1)


def test_field_configs_round_trip_through_json_equal():
    import sciml
    from sciml.fields import SirenConfig

    config = SirenConfig(bounds=((0.0, 1.0), (-1.0, 2.0)), periodic=(False, True), width=8)
    again = sciml.config_from_dict(SirenConfig, sciml.config_to_dict(config))
    assert again == config and again.domain() == config.domain()


@pytest.mark.parametrize("name", ["siren", "fourier-mlp", "grid", "triplane"])
def test_neural_fields_refuse_periodic_axes_they_would_ignore(name):
    import sciml
    import sciml.fields

    cls = sciml.registered_models()[name]
    with pytest.raises(ValueError, match="periodic"):
        cls.for_domain(Domain.unit(3, periodic=(True, False, False)))
    assert cls.for_domain(Domain.unit(3)).num_parameters() > 0
