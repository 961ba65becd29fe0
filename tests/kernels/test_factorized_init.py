"""Initialisation of factorized spectral weights: the rebuilt weight has the dense init's scale.

The dense init draws entries of mean square ``sigma^2 = 2 / (in + out)``. The factorized formats
draw their factors directly, at the per-factor scales of ``cp_factor_std``, ``tt_core_std`` and
``tucker_core_std``, and then rescale one factor so one draw's mean square is exactly
``sigma^2``. Two kinds of checks:

* the derivation (statistical): i.i.d. factors at those scales, rebuilt by tensorly (an
  independent implementation), have ``E |W|^2 = sigma^2``. A z-test over 100 draws:
  ``|mean - sigma^2| <= 4 * sem`` (two-sided, about 6e-5 false-alarm probability for normal
  means; the seed is fixed), and the test must have power: ``sem <= 0.06 sigma^2``.
* the constructed weights: Tucker and TT are rescaled to mean square ``sigma^2`` to rounding
  (relative ``1e-10`` in float64, ``1e-5`` in float32); CP columns are scaled to their expected
  norms, which leaves cross terms of relative sd ``sqrt(2 / P)`` (``P`` entries): tolerance 5 sd.
  Tucker factors are orthonormal. No dense tensor or tensorly decomposition is involved.
"""

from __future__ import annotations

import math
import statistics

import pytest
import tensorly as tl
import torch

from sciml.kernels import DenseSpectralWeight, make_spectral_weight
from sciml.kernels.factorized import cp_factor_std, init_tucker_, tt_core_std, tucker_core_std

# (in, out, *block) at rank 0.1 of the dense parameters (see sciml.operators.resolve_rank)
CASES = {
    "2d": ((16, 16, 16, 8), {"cp": 59, "tt": 9, "tucker": (9, 9, 9, 4)}),
    "3d": ((8, 8, 8, 8, 4), {"cp": 46, "tt": 8, "tucker": (5, 5, 5, 5, 2)}),
}


def complex_normal(shape, std):
    """I.i.d. complex normal entries with ``E|z|^2 = std^2`` (torch's complex randn has E|z|^2 = 1)."""
    return torch.randn(*shape, dtype=torch.complex128) * std


def draw_and_rebuild(kind, shape, rank, sigma):
    """One draw of i.i.d. factors at the derived scale, rebuilt densely by tensorly."""
    with tl.backend_context("pytorch"):
        if kind == "cp":
            s = cp_factor_std(shape, rank, sigma)
            return tl.cp_to_tensor((None, [complex_normal((n, rank), s) for n in shape]))
        if kind == "tt":
            s = tt_core_std(shape, rank, sigma)
            ranks = [1] + [rank] * (len(shape) - 1) + [1]
            return tl.tt_to_tensor([complex_normal((ranks[j], n, ranks[j + 1]), s) for j, n in enumerate(shape)])
        # Tucker with i.i.d. factors of E|U|^2 = 1/n (the orthonormal init has the same second moment)
        core = complex_normal(rank, tucker_core_std(shape, rank, sigma))
        return tl.tucker_to_tensor((core, [complex_normal((n, r), n ** -0.5) for n, r in zip(shape, rank)]))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("kind", ["cp", "tt", "tucker"])
def test_derived_factor_scales_give_the_dense_mean_square_on_average(kind, case):
    torch.manual_seed(0)
    shape, ranks = CASES[case]
    sigma = math.sqrt(2.0 / (shape[0] + shape[1]))
    ratios = [float(draw_and_rebuild(kind, shape, ranks[kind], sigma).abs().pow(2).mean()) / sigma**2
              for _ in range(100)]
    mean, sem = statistics.mean(ratios), statistics.stdev(ratios) / math.sqrt(len(ratios))
    assert sem <= 0.06, f"{kind} {case}: too noisy to test (sem {sem:.3f})"
    assert abs(mean - 1.0) <= 4 * sem, f"{kind} {case}: E|W|^2 / sigma^2 = {mean:.4f} +- {sem:.4f}"


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("kind", ["cp", "tt", "tucker"])
def test_constructed_weights_have_the_dense_mean_square_exactly(kind, case, dtype, rtol):
    shape, ranks = CASES[case]
    sigma2 = 2.0 / (shape[0] + shape[1])
    dense_draws = []
    for seed in range(3):
        torch.manual_seed(seed)
        weight = make_spectral_weight(shape[0], shape[1], shape[2:], kind, ranks[kind], dtype=dtype)
        with torch.no_grad():
            mean_square = float(weight.to_dense().to(torch.complex128).abs().pow(2).mean())
        tolerance = 5 * math.sqrt(2 / math.prod(shape)) if kind == "cp" else rtol
        assert mean_square == pytest.approx(sigma2, rel=tolerance), (kind, case, seed)
        dense = DenseSpectralWeight(shape[0], shape[1], shape[2:], dtype=dtype)
        dense_draws.append(float(dense.to_dense().detach().abs().pow(2).mean()))
    # the dense init itself: mean square of P i.i.d. exponentials, relative sd 1/sqrt(P) <= 1/sqrt(32768)
    assert statistics.mean(dense_draws) == pytest.approx(sigma2, rel=4 / math.sqrt(math.prod(shape)))


def test_constructed_weights_are_not_all_the_same_draw():
    torch.manual_seed(0)
    a = make_spectral_weight(8, 8, (8, 4), "cp", 6).to_dense().detach()
    b = make_spectral_weight(8, 8, (8, 4), "cp", 6).to_dense().detach()
    assert float((a - b).abs().max()) > 0.1 * float(a.abs().max())


def test_tucker_init_factors_are_orthonormal_and_the_norm_is_the_cores():
    torch.manual_seed(1)
    weight = make_spectral_weight(12, 10, (8, 5), "tucker", (6, 4, 8, 3), dtype=torch.float64)
    for factor in weight.factors:
        u = torch.view_as_complex(factor.detach())
        torch.testing.assert_close(u.mH @ u, torch.eye(u.shape[1], dtype=u.dtype), rtol=0, atol=1e-12)
    core_norm = float(torch.linalg.vector_norm(torch.view_as_complex(weight.core.detach())))
    assert float(torch.linalg.vector_norm(weight.to_dense().detach())) == pytest.approx(core_norm, rel=1e-12)


def test_haar_factor_columns_have_the_second_moment_of_the_derivation():
    # E|U_ia|^2 = 1/n for Haar-random orthonormal columns. |U_ia|^2 of a uniform unit vector of C^6
    # has variance (n - 1) / (n^2 (n + 1)) = 0.020 (sd 0.14): the mean of 400 draws has sd 0.007,
    # so atol 0.035 is 5 sd per entry
    torch.manual_seed(2)
    core = torch.empty(3, 2, 2, dtype=torch.float64)
    moments = []
    for _ in range(400):
        factors = [torch.empty(6, 3, 2, dtype=torch.float64), torch.empty(4, 2, 2, dtype=torch.float64)]
        init_tucker_(core, factors, 1.0)
        moments.append(torch.view_as_complex(factors[0]).abs().pow(2))
    second_moment = torch.stack(moments).mean(0)
    torch.testing.assert_close(second_moment, torch.full((6, 3), 1 / 6, dtype=torch.float64), rtol=0, atol=0.035)


def test_init_tucker_rejects_ranks_above_the_mode_sizes():
    with pytest.raises(ValueError, match="factors: expected"):
        init_tucker_(torch.empty(5, 2, 2), [torch.empty(4, 5, 2), torch.empty(3, 2, 2)], 1.0)
