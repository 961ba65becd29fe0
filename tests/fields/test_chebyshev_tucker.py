"""Chebyshev–Tucker: separable input against closed forms; RHOSVD ranks and errors against the full HOSVD.

Tolerances: the Coulomb quadrature and Gaussian factors are checked to 1e-12 relative against
closed forms; at eps = 1e-6 the Tucker approximations are checked to 1.5 eps in the coefficient
norm (the a-priori bound is eps) and the RHOSVD ranks to within +2 of the full-tensor HOSVD.
"""

import math

import pytest
import tensorly as tl
import torch

import sciml
from sciml import Domain, Grid, Sampled
from sciml.fields.base import Field
from sciml.fields.chebyshev import ChebyshevField, chebyshev_coefficients
from sciml.fields.chebyshev_tucker import ChebyshevTuckerField, SeparableSum
from sciml.fields.tucker import hosvd, sample_function

F64 = torch.float64
BOX = Domain([(-1.0, 1.0)] * 3)
CENTRES = torch.tensor([[0.3, -0.2, 0.1], [-0.4, 0.35, -0.25], [0.05, 0.4, 0.45]], dtype=F64)
CHARGES = torch.tensor([1.0, 2.0, 1.5], dtype=F64)
SIGMA = 0.3


def coulomb_long_range(x):
    """sum_m Z_m erf(|x - c_m| / sigma) / |x - c_m|, with its limit 2 / (sigma sqrt(pi)) at the centre."""
    out = torch.zeros(x.shape[0], dtype=F64)
    for c, z in zip(CENTRES, CHARGES):
        r = (x - c).norm(dim=-1)
        safe = torch.where(r > 0, r, torch.ones_like(r))
        limit = torch.full_like(r, 2 / (SIGMA * math.sqrt(math.pi)))
        out = out + z * torch.where(r > 0, torch.special.erf(safe / SIGMA) / safe, limit)
    return out


GAUSS_CENTRES = torch.tensor([[0.2, 0.0, -0.1], [-0.3, 0.1, 0.2], [0.5, -0.5, 0.4], [0.0, 0.3, -0.6]], dtype=F64)
GAUSS_WIDTHS = torch.tensor([0.3, 0.4, 0.25, 0.5], dtype=F64)
GAUSS_AMPLITUDES = torch.tensor([1.0, -0.5, 0.8, 0.3], dtype=F64)


def gaussian_sum(x):
    d2 = ((x[:, None, :] - GAUSS_CENTRES) ** 2).sum(-1)
    return (GAUSS_AMPLITUDES * torch.exp(-d2 / (2 * GAUSS_WIDTHS**2))).sum(-1)


def inputs():
    return {
        "coulomb": (SeparableSum.coulomb_long_range(CENTRES, CHARGES, SIGMA, BOX), coulomb_long_range),
        "gaussians": (SeparableSum.gaussians(GAUSS_CENTRES, GAUSS_WIDTHS, GAUSS_AMPLITUDES, BOX), gaussian_sum),
    }


def random_points(n=400, seed=0):
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(seed), dtype=F64) * 2 - 1


# -- separable input ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["coulomb", "gaussians"])
def test_separable_sums_match_closed_forms(name):
    terms, exact = inputs()[name]
    x = torch.cat([random_points(), CENTRES])                           # includes r = 0
    reference = exact(x)
    assert float((terms(x) - reference).abs().max()) <= 1e-12 * float(reference.abs().max())


# -- RHOSVD vs full HOSVD -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["coulomb", "gaussians"])
def test_rhosvd_ranks_within_two_of_full_hosvd_and_error_within_tolerance(name):
    tol, points = 1e-6, 41
    terms, exact = inputs()[name]
    fast = ChebyshevTuckerField.from_separable(terms, points=points, tol=tol, progress=False)
    grid = Grid.chebyshev((points,) * 3, BOX)
    coefficients = chebyshev_coefficients(sample_function(exact, grid).values[0, 0], (0, 1, 2))
    full = hosvd(coefficients, tol=tol)
    full_ranks = tuple(full.core.shape)
    assert all(f <= r <= f + 2 for r, f in zip(fast.ranks, full_ranks)), (fast.ranks, full_ranks)
    # error of the fast route against the full coefficient tensor it never formed
    with torch.no_grad():
        error = float((fast.coefficient_tensor()[0] - coefficients).norm() / coefficients.norm())
    assert error <= 1.5 * tol
    assert fast.info["relative_error"] == pytest.approx(error, rel=0.3, abs=1e-8)
    assert fast.info["compression_ratio"] == pytest.approx(points**3 / fast.stored_numbers())
    # and the field evaluates the function between the nodes
    x = random_points()
    with torch.no_grad():
        assert float((fast(x)[:, 0] - exact(x)).abs().max()) <= 10 * tol * float(exact(x).abs().max())


def test_from_separable_at_129_points_per_axis():
    terms, exact = inputs()["coulomb"]
    field = ChebyshevTuckerField.from_separable(terms, points=129, tol=1e-8, progress=False)
    assert field.degrees == (128, 128, 128) and max(field.ranks) <= 30
    assert field.info["compression_ratio"] > 100
    x = random_points(200, seed=2)
    with torch.no_grad():
        assert float((field(x)[:, 0] - exact(x)).abs().max()) <= 1e-7 * float(exact(x).abs().max())


@pytest.mark.slow
def test_rhosvd_ranks_match_full_hosvd_at_129_points():
    terms, exact = inputs()["coulomb"]
    fast = ChebyshevTuckerField.from_separable(terms, points=129, tol=1e-6, progress=False)
    full = ChebyshevTuckerField.from_function(exact, BOX, points=129, tol=1e-6, iterations=0, progress=False)
    assert all(f <= r <= f + 2 for r, f in zip(fast.ranks, full.ranks))


# -- from values -------------------------------------------------------------------------------------------
def test_from_sampled_error_bound_ranks_and_node_values():
    tol = 1e-5
    grid = Grid.chebyshev((24, 20, 22), BOX)
    data = sample_function(lambda p: 1 / (3.5 + p[:, 0] * p[:, 1] + p[:, 1] * p[:, 2] - p[:, 2] * p[:, 0]), grid)
    field = ChebyshevTuckerField.from_sampled(data, tol=tol, progress=False)
    assert min(field.ranks) >= 3 and max(field.ranks) < 15
    coefficients = chebyshev_coefficients(data.values[0], (1, 2, 3))
    assert field.ranks == tuple(hosvd(coefficients, tol=tol, modes=(1, 2, 3)).core.shape[1:])
    assert 0 < field.info["relative_error"] <= field.info["error_bound"] * (1 + 1e-12) <= tol
    with torch.no_grad():
        error = float((field.coefficient_tensor() - coefficients).norm() / coefficients.norm())
        assert error == pytest.approx(field.info["relative_error"], rel=1e-6)
        # at the nodes the values error equals the coefficient error up to the DCT-I's conditioning (<= N)
        nodal = field.sample(grid).values - data.values
        assert float(nodal.norm() / data.values.norm()) <= 24 * tol


def test_exact_for_polynomial_of_low_tucker_rank_with_two_channels():
    f = lambda p: torch.stack([p[:, 0] ** 2 * p[:, 1] - p[:, 2] ** 3, 1 + p[:, 0] * p[:, 1] * p[:, 2]], -1)
    field = ChebyshevTuckerField.from_function(f, BOX, points=6, tol=1e-12, progress=False)
    # ranks are shared by the channels: mode 0 spans {1, x, x^2}, mode 1 {1, y}, mode 2 {1, z, z^3}
    assert field.out_channels == 2 and field.ranks == (3, 2, 3)
    x = random_points(50)
    with torch.no_grad():
        torch.testing.assert_close(field(x), f(x), rtol=0, atol=1e-13)


def test_integral_to_chebyshev_and_sampling_agree_with_closed_forms():
    terms, exact = inputs()["gaussians"]
    field = ChebyshevTuckerField.from_separable(terms, points=65, tol=1e-10, progress=False)
    # closed form: prod over axes of s sqrt(pi/2) (erf((1-c)/(s sqrt2)) - erf((-1-c)/(s sqrt2)))
    root2 = math.sqrt(2.0)
    per_axis = (GAUSS_WIDTHS[:, None] * math.sqrt(math.pi / 2)
                * (torch.special.erf((1 - GAUSS_CENTRES) / (GAUSS_WIDTHS[:, None] * root2))
                   - torch.special.erf((-1 - GAUSS_CENTRES) / (GAUSS_WIDTHS[:, None] * root2))))
    expected = float((GAUSS_AMPLITUDES * per_axis.prod(-1)).sum())
    assert field.integral().item() == pytest.approx(expected, abs=1e-9)
    dense = field.to_chebyshev()
    assert isinstance(dense, ChebyshevField)
    assert dense.integral().item() == pytest.approx(expected, abs=1e-9)
    target = Grid.uniform((6, 5, 7), Domain([(-1, 1), (-0.5, 0.5), (0, 1)]))
    with torch.no_grad():
        fast = field.sample(target).values
        torch.testing.assert_close(fast, Field.sample(field, target).values, rtol=0, atol=1e-13)
        torch.testing.assert_close(fast.reshape(-1), exact(target.points()), rtol=0, atol=1e-9)


def test_tensorly_backend_untouched_and_checkpoint_round_trip(tmp_path):
    assert tl.get_backend() == "numpy"
    terms, _ = inputs()["gaussians"]
    field = ChebyshevTuckerField.from_separable(terms, points=17, tol=1e-6, progress=False)
    ChebyshevTuckerField.from_function(gaussian_sum, BOX, points=9, tol=1e-6, progress=False)
    assert tl.get_backend() == "numpy"
    loaded = sciml.load_checkpoint(sciml.save_checkpoint(tmp_path / "ct", field)).model
    assert type(loaded) is ChebyshevTuckerField and loaded.ranks == field.ranks
    x = random_points(8)
    torch.testing.assert_close(loaded(x), field(x), rtol=0, atol=0)


def test_bad_input_errors():
    with pytest.raises(TypeError, match="terms: expected a SeparableSum"):
        ChebyshevTuckerField.from_separable(gaussian_sum)
    with pytest.raises(ValueError, match="factors: expected 3 callables"):
        SeparableSum(torch.ones(2), [lambda t: t], BOX)
    with pytest.raises(ValueError, match=r"factors\[0\]: expected values of shape"):
        SeparableSum(torch.ones(2), [lambda t: t[:, None]] * 3, BOX).mode_values(0, torch.zeros(4, dtype=F64))
    with pytest.raises(ValueError, match="sigma: expected a positive float"):
        SeparableSum.coulomb_long_range(CENTRES, CHARGES, -1.0, BOX)
    with pytest.raises(ValueError, match=r"centers: expected finite coordinates \[m, 3\]"):
        SeparableSum.gaussians([[0.0, 0.0]], [1.0], [1.0], BOX)
    with pytest.raises(ValueError, match="points: expected an int >= 2"):
        ChebyshevTuckerField.from_separable(inputs()["gaussians"][0], points=1)
    with pytest.raises(ValueError, match="terms: every separable term is zero"):
        ChebyshevTuckerField.from_separable(SeparableSum.gaussians(GAUSS_CENTRES, GAUSS_WIDTHS, 0 * GAUSS_AMPLITUDES,
                                                                   BOX), points=9)
    with pytest.raises(ValueError, match="data: expected values on a Chebyshev Grid"):
        ChebyshevTuckerField.from_sampled(Sampled(torch.zeros(1, 1, 4, 4, 4), Grid.uniform((4, 4, 4))))
    with pytest.raises(ValueError, match=r"tol: expected a relative tolerance in \(0, 1\)"):
        ChebyshevTuckerField.from_separable(inputs()["gaussians"][0], points=9, tol=1.5)


# -- the HOSVD from Gram matrices: exact error formula, eigen-pairs, rank selection ---------------------------
def _random_cp(sizes=(7, 8, 9), rank=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    sides = [torch.randn(n, rank, generator=g, dtype=F64) for n in sizes]
    sides = [s / s.norm(dim=0) for s in sides]
    weights = torch.randn(rank, generator=g, dtype=F64)
    return sides, weights, torch.einsum("r,ir,jr,kr->ijk", weights, *sides)


def test_projection_error_terms_equal_the_formed_tensor_error():
    from sciml.fields.chebyshev_tucker import _projection_error_terms
    sides, weights, tensor = _random_cp()
    g = torch.Generator().manual_seed(1)
    bases = [torch.linalg.qr(torch.randn(n, r, generator=g, dtype=F64))[0] for n, r in zip((7, 8, 9), (3, 4, 2))]
    terms = _projection_error_terms(sides, weights, [s.T @ s for s in sides], bases)
    projected = torch.einsum("ijk,ia,jb,kc,xa,yb,zc->xyz", tensor, *bases, *bases)
    # exact formula vs the formed 7x8x9 tensor: agreement to round-off (1e-10 relative)
    assert sum(terms) == pytest.approx(float((tensor - projected).norm()) ** 2, rel=1e-10)
    assert all(t >= 0 for t in terms)
    # the first term alone is the error of projecting mode 0 only
    only_first = torch.einsum("ijk,ia,xa->xjk", tensor, bases[0], bases[0])
    assert terms[0] == pytest.approx(float((tensor - only_first).norm()) ** 2, rel=1e-10)


def test_leading_eigenvectors_by_pivoted_cholesky_match_eigh():
    from sciml.fields.chebyshev_tucker import _leading_eigenvectors
    g = torch.Generator().manual_seed(2)
    q = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=F64))[0]
    lam = 10.0 ** -torch.arange(30, dtype=F64)                           # eigenvalues 1, 0.1, ..., 1e-29
    gram = (q * lam) @ q.T
    tolerance = 1e-12
    vectors, tails = _leading_eigenvectors(gram, tolerance)
    m = vectors.shape[1]
    exact_tails = torch.flip(torch.cumsum(torch.flip(lam, (0,)), 0), (0,))
    # tails never understate the true discarded sums and overstate them by at most n * tolerance
    assert bool((tails[:m + 1] >= exact_tails[:m + 1] * (1 - 1e-12) - 1e-15).all())
    assert bool((tails[:m + 1] <= exact_tails[:m + 1] + 30 * tolerance + 1e-15).all())
    # leading eigenvectors agree up to sign (gap-limited accuracy: 1e-8 for the first eight)
    overlap = (vectors[:, :8] * q[:, :8]).sum(0).abs()
    torch.testing.assert_close(overlap, torch.ones(8, dtype=F64), rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", ["coulomb", "gaussians"])
def test_gram_route_is_the_full_hosvd(name):
    tol, points = 1e-5, 25
    terms, exact = inputs()[name]
    fast = ChebyshevTuckerField.from_separable(terms, points=points, tol=tol, progress=False)
    assert fast.info["method"] == "hosvd-from-grams"
    coefficients = chebyshev_coefficients(sample_function(exact, Grid.chebyshev((points,) * 3, BOX)).values[0, 0],
                                          (0, 1, 2))
    full = hosvd(coefficients, tol=tol)
    assert fast.ranks == tuple(full.core.shape)
    # same factor subspaces (principal angles below 1e-6)
    for mine, theirs in zip(fast.factors, full.factors):
        cosines = torch.linalg.svdvals(mine.detach().T @ theirs)
        assert float(cosines.min()) >= 1 - 1e-6
    # the a-priori bound: the full HOSVD's plus at most the undecomposed pivoted-Cholesky remainder
    # (1e-3 of each mode's budget tol^2/3), never below it
    norm = float(coefficients.norm())
    assert full.bound / norm <= fast.info["error_bound"] * (1 + 1e-6)
    assert fast.info["error_bound"] ** 2 <= (full.bound / norm) ** 2 * (1 + 1e-6) + 1e-3 * tol**2
    # the exactly computed error is that of the formed tensor (1e-6 relative)
    with torch.no_grad():
        error = float((fast.coefficient_tensor()[0] - coefficients).norm()) / norm
    assert fast.info["relative_error"] == pytest.approx(error, rel=1e-6) and error <= tol


def test_gram_route_grows_ranks_when_the_exact_error_is_too_large(monkeypatch):
    import sciml.fields.chebyshev_tucker as module
    original = module._leading_eigenvectors

    def understated(gram, tolerance):                                     # tails 100x too small: ranks too low
        vectors, tails = original(gram, tolerance)
        return vectors, tails * 1e-2

    monkeypatch.setattr(module, "_leading_eigenvectors", understated)
    tol = 1e-5
    terms, _ = inputs()["coulomb"]
    grown = ChebyshevTuckerField.from_separable(terms, points=25, tol=tol, progress=False)
    monkeypatch.undo()
    honest = ChebyshevTuckerField.from_separable(terms, points=25, tol=tol, progress=False)
    assert grown.info["method"] == "hosvd-from-grams" and grown.info["relative_error"] <= tol
    assert sum(grown.ranks) <= sum(honest.ranks) + 2


def test_small_tolerances_and_als_sweeps_take_the_rhosvd_route():
    terms, _ = inputs()["gaussians"]
    # at 1e-9 the budget eps^2/3 is below 4 n u lambda_max: squared singular values are not trusted
    assert ChebyshevTuckerField.from_separable(terms, points=25, tol=1e-9, progress=False).info["method"] \
        == "rhosvd+als"
    assert ChebyshevTuckerField.from_separable(terms, points=25, tol=1e-5, iterations=1,
                                               progress=False).info["method"] == "rhosvd+als"
