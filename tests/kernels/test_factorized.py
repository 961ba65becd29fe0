"""Dense and factorized spectral weights: reconstruction against tensorly, contraction strategies."""

from __future__ import annotations

import copy

import pytest
import tensorly as tl
import torch
from kernel_testing import assert_close
from tensorly.cp_tensor import cp_to_tensor
from tensorly.tt_tensor import tt_to_tensor
from tensorly.tucker_tensor import tucker_to_tensor

from sciml.kernels import (
    CPSpectralWeight,
    DenseSpectralWeight,
    TTSpectralWeight,
    TuckerSpectralWeight,
    make_spectral_weight,
)
from sciml.kernels.mixing import mix_modes_reference

BLOCKS = [(6,), (6, 4), (4, 2, 3)]


def tensorly_dense(weight) -> torch.Tensor:
    """The same weight rebuilt by tensorly (torch backend, set for this call only)."""
    with tl.backend_context("pytorch"):
        if isinstance(weight, CPSpectralWeight):
            factors = [torch.view_as_complex(f.detach()) for f in weight.factors]
            ones = torch.ones(weight.rank, dtype=factors[0].dtype)
            return cp_to_tensor((ones, factors))
        if isinstance(weight, TuckerSpectralWeight):
            factors = [torch.view_as_complex(f.detach()) for f in weight.factors]
            return tucker_to_tensor((torch.view_as_complex(weight.core.detach()), factors))
        return tt_to_tensor([torch.view_as_complex(c.detach()) for c in weight.cores])


def einsum_dense(weight) -> torch.Tensor:
    """The readable reference: the dense weight by one complex ``einsum`` of the factors (differentiable)."""
    letters = "xyz"[:len(weight.block)]
    if isinstance(weight, CPSpectralWeight):
        factors = [torch.view_as_complex(f) for f in weight.factors]
        spec = ",".join(f"{c}r" for c in "io" + letters) + f"->io{letters}"
        return torch.einsum(spec, *factors)
    if isinstance(weight, TuckerSpectralWeight):
        factors = [torch.view_as_complex(f) for f in weight.factors]
        ranks = "acpqs"[:len(factors)]
        spec = f"{ranks}," + ",".join(f"{c}{r}" for c, r in zip("io" + letters, ranks)) + f"->io{letters}"
        return torch.einsum(spec, torch.view_as_complex(weight.core), *factors)
    cores = [torch.view_as_complex(c) for c in weight.cores]
    ranks = "ABCDEF"
    spec = ",".join(f"{ranks[j]}{c}{ranks[j + 1]}" for j, c in enumerate("io" + letters))
    return torch.einsum(f"{spec}->io{letters}", *cores).reshape(weight.in_channels, weight.out_channels, *weight.block)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("factorization,rank", [("cp", 5), ("tucker", 3), ("tt", 4)])
def test_to_dense_matches_tensorly(block, factorization, rank):
    torch.manual_seed(0)
    weight = make_spectral_weight(3, 4, block, factorization, rank, dtype=torch.float64)
    dense = weight.to_dense()
    assert dense.shape == (3, 4, *block)
    assert_close(dense, tensorly_dense(weight), torch.float64, f"{factorization} reconstruction")


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("factorization,rank", [("cp", 5), ("tucker", 3), ("tt", 4)])
def test_direct_contraction_equals_dense(block, factorization, rank):
    torch.manual_seed(1)
    weight = make_spectral_weight(5, 3, block, factorization, rank, dtype=torch.float64)
    x = torch.randn(2, 5, *block, dtype=torch.complex128, requires_grad=True)
    direct, dense = weight.contract(x, "direct"), weight.contract(x, "dense")
    assert_close(direct, dense, torch.float64, "values")
    assert_close(dense, mix_modes_reference(x, weight.dense_pairs()), torch.float64, "dense vs mix_modes")
    probe = torch.randn(direct.shape, dtype=torch.complex128)
    params = [x, *weight.parameters()]
    g_direct = torch.autograd.grad((direct * probe).real.sum(), params)
    g_dense = torch.autograd.grad((dense * probe).real.sum(), params)
    for a, b in zip(g_direct, g_dense):
        assert_close(a, b, torch.float64, "gradients")


@pytest.mark.parametrize("strategy", ["direct", "dense"])
@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("factorization,rank", [("cp", 5), ("tucker", (3, 2, 3, 2, 2)), ("tt", 4)])
def test_contraction_matches_einsum_reference_fp64(block, factorization, rank, strategy):
    """Real-arithmetic contraction vs complex einsum of the factors: values and gradients of x and factors."""
    torch.manual_seed(4)
    rank = rank[:2 + len(block)] if isinstance(rank, tuple) else rank
    weight = make_spectral_weight(5, 3, block, factorization, rank, dtype=torch.float64)
    x = torch.randn(2, 5, *block, dtype=torch.complex128, requires_grad=True)
    ours = weight.contract(x, strategy)
    reference = mix_modes_reference(x, torch.view_as_real(einsum_dense(weight)))
    assert_close(ours, reference, torch.float64, f"{strategy} values")
    probe = torch.randn(ours.shape, dtype=torch.complex128)
    params = [x, *weight.parameters()]
    grads = torch.autograd.grad((ours * probe).real.sum(), params)
    expected = torch.autograd.grad((reference * probe).real.sum(), params)
    for a, b in zip(grads, expected):
        assert_close(a, b, torch.float64, f"{strategy} gradients")


@pytest.mark.parametrize("strategy", ["direct", "dense"])
@pytest.mark.parametrize("factorization,rank", [("cp", 6), ("tucker", 4), ("tt", 4)])
def test_contraction_fp32_and_mixed_precision(factorization, rank, strategy):
    """float32 weights with complex64 input (fp32 tolerance) and with complex128 input (computed in fp64)."""
    torch.manual_seed(5)
    weight = make_spectral_weight(6, 4, (8, 4), factorization, rank)
    x = torch.randn(3, 6, 8, 4, dtype=torch.complex128)
    reference = mix_modes_reference(x, torch.view_as_real(einsum_dense(copy.deepcopy(weight).double())).detach())
    single = weight.contract(x.to(torch.complex64), strategy)
    assert single.dtype == torch.complex64
    assert_close(single, reference, torch.float32, f"{strategy} float32")
    double = weight.contract(x, strategy)
    assert double.dtype == torch.complex128
    assert_close(double, reference, torch.float64, f"{strategy} float64 input, float32 weight")


@pytest.mark.parametrize("strategy", ["direct", "dense"])
@pytest.mark.parametrize("factorization,rank", [("cp", 3), ("tucker", 2), ("tt", 2)])
def test_gradcheck_contraction_fp64(factorization, rank, strategy):
    torch.manual_seed(2)
    weight = make_spectral_weight(2, 3, (4, 2), factorization, rank, dtype=torch.float64)
    x = torch.randn(2, 2, 4, 2, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: weight.contract(t, strategy), (x,))


@pytest.mark.parametrize("factorization,rank", [(None, None), ("cp", 16), ("tucker", 8), ("tt", 8)])
def test_initialization_variance(factorization, rank):
    """Entries of every format start with E|W|^2 = 2 / (in + out) (Glorot-like), within sampling error."""
    torch.manual_seed(3)
    weight = make_spectral_weight(16, 16, (16, 8), factorization, rank)
    power = float(weight.to_dense().detach().abs().pow(2).mean())
    assert 0.5 * (2 / 32) < power < 2.0 * (2 / 32), power


def test_parameters_are_real_pairs():
    for fmt, rank in ((None, None), ("cp", 4), ("tucker", 3), ("tt", 3)):
        weight = make_spectral_weight(4, 4, (8, 4), fmt, rank)
        pair_axis = -2 if fmt is None else -1          # dense: stored modes first, [*block, in, 2, out]
        assert all(not p.is_complex() and p.shape[pair_axis] == 2 for p in weight.parameters()), fmt
        assert weight.dense_pairs().shape == (4, 4, 8, 4, 2), fmt


def test_auto_strategy_uses_the_cost_model():
    cp = CPSpectralWeight(32, 32, (32, 16), rank=16)
    assert cp.cost(8, "direct") < cp.cost(8, "dense") and cp.choose_strategy(8) == "direct"
    # a huge batch with a tiny weight makes rebuilding once cheaper than projecting every sample
    small = CPSpectralWeight(2, 2, (2, 1), rank=64)
    assert small.choose_strategy(10_000) == "dense"
    assert DenseSpectralWeight(2, 2, (2, 1)).choose_strategy(1) == "dense"
    tucker = TuckerSpectralWeight(32, 32, (32, 16), rank=(4, 4, 32, 16))
    assert tucker.choose_strategy(8) == "direct"
    assert TTSpectralWeight(32, 32, (32, 16), rank=8).choose_strategy(8) == "direct"
    # measured (benchmarks/README.md, "Factorized weights"): at batch 32 rebuilding wins for CP
    # rank 256 (3x) while Tucker/TT rank 32 stay faster direct (0.86x / 0.81x)
    assert CPSpectralWeight(32, 32, (32, 16), rank=256).choose_strategy(32) == "dense"
    assert TuckerSpectralWeight(32, 32, (32, 16), rank=32).choose_strategy(32) == "direct"
    assert TTSpectralWeight(32, 32, (32, 16), rank=32).choose_strategy(32) == "direct"


def test_errors():
    with pytest.raises(ValueError, match="factorization: expected one of"):
        make_spectral_weight(2, 2, (4, 2), "svd", 2)
    with pytest.raises(ValueError, match="rank: expected a positive integer rank"):
        make_spectral_weight(2, 2, (4, 2), "cp")
    with pytest.raises(ValueError, match=r"rank: expected an int or 4 ranks"):
        make_spectral_weight(2, 2, (4, 2), "tucker", (2, 2))
    weight = make_spectral_weight(2, 3, (4, 2), "cp", 2)
    with pytest.raises(ValueError, match=r"x: expected shape \[batch, 2, 4, 2\], got \(1, 2, 4, 3\)"):
        weight.contract(torch.zeros(1, 2, 4, 3, dtype=torch.complex64))
    with pytest.raises(ValueError, match="strategy: expected one of"):
        weight.contract(torch.zeros(1, 2, 4, 2, dtype=torch.complex64), "fast")
