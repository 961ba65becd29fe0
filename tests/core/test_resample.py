"""Resampling between discretizations, checked against analytic functions and independent references.

Tolerances: fp64 results of exact methods agree with the analytic function to 1e-12
(a few hundred ulps of round-off in FFTs and barycentric solves); fp32 to 1e-5.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from sciml import Domain, Grid, Mesh, PointCloud, Sampled, resample

EXACT = 1e-12
EXACT_FP32 = 1e-5


def sample(function, on, dtype=torch.float64, batch=1):
    """Sampled of ``function(points [..., d]) -> [...]`` on ``on``, times ``1..batch`` along the batch."""
    points = on.mesh(dtype) if isinstance(on, Grid) else on.points(dtype)
    values = function(points)
    scale = torch.arange(1, batch + 1, dtype=dtype).reshape(-1, 1, *[1] * values.ndim)
    return Sampled(values[None, None] * scale, on)


def max_error(result: Sampled, function, batch=1) -> float:
    reference = sample(function, result.on, result.values.dtype, batch).values
    return float((result.values - reference).abs().max())


def unit_square_triangles(n: int) -> Mesh:
    """Structured triangulation of the unit square: ``n x n`` vertices, two triangles per cell."""
    x = np.linspace(0.0, 1.0, n)
    points = np.stack(np.meshgrid(x, x, indexing="ij"), -1).reshape(-1, 2)
    ids = np.arange(n * n).reshape(n, n)
    a, b, c, d = ids[:-1, :-1].ravel(), ids[1:, :-1].ravel(), ids[1:, 1:].ravel(), ids[:-1, 1:].ravel()
    triangles = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return Mesh(points, {"triangle": triangles})


def cube_tetrahedra(n: int) -> Mesh:
    """Kuhn triangulation of the unit cube (six tetrahedra per cell), interior vertices jittered."""
    x = np.linspace(0.0, 1.0, n)
    points = np.stack(np.meshgrid(x, x, x, indexing="ij"), -1).reshape(-1, 3)
    interior = np.all((points > 0) & (points < 1), axis=1)
    points[interior] += np.random.default_rng(0).uniform(-0.05, 0.05, (interior.sum(), 3)) / (n - 1)
    corner = np.arange(n**3).reshape(n, n, n)[:-1, :-1, :-1].ravel()
    strides = np.array([n * n, n, 1])
    tetra = [np.stack([corner + offset for offset in np.cumsum([0, *strides[list(order)]])], 1)
             for order in itertools.permutations(range(3))]
    return Mesh(points, {"tetra": np.concatenate(tetra)})


# -- fourier ---------------------------------------------------------------------------------------
PERIODIC_2D = Domain([(0.0, 1.0), (-1.0, 2.0)], periodic=True)


def trig_2d(p):
    """Trigonometric polynomial with x-modes up to 4 (a cosine at 4) and y-modes up to 4."""
    x = 2 * math.pi * p[..., 0]
    y = 2 * math.pi * (p[..., 1] + 1) / 3
    return (0.5 + torch.cos(3 * x) * torch.sin(2 * y) + 0.3 * torch.sin(x + 0.2) * torch.cos(4 * y)
            + 0.7 * torch.cos(4 * x))


@pytest.mark.parametrize("shape", [(33, 40), (8, 10), (9, 9), (16, 16), (64, 11)])
def test_fourier_2d_reproduces_band_limited_function(shape):
    source = sample(trig_2d, Grid.uniform((16, 16), PERIODIC_2D), batch=2)
    result = resample(source, source.on.with_shape(shape), method="fourier")
    assert result.on.shape == shape and result.values.dtype == torch.float64
    assert max_error(result, trig_2d, batch=2) < EXACT


@pytest.mark.parametrize("size", [5, 7, 8, 31, 32, 64])
def test_fourier_1d(size):
    domain = Domain([(-math.pi, math.pi)], periodic=True)

    def f(p):
        x = p[..., 0]
        return 1.0 - 2 * torch.sin(x) + 0.25 * torch.cos(2 * x + 0.3)

    result = resample(sample(f, Grid.uniform(12, domain)), Grid.uniform(size, domain))
    assert max_error(result, f) < EXACT


def test_fourier_3d():
    domain = Domain.unit(3, periodic=True)

    def f(p):
        x, y, z = (2 * math.pi * p[..., i] for i in range(3))
        return torch.sin(x + 2 * y) * torch.cos(3 * z) + torch.cos(2 * x - y + z)

    source = sample(f, Grid.uniform((8, 8, 8), domain))
    for shape in [(12, 9, 16), (7, 8, 7)]:
        assert max_error(resample(source, Grid.uniform(shape, domain), "fourier"), f) < EXACT


@pytest.mark.parametrize("size", [17, 32, 33, 40])
def test_fourier_refining_keeps_the_nyquist_cosine(size):
    """cos(8x) is the Nyquist mode of 16 nodes; it must be split over ±8 when refining."""
    domain = Domain.unit(1, periodic=True)

    def f(p):
        return torch.cos(16 * math.pi * p[..., 0]) + torch.sin(2 * math.pi * p[..., 0])

    result = resample(sample(f, Grid.uniform(16, domain)), Grid.uniform(size, domain))
    assert max_error(result, f) < EXACT


def test_fourier_coarsening_folds_onto_the_new_nyquist_mode():
    """cos(4x) lands on the Nyquist mode of 8 nodes; sin(4x) vanishes there (it is zero at the nodes)."""
    domain = Domain.unit(1, periodic=True)

    def f(p):
        x = 2 * math.pi * p[..., 0]
        return 0.6 * torch.cos(4 * x) + torch.sin(4 * x) + torch.cos(x)

    result = resample(sample(f, Grid.uniform(16, domain)), Grid.uniform(8, domain))
    assert max_error(result, f) < EXACT


@pytest.mark.parametrize("shape", [(7, 5), (6, 8)])
def test_fourier_is_differentiable(shape):
    grid = Grid.uniform((6, 5), Domain.unit(2, periodic=True))
    target = grid.with_shape(shape)
    values = torch.randn(1, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: resample(Sampled(v, grid), target, "fourier").values, (values,))


@pytest.mark.parametrize("fine", [(33, 40), (32, 16), (16, 17)])
def test_fourier_round_trips(fine):
    """Up then down is the identity for any data; down then up keeps a band-limited function."""
    coarse = Grid.uniform((16, 16), PERIODIC_2D)
    data = Sampled(torch.randn(3, 2, 16, 16, dtype=torch.float64), coarse)
    back = resample(resample(data, coarse.with_shape(fine)), coarse)
    assert float((back.values - data.values).abs().max()) < EXACT
    band_limited = sample(trig_2d, Grid.uniform((20, 24), PERIODIC_2D))
    down_up = resample(resample(band_limited, coarse.with_shape((9, 10))), band_limited.on)
    assert float((down_up.values - band_limited.values).abs().max()) < EXACT


def test_fourier_complex_and_float32():
    domain = Domain.unit(2, periodic=True)

    def wave(p):
        return torch.exp(2j * math.pi * (2 * p[..., 0] - 3 * p[..., 1]))

    grid = Grid.uniform((10, 12), domain)
    values = wave(grid.mesh())[None, None]
    result = resample(Sampled(values, grid), Grid.uniform((17, 8), domain), "fourier")
    assert result.values.dtype == torch.complex128
    assert float((result.values[0, 0] - wave(result.on.mesh())).abs().max()) < EXACT
    single = resample(sample(trig_2d, Grid.uniform((16, 16), PERIODIC_2D), torch.float32),
                      Grid.uniform((24, 10), PERIODIC_2D))
    assert single.values.dtype == torch.float32 and max_error(single, trig_2d) < EXACT_FP32


def test_at_resolution_uses_fourier_on_periodic_grids():
    source = sample(trig_2d, Grid.uniform((16, 16), PERIODIC_2D))
    assert max_error(source.at_resolution((40, 24)), trig_2d) < EXACT


# -- linear ----------------------------------------------------------------------------------------
def multilinear_2d(p):
    x, y = p[..., 0], p[..., 1]
    return 0.5 + 2 * x - 3 * y + 1.5 * x * y


def multilinear_3d(p):
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    return 1 + x - 2 * y + 0.5 * z + x * y - y * z + 3 * x * y * z


SQUARE = Domain([(-1.0, 2.0), (0.0, 1.0)])
LINEAR_SOURCES = {
    "node": Grid.uniform((9, 6), SQUARE),
    "cell": Grid.uniform((9, 6), SQUARE, centring="cell"),
    "chebyshev": Grid.chebyshev((7, 8), SQUARE),
    "explicit": Grid.from_coordinates([[-1.0, -0.7, 0.1, 0.15, 1.2, 2.0], [0.0, 0.05, 0.5, 0.9, 1.0]]),
}


def inside_cloud(grid: Grid, n: int = 200, seed: int = 1) -> PointCloud:
    """Random points within the coordinate range of ``grid`` (where no clamping happens)."""
    lo = np.array([a.coordinates[0] for a in grid.axes])
    hi = np.array([a.coordinates[-1] for a in grid.axes])
    points = lo + (hi - lo) * np.random.default_rng(seed).random((n, grid.ndim))
    return PointCloud(points, domain=grid.domain)


@pytest.mark.parametrize("kind", sorted(LINEAR_SOURCES))
def test_linear_is_exact_for_multilinear_functions(kind):
    source = sample(multilinear_2d, LINEAR_SOURCES[kind], batch=2)
    lo = [a.coordinates[0] for a in source.on.axes]
    hi = [a.coordinates[-1] for a in source.on.axes]
    inner = Domain(list(zip(lo, hi)))
    targets = [Grid.uniform((13, 7), inner), Grid.chebyshev((5, 11), inner),
               Grid.from_coordinates([[lo[0], 0.3, hi[0]], [lo[1], 0.42, 0.6, hi[1]]]), inside_cloud(source.on)]
    for target in targets:
        result = resample(source, target, "linear")
        assert max_error(result, multilinear_2d, batch=2) < EXACT, target


def test_linear_3d_to_points_and_grid():
    source = sample(multilinear_3d, Grid.uniform((4, 5, 3)))
    assert max_error(resample(source, inside_cloud(source.on, 300)), multilinear_3d) < EXACT
    assert max_error(resample(source, Grid.chebyshev((6, 3, 7))), multilinear_3d) < EXACT


def test_linear_grid_target_matches_point_evaluation():
    """The separable path (grid targets) and the 2^d-corner path (points) are one interpolant."""
    source = Sampled(torch.randn(2, 3, 9, 6, dtype=torch.float64), LINEAR_SOURCES["cell"])
    target = Grid.chebyshev((11, 9), Domain([(-1.5, 2.5), (-0.2, 1.3)]))
    on_grid = resample(source, target, "linear").values
    on_points = resample(source, PointCloud(target.points(), domain=target.domain), "linear").values
    assert float((on_grid.reshape(2, 3, -1) - on_points).abs().max()) < EXACT


def test_linear_converges_at_second_order():
    def f(p):
        return torch.sin(3 * p[..., 0]) * torch.exp(p[..., 1])

    cloud = inside_cloud(Grid.uniform((2, 2)), 400, seed=3)
    errors = [max_error(resample(sample(f, Grid.uniform((n, n))), cloud), f) for n in (16, 32, 64)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.8), (errors, orders)


def test_linear_wraps_periodic_axes():
    domain = Domain([(0.0, 2.0)], periodic=True)
    grid = Grid.uniform(8, domain)
    nodes = grid.axes[0].coordinates
    values = torch.cos(math.pi * grid.mesh(torch.float64)[..., 0]) + 0.3
    source = Sampled(values[None, None], grid)
    t = np.array([1.8, 1.95, 2.0, 2.3, -0.1, -2.05, 4.6])
    result = resample(source, PointCloud(t[:, None], domain=Domain([(-3.0, 5.0)])), "linear").values[0, 0]
    wrapped = np.mod(t, 2.0)
    extended_nodes = np.append(nodes, 2.0)
    extended_values = np.append(values.numpy(), values.numpy()[0])
    expected = np.interp(wrapped, extended_nodes, extended_values)
    np.testing.assert_allclose(result.numpy(), expected, rtol=0, atol=EXACT)
    between_last_and_first = resample(source, Grid.uniform(16, domain), "linear").values[0, 0, -1]
    assert abs(float(between_last_and_first) - 0.5 * float(values[-1] + values[0])) < EXACT


def test_linear_clamps_outside_bounded_grids():
    grid = Grid.uniform((5, 4))
    source = sample(multilinear_2d, grid)
    outside = torch.tensor([[-0.5, 0.5], [1.5, 0.25], [0.3, -2.0], [2.0, 3.0]], dtype=torch.float64)
    result = resample(source, PointCloud(outside, domain=Domain([(-1, 3), (-3, 4)])), "linear")
    expected = multilinear_2d(outside.clamp(0.0, 1.0))
    assert float((result.values[0, 0] - expected).abs().max()) < EXACT


def test_linear_is_differentiable_and_keeps_dtype():
    grid = Grid.chebyshev((5, 4))
    values = torch.randn(2, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    for target in (Grid.uniform((7, 3)), inside_cloud(grid, 10)):
        assert torch.autograd.gradcheck(lambda v, t=target: resample(Sampled(v, grid), t, "linear").values,
                                        (values,))
    single = resample(sample(multilinear_2d, grid, torch.float32), Grid.uniform((6, 6)), "linear")
    assert single.values.dtype == torch.float32 and max_error(single, multilinear_2d) < EXACT_FP32


# -- scattered -------------------------------------------------------------------------------------
def linear_2d(p):
    return 1.0 + 2.0 * p[..., 0] - 3.0 * p[..., 1]


def linear_3d(p):
    return 0.5 - p[..., 0] + 2.0 * p[..., 1] + 4.0 * p[..., 2]


@pytest.mark.parametrize("n", [2, 7])
def test_triangle_mesh_reproduces_linear_functions(n):
    mesh = unit_square_triangles(n)
    source = sample(linear_2d, mesh, batch=3)
    for target in (Grid.uniform((17, 13)), Grid.chebyshev((6, 9)), inside_cloud(Grid.uniform((2, 2)))):
        assert max_error(resample(source, target), linear_2d, batch=3) < EXACT


def test_tetra_mesh_reproduces_linear_functions():
    mesh = cube_tetrahedra(4)
    source = sample(linear_3d, mesh)
    for target in (Grid.uniform((5, 6, 4)), inside_cloud(Grid.uniform((2, 2, 2)), 300)):
        assert max_error(resample(source, target, "scattered"), linear_3d) < EXACT


def test_surface_mesh_in_space_reproduces_linear_functions():
    flat = unit_square_triangles(5)
    tilt = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -0.25]])
    surface = Mesh(flat.points().numpy() @ tilt, flat.cells)
    source = sample(linear_3d, surface)
    on_surface = inside_cloud(Grid.uniform((2, 2)), 50).points().numpy() @ tilt
    assert max_error(resample(source, PointCloud(on_surface)), linear_3d) < EXACT


def test_graded_mesh_finds_large_cells_beside_small_ones():
    """Points in a large triangle whose nearest centroids all belong to tiny neighbours."""
    fine = unit_square_triangles(41)
    keep = np.all(fine.points().numpy()[fine.simplices()][..., 0] >= 0.5, axis=1)
    points = np.concatenate([fine.points().numpy(), [[0.0, 0.0], [0.0, 1.0]]])
    corner = {tuple(p): i for i, p in enumerate(points)}
    bottom, top, origin, left_top = corner[(0.5, 0.0)], corner[(0.5, 1.0)], len(points) - 2, len(points) - 1
    big = np.array([[origin, bottom, top], [origin, top, left_top]])
    mesh = Mesh(points, {"triangle": np.concatenate([fine.simplices()[keep], big])})
    near_the_seam = PointCloud(np.stack([np.full(9, 0.495), np.linspace(0.05, 0.95, 9)], 1))
    assert max_error(resample(sample(linear_2d, mesh), near_the_seam), linear_2d) < EXACT


def test_quad_and_line_meshes():
    quads = Mesh([[0, 0], [1, 0], [1, 1], [0, 1], [2, 0], [2, 1]], {"quad": [[0, 1, 2, 3], [1, 4, 5, 2]]})
    assert max_error(resample(sample(linear_2d, quads), Grid.uniform((9, 5), Domain([(0, 2), (0, 1)]))),
                     linear_2d) < EXACT
    x = np.sort(np.random.default_rng(7).random(12))
    line = Mesh(x[:, None], {"line": np.stack([np.arange(11), np.arange(1, 12)], 1)})
    targets = np.linspace(x[0], x[-1], 30)
    result = resample(Sampled(torch.as_tensor(np.cos(3 * x))[None, None], line), PointCloud(targets[:, None]))
    np.testing.assert_allclose(result.values[0, 0].numpy(), np.interp(targets, x, np.cos(3 * x)), atol=EXACT)


def test_surface_mesh_projects_points_off_the_surface():
    flat = unit_square_triangles(5)
    surface = Mesh(np.pad(flat.points().numpy(), ((0, 0), (0, 1))), flat.cells)
    source = sample(linear_2d, surface)
    above = inside_cloud(Grid.uniform((2, 2)), 40).points().numpy()
    lifted = PointCloud(np.concatenate([above, np.full((40, 1), 0.01)], 1))
    expected = linear_2d(torch.as_tensor(above))
    assert float((resample(source, lifted).values[0, 0] - expected).abs().max()) < EXACT


def test_scattered_from_3d_clouds_and_grids():
    rng = np.random.default_rng(8)
    cube = np.array(list(itertools.product([0.0, 1.0], repeat=3)))
    cloud = PointCloud(np.concatenate([rng.random((200, 3)), cube]))
    target = Grid.uniform((6, 5, 7))
    assert max_error(resample(sample(linear_3d, cloud), target), linear_3d) < EXACT
    grid = Grid.uniform((5, 5, 5))  # cospherical points: Qhull adds flat simplices, never used
    assert max_error(resample(sample(linear_3d, grid), inside_cloud(grid, 100), "scattered"), linear_3d) < EXACT


def test_mesh_gives_nearest_vertex_value_outside():
    mesh = unit_square_triangles(3)
    values = torch.arange(9, dtype=torch.float64)[None, None]
    outside = PointCloud([[1.4, 0.45], [-0.2, -0.3], [0.5, 1.2]])
    result = resample(Sampled(values, mesh), outside).values[0, 0]
    assert result.tolist() == [7.0, 0.0, 5.0]  # vertices (1, 0.5), (0, 0), (0.5, 1)


def test_point_cloud_reproduces_linear_functions_inside_the_hull():
    rng = np.random.default_rng(4)
    points = np.concatenate([rng.random((150, 2)), [[0, 0], [1, 0], [0, 1], [1, 1]]])
    source = sample(linear_2d, PointCloud(points))
    assert max_error(resample(source, Grid.uniform((9, 12))), linear_2d) < EXACT
    outside = PointCloud([[1.5, 1.5], [-1.0, 0.0]])
    result = resample(source, outside).values[0, 0]
    assert result.tolist() == [float(linear_2d(torch.tensor([1.0, 1.0]))), float(linear_2d(torch.tensor([0.0, 0.0])))]


def test_point_cloud_1d_matches_np_interp():
    x = np.random.default_rng(5).random(30)
    values = np.sin(4 * x)
    targets = np.linspace(-0.5, 1.5, 41)
    result = resample(Sampled(torch.as_tensor(values)[None, None], PointCloud(x[:, None])),
                      PointCloud(targets[:, None]), "scattered").values[0, 0]
    order = np.argsort(x)
    np.testing.assert_allclose(result.numpy(), np.interp(targets, x[order], values[order]), rtol=0, atol=EXACT)


def test_grid_mesh_grid_round_trip_converges():
    def f(p):
        return torch.cos(2 * p[..., 0]) * torch.sin(3 * p[..., 1] + 0.5)

    target = Grid.uniform((23, 29))
    errors = []
    for n in (9, 17, 33):
        on_mesh = resample(sample(f, Grid.chebyshev((2 * n, 2 * n))), unit_square_triangles(n))
        errors.append(max_error(resample(on_mesh, target), f))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.8), (errors, orders)


def test_scattered_is_differentiable():
    mesh = unit_square_triangles(3)
    values = torch.randn(2, 1, 9, dtype=torch.float64, requires_grad=True)
    target = Grid.uniform((4, 5), Domain([(-0.1, 1.1), (0.0, 1.0)]))
    assert torch.autograd.gradcheck(lambda v: resample(Sampled(v, mesh), target).values, (values,))


# -- nearest, auto and bookkeeping -------------------------------------------------------------------
def test_nearest_matches_brute_force():
    rng = np.random.default_rng(6)
    cloud = PointCloud(rng.random((40, 2)))
    targets = PointCloud(rng.random((25, 2)))
    values = torch.randn(1, 2, 40, dtype=torch.float64)
    result = resample(Sampled(values, cloud), targets, "nearest").values
    closest = np.linalg.norm(targets.points().numpy()[:, None] - cloud.points().numpy()[None], axis=-1).argmin(1)
    assert torch.equal(result, values[..., closest])


def test_nearest_wraps_periodic_axes():
    grid = Grid.uniform((10, 4), Domain([(0.0, 1.0), (0.0, 1.0)], periodic=[True, False]))
    values = torch.arange(40, dtype=torch.float64).reshape(1, 1, 10, 4)
    targets = PointCloud([[0.97, 0.0], [0.93, 1.0], [-0.02, 0.4]], domain=Domain([(-0.1, 1.0), (0.0, 1.0)]))
    result = resample(Sampled(values, grid), targets, "nearest").values[0, 0]
    assert result.tolist() == [0.0, 39.0, 1.0]


def test_auto_dispatch():
    periodic = sample(trig_2d, Grid.uniform((16, 16), PERIODIC_2D))
    fine = periodic.on.with_shape((20, 24))
    assert torch.equal(resample(periodic, fine).values, resample(periodic, fine, "fourier").values)
    bounded = sample(multilinear_2d, Grid.uniform((5, 5)))
    cloud = inside_cloud(bounded.on)
    assert torch.equal(resample(bounded, cloud).values, resample(bounded, cloud, "linear").values)
    meshed = sample(linear_2d, unit_square_triangles(4))
    assert torch.equal(resample(meshed, cloud).values, resample(meshed, cloud, "scattered").values)


def test_identity_shares_values_and_inputs_are_not_mutated():
    source = sample(trig_2d, Grid.uniform((8, 8), PERIODIC_2D))
    source = Sampled(source.values, source.on, channel_names=["u"], attrs={"units": "m"})
    same = resample(source, Grid.uniform((8, 8), PERIODIC_2D))
    assert same.values is source.values and same.channel_names == ("u",) and same.attrs == {"units": "m"}
    before = source.values.clone()
    for method in ("fourier", "linear", "scattered", "nearest"):
        out = resample(source, Grid.uniform((5, 11), PERIODIC_2D), method)
        assert out.channel_names == ("u",) and out.attrs == {"units": "m"}
    assert torch.equal(source.values, before)


# -- bad input -------------------------------------------------------------------------------------
def test_rejects_bad_arguments():
    grid = Grid.uniform((8, 8), Domain.unit(2, periodic=True))
    source = sample(trig_2d, grid)
    with pytest.raises(TypeError, match="sampled: expected a Sampled, got Tensor"):
        resample(source.values, grid)
    with pytest.raises(TypeError, match="to: expected a Discretization.*got tuple"):
        resample(source, (16, 16))
    with pytest.raises(ValueError, match=r"method: expected one of \('auto', 'fourier', 'polynomial', 'linear'.*'cubic'"):
        resample(source, grid, "cubic")
    with pytest.raises(ValueError, match="to: expected a discretization in 2D.*got 3D"):
        resample(source, Grid.uniform((4, 4, 4)))


def test_rejects_methods_that_do_not_apply():
    periodic = sample(trig_2d, Grid.uniform((8, 8), Domain.unit(2, periodic=True)))
    bounded = sample(multilinear_2d, Grid.uniform((8, 8)))
    with pytest.raises(ValueError, match="sampled.on: method 'fourier' needs .*periodic"):
        resample(bounded, Grid.uniform((4, 4)), "fourier")
    with pytest.raises(ValueError, match="to: method 'fourier' needs .*periodic"):
        resample(periodic, Grid.chebyshev((4, 4)), "fourier")
    with pytest.raises(ValueError, match="to: method 'fourier' needs the domain"):
        resample(periodic, Grid.uniform((4, 4), Domain([(0, 2), (0, 1)], periodic=True)), "fourier")
    with pytest.raises(ValueError, match="sampled.on: method 'linear' needs values on a Grid"):
        resample(sample(linear_2d, unit_square_triangles(3)), Grid.uniform((4, 4)), "linear")
    flat = PointCloud([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    with pytest.raises(ValueError, match="sampled.on: the 3 points admit no Delaunay triangulation"):
        resample(Sampled(torch.ones(1, 1, 3), flat), Grid.uniform((3, 3)), "scattered")


# -- polynomial (Chebyshev grids) -----------------------------------------------------------------
def _smooth(x, y):
    return torch.exp(x) * torch.sin(3 * y) + x**4


def test_polynomial_resampling_from_chebyshev_grids_is_spectral():
    source = Grid.chebyshev((17, 13), Domain([(-1, 2), (0, 1)]))
    x, y = source.mesh().unbind(-1)
    u = Sampled(_smooth(x, y)[None, None], source)
    assert resample(u, source.with_shape((5, 5)), "auto").on.kinds == ("chebyshev", "chebyshev")
    fine = u.at_resolution((33, 40))  # auto picks "polynomial"
    X, Y = fine.on.mesh().unbind(-1)
    assert float((fine.values[0, 0] - _smooth(X, Y)).abs().max()) < 1e-10  # linear gave ~1e-2
    cloud = PointCloud(np.random.default_rng(0).random((50, 2)) * [3, 1] + [-1, 0], domain=source.domain)
    p = cloud.points()
    assert float((resample(u, cloud).values[0, 0] - _smooth(p[:, 0], p[:, 1])).abs().max()) < 1e-10
    errors = []
    for n in (5, 9, 17):
        coarse = Grid.chebyshev((n, n), source.domain)
        cx, cy = coarse.mesh().unbind(-1)
        errors.append(float((resample(Sampled(_smooth(cx, cy)[None, None], coarse), cloud).values[0, 0]
                             - _smooth(p[:, 0], p[:, 1])).abs().max()))
    assert errors[2] < 1e-4 * errors[0]  # faster than any power: spectral convergence


def test_polynomial_resampling_is_exact_for_polynomials_in_3d_and_differentiable():
    grid = Grid.chebyshev((5, 4, 3))
    x, y, z = grid.mesh().unbind(-1)
    u = Sampled((x**4 * y**3 * z**2 - 2 * x * z + 1)[None, None], grid)
    cloud = PointCloud(np.random.default_rng(1).random((20, 3)))
    p = cloud.points()
    expected = p[:, 0] ** 4 * p[:, 1] ** 3 * p[:, 2] ** 2 - 2 * p[:, 0] * p[:, 2] + 1
    torch.testing.assert_close(resample(u, cloud, "polynomial").values[0, 0], expected, atol=1e-13, rtol=0)
    small = Grid.chebyshev((4, 3))
    values = torch.rand(1, 1, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: resample(Sampled(v, small), Grid.chebyshev((6, 5)), "polynomial").values,
                                    (values,))
    with pytest.raises(ValueError, match="sampled.on: method 'polynomial' needs a Chebyshev Grid"):
        resample(Sampled(torch.zeros(1, 1, 4), Grid.uniform(4)), Grid.uniform(8), "polynomial")
