"""Argument checks and dtype policy shared by the spectral kernels.

Every check raises an exception naming the argument, what was expected and what
was received. The dtype policy is written down once, here:

* float32 / complex64 and float64 / complex128 are computed as they are;
* float16 / bfloat16 (and complex32) are **upcast** to float32 / complex64 for the
  transforms (FFT libraries have no reliable half-precision real transforms of
  arbitrary sizes), and results of real-valued outputs are cast back to the input
  dtype by the layer (:class:`~sciml.kernels.SpectralConv`);
* anything else (integers, bool) is rejected with a ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

#: paths the spectral ops accept (``path=``)
PATHS = ("auto", "reference", "dft", "cupy")
NORMS = ("forward", "backward", "ortho")
_HALF = (torch.float16, torch.bfloat16)


def working_real_dtype(tensor: torch.Tensor, name: str) -> torch.dtype:
    """Real dtype the transforms compute in for ``tensor`` (half precision upcast to float32)."""
    dtype = tensor.dtype
    if dtype in (torch.float32, torch.complex64) or dtype in _HALF or dtype == torch.complex32:
        return torch.float32
    if dtype in (torch.float64, torch.complex128):
        return torch.float64
    raise TypeError(
        f"{name}: expected a floating or complex tensor (float16/bfloat16 are upcast to float32), "
        f"got dtype {dtype}"
    )


def as_working_real(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as a real float32/float64 tensor, upcasting half precision; rejects complex input."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():
        raise TypeError(f"{name}: expected a real tensor, got dtype {x.dtype}")
    return x.to(working_real_dtype(x, name))


def as_working_complex(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` as complex64/complex128 (real input is promoted, half precision upcast)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    real = working_real_dtype(x, name)
    return x.to(torch.complex64 if real == torch.float32 else torch.complex128)


def check_modes_first(stacked, modes: int, channels: int | None = None, name: str = "stacked") -> None:
    """``stacked`` must be a real ``[K=modes, batch, 2 * channels]`` tensor (the modes-first layout).

    ``channels=None`` accepts any channel count (the last dimension must still be even).
    """
    if isinstance(stacked, torch.Tensor) and not stacked.is_complex() and stacked.ndim == 3 \
            and stacked.shape[0] == modes and stacked.shape[2] % 2 == 0 \
            and (channels is None or stacked.shape[2] == 2 * channels):
        return
    last = "2 * channels" if channels is None else f"2 * channels={2 * channels}"
    got = (f"shape {tuple(stacked.shape)}, dtype {stacked.dtype}" if isinstance(stacked, torch.Tensor)
           else type(stacked).__name__)
    raise ValueError(f"{name}: expected a real tensor [K={modes}, batch, {last}], got {got}")


def complex_dtype_of(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


def as_int_tuple(value, name: str, ndim: int | None = None, minimum: int = 1) -> tuple[int, ...]:
    """Normalize an int or a sequence of ints to a tuple, broadcasting an int to ``ndim`` entries."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected an int or a sequence of ints, got {value!r}")
    if isinstance(value, int):
        if ndim is None:
            raise TypeError(f"{name}: expected a sequence of ints (one per axis), got the int {value}")
        value = (value,) * ndim
    if not isinstance(value, Sequence) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise TypeError(f"{name}: expected an int or a sequence of ints, got {value!r}")
    value = tuple(int(v) for v in value)
    if ndim is not None and len(value) != ndim:
        raise ValueError(f"{name}: expected {ndim} entries (one per spatial axis), got {value}")
    if not 1 <= len(value) <= 3:
        raise ValueError(f"{name}: expected 1, 2 or 3 entries (1D, 2D or 3D), got {value}")
    if any(v < minimum for v in value):
        raise ValueError(f"{name}: expected every entry >= {minimum}, got {value}")
    return value


def check_path(path: str) -> str:
    if path not in PATHS:
        raise ValueError(f"path: expected one of {PATHS}, got {path!r}")
    return path


def check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"norm: expected one of {NORMS}, got {norm!r}")
    return norm


def check_resolution(spatial: Sequence[int], modes: Sequence[int], name: str) -> None:
    """Every spatial size must hold the retained modes: ``size >= 2 * modes`` on every axis."""
    if len(spatial) != len(modes):
        raise ValueError(f"{name}: expected {len(modes)} spatial axes for modes {tuple(modes)}, "
                         f"got spatial shape {tuple(spatial)}")
    small = [(s, m) for s, m in zip(spatial, modes) if s < 2 * m]
    if small:
        raise ValueError(
            f"{name}: expected spatial sizes >= 2 * modes = {tuple(2 * m for m in modes)} on every axis, "
            f"got spatial shape {tuple(spatial)} for modes {tuple(modes)}"
        )


def multiplicities(n: int, m: int) -> np.ndarray:
    r"""The :math:`c_k` of ``m`` last-axis modes of a real signal of size ``n``, float64.

    1 at DC and (when ``n`` is even and ``n // 2 < m``) at Nyquist, 2 elsewhere: each other
    retained frequency stands for itself and its conjugate.
    """
    weights = np.full(m, 2.0)
    weights[0] = 1.0
    if n % 2 == 0 and n // 2 < m:
        weights[n // 2] = 1.0
    return weights


def block_shape(modes: Sequence[int]) -> tuple[int, ...]:
    """Shape of the retained block: ``2 m`` on every axis but the last, ``m`` on the last."""
    return tuple(2 * m for m in modes[:-1]) + (modes[-1],)


def modes_of_block(shape: Sequence[int], name: str) -> tuple[int, ...]:
    """Inverse of :func:`block_shape`; the non-last axes must have even length."""
    if any(s % 2 for s in shape[:-1]) or any(s < 1 for s in shape):
        raise ValueError(
            f"{name}: expected a retained block of shape (2*m_0, ..., 2*m_(d-2), m_(d-1)) with even "
            f"lengths on every axis but the last, got {tuple(shape)}"
        )
    return tuple(s // 2 for s in shape[:-1]) + (shape[-1],)


def norm_scales(norm: str, sizes: Sequence[int]) -> tuple[float, float]:
    """(forward scale, inverse scale) of a transform of ``sizes`` under ``norm``."""
    total = 1
    for s in sizes:
        total *= s
    return {"forward": (1.0 / total, 1.0), "backward": (1.0, 1.0 / total),
            "ortho": (total ** -0.5, total ** -0.5)}[norm]
