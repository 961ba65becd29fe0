r"""Path selection and the public transform / mixing entry points.

A *path* is one implementation of the same maps (:mod:`sciml.kernels.fft` states them):

=============  =============================================  ===================================
path           where                                          implementation
=============  =============================================  ===================================
``reference``  any device                                     ``torch.fft`` (readable reference)
``dft``        any device                                     truncated DFT matrices, real GEMMs
``cupy``       CUDA tensors, CuPy installed                   cuFFT + fused mixing kernel
=============  =============================================  ===================================

``path="auto"`` (the default) looks only at the inputs — device, dtype, sizes — and at
whether CuPy can be imported (probed lazily, once); nothing is switched at import:

* ``dft`` when :func:`dft_is_faster` says so (CPU or CUDA);
* otherwise, for a CUDA tensor with CuPy usable, ``cupy``;
* otherwise ``reference``.

:func:`dft_is_faster` encodes the crossover measured with
``python benchmarks/spectral.py --crossover`` on the development CPU (see
``benchmarks/README.md``): on CPU the matrix product wins when every axis keeps at most
a quarter of its size (``m_j <= N_j / 4``), or when the grid is small
(``N_j <= 32`` on every axis, where FFT call overheads dominate). On CUDA (an H100, 2D
layers of 64² to 1024², batch 8, 32/64 channels, 16/32 modes) the truncated DFT on the
tensor cores' FP32 GEMMs was the fastest path at every measured point (1.0x to 3.4x the
cuFFT reference), so it is chosen inside that measured region (``m_j <= 32`` and
``N_j <= 1024``); outside it the FFT paths are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._validate import as_int_tuple, as_working_real, check_norm, check_path, modes_of_block
from .cupy_backend import cupy_available, cupy_irfft_modes, cupy_mix_modes, cupy_rfft_modes, import_cupy
from .dft import irfft_modes_dft, rfft_modes_dft
from .fft import (
    check_forward_size,
    check_inverse_size,
    halve_aliased_nyquist,
    irfft_modes_reference,
    rfft_modes_reference,
)
from .mixing import check_mixing_shapes, mix_modes_real

__all__ = ["choose_path", "dft_is_faster", "irfft_modes", "mix_modes", "rfft_modes"]

DFT_MAX_MODE_FRACTION = 1 / 4    # measured crossover, benchmarks/README.md "Crossover"
DFT_SMALL_GRID = 32
DFT_CUDA_MAX_MODES, DFT_CUDA_MAX_SIZE = 32, 1024   # measured region on an H100


def dft_is_faster(sizes: Sequence[int], modes: Sequence[int], device: torch.device | str = "cpu") -> bool:
    """Whether the truncated DFT beats the FFT for these spatial ``sizes`` and retained ``modes``.

    The measured rules of the module docstring: one for CPUs, one for CUDA devices.

    Examples
    --------
    >>> dft_is_faster((128, 128), (16, 16)), dft_is_faster((64, 64), (32, 32))
    (True, False)
    >>> dft_is_faster((64, 64), (16, 16), device="cuda"), dft_is_faster((2048, 2048), (16, 16), device="cuda")
    (True, False)
    """
    kind = torch.device(device).type
    if kind == "cuda":
        return all(m <= DFT_CUDA_MAX_MODES and n <= DFT_CUDA_MAX_SIZE for n, m in zip(sizes, modes))
    if kind != "cpu":
        return False
    if all(n <= DFT_SMALL_GRID for n in sizes):
        return True
    return all(m <= n * DFT_MAX_MODE_FRACTION for n, m in zip(sizes, modes))


def choose_path(tensor: torch.Tensor, sizes: Sequence[int], modes: Sequence[int], path: str = "auto") -> str:
    """Resolve ``path`` for an input ``tensor`` with spatial ``sizes`` and retained ``modes``.

    A forced path is checked: ``"cupy"`` needs a CUDA tensor and CuPy (``ImportError`` naming
    ``pip install 'sciml[gpu]'`` otherwise).

    Examples
    --------
    >>> choose_path(torch.zeros(1, 1, 256, 256), (256, 256), (16, 16))
    'dft'
    >>> choose_path(torch.zeros(1, 1, 256, 256), (256, 256), (16, 16), path="reference")
    'reference'
    """
    check_path(path)
    if path == "cupy":
        if tensor.device.type != "cuda":
            raise ValueError(f"path: 'cupy' needs CUDA tensors, got a tensor on {tensor.device}")
        import_cupy()
        return "cupy"
    if path != "auto":
        return path
    if dft_is_faster(sizes, modes, tensor.device):
        return "dft"
    return "cupy" if tensor.device.type == "cuda" and cupy_available() else "reference"


def rfft_modes(x: torch.Tensor, modes: int | Sequence[int], *, norm: str = "forward",
               path: str = "auto") -> torch.Tensor:
    r"""Retained Fourier block of the last ``d = len(modes)`` axes of real ``x``.

    Parameters
    ----------
    x : real tensor ``[..., N_0, ..., N_{d-1}]``, float32/float64 (half precision is upcast)
    modes : sequence of ``d`` ints (``1 <= d <= 3``), ``N_j >= 2 m_j``
    norm : {"forward", "backward", "ortho"}
        ``"forward"`` (default) scales by ``1/N``: resolution-independent coefficients.
    path : {"auto", "reference", "dft", "cupy"}

    Returns
    -------
    complex tensor ``[..., 2 m_0, ..., 2 m_{d-2}, m_{d-1}]``: frequencies ``0..m-1`` then
    ``-m..-1`` on the leading axes, ``0..m-1`` on the last.

    Examples
    --------
    >>> x = torch.sin(2 * torch.pi * torch.arange(64) / 64).expand(64, 64)   # sin(2 pi y)
    >>> block = rfft_modes(x, (4, 4))
    >>> block.shape, round(float(block[0, 1].imag), 6)
    (torch.Size([8, 4]), -0.5)
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a torch.Tensor, got {type(x).__name__}")
    modes = as_int_tuple(modes, "modes", None if not isinstance(modes, int) else 1)
    check_norm(norm)
    check_forward_size(x, modes)
    chosen = choose_path(x, x.shape[-len(modes):], modes, path)
    if chosen == "cupy":
        block = cupy_rfft_modes(as_working_real(x, "x"), modes, norm)
        return halve_aliased_nyquist(block, x.shape[-len(modes):], modes)
    return (rfft_modes_dft if chosen == "dft" else rfft_modes_reference)(x, modes, norm)


def irfft_modes(coefficients: torch.Tensor, size: int | Sequence[int], *, norm: str = "forward",
                path: str = "auto") -> torch.Tensor:
    r"""Real signal of spatial ``size`` whose spectrum is the zero-padded retained block.

    Resolution-agnostic: any ``size`` with ``M_j >= 2 m_j`` (leading axes) and
    ``M_{d-1} // 2 + 1 >= m_{d-1}`` works; the block means the same function at every size.

    Parameters
    ----------
    coefficients : complex tensor ``[..., 2 m_0, ..., 2 m_{d-2}, m_{d-1}]``
    size : sequence of ``d`` ints
    norm, path : as in :func:`rfft_modes`

    Returns
    -------
    real tensor ``[..., *size]``.

    Examples
    --------
    >>> x = torch.randn(2, 32, 32, dtype=torch.float64)
    >>> smooth = irfft_modes(rfft_modes(x, (6, 6)), (32, 32))          # low-pass filter
    >>> fine = irfft_modes(rfft_modes(x, (6, 6)), (96, 96))            # same function, 3x finer
    >>> torch.allclose(fine[:, ::3, ::3], smooth)
    True
    """
    if not isinstance(coefficients, torch.Tensor):
        raise TypeError(f"coefficients: expected a torch.Tensor, got {type(coefficients).__name__}")
    check_norm(norm)
    size = check_inverse_size(coefficients, (size,) if isinstance(size, int) else size)
    modes = modes_of_block(coefficients.shape[-len(size):], "coefficients")
    chosen = choose_path(coefficients, size, modes, path)
    if chosen == "cupy":
        working = coefficients.to(torch.complex128 if coefficients.dtype == torch.complex128 else torch.complex64)
        return cupy_irfft_modes(working, size, norm)
    return (irfft_modes_dft if chosen == "dft" else irfft_modes_reference)(coefficients, size, norm)


def mix_modes(x: torch.Tensor, weight: torch.Tensor, *, path: str = "auto") -> torch.Tensor:
    r"""Dense mode mixing :math:`\hat y_{bok} = \sum_i \hat x_{bik} W_{iok}`.

    Parameters
    ----------
    x : complex tensor ``[B, I, *block]``
    weight : real tensor ``[I, O, *block, 2]`` (complex weights as real pairs)
    path : {"auto", "reference", "dft", "cupy"}
        ``"cupy"`` runs the fused CUDA kernel; every other path one real batched GEMM
        (:func:`~sciml.kernels.mixing.mix_modes_real`).

    Returns
    -------
    complex tensor ``[B, O, *block]``.

    Examples
    --------
    >>> x = torch.randn(2, 3, 8, 4, dtype=torch.complex128)
    >>> w = torch.randn(3, 5, 8, 4, 2, dtype=torch.float64)
    >>> y = mix_modes(x, w)
    >>> torch.allclose(y[1, 4], (x[1, :, None] * torch.view_as_complex(w)).sum(0)[4])
    True
    """
    if not isinstance(x, torch.Tensor) or not x.is_complex():
        raise TypeError(f"x: expected a complex tensor [batch, channels, *block], got "
                        f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")
    check_mixing_shapes(x, weight)
    chosen = choose_path(x, (), (), path) if path in ("auto", "cupy") else check_path(path)
    if chosen == "cupy":
        return cupy_mix_modes(x, weight)
    return mix_modes_real(x, weight)

