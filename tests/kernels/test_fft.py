"""Truncated real FFTs (reference path) against NumPy and the defining sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kernel_testing import assert_close

from sciml.kernels import irfft_modes, rfft_modes
from sciml.kernels.fft import irfft_modes_reference, rfft_modes_reference

CASES = [((3, 20), (5,)), ((2, 16, 12), (4, 6)), ((2, 10, 12, 9), (3, 2, 4))]
SCALES = {"forward": lambda n: 1 / n, "backward": lambda n: 1.0, "ortho": lambda n: n ** -0.5}


def numpy_block(x: np.ndarray, modes, norm="forward") -> np.ndarray:
    """Full NumPy rfftn, then the retained frequencies picked by index."""
    d = len(modes)
    full = np.fft.rfftn(x, axes=tuple(range(-d, 0)), norm=norm)
    index = [np.r_[0:m, -m:0] for m in modes[:-1]] + [np.arange(modes[-1])]
    return full[(Ellipsis,) + np.ix_(*index)]


def defining_sum(block: np.ndarray, size, norm="forward") -> np.ndarray:
    """The inverse by its definition: y_n = s_i sum_k c_k Re(Y_k exp(2 pi i k.n / M))."""
    d = len(size)
    modes = [s // 2 for s in block.shape[-d:-1]] + [block.shape[-1]]
    frequencies = [np.r_[0:m, -m:0] for m in modes[:-1]] + [np.arange(modes[-1])]
    out = np.zeros(block.shape[:-d] + tuple(size))
    grids = np.meshgrid(*[np.arange(s) for s in size], indexing="ij")
    total = float(np.prod(size))
    scale = {"forward": 1.0, "backward": 1 / total, "ortho": total ** -0.5}[norm]
    for index in np.ndindex(*block.shape[-d:]):
        k = [frequencies[j][i] for j, i in enumerate(index)]
        k_last = k[-1]
        c = 1.0 if k_last == 0 or 2 * k_last == size[-1] else 2.0
        phase = sum(2 * np.pi * k[j] * grids[j] / size[j] for j in range(d))
        coefficient = block[(Ellipsis,) + index][(Ellipsis,) + (None,) * d]
        out += scale * c * np.real(coefficient * np.exp(1j * phase))
    return out


@pytest.mark.parametrize("shape,modes", CASES)
@pytest.mark.parametrize("norm", ["forward", "backward", "ortho"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_matches_numpy(shape, modes, norm, dtype):
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    expected = torch.from_numpy(numpy_block(x.numpy(), modes, norm))
    actual = rfft_modes_reference(x.to(dtype), modes, norm)
    assert actual.dtype == (torch.complex64 if dtype == torch.float32 else torch.complex128)
    assert actual.shape == expected.shape
    assert_close(actual, expected, dtype, "rfft_modes")


@pytest.mark.parametrize("size", [(20,), (9,), (8,)])
def test_inverse_1d_matches_defining_sum(size):
    block = torch.randn(2, 5, dtype=torch.complex128, generator=torch.Generator().manual_seed(2))
    expected = defining_sum(block.numpy(), size)
    assert_close(irfft_modes_reference(block, size), torch.from_numpy(expected), torch.float64, "irfft 1D")


@pytest.mark.parametrize("block_shape,size", [((8, 3), (8, 4)), ((8, 3), (11, 7)), ((4, 2, 3), (6, 5, 4))])
@pytest.mark.parametrize("norm", ["forward", "ortho"])
def test_inverse_nd_matches_defining_sum(block_shape, size, norm):
    """Arbitrary (non-Hermitian) blocks, output sizes with and without a Nyquist column."""
    block = torch.randn(block_shape, dtype=torch.complex128, generator=torch.Generator().manual_seed(3))
    expected = defining_sum(block.numpy(), size, norm)
    assert_close(irfft_modes_reference(block, size, norm), torch.from_numpy(expected), torch.float64, "irfft nD")


def test_nyquist_and_dc_imaginary_parts_do_not_contribute():
    """1D: M = 2(m - 1) puts the Nyquist frequency in the block; its imaginary part and the DC one vanish."""
    block = torch.randn(3, 4, dtype=torch.complex128, generator=torch.Generator().manual_seed(4), requires_grad=True)
    out = irfft_modes_reference(block, (6,))
    bumped = block.detach().clone()
    bumped[:, 0] += 5j
    bumped[:, 3] += 7j
    assert torch.allclose(irfft_modes_reference(bumped, (6,)), out)
    out.pow(2).sum().backward()
    assert torch.all(block.grad[:, [0, 3]].imag == 0)
    assert torch.all(block.grad[:, 1:3].imag != 0)


def test_round_trip_of_a_band_limited_signal():
    """A real signal holding only retained modes is reproduced exactly, at its own and finer resolution."""
    def signal(n0, n1):
        u, v = torch.meshgrid(torch.arange(n0, dtype=torch.float64) / n0,
                              torch.arange(n1, dtype=torch.float64) / n1, indexing="ij")
        tau = 2 * torch.pi
        return (torch.cos(tau * (3 * u - 2 * v)) + 0.5 * torch.sin(tau * 5 * u) + 0.25
                + torch.sin(tau * (2 * u + 6 * v)))
    block = rfft_modes(signal(16, 16), (6, 7))
    assert_close(irfft_modes(block, (16, 16)), signal(16, 16), torch.float64, "same size")
    assert_close(irfft_modes(block, (48, 40)), signal(48, 40), torch.float64, "finer")
    assert_close(rfft_modes(signal(48, 40), (6, 7)), block, torch.float64, "block at another resolution")


def test_half_precision_is_upcast_to_float32():
    x = torch.randn(2, 32, 32)
    block = rfft_modes(x.half(), (4, 4), path="reference")
    assert block.dtype == torch.complex64
    assert torch.allclose(block, rfft_modes(x.half().float(), (4, 4)), atol=1e-6)
    block = rfft_modes(x.bfloat16(), (4, 4), path="dft")
    assert block.dtype == torch.complex64


@pytest.mark.parametrize("path", ["reference", "dft"])
def test_errors_name_argument_expected_and_actual(path):
    with pytest.raises(ValueError, match=r"x: expected spatial sizes >= 2 \* modes = \(16, 16\).*\(10, 32\)"):
        rfft_modes(torch.randn(1, 10, 32), (8, 8), path=path)
    with pytest.raises(TypeError, match="x: expected a real tensor"):
        rfft_modes(torch.randn(4, 16, dtype=torch.complex64), (4,), path=path)
    with pytest.raises(TypeError, match="x: expected a floating or complex tensor"):
        rfft_modes(torch.ones(4, 16, dtype=torch.int64), (4,), path=path)
    with pytest.raises(ValueError, match="modes: expected every entry >= 1"):
        rfft_modes(torch.randn(4, 16), (0,), path=path)
    with pytest.raises(ValueError, match=r"size: expected output sizes >= \(8, 6\)"):
        irfft_modes(torch.zeros(8, 4, dtype=torch.complex64), (8, 5), path=path)
    with pytest.raises(ValueError, match="coefficients: expected a retained block"):
        irfft_modes(torch.zeros(7, 4, dtype=torch.complex64), (16, 16), path=path)
    with pytest.raises(ValueError, match="path: expected one of"):
        rfft_modes(torch.randn(4, 16), (4,), path="fftw")
    with pytest.raises(ValueError, match="norm: expected one of"):
        rfft_modes(torch.randn(4, 16), (4,), norm="unitary")


def test_gradcheck_reference_fp64():
    x = torch.randn(1, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: rfft_modes_reference(t, (3, 2)), (x,))
    block = torch.randn(1, 6, 3, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: irfft_modes_reference(t, (7, 4)), (block,))


@pytest.mark.parametrize("path", ["reference", "dft"])
def test_block_of_band_limited_signal_is_resolution_independent_at_nyquist(path):
    """A leading axis with exactly N = 2m points: the -m entry is the Nyquist bin (aliased +m and -m).

    Halving it splits the alias evenly between +m and -m, which is exact whenever the two
    components are equal -- signals even in y, such as cos(2 pi m y) (1 + cos(2 pi x)) -- and
    otherwise the symmetric estimate; without it the -m entry is twice the finer grid's
    (tolerance: fp64 round-off, 1e-12).
    """
    m = 4

    def signal(n):
        y = torch.arange(n, dtype=torch.float64)[:, None] / n
        x = torch.arange(16, dtype=torch.float64)[None, :] / 16
        return torch.cos(2 * torch.pi * m * y) * (1 + torch.cos(2 * torch.pi * x))

    coarse = rfft_modes(signal(2 * m), (m, 4), path=path)
    fine = rfft_modes(signal(4 * m), (m, 4), path=path)
    torch.testing.assert_close(coarse, fine, rtol=0, atol=1e-12)
    assert abs(float(fine[m, 0].real) - 0.5) < 1e-12 and abs(float(fine[m, 1].real) - 0.25) < 1e-12
