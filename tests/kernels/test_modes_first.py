"""The modes-first real layout of the DFT path: transforms, weight contraction and mode mixing.

References: the torch.fft transforms of :mod:`sciml.kernels.fft` and the einsum mixing of
:func:`~sciml.kernels.mixing.mix_modes_reference`, moved into the layout by
:func:`~sciml.kernels.mixing.to_modes_first` (tolerances: ``kernel_testing.TOLERANCE``).
"""

from __future__ import annotations

import pytest
import torch
from kernel_testing import assert_close

from sciml.kernels import SpectralConv
from sciml.kernels.dft import irfft_modes_first, rfft_modes_first
from sciml.kernels.factorized import make_spectral_weight
from sciml.kernels.fft import irfft_modes_reference, rfft_modes_reference
from sciml.kernels.mixing import (
    from_modes_first,
    mix_modes_first,
    mix_modes_pairs,
    mix_modes_reference,
    to_modes_first,
)

# (spatial shape, modes, output size): odd and even sizes, N = 2m on leading axes (aliased
# Nyquist row, halved) and on the last axis of the output (Nyquist column), 1D to 3D
CASES = [
    ((24,), (5,), (31,)),
    ((16,), (8,), (14,)),
    ((16, 12), (4, 5), (20, 8)),
    ((8, 12), (4, 6), (8, 10)),
    ((9, 7), (3, 2), (9, 7)),
    ((8, 10, 12), (2, 3, 4), (9, 6, 8)),
    ((8, 6, 8), (4, 3, 4), (8, 6, 6)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,modes,out_size", CASES)
def test_transforms_match_the_fft_reference(shape, modes, out_size, dtype):
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(3, 2, *shape, dtype=torch.float64, generator=generator)
    for norm in ("forward", "backward", "ortho"):
        expected = rfft_modes_reference(x, modes, norm)
        stacked = rfft_modes_first(x.to(dtype), modes, norm)
        assert stacked.dtype == dtype and stacked.shape == (expected[0, 0].numel(), 3, 4)
        assert_close(stacked, to_modes_first(expected), dtype, f"forward {norm}")
        block = torch.randn(expected.shape, dtype=torch.complex128, generator=generator)
        out = irfft_modes_first(to_modes_first(block).to(dtype), modes, out_size, norm)
        assert_close(out, irfft_modes_reference(block, out_size, norm), dtype, f"inverse {norm}")


@pytest.mark.parametrize("shape,modes,out_size", [CASES[1], CASES[3], CASES[6]])
def test_transforms_gradcheck_fp64(shape, modes, out_size):
    x = torch.randn(1, 2, *shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: rfft_modes_first(t, modes), (x,))
    stacked = rfft_modes_first(x.detach(), modes).clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: irfft_modes_first(t, modes, out_size), (stacked,))


def test_inverse_rejects_a_layout_that_does_not_match_the_modes():
    with pytest.raises(ValueError, match=r"stacked: expected a real tensor \[K=40"):
        irfft_modes_first(torch.zeros(39, 2, 6), (4, 5), (16, 16))
    with pytest.raises(ValueError, match="size: expected output sizes"):
        irfft_modes_first(torch.zeros(40, 2, 6), (4, 5), (6, 16))
    with pytest.raises(ValueError, match=r"x: expected \[batch, channels, \*spatial\]"):
        rfft_modes_first(torch.zeros(2, 16, 16), (4, 5))


@pytest.mark.parametrize("batch", [1, 3, 10, 11, 24])    # both forms: B <= 2 I and B > 2 I (I = 5)
def test_mode_mixing_both_forms_match_einsum_fp64(batch):
    generator = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 5, 6, 4, dtype=torch.complex128, generator=generator)
    weight = torch.randn(5, 7, 6, 4, 2, dtype=torch.float64, generator=generator)
    wk = weight.reshape(5, 7, 24, 2).permute(2, 0, 1, 3)
    mixed = from_modes_first(mix_modes_first(to_modes_first(x), wk[..., 0], wk[..., 1]), (6, 4))
    assert_close(mixed, mix_modes_reference(x, weight), torch.float64, f"batch {batch}")
    stacked = to_modes_first(x).requires_grad_()
    real, imag = wk[..., 0].clone().requires_grad_(), wk[..., 1].clone().requires_grad_()
    assert torch.autograd.gradcheck(mix_modes_first, (stacked, real, imag))
    with pytest.raises(ValueError, match=r"pairs: expected \[K, I, 2 O\] matching stacked"):
        mix_modes_pairs(to_modes_first(x).real, torch.zeros(24, 4, 14, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"real: expected \[K, I, O\] matching stacked|pairs: expected"):
        mix_modes_first(to_modes_first(x), wk[1:, :, :, 0], wk[1:, :, :, 1])     # wrong K, either form
    with pytest.raises(ValueError, match=r"imag: expected the shape of real"):
        mix_modes_first(to_modes_first(x), wk[..., 0], wk[:, :, :6, 1])


@pytest.mark.parametrize("factorization,rank", [("dense", None), ("cp", 3), ("tucker", (3, 2, 4, 3)), ("tt", 2)])
@pytest.mark.parametrize("strategy", ["dense", "direct"])
def test_every_weight_contracts_in_the_modes_first_layout(factorization, rank, strategy):
    torch.manual_seed(0)
    weight = make_spectral_weight(4, 3, (6, 4), factorization, rank, torch.float64)
    x = torch.randn(2, 4, 6, 4, dtype=torch.complex128)
    expected = mix_modes_reference(x, weight.dense_pairs())
    stacked = weight.contract_modes_first(to_modes_first(x), strategy)
    assert_close(from_modes_first(stacked, (6, 4)), expected, torch.float64, f"{factorization} {strategy}")
    with pytest.raises(ValueError, match=r"stacked: expected a real tensor \[K=24, batch, 2 \* channels=8\]"):
        weight.contract_modes_first(to_modes_first(x)[..., :6], strategy)


@pytest.mark.parametrize("factorization,rank", [("dense", None), ("tucker", (2, 3, 4, 3))])
def test_spectral_conv_dft_path_equals_the_reference_path(factorization, rank):
    """The layer's modes-first DFT path, including super-resolution output and gradients."""
    torch.manual_seed(1)
    layer = SpectralConv(3, 4, (4, 5), factorization=factorization, rank=rank, dtype=torch.float64)
    x = torch.randn(2, 3, 16, 12, dtype=torch.float64, requires_grad=True)
    for out_size in (None, (32, 20)):
        fast, ref = layer(x, out_size=out_size, path="dft"), layer(x, out_size=out_size, path="reference")
        assert_close(fast, ref, torch.float64, f"output {out_size}")
        probe = torch.randn(ref.shape, dtype=torch.float64)
        grads = torch.autograd.grad((fast * probe).sum(), [x, *layer.parameters()])
        grads_ref = torch.autograd.grad((ref * probe).sum(), [x, *layer.parameters()])
        for g, g_ref in zip(grads, grads_ref):
            assert_close(g, g_ref, torch.float64, f"gradient {out_size}")


def test_dense_weight_loads_checkpoints_of_the_earlier_parameter_layout():
    """State dicts whose dense weight is ``[in, out, *block, 2]`` (before modes-first storage) still load."""
    torch.manual_seed(2)
    layer = SpectralConv(3, 4, (4, 5), dtype=torch.float64)
    x = torch.randn(2, 3, 16, 12, dtype=torch.float64)
    legacy = {"weight.weight": layer.weight.dense_pairs().detach().contiguous()}   # the old parameter
    assert legacy["weight.weight"].shape == (3, 4, 8, 5, 2)
    restored = SpectralConv(3, 4, (4, 5), dtype=torch.float64)
    restored.load_state_dict(legacy)
    torch.testing.assert_close(restored(x), layer(x), rtol=0, atol=0)
    current = SpectralConv(3, 4, (4, 5), dtype=torch.float64)
    current.load_state_dict(layer.state_dict())                                     # the new layout, as is
    torch.testing.assert_close(current(x), layer(x), rtol=0, atol=0)
