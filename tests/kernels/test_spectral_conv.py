"""SpectralConv against a hand-written FNO layer, across paths, resolutions and weight formats."""

from __future__ import annotations

import pytest
import torch
from kernel_testing import PATH_CASES, assert_close

from sciml.kernels import SpectralConv, irfft_modes, rfft_modes


def textbook_fno_layer(x: torch.Tensor, weight: torch.Tensor, modes, out_size) -> torch.Tensor:
    """Li et al.'s 2D layer: full rfft2, two corner blocks mixed, zero-filled spectrum, irfft2."""
    m0, m1 = modes
    w = torch.view_as_complex(weight)
    spectrum = torch.fft.rfft2(x, norm="forward")
    out = torch.zeros(x.shape[0], w.shape[1], out_size[0], out_size[1] // 2 + 1, dtype=spectrum.dtype)
    out[:, :, :m0, :m1] = torch.einsum("bixy,ioxy->boxy", spectrum[:, :, :m0, :m1], w[:, :, :m0])
    out[:, :, -m0:, :m1] = torch.einsum("bixy,ioxy->boxy", spectrum[:, :, -m0:, :m1], w[:, :, m0:])
    return torch.fft.irfft2(out, s=out_size, norm="forward")


@pytest.mark.parametrize("out_size", [None, (40, 36)])
def test_matches_textbook_layer(out_size):
    torch.manual_seed(0)
    layer = SpectralConv(3, 4, (5, 6), dtype=torch.float64, path="reference")
    x = torch.randn(2, 3, 24, 20, dtype=torch.float64)
    expected = textbook_fno_layer(x, layer.weight.dense_pairs().detach().contiguous(), (5, 6), out_size or (24, 20))
    assert_close(layer(x, out_size=out_size), expected, torch.float64, "SpectralConv vs textbook")


@pytest.mark.parametrize("path,device", PATH_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("modes,shape", [((6,), (2, 3, 30)), ((4, 5), (2, 3, 16, 12)), ((2, 3, 2), (1, 2, 8, 6, 5))])
def test_paths_agree_values_and_gradients(path, device, dtype, modes, shape):
    torch.manual_seed(1)
    layer = SpectralConv(shape[1], 3, modes, dtype=dtype, bias=True, path=path).to(device)
    reference = SpectralConv(shape[1], 3, modes, dtype=torch.float64, bias=True, path="reference")
    reference.load_state_dict({k: v.double().cpu() for k, v in layer.state_dict().items()})
    x = torch.randn(shape, dtype=dtype)
    x_dev, x_ref = x.clone().to(device).requires_grad_(), x.double().requires_grad_()
    out, out_ref = layer(x_dev), reference(x_ref)
    assert_close(out, out_ref, dtype, f"{path} output")
    probe = torch.randn(out_ref.shape, dtype=torch.float64)
    (out * probe.to(out)).sum().backward()
    (out_ref * probe).sum().backward()
    assert_close(x_dev.grad, x_ref.grad, dtype, f"{path} input gradient")
    for (name, p), p_ref in zip(layer.named_parameters(), reference.parameters()):
        assert_close(p.grad, p_ref.grad, dtype, f"{path} gradient of {name}")


@pytest.mark.parametrize("path,device", PATH_CASES)
def test_gradcheck_layer_fp64(path, device):
    torch.manual_seed(2)
    layer = SpectralConv(1, 2, (2, 3), dtype=torch.float64, path=path).to(device)
    x = torch.randn(1, 1, 4, 6, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t, out_size=(5, 6)), (x,))


@pytest.mark.parametrize("factorization,rank", [("cp", 6), ("tucker", 4), ("tt", 3)])
@pytest.mark.parametrize("path", ["reference", "dft"])
def test_factorized_layer_equals_dense_layer_with_rebuilt_weight(factorization, rank, path):
    torch.manual_seed(3)
    layer = SpectralConv(4, 5, (4, 4), factorization=factorization, rank=rank, dtype=torch.float64, path=path)
    dense = SpectralConv(4, 5, (4, 4), dtype=torch.float64, path="reference")
    with torch.no_grad():
        dense.weight.dense_pairs().copy_(layer.weight.dense_pairs())
    x = torch.randn(2, 4, 16, 16, dtype=torch.float64)
    assert_close(layer(x), dense(x), torch.float64, f"{factorization} layer")


def test_resolution_agnostic():
    """The layer's output is band-limited: evaluating at 3x resolution interpolates it exactly."""
    torch.manual_seed(4)
    layer = SpectralConv(2, 2, (4, 4), dtype=torch.float64)
    coarse_input = torch.randn(1, 2, 16, 16, dtype=torch.float64)
    coarse = layer(coarse_input)
    fine = layer(coarse_input, out_size=(48, 48))
    assert_close(fine[..., ::3, ::3], coarse, torch.float64, "sub-sampled fine output")
    # a band-limited input sampled at a finer resolution gives the same function
    band_limited_fine = irfft_modes(rfft_modes(coarse_input, (7, 7)), (64, 64))
    band_limited_coarse = irfft_modes(rfft_modes(coarse_input, (7, 7)), (16, 16))
    assert_close(layer(band_limited_fine)[..., ::4, ::4], layer(band_limited_coarse), torch.float64,
                 "same function at 64² and 16²")


def test_half_precision_input_returns_input_dtype():
    layer = SpectralConv(2, 2, (4, 4))
    x = torch.randn(1, 2, 16, 16)
    out = layer(x.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), layer(x.bfloat16().float()), atol=1e-2, rtol=0)


def test_parameters_are_real_and_state_dict_round_trips():
    layer = SpectralConv(3, 3, (4, 4), factorization="tucker", rank=2, bias=True)
    assert all(not p.is_complex() for p in layer.parameters())
    copy = SpectralConv(3, 3, (4, 4), factorization="tucker", rank=2, bias=True)
    copy.load_state_dict(layer.state_dict())
    x = torch.randn(1, 3, 12, 12)
    torch.testing.assert_close(copy(x), layer(x))


def test_errors_name_argument_expected_and_actual():
    layer = SpectralConv(3, 2, (8, 8))
    with pytest.raises(ValueError, match=r"x: expected spatial sizes >= 2 \* modes = \(16, 16\).*\(12, 32\)"):
        layer(torch.randn(1, 3, 12, 32))
    with pytest.raises(ValueError, match=r"x: expected shape \[batch, 3, N, N\] for modes \(8, 8\), got \(1, 4, 16, 16\)"):
        layer(torch.randn(1, 4, 16, 16))
    with pytest.raises(ValueError, match=r"out_size: expected spatial sizes >= 2 \* modes"):
        layer(torch.randn(1, 3, 16, 16), out_size=(8, 8))
    with pytest.raises(ValueError, match="path: expected one of"):
        SpectralConv(3, 2, (8, 8), path="fast")
    with pytest.raises(ValueError, match="contraction: expected one of"):
        SpectralConv(3, 2, (8, 8), contraction="lazy")
