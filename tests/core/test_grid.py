"""Domain and Grid: coordinates, weights, serialization, bad input."""

import numpy as np
import pytest
import torch

from sciml import Domain, Grid, GridAxis, discretization_from_dict


def test_domain_properties_and_mapping():
    d = Domain([(0, 2), (-1, 1)], periodic=[True, False])
    assert d.ndim == 2 and d.lengths == (2.0, 2.0) and d.volume == 4.0
    p = torch.tensor([[1.0, 0.0], [2.0, 1.0]])
    torch.testing.assert_close(d.from_unit(d.to_unit(p)), p)
    assert d.contains(p).tolist() == [True, True]
    assert Domain.from_dict(d.to_dict()) == d


@pytest.mark.parametrize(
    "bounds, match",
    [([(1, 0)], r"bounds\[0\]: expected finite lo < hi, got \(1.0, 0.0\)"),
     ([(0, float("nan"))], r"bounds\[0\]"),
     ([], "bounds: expected at least one axis"),
     ([(0, 1, 2)], r"bounds\[0\]: expected a \(lo, hi\) pair")],
)
def test_domain_rejects_bad_bounds(bounds, match):
    with pytest.raises(ValueError, match=match):
        Domain(bounds)


def test_domain_rejects_wrong_number_of_periodic_flags():
    with pytest.raises(ValueError, match="periodic: expected 2 flags"):
        Domain([(0, 1), (0, 1)], periodic=[True])


def test_uniform_node_grid_bounded_and_periodic():
    g = Grid.uniform((5, 4), Domain([(0, 1), (0, 2)], periodic=[False, True]))
    x, y = g.coordinates()
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(y, [0, 0.5, 1.0, 1.5])
    assert g.spacing == (0.25, 0.5)
    assert float(g.weights().sum()) == pytest.approx(2.0, rel=1e-15)


def test_cell_centred_grid():
    g = Grid.uniform(4, centring="cell")
    np.testing.assert_allclose(g.coordinates()[0], [0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(g.weights(), [0.25] * 4)


def test_points_follow_ij_ordering_of_values():
    g = Grid.uniform((3, 4))
    pts = g.points()
    assert pts.shape == (12, 2)
    mesh = g.mesh()
    i, j = 2, 1
    torch.testing.assert_close(pts[i * 4 + j], mesh[i, j])
    torch.testing.assert_close(mesh[i, j], torch.tensor([1.0, 1 / 3], dtype=torch.float64))


@pytest.mark.parametrize("make", [lambda s: Grid.uniform(s), lambda s: Grid.chebyshev(s),
                                  lambda s: Grid.uniform(s, centring="cell")])
def test_tensor_product_weights_integrate_separable_polynomial_3d(make):
    g = make((9, 9, 9))
    x, y, z = g.mesh().unbind(-1)
    f = (1 + x) * (2 - y) * (z + 0.5)
    exact = 1.5 * 1.5 * 1.0
    tol = 1e-13 if g.kinds[0] == "chebyshev" else 1e-12  # all rules are exact for products of linears
    assert float((f * g.weights_shaped()).sum()) == pytest.approx(exact, rel=tol)


def test_chebyshev_grid_integrates_high_degree_exactly():
    g = Grid.chebyshev((12, 12), Domain([(-1, 1), (0, 3)]))
    x, y = g.mesh().unbind(-1)
    value = float(((x**10) * (y**9) * g.weights_shaped()).sum())
    assert value == pytest.approx((2 / 11) * (3**10 / 10), rel=1e-12)


def test_explicit_grid_weights_are_trapezoid_on_given_coordinates():
    g = Grid.from_coordinates([[0.0, 0.1, 0.5, 1.0]])
    np.testing.assert_allclose(g.weights(), [0.05, 0.25, 0.45, 0.25])
    periodic = Grid.from_coordinates([[0.0, 0.25, 0.75]], Domain([(0, 1)], periodic=True))
    np.testing.assert_allclose(periodic.weights(), [0.25, 0.375, 0.375])


def test_with_shape_keeps_kind_and_domain():
    g = Grid.chebyshev((8, 16), Domain([(0, 2), (0, 1)]))
    h = g.with_shape(32)
    assert h.shape == (32, 32) and h.kinds == ("chebyshev", "chebyshev") and h.domain == g.domain


@pytest.mark.parametrize("grid", [
    Grid.uniform((4, 6), Domain.unit(2, periodic=[True, False])),
    Grid.chebyshev((5,)),
    Grid.from_coordinates([[0.0, 0.3, 1.0], [1.0, 2.0]]),
])
def test_serialization_round_trip(grid):
    back = discretization_from_dict(grid.to_dict())
    assert back == grid and hash(back) == hash(grid)
    torch.testing.assert_close(back.weights(), grid.weights(), rtol=0, atol=0)


def test_grid_bad_input_messages():
    with pytest.raises(ValueError, match="size: a 'node' axis \\(bounded\\) needs at least 2 points, got 1"):
        Grid.uniform((1, 4))
    with pytest.raises(ValueError, match="centring: expected 'node' or 'cell', got 'edge'"):
        Grid.uniform(4, centring="edge")
    with pytest.raises(ValueError, match="domain: a Chebyshev grid needs a non-periodic domain"):
        Grid.chebyshev(5, Domain.unit(1, periodic=True))
    with pytest.raises(ValueError, match="shape: expected 2 sizes to match the domain, got 3"):
        Grid.uniform((4, 4, 4), Domain.unit(2))
    with pytest.raises(TypeError, match="shape\\[0\\]: expected an integer, got float"):
        Grid.uniform((4.0, 4))
    with pytest.raises(ValueError, match="coords: expected strictly increasing coordinates"):
        Grid.from_coordinates([[0.0, 0.5, 0.4]])
    with pytest.raises(ValueError, match="coords: a periodic axis must not contain its right end"):
        Grid.from_coordinates([[0.0, 0.5, 1.0]], Domain.unit(1, periodic=True))
    with pytest.raises(ValueError, match="kind: expected one of"):
        GridAxis("spline", 4, 0.0, 1.0)
    with pytest.raises(ValueError, match="data\\['type'\\]: expected one of"):
        discretization_from_dict({"type": "Voxels"})
