"""TFNO: factor contraction against rebuilt dense weights, full-rank equivalence, rank fractions."""

from __future__ import annotations

import math

import pytest
import tensorly as tl
import torch

from sciml.operators import (
    FNO,
    TFNO,
    FactorizationConfig,
    FNOConfig,
    TFNOConfig,
    factorization,
    full_rank,
    parameter_count,
    resolve_rank,
    weight_from_dense,
)
from sciml.operators.factorization import random_dense_weight, random_factorized_weight

SHAPE = (3, 4, 6, 3)                       # in, out, block (2D modes (3, 3))


@pytest.mark.parametrize("kind,rank", [("cp", 5), ("tucker", (2, 3, 4, 2)), ("tt", 3)])
def test_direct_contraction_matches_rebuilt_dense_weight_values_and_gradients(kind, rank):
    torch.manual_seed(0)
    weight = weight_from_dense(random_dense_weight(SHAPE, torch.float64), kind, rank, n_iter_max=5)
    x = torch.randn(2, 3, 6, 3, dtype=torch.complex128, requires_grad=True)
    direct = weight.contract(x, "direct")
    reference = torch.einsum("bixy,ioxy->boxy", x, weight.to_dense())      # independent dense contraction
    torch.testing.assert_close(direct, reference, rtol=1e-12, atol=1e-12)
    probe = torch.randn_like(direct)
    loss_direct = (direct * probe.conj()).real.sum()
    grads_direct = torch.autograd.grad(loss_direct, [x, *weight.parameters()])
    loss_dense = (reference * probe.conj()).real.sum()
    grads_dense = torch.autograd.grad(loss_dense, [x, *weight.parameters()])
    for a, b in zip(grads_direct, grads_dense):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["tucker", "tt"])
def test_full_rank_factorization_is_exact(kind):
    torch.manual_seed(1)
    dense = random_dense_weight(SHAPE, torch.float64)
    weight = weight_from_dense(dense, kind, full_rank(kind, SHAPE))
    torch.testing.assert_close(weight.to_dense().detach(), dense, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["tucker", "tt"])
def test_full_rank_tfno_reproduces_dense_fno(kind):
    torch.manual_seed(2)
    fno = FNO(FNOConfig(1, 2, width=4, modes=(4, 3), n_layers=2)).double()
    shape = (4, 4, 8, 3)
    tfno = TFNO.from_fno(fno, FactorizationConfig(kind, rank=full_rank(kind, shape) if kind == "tt" else shape))
    assert isinstance(tfno, TFNO) and tfno.config.factorization.kind == kind
    x = torch.randn(3, 1, 16, 12, dtype=torch.float64)
    torch.testing.assert_close(tfno(x), fno(x), rtol=1e-10, atol=1e-12)


def test_compressed_tfno_from_fno_is_close_at_high_rank_and_smaller():
    torch.manual_seed(3)
    fno = FNO(FNOConfig(1, 1, width=6, modes=(4, 4), n_layers=1)).double()
    x = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        y = fno(x)
        full = TFNO.from_fno(fno, FactorizationConfig("tucker", rank=1.0))
        # full Tucker rank is an exact re-parameterisation: fp64 round-off (measured 4e-16)
        assert float((full(x) - y).norm() / y.norm()) < 1e-12
        tfno = TFNO.from_fno(fno, FactorizationConfig("tucker", rank=0.5))
        assert tfno.spectral_parameter_count() < 0.6 * fno.spectral_parameter_count()
        # random (incompressible) weights: the half-rank model stays near, not equal (measured 0.16)
        assert 1e-6 < float((tfno(x) - y).norm() / y.norm()) < 0.3


@pytest.mark.parametrize("kind", ["cp", "tucker", "tt"])
def test_rank_fraction_sets_parameter_budget(kind):
    shape = (32, 32, 32, 16)
    rank = resolve_rank(kind, shape, 0.1)
    fraction = parameter_count(kind, shape, rank) / math.prod(shape)
    assert 0.07 < fraction <= 0.11, f"{kind} at rank 0.1 keeps {fraction:.3f} of the dense parameters"


def test_tfno_parameter_counts_and_init_scale():
    torch.manual_seed(4)
    fno = FNO(FNOConfig(1, 1, width=16, modes=(8, 8), n_layers=2))
    for kind in ("cp", "tucker", "tt"):
        tfno = TFNO(TFNOConfig(1, 1, width=16, modes=(8, 8), n_layers=2,
                               factorization=FactorizationConfig(kind, rank=0.1)))
        ratio = tfno.spectral_parameter_count() / fno.spectral_parameter_count()
        assert 0.05 < ratio <= 0.11, (kind, ratio)
        dense = tfno.blocks[0].spectral.weight.to_dense().detach()
        variance = float(dense.abs().pow(2).mean())         # matched to the dense init, 2 / (in + out)
        assert abs(variance * 16 - 1) < 0.05, (kind, variance)
        assert tfno(torch.randn(2, 1, 16, 16)).shape == (2, 1, 16, 16)


@pytest.mark.parametrize("kind", ["cp", "tucker", "tt"])
@pytest.mark.parametrize("shape", [(20, 20, 24, 12), (8, 8, 8, 8, 4)])
def test_random_factorized_weight_has_the_dense_scale_without_a_decomposition(kind, shape, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("random initialisation must not decompose a dense tensor")
    for name in ("parafac", "tucker", "tensor_train"):
        monkeypatch.setattr(factorization, name, refuse)
    torch.manual_seed(5)
    weight = random_factorized_weight(shape, kind, 0.1, dtype=torch.float64)
    assert parameter_count(kind, shape, resolve_rank(kind, shape, 0.1)) == sum(
        p.numel() for p in weight.parameters()) // 2
    with torch.no_grad():
        mean_square = float(weight.to_dense().abs().pow(2).mean())
    # the dense init's 2 / (in + out) per draw: exactly for Tucker and TT, to 5 sd of the CP
    # cross terms, sqrt(2 / P), for CP (tests/kernels/test_factorized_init.py)
    tolerance = 5 * math.sqrt(2 / math.prod(shape)) if kind == "cp" else 1e-10
    assert mean_square == pytest.approx(2 / (shape[0] + shape[1]), rel=tolerance)
    with pytest.raises(ValueError, match="shape: expected"):
        random_factorized_weight((4, 4), kind, 0.1)


@pytest.mark.parametrize("kind", ["cp", "tucker", "tt"])
def test_tfno_output_variance_at_init_matches_fno(kind):
    # TFNO and FNO share every non-spectral parameter (copied), so only the spectral init differs.
    # Over 6 seeds (measured per-seed ratio sd ~0.03 for one spectral layer, ~0.1 for the whole
    # model): mean ratio within 5% for the first spectral convolution, 20% for the model output.
    model_ratios, layer_ratios = [], []
    for seed in range(6):
        torch.manual_seed(seed)
        fno = FNO(FNOConfig(1, 1, width=16, modes=(8, 8), n_layers=4))
        tfno = TFNO(TFNOConfig(1, 1, width=16, modes=(8, 8), n_layers=4,
                               factorization=FactorizationConfig(kind, rank=0.1)))
        tfno.load_state_dict({k: v for k, v in fno.state_dict().items() if ".spectral.weight" not in k},
                             strict=False)
        x, hidden = torch.randn(8, 1, 32, 32), torch.randn(8, 16, 32, 32)
        with torch.no_grad():
            model_ratios.append(float(tfno(x).var() / fno(x).var()))
            layer_ratios.append(float(tfno.blocks[0].spectral(hidden).var() / fno.blocks[0].spectral(hidden).var()))
    assert abs(sum(layer_ratios) / 6 - 1) < 0.05, (kind, layer_ratios)
    assert abs(sum(model_ratios) / 6 - 1) < 0.2, (kind, model_ratios)


def test_tensorly_backend_is_not_changed():
    before = tl.get_backend()
    TFNO(TFNOConfig(1, 1, width=4, modes=(2, 2), n_layers=1))
    assert tl.get_backend() == before


def test_factorization_config_errors():
    with pytest.raises(ValueError, match="kind: expected one of"):
        FactorizationConfig("svd")
    with pytest.raises(ValueError, match="rank: a tuple of ranks is for Tucker only"):
        FactorizationConfig("cp", rank=(2, 2))
    with pytest.raises(ValueError, match="rank: expected a number > 0"):
        FactorizationConfig("cp", rank=0.0)
    with pytest.raises(ValueError, match="rank: expected 4 Tucker ranks"):
        resolve_rank("tucker", SHAPE, (1, 2))
