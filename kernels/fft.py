r"""Truncated real FFTs: the readable ``torch.fft`` reference.

Conventions (shared by every path of :mod:`sciml.kernels`)
-----------------------------------------------------------
For ``d`` spatial axes of sizes :math:`N_0, \dots, N_{d-1}` and retained modes
:math:`m_0, \dots, m_{d-1}`, the **retained block** of a real signal :math:`x` holds

.. math::
    \hat x_{k} = s_f \sum_{n} x_n \, e^{-2\pi i \sum_j k_j n_j / N_j},
    \qquad k_j \in \{0, \dots, m_j - 1\} \cup \{-m_j, \dots, -1\} \ (j < d-1),
    \quad k_{d-1} \in \{0, \dots, m_{d-1} - 1\},

stored with shape ``[..., 2 m_0, ..., 2 m_{d-2}, m_{d-1}]``: on every axis but the last
the non-negative frequencies come first, then the negative ones (``-m_j`` at index
``m_j``); the last axis holds only non-negative frequencies (real signals are
Hermitian). When a leading axis has exactly :math:`N_j = 2 m_j` points, its entry
:math:`-m_j` is the Nyquist bin, which holds the aliased sum of the :math:`+m_j` and
:math:`-m_j` components; it is halved, splitting the alias evenly between the two. The block of a
band-limited signal then equals a finer grid's whenever the two aliased components are
equal (signals even along that axis) and is the symmetric estimate otherwise; unhalved,
the entry would be twice the finer grid's for such signals. The scale :math:`s_f` is ``1/N`` for ``norm="forward"`` (the default:
coefficients approximate the continuous Fourier coefficients, so weights learned
at one resolution mean the same at another), ``1`` for ``"backward"`` and
``1/sqrt(N)`` for ``"ortho"``, with :math:`N = \prod_j N_j`.

The inverse zero-pads the block to any output size :math:`M_j` and returns

.. math::
    y_n = s_i \sum_{k \in \text{block}} c_k \,
          \operatorname{Re}\!\big(\hat y_k \, e^{2\pi i \sum_j k_j n_j / M_j}\big),
    \qquad c_k = \begin{cases} 1 & k_{d-1} = 0 \text{ or } 2 k_{d-1} = M_{d-1} \\
                               2 & \text{otherwise,} \end{cases}

i.e. the real signal whose half spectrum is the padded block; the imaginary parts of
the DC and Nyquist columns of the last axis do not contribute. This map is the same on
every backend: the reference applies complex inverse FFTs on the leading axes and a 1D
complex-to-real FFT on the last one after zeroing those imaginary parts *out of place*
(multi-dimensional C2R transforms of non-Hermitian input differ between cuFFT and
pocketFFT, and in-place writes would break autograd).

Both directions are computed axis by axis and pruned: the forward transform runs the
leading-axis FFTs on the ``m_{d-1}`` retained columns only, the inverse likewise before
expanding the last axis. Nothing but the inputs' shapes is kept for the backward pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ._validate import (
    as_int_tuple,
    as_working_complex,
    as_working_real,
    check_norm,
    check_resolution,
    modes_of_block,
    multiplicities,
)

__all__ = ["check_inverse_size", "check_output_size", "halve_aliased_nyquist", "last_axis_weights", "rfft_modes_reference", "irfft_modes_reference"]


def rfft_modes_reference(x: torch.Tensor, modes: Sequence[int], norm: str = "forward") -> torch.Tensor:
    r"""Retained Fourier block of the last ``len(modes)`` axes of real ``x`` (torch.fft reference).

    Parameters
    ----------
    x : real tensor ``[..., N_0, ..., N_{d-1}]``
        float32/float64 (float16/bfloat16 are upcast to float32).
    modes : sequence of ``d`` ints, ``1 <= d <= 3``
        Retained modes per axis; requires ``N_j >= 2 m_j``.
    norm : {"forward", "backward", "ortho"}

    Returns
    -------
    complex tensor ``[..., 2 m_0, ..., 2 m_{d-2}, m_{d-1}]`` (see the module docstring).

    Examples
    --------
    >>> x = torch.cos(2 * torch.pi * 3 * torch.arange(16) / 16)
    >>> rfft_modes_reference(x, [4]).abs().round(decimals=3)
    tensor([0.0000, 0.0000, 0.0000, 0.5000])
    """
    x = as_working_real(x, "x")
    modes = as_int_tuple(modes, "modes")
    check_norm(norm)
    d = len(modes)
    check_forward_size(x, modes)
    coefficients = torch.fft.rfft(x, dim=-1, norm=norm).narrow(-1, 0, modes[-1])
    for axis in range(d - 1):
        dim = axis - d
        coefficients = torch.fft.fft(coefficients, dim=dim, norm=norm)
        coefficients = gather_low_frequencies(coefficients, dim, modes[axis])
    return halve_aliased_nyquist(coefficients, x.shape[-d:], modes)


def irfft_modes_reference(coefficients: torch.Tensor, size: Sequence[int], norm: str = "forward") -> torch.Tensor:
    r"""Real signal of spatial ``size`` whose spectrum is the zero-padded retained block.

    Parameters
    ----------
    coefficients : complex tensor ``[..., 2 m_0, ..., 2 m_{d-2}, m_{d-1}]``
    size : sequence of ``d`` ints
        Output sizes :math:`M_j`: any resolution with ``M_j >= 2 m_j`` on the leading axes
        and ``M_{d-1} // 2 + 1 >= m_{d-1}`` on the last.
    norm : {"forward", "backward", "ortho"}

    Returns
    -------
    real tensor ``[..., M_0, ..., M_{d-1}]``.

    Examples
    --------
    >>> block = torch.zeros(4, dtype=torch.complex64)
    >>> block[3] = 0.5                               # cos(2 pi 3 x), at any resolution
    >>> irfft_modes_reference(block, [8])[:3]
    tensor([ 1.0000, -0.7071,  0.0000])
    """
    coefficients = as_working_complex(coefficients, "coefficients")
    check_norm(norm)
    d = len(as_int_tuple(size, "size"))
    size = check_inverse_size(coefficients, size)
    modes = modes_of_block(coefficients.shape[-d:], "coefficients")
    spectrum = coefficients
    for axis in range(d - 1):
        dim = axis - d
        spectrum = pad_low_frequencies(spectrum, dim, modes[axis], size[axis])
        spectrum = torch.fft.ifft(spectrum, dim=dim, norm=norm)
    spectrum = real_dc_and_nyquist(spectrum, size[-1])
    return torch.fft.irfft(spectrum, n=size[-1], dim=-1, norm=norm)


# -- helpers shared by the paths -----------------------------------------------------------------
def gather_low_frequencies(spectrum: torch.Tensor, dim: int, m: int) -> torch.Tensor:
    """Frequencies ``0..m-1`` then ``-m..-1`` of a full FFT axis ``dim``."""
    n = spectrum.shape[dim]
    return torch.cat([spectrum.narrow(dim, 0, m), spectrum.narrow(dim, n - m, m)], dim=dim)


def halve_aliased_nyquist(block: torch.Tensor, sizes: Sequence[int], modes: Sequence[int]) -> torch.Tensor:
    """Halve the entry ``-m`` of every leading axis with exactly ``N = 2 m`` points (out of place).

    That entry is the Nyquist bin, the aliased sum of the ``+m`` and ``-m`` components; the
    block keeps only ``-m`` and gets half the sum (exact when the two components are equal).
    """
    d = len(modes)
    for axis in range(d - 1):
        n, m = sizes[axis], modes[axis]
        if n == 2 * m:
            scale = torch.ones(2 * m, dtype=block.real.dtype, device=block.device)
            scale[m] = 0.5
            block = block * scale.reshape((2 * m,) + (1,) * (d - 1 - axis))
    return block


def pad_low_frequencies(block: torch.Tensor, dim: int, m: int, n: int) -> torch.Tensor:
    """Inverse of :func:`gather_low_frequencies`: zeros for the ``n - 2m`` high frequencies."""
    shape = list(block.shape)
    shape[dim] = n - 2 * m
    zeros = block.new_zeros(shape)
    return torch.cat([block.narrow(dim, 0, m), zeros, block.narrow(dim, m, m)], dim=dim)


def real_dc_and_nyquist(spectrum: torch.Tensor, n: int) -> torch.Tensor:
    """Drop the imaginary parts of the DC (and, if present, Nyquist) entries of the last axis.

    Out of place (``torch.cat``), so autograd sees a plain linear map whose gradient
    with respect to those imaginary parts is zero, as the C2R transform implies.
    """
    k = spectrum.shape[-1]
    nyquist = n // 2 if n % 2 == 0 and n // 2 < k else None
    pieces = [torch.complex(spectrum[..., :1].real, torch.zeros_like(spectrum[..., :1].real))]
    if nyquist is None:
        pieces.append(spectrum[..., 1:])
    else:
        entry = spectrum[..., nyquist:nyquist + 1].real
        pieces += [spectrum[..., 1:nyquist], torch.complex(entry, torch.zeros_like(entry)),
                   spectrum[..., nyquist + 1:]]
    return torch.cat(pieces, dim=-1)


def last_axis_weights(n: int, m: int, dtype: torch.dtype, device) -> torch.Tensor:
    r"""The multiplicities :math:`c_k` (1 at DC and Nyquist, else 2) of ``m`` last-axis modes of size ``n``."""
    return torch.as_tensor(multiplicities(n, m), dtype=dtype, device=device)


def check_forward_size(x: torch.Tensor, modes: Sequence[int]) -> None:
    """``x`` has the ``len(modes)`` spatial axes and each holds its modes (``N >= 2 m``)."""
    d = len(modes)
    if x.ndim < d:
        raise ValueError(f"x: expected at least {d} dimensions for modes {tuple(modes)}, got shape {tuple(x.shape)}")
    check_resolution(tuple(x.shape[-d:]), modes, "x")


def check_inverse_size(coefficients: torch.Tensor, size: Sequence[int]) -> tuple[int, ...]:
    """Validate an output ``size`` for a retained block; returns it as a tuple of ints."""
    size = as_int_tuple(size, "size")
    d = len(size)
    if coefficients.ndim < d:
        raise ValueError(f"coefficients: expected at least {d} dimensions for size {size}, "
                         f"got shape {tuple(coefficients.shape)}")
    return check_output_size(tuple(coefficients.shape[-d:]), size)


def check_output_size(block: Sequence[int], size: Sequence[int]) -> tuple[int, ...]:
    """Validate an output ``size`` for a retained block of shape ``block`` (``len(block)`` axes)."""
    size = as_int_tuple(size, "size", len(block))
    modes = modes_of_block(block, "coefficients")
    smallest = tuple(2 * m for m in modes[:-1]) + (max(1, 2 * modes[-1] - 2),)
    if any(s < lo for s, lo in zip(size, smallest)):
        raise ValueError(f"size: expected output sizes >= {smallest} to hold the retained block of shape "
                         f"{tuple(block)}, got {size}")
    return size
