"""Property tests (hypothesis) for the data layer: quadrature exactness, round trips."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sciml import Domain, Grid, Mesh, PointCloud, Sampled, discretization_from_dict, quadrature

settings.register_profile("sciml", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("sciml")

bounds = st.tuples(st.floats(-5, 5), st.floats(0.1, 5)).map(lambda t: (t[0], t[0] + t[1]))


@st.composite
def rule_and_degree(draw):
    """``n`` points and a degree the Clenshaw-Curtis rule integrates exactly: ``n - 1``, or ``n`` for odd ``n``."""
    n = draw(st.integers(2, 24))
    return n, draw(st.integers(0, n if n % 2 else n - 1))


@given(n_degree=rule_and_degree(), lohi=bounds)
def test_clenshaw_curtis_exact_on_polynomials(n_degree, lohi):
    n, degree = n_degree
    lo, hi = lohi
    x, w = quadrature.clenshaw_curtis(n, lo, hi)
    # integrate the shifted monomial ((x - c)/h)^degree to keep the numbers O(1)
    c, h = 0.5 * (lo + hi), 0.5 * (hi - lo)
    exact = h * (1 - (-1) ** (degree + 1)) / (degree + 1)
    assert abs(np.sum(w * ((x - c) / h) ** degree) - exact) <= 1e-12 * max(1.0, h)


@given(n=st.integers(2, 40), lohi=bounds, a=st.floats(-3, 3), b=st.floats(-3, 3))
def test_trapezoid_and_midpoint_exact_on_linear(n, lohi, a, b):
    lo, hi = lohi
    exact = a * (hi - lo) + 0.5 * b * (hi**2 - lo**2)
    for rule in (quadrature.trapezoid, quadrature.midpoint):
        x, w = rule(n, lo, hi)
        assert abs(np.sum(w * (a + b * x)) - exact) <= 1e-11 * (1 + abs(exact))


@given(n=st.integers(1, 30), k=st.integers(0, 14), lohi=bounds)
def test_periodic_rule_exact_on_trigonometric_modes(n, k, lohi):
    lo, hi = lohi
    x, w = quadrature.periodic_rectangle(n, lo, hi)
    value = np.sum(w * np.cos(2 * np.pi * k * (x - lo) / (hi - lo)))
    expected = (hi - lo) if k % n == 0 else 0.0
    assert abs(value - expected) <= 1e-11 * (hi - lo) * max(1, k)


grids = st.one_of(
    st.builds(lambda s, p: Grid.uniform(s, Domain.unit(len(s), periodic=p)),
              st.lists(st.integers(2, 6), min_size=1, max_size=3), st.booleans()),
    st.builds(lambda s: Grid.chebyshev(s), st.lists(st.integers(2, 6), min_size=1, max_size=3)),
    st.builds(lambda s: Grid.uniform(s, centring="cell"), st.lists(st.integers(1, 6), min_size=1, max_size=3)),
    st.builds(lambda coords: Grid.from_coordinates(coords, Domain.unit(len(coords))),
              st.lists(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6, unique=True).map(sorted),
                       min_size=1, max_size=3)),
)


@given(grid=grids, seed=st.integers(0, 2**16))
def test_sampled_xarray_round_trip_on_any_grid(grid, seed):
    gen = torch.Generator().manual_seed(seed)
    u = Sampled(torch.randn(2, 1, *grid.shape, generator=gen, dtype=torch.float64), grid)
    back = Sampled.from_xarray(u.to_xarray())
    assert back.on == grid and torch.equal(back.values, u.values)
    assert discretization_from_dict(grid.to_dict()) == grid


@given(grid=grids)
def test_grid_weights_sum_to_volume_and_are_positive(grid):
    w = grid.weights()
    assert bool((w > 0).all())
    assert abs(float(w.sum()) - grid.domain.volume) <= 1e-12


@given(n=st.integers(1, 50), d=st.integers(1, 3), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([torch.float16, torch.float32, torch.float64, torch.complex64]))
def test_point_cloud_round_trips(n, d, seed, dtype):
    rng = np.random.default_rng(seed)
    cloud = PointCloud(rng.random((n, d)), weights=np.full(n, 1.0 / n))
    assert discretization_from_dict(cloud.to_dict()) == cloud
    u = Sampled(torch.from_numpy(rng.standard_normal((2, 3, n))).to(dtype), cloud,
                channel_names=["a", "b", "c"], attrs={"seed": seed})
    back = Sampled.from_xarray(u.to_xarray())
    assert back.on == cloud and back.dtype == dtype and torch.equal(back.values, u.values)
    assert back.channel_names == ("a", "b", "c") and back.attrs == {"seed": seed}


@given(shape=st.lists(st.integers(2, 5), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       data=st.data())
def test_mesh_xarray_round_trip_and_transposed_grids(shape, seed, data):
    mesh = Mesh.structured(shape)
    u = Sampled(torch.from_numpy(np.random.default_rng(seed).standard_normal((1, 2, mesh.num_points))), mesh)
    back = Sampled.from_xarray(u.to_xarray())
    assert back.on == mesh and torch.equal(back.values, u.values)
    grid = Grid.uniform(shape)
    v = Sampled(torch.from_numpy(np.random.default_rng(seed).standard_normal((1, 1, *shape))), grid)
    order = data.draw(st.permutations(list(v.to_xarray().dims[2:])))
    moved = Sampled.from_xarray(v.to_xarray().transpose("batch", "channel", *order))
    assert moved.on == grid and torch.equal(moved.values, v.values)
