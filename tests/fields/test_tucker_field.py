"""TuckerField, HOSVD/HOOI and fit_gridded against closed forms, error bounds and independent implementations.

Tolerances: fp64 throughout; "exact" reconstructions are checked to 1e-12 relative (a few
hundred roundings of O(1) numbers); error bounds are checked with a 1e-12 relative slack.
"""

import itertools
import math
import sys
import types

import pytest
import tensorly as tl
import torch
from tensorly.decomposition import tucker as tensorly_tucker

import sciml
from sciml import Domain, Grid, Mesh, PointCloud, Sampled, resample
from sciml.fields.base import Field
from sciml.fields.tensor_fit import fit_gridded, gridded_metrics
from sciml.fields.tucker import TuckerField, hooi, hosvd, ranks_for_tolerance

F64 = torch.float64


def decaying_tensor(shape=(12, 13, 14), terms=8, seed=0):
    """A sum of separable terms with geometrically decaying weights, plus tiny noise: full Tucker rank."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(shape, dtype=F64)
    for r in range(terms):
        vecs = [torch.randn(n, generator=g, dtype=F64) for n in shape]
        out += 0.3**r * torch.einsum("i,j,k->ijk", *vecs)
    return out + 1e-9 * torch.randn(shape, generator=g, dtype=F64)


def low_rank_tensor(shape=(10, 11, 12), ranks=(2, 3, 2), seed=1):
    g = torch.Generator().manual_seed(seed)
    core = torch.randn(ranks, generator=g, dtype=F64)
    factors = [torch.randn(n, r, generator=g, dtype=F64) for n, r in zip(shape, ranks)]
    return torch.einsum("abc,ia,jb,kc->ijk", core, *factors)


def reconstruct(core, factors, modes=None):
    with tl.backend_context("pytorch"):
        return tl.tenalg.multi_mode_dot(core, factors, modes=modes)


# -- HOSVD / HOOI ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("tol", [1e-1, 1e-3, 1e-6])
def test_hosvd_error_below_discarded_singular_values_and_tolerance(tol):
    x = decaying_tensor()
    out = hosvd(x, tol=tol)
    error = float((x - reconstruct(out.core, out.factors)).norm())
    discarded = math.sqrt(sum(float((s[r:] ** 2).sum()) for s, r in zip(out.singular_values, out.core.shape)))
    assert out.bound == pytest.approx(discarded, rel=1e-12)
    assert error <= discarded * (1 + 1e-12)
    assert discarded <= tol * float(x.norm()) * (1 + 1e-12)
    # the ranks are the smallest meeting the per-mode threshold tol |X| / sqrt(d)
    threshold = tol * float(x.norm()) / math.sqrt(3)
    for s, r in zip(out.singular_values, out.core.shape):
        assert float(s[r:].norm()) <= threshold
        if r > 1:
            assert float(s[r - 1:].norm()) > threshold


def test_ranks_for_tolerance_closed_form():
    s = torch.tensor([4.0, 2.0, 1.0, 0.5, 0.25], dtype=F64)
    # tails: |s[3:]| = sqrt(0.3125) = 0.559, |s[2:]| = sqrt(1.3125) = 1.146
    assert ranks_for_tolerance([s], 0.56) == (3,)
    assert ranks_for_tolerance([s], 0.55) == (4,)
    assert ranks_for_tolerance([s], 100.0) == (1,)
    assert ranks_for_tolerance([s], 0.0) == (5,)


def test_hooi_improves_on_hosvd_and_matches_tensorly_tucker():
    x = decaying_tensor(seed=3)
    start = hosvd(x, rank=(3, 2, 4))
    hosvd_error = float((x - reconstruct(start.core, start.factors)).norm()) / float(x.norm())
    core, factors, errors = hooi(x, start.core, start.factors, iterations=30, tol=1e-14, progress=False)
    ours = float((x - reconstruct(core, factors)).norm()) / float(x.norm())
    assert ours <= hosvd_error + 1e-14
    assert errors[-1] == pytest.approx(ours, rel=1e-6)           # sqrt(|X|^2 - |G|^2) vs direct
    assert all(b <= a + 1e-14 for a, b in itertools.pairwise(errors))  # monotone
    with tl.backend_context("pytorch"):                             # independent: tensorly's own HOOI loop
        ref_core, ref_factors = tensorly_tucker(x, rank=[3, 2, 4], n_iter_max=30, init="svd", tol=1e-14)
    reference = float((x - reconstruct(ref_core, ref_factors)).norm()) / float(x.norm())
    assert ours == pytest.approx(reference, rel=1e-6)


def test_tensorly_backend_untouched():
    assert tl.get_backend() == "numpy"
    x = decaying_tensor()
    hosvd(x, tol=1e-3)
    field = TuckerField.from_sampled(Sampled(x[None, None], Grid.uniform(x.shape)), tol=1e-4, progress=False)
    field.sample(Grid.uniform((5, 6, 7)))
    assert tl.get_backend() == "numpy"
    with tl.backend_context("pytorch"):                             # a caller's own choice is restored too
        hosvd(x, rank=2)
        assert tl.get_backend() == "pytorch"
    assert tl.get_backend() == "numpy"


# -- the field ---------------------------------------------------------------------------------------------
def test_exact_on_low_rank_tensor_with_tolerance_and_given_ranks():
    x = low_rank_tensor()
    data = Sampled(x[None, None], Grid.uniform(x.shape, Domain([(0, 1), (-1, 1), (0, 3)])))
    for kwargs in ({"tol": 1e-10}, {"rank": (2, 3, 2)}):
        field = TuckerField.from_sampled(data, progress=False, **kwargs)
        assert field.ranks == (2, 3, 2)
        assert field.info["relative_error"] < 1e-12
        torch.testing.assert_close(field.to_tensor()[0], x, rtol=0, atol=1e-12 * float(x.abs().max()))
        # evaluation at the grid nodes gives the data
        torch.testing.assert_close(field(data.on.points()).reshape(x.shape), x, rtol=0,
                                   atol=1e-12 * float(x.abs().max()))
    assert field.info["compression_ratio"] == pytest.approx(x.numel() / (12 + 20 + 33 + 24))


def test_hosvd_method_error_bound_and_hooi_not_worse():
    x = decaying_tensor(seed=5)
    data = Sampled(x[None, None], Grid.uniform(x.shape))
    plain = TuckerField.from_sampled(data, tol=1e-2, method="hosvd", progress=False)
    refined = TuckerField.from_sampled(data, tol=1e-2, method="hooi", progress=False)
    assert plain.ranks == refined.ranks
    assert plain.info["relative_error"] <= plain.info["error_bound"] * (1 + 1e-12) <= 1e-2
    assert refined.info["relative_error"] <= plain.info["relative_error"] + 1e-14


@pytest.mark.parametrize("kind", ["node", "cell", "periodic", "chebyshev"])
def test_interpolation_matches_resample(kind):
    """Full-rank Tucker interpolates like sciml.resample: linear / polynomial, periodic wrap, clamping."""
    g = torch.Generator().manual_seed(7)
    box = Domain([(0.0, 2.0), (-1.0, 1.0)], periodic=kind == "periodic")
    if kind == "chebyshev":
        grid = Grid.chebyshev((9, 7), box)
    else:
        grid = Grid.uniform((9, 7), box, centring="cell" if kind == "cell" else "node")
    values = torch.randn(1, 2, 9, 7, generator=g, dtype=F64)
    data = Sampled(values, grid)
    field = TuckerField.from_sampled(data, rank=(9, 7), progress=False)
    points = torch.rand(50, 2, generator=g, dtype=F64) * torch.tensor([2.0, 2.0], dtype=F64) - torch.tensor([0, 1.0])
    method = "polynomial" if kind == "chebyshev" else "linear"
    reference = resample(data, PointCloud(points, domain=box), method).values[0].T
    torch.testing.assert_close(field(points), reference, rtol=1e-10, atol=1e-10)


def test_multilinear_and_polynomial_functions_reproduced_between_nodes():
    box = Domain([(0.0, 1.0), (0.0, 2.0)])
    bilinear = lambda p: (1 + 2 * p[:, 0]) * (3 - p[:, 1]) + p[:, 0]
    cubic = lambda p: p[:, 0] ** 3 * (1 + p[:, 1] ** 2) - 2 * p[:, 1] ** 4
    points = torch.rand(40, 2, dtype=F64) * torch.tensor([1.0, 2.0], dtype=F64)
    linear_field = TuckerField.from_function(bilinear, Grid.uniform((6, 5), box), tol=1e-12, progress=False)
    torch.testing.assert_close(linear_field(points)[:, 0], bilinear(points), rtol=1e-12, atol=1e-12)
    cheb_field = TuckerField.from_function(cubic, Grid.chebyshev((6, 7), box), tol=1e-12, progress=False)
    assert cheb_field.ranks == (2, 2)
    torch.testing.assert_close(cheb_field(points)[:, 0], cubic(points), rtol=1e-11, atol=1e-11)


def test_gradient_in_coordinates_gradcheck_and_closed_form():
    box = Domain([(0.0, 1.0), (0.0, 2.0)])
    cubic = lambda p: p[:, 0] ** 3 * (1 + p[:, 1] ** 2)
    field = TuckerField.from_function(cubic, Grid.chebyshev((6, 5), box), tol=1e-12, progress=False)
    x = torch.tensor([[0.31, 0.77], [0.52, 1.33]], dtype=F64, requires_grad=True)
    grad = sciml.fields.autodiff.gradient(lambda p: field(p), x)
    expected = torch.stack([3 * x[:, 0] ** 2 * (1 + x[:, 1] ** 2), 2 * x[:, 0] ** 3 * x[:, 1]], -1)
    torch.testing.assert_close(grad, expected.detach(), rtol=1e-10, atol=1e-10)
    assert torch.autograd.gradcheck(lambda p: field(p), (x,))
    uniform = TuckerField.from_function(cubic, Grid.uniform((6, 5), box), tol=1e-12, progress=False)
    assert torch.autograd.gradcheck(lambda p: uniform(p), (x,))      # piecewise linear, off the nodes


def test_grid_sampling_fast_path_equals_pointwise():
    x = decaying_tensor((8, 9, 10))
    field = TuckerField.from_sampled(Sampled(x[None, None], Grid.chebyshev(x.shape)), tol=1e-4, progress=False)
    target = Grid.uniform((5, 4, 6), Domain([(0.1, 0.9), (0.0, 1.0), (0.2, 0.3)]))
    fast = field.sample(target)
    slow = Field.sample(field, target)
    torch.testing.assert_close(fast.values, slow.values, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="outside the domain"):
        field.sample(Grid.uniform((3, 3, 3), Domain([(0, 2), (0, 1), (0, 1)])))


def test_checkpoint_round_trip_rebuilds_from_registry(tmp_path):
    x = decaying_tensor((6, 7, 5))
    field = TuckerField.from_sampled(Sampled(torch.stack([x, 2 * x])[None], Grid.uniform(x.shape)), tol=1e-3,
                                     progress=False)
    assert field.out_channels == 2
    path = sciml.save_checkpoint(tmp_path / "tucker", field)
    loaded = sciml.load_checkpoint(path).model
    assert type(loaded) is TuckerField and loaded.ranks == field.ranks
    points = torch.rand(10, 3, dtype=F64)
    torch.testing.assert_close(loaded(points), field(points), rtol=0, atol=0)


def test_bad_input_errors():
    x = decaying_tensor((5, 6, 7))
    grid = Grid.uniform(x.shape)
    with pytest.raises(TypeError, match="data: expected a sciml.Sampled"):
        TuckerField.from_sampled(x)
    with pytest.raises(ValueError, match="batch size 1"):
        TuckerField.from_sampled(Sampled(torch.stack([x, x])[:, None], grid))
    with pytest.raises(ValueError, match="expected values on a sciml.Grid"):
        mesh = Mesh.structured((3, 3), Domain.unit(2))
        TuckerField.from_sampled(Sampled(torch.zeros(1, 1, mesh.num_points), mesh))
    with pytest.raises(ValueError, match=r"rank: expected mode 0 rank in \[1, 5\], got 9"):
        TuckerField.from_sampled(Sampled(x[None, None], grid), rank=9)
    with pytest.raises(ValueError, match=r"tol: expected a relative tolerance in \(0, 1\)"):
        TuckerField.from_sampled(Sampled(x[None, None], grid), tol=0.0)
    with pytest.raises(ValueError, match="method: expected 'hosvd' or 'hooi'"):
        TuckerField.from_sampled(Sampled(x[None, None], grid), method="als")
    with pytest.raises(TypeError, match="tensor: expected a real floating"):
        hosvd(torch.ones(3, 3, dtype=torch.int64), rank=1)
    field = TuckerField.from_sampled(Sampled(x[None, None], grid), rank=2, progress=False)
    with pytest.raises(ValueError, match="outside the domain"):
        field(torch.tensor([[1.5, 0.5, 0.5]], dtype=F64))
    with pytest.raises(ValueError, match=r"x: expected coordinates of shape \[..., 3\]"):
        field(torch.zeros(4, 2, dtype=F64))


# -- fit_gridded -------------------------------------------------------------------------------------------
def smooth_data(grid):
    x, y, z = grid.mesh().unbind(-1)
    return Sampled((torch.exp(-x * y) * torch.cos(2 * z) + x**2)[None, None], grid)


def test_fit_gridded_tucker_and_chebyshev_tucker_metrics():
    uniform = smooth_data(Grid.uniform((20, 18, 16)))
    field, metrics = fit_gridded("tucker", uniform, tol=1e-6, progress=False)
    assert isinstance(field, TuckerField)
    direct = float((field.sample(uniform.on).values.detach() - uniform.values).norm() / uniform.values.norm())
    assert metrics["relative_error"] == pytest.approx(direct, rel=1e-9) and direct <= 1e-6
    assert metrics["params"] == field.stored_numbers()
    assert metrics["compression_ratio"] == pytest.approx(20 * 18 * 16 / metrics["params"])
    assert metrics["field"] == "tucker" and metrics["seconds"] > 0 and metrics["ranks"] == field.ranks
    cheb = smooth_data(Grid.chebyshev((20, 18, 16)))
    field, metrics = fit_gridded("chebyshev-tucker", cheb, tol=1e-8, progress=False)
    assert metrics["relative_error"] <= 1e-8
    # data on a uniform grid: interpolated to Chebyshev points first, error measured on the data grid
    field, metrics = fit_gridded("chebyshev-tucker", uniform, tol=1e-6, progress=False)
    assert metrics == {**metrics, **gridded_metrics(field, uniform)}
    assert metrics["relative_error"] < 1e-2


def test_fit_gridded_delegates_to_funbat(monkeypatch):
    calls = {}

    def fit_funbat(data, rank=None, progress=True, **options):
        calls.update(rank=rank, progress=progress, **options)
        field = TuckerField.from_sampled(data, rank=rank, progress=False)
        return field, {"epochs": 3, "relative_error": -1.0}

    module = types.ModuleType("sciml.fields.funbat")
    module.fit_funbat = fit_funbat
    monkeypatch.setitem(sys.modules, "sciml.fields.funbat", module)
    data = smooth_data(Grid.uniform((8, 7, 6)))
    field, metrics = fit_gridded("funbat", data, rank=3, progress=False, lr=0.1)
    assert calls == {"rank": 3, "progress": False, "lr": 0.1}
    assert metrics["epochs"] == 3                                     # funbat's own metrics kept
    assert metrics["relative_error"] == gridded_metrics(field, data)["relative_error"] >= 0  # ours win


def test_fit_gridded_funbat_for_real():
    """The real sciml.fields.funbat (another module): the metrics are ours, computed on the data grid."""
    pytest.importorskip("sciml.fields.funbat")
    data = smooth_data(Grid.uniform((6, 5, 4)))
    field, metrics = fit_gridded("funbat", data, rank=2, progress=False, iters=3)
    assert isinstance(field, Field)
    assert metrics["relative_error"] == pytest.approx(gridded_metrics(field, data)["relative_error"], rel=1e-12)
    assert metrics["params"] == sum(v.numel() for v in field.state_dict().values())


def test_fit_gridded_bad_input():
    data = smooth_data(Grid.uniform((4, 4, 4)))
    with pytest.raises(ValueError, match="name: expected one of"):
        fit_gridded("cp", data)
    with pytest.raises(TypeError, match="data: expected a sciml.Sampled"):
        fit_gridded("tucker", data.values)
    with pytest.raises(ValueError, match="rank: 'funbat' needs Tucker ranks"):
        fit_gridded("funbat", data)
    with pytest.raises(ValueError, match="resample: expected 'linear' or 'nearest'"):
        fit_gridded("chebyshev-tucker", data, resample="cubic")
