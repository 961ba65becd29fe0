r"""CuPy path for CUDA tensors: cuFFT with cached plans and a fused mode-mixing kernel.

Everything here runs on the caller's CUDA tensors without copies: tensors cross to CuPy
and back through DLPack, CuPy runs on the **current torch stream** (an
``ExternalStream``) and allocates through torch's caching allocator (a
``PythonFunctionAllocator`` installed with ``cupy.cuda.using_allocator``, a thread-local
context, so nothing is switched globally and torch's peak-memory statistics include
CuPy's temporaries). cuFFT plans are cached by CuPy's per-device plan cache
(``cupy.fft.config.get_plan_cache()``), so a plan is built once per shape.

Three ``torch.autograd.Function`` s have exact backward passes written as the adjoint maps
(see :mod:`sciml.kernels.fft` for :math:`R` (forward, unscaled), :math:`I` (inverse,
unscaled), the norms :math:`s_f, s_i` and the multiplicities :math:`c_k`):

=====================  ===============================  ==========================================
function               forward                          backward
=====================  ===============================  ==========================================
truncated rfft         :math:`s_f R(x)`                 :math:`s_f\, I(g / c)`
truncated irfft        :math:`s_i I(\hat y)`            :math:`s_i\, c \odot R(g)`
mode mixing            :math:`\sum_i \hat x_{bik} W_{iok}`  :math:`\sum_o g_{bok} \bar W_{iok}`, :math:`\sum_b \bar{\hat x}_{bik} g_{bok}`
=====================  ===============================  ==========================================

The mixing kernel (``_MIX_SOURCE``) computes ``out[p, q, k] = sum_r op(A[p, r, k]) op(B[r, q, k])``
for strided complex operands with optional conjugation; the forward pass and both
gradients are the same kernel with different strides. CuPy is imported lazily; a missing
CuPy raises ``ImportError`` saying ``pip install 'sciml[gpu]'``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch.autograd.function import once_differentiable

from ._validate import multiplicities, norm_scales

__all__ = ["cupy_available", "import_cupy", "cupy_rfft_modes", "cupy_irfft_modes", "cupy_mix_modes"]

INSTALL_HINT = "pip install 'sciml[gpu]'"
_Q_TILE = 8
_THREADS = 128

_MIX_SOURCE = r"""
extern "C" __global__ void mix_modes(const COMPLEX* __restrict__ a, const COMPLEX* __restrict__ b,
                                     COMPLEX* __restrict__ out, int P, int Q, int R, int K,
                                     long long a_sp, long long a_sr, long long b_sr, long long b_sq,
                                     int conj_a, int conj_b)
{
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    const int p = blockIdx.y;
    const int q0 = blockIdx.z * Q_TILE;
    if (k >= K) return;
    REAL acc_re[Q_TILE], acc_im[Q_TILE];
    #pragma unroll
    for (int t = 0; t < Q_TILE; ++t) { acc_re[t] = 0; acc_im[t] = 0; }
    const REAL sa = conj_a ? -1 : 1, sb = conj_b ? -1 : 1;
    for (int r = 0; r < R; ++r) {
        const COMPLEX av = a[p * a_sp + r * a_sr + k];
        const REAL are = av.x, aim = sa * av.y;
        #pragma unroll
        for (int t = 0; t < Q_TILE; ++t) {
            const int q = q0 + t;
            if (q < Q) {
                const COMPLEX bv = b[r * b_sr + q * b_sq + k];
                const REAL bre = bv.x, bim = sb * bv.y;
                acc_re[t] += are * bre - aim * bim;
                acc_im[t] += are * bim + aim * bre;
            }
        }
    }
    #pragma unroll
    for (int t = 0; t < Q_TILE; ++t) {
        const int q = q0 + t;
        if (q < Q) {
            COMPLEX v; v.x = acc_re[t]; v.y = acc_im[t];
            out[((long long)p * Q + q) * K + k] = v;
        }
    }
}
"""


def import_cupy():
    """Import CuPy, or raise an ``ImportError`` that says how to install it."""
    try:
        import cupy
    except ImportError as exc:
        raise ImportError(f"the 'cupy' spectral path needs CuPy; install it with {INSTALL_HINT} "
                          f"(import failed: {exc})") from exc
    return cupy


@functools.cache
def cupy_available() -> bool:
    """Whether CuPy imports and sees a CUDA device (probed once, on first use, not at import)."""
    if not torch.cuda.is_available():
        return False
    try:
        cupy = import_cupy()
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - any CuPy/driver failure means "not usable here"
        return False


@functools.cache
def _torch_allocator():
    cupy = import_cupy()

    def malloc(size: int, device_id: int) -> int:
        return torch.cuda.caching_allocator_alloc(size, device_id, torch.cuda.current_stream(device_id))

    def free(pointer: int, device_id: int) -> None:
        torch.cuda.caching_allocator_delete(pointer)

    return cupy.cuda.memory.PythonFunctionAllocator(malloc, free)


@contextmanager
def _cupy_on(tensor: torch.Tensor):
    """CuPy bound to ``tensor``'s device, the current torch stream and torch's allocator."""
    cupy = import_cupy()
    device = tensor.device.index if tensor.device.index is not None else torch.cuda.current_device()
    stream = torch.cuda.current_stream(device)
    with cupy.cuda.Device(device), cupy.cuda.using_allocator(_torch_allocator().malloc):
        with _external_stream(cupy, stream.cuda_stream, device):
            yield cupy


class _StreamHandle:
    """A CUDA stream pointer behind the ``__cuda_stream__`` protocol (version 0, pointer)."""

    def __init__(self, pointer: int):
        self.pointer = pointer

    def __cuda_stream__(self):
        return (0, self.pointer)


def _external_stream(cupy, pointer: int, device: int):
    """CuPy's view of a torch stream: ``Stream.from_external`` (CuPy >= 14) or ``ExternalStream``."""
    if hasattr(cupy.cuda.Stream, "from_external"):
        return cupy.cuda.Stream.from_external(_StreamHandle(pointer))
    return cupy.cuda.ExternalStream(pointer, device)


def _to_cupy(cupy, tensor: torch.Tensor):
    """Zero-copy view of a (contiguous) torch tensor; complex tensors travel as real pairs."""
    tensor = tensor.detach().contiguous()
    if not tensor.is_complex():
        return cupy.from_dlpack(tensor)
    pairs = cupy.from_dlpack(torch.view_as_real(tensor))
    dtype = cupy.complex64 if tensor.dtype == torch.complex64 else cupy.complex128
    return pairs.view(dtype).reshape(tuple(tensor.shape))


def _to_torch(cupy, array) -> torch.Tensor:
    array = cupy.ascontiguousarray(array)
    if array.dtype.kind != "c":
        return torch.from_dlpack(array)
    real = cupy.float32 if array.dtype == cupy.complex64 else cupy.float64
    return torch.view_as_complex(torch.from_dlpack(array.view(real).reshape(array.shape + (2,))))


# -- unscaled transforms on CuPy arrays ----------------------------------------------------------
def _forward_unscaled(cupy, x, modes: Sequence[int]):
    """:math:`R(x)`: retained block of the unnormalized real FFT of the last ``len(modes)`` axes."""
    d = len(modes)
    spectrum = cupy.fft.rfft(x, axis=-1)[..., :modes[-1]]
    for axis in range(d - 1):
        dim = axis - d
        spectrum = cupy.fft.fft(spectrum, axis=dim)
        n, m = spectrum.shape[dim], modes[axis]
        spectrum = cupy.concatenate([_take(spectrum, dim, 0, m), _take(spectrum, dim, n - m, n)], axis=dim)
    return spectrum


def _inverse_unscaled(cupy, block, size: Sequence[int]):
    """:math:`I(\\hat y)`: real signal of ``size`` from the zero-padded block, unnormalized."""
    d = len(size)
    spectrum = block
    for axis in range(d - 1):
        dim = axis - d
        m = spectrum.shape[dim] // 2
        shape = list(spectrum.shape)
        shape[dim] = size[axis]
        padded = cupy.zeros(shape, dtype=spectrum.dtype)
        padded[_slice(d, axis, 0, m)] = _take(spectrum, dim, 0, m)
        padded[_slice(d, axis, size[axis] - m, size[axis])] = _take(spectrum, dim, m, 2 * m)
        spectrum = cupy.fft.ifft(padded, axis=dim, norm="forward")
    spectrum = cupy.array(spectrum, copy=True) if spectrum is block else spectrum
    # Zero the DC (and Nyquist) imaginary parts: single-precision cuFFT C2R plans of some sizes
    # (128, 256, 1024, ...) do not ignore them. The real part is copied out first (``astype``):
    # assigning ``a[..., 0] = a[..., 0].real`` in place left the imaginary parts untouched.
    # ``spectrum`` is our own temporary, so autograd never sees these writes.
    n = size[-1]
    columns = [0] + ([n // 2] if n % 2 == 0 and n // 2 < spectrum.shape[-1] else [])
    for column in columns:
        spectrum[..., column] = spectrum[..., column].real.astype(spectrum.dtype)
    return cupy.fft.irfft(spectrum, n=n, axis=-1, norm="forward")


def _take(array, dim, start, stop):
    index = [slice(None)] * array.ndim
    index[dim] = slice(start, stop)
    return array[tuple(index)]


def _slice(d, axis, start, stop):
    return (Ellipsis, slice(start, stop)) + (slice(None),) * (d - 1 - axis)


def _multiplicities(cupy, n: int, m: int, dtype):
    """The :math:`c_k` of ``m`` last-axis modes of size ``n``, cached per device."""
    real = torch.float64 if cupy.dtype(dtype) == cupy.float64 else torch.float32
    return cupy.from_dlpack(_cached_multiplicities(n, m, real, cupy.cuda.Device().id))


@functools.lru_cache(maxsize=128)
def _cached_multiplicities(n, m, dtype, device) -> torch.Tensor:
    return torch.as_tensor(multiplicities(n, m), dtype=dtype, device=f"cuda:{device}")


class _TruncatedRfft(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, modes, norm):
        ctx.modes, ctx.norm, ctx.size = tuple(modes), norm, tuple(x.shape[-len(modes):])
        scale = norm_scales(norm, ctx.size)[0]
        with _cupy_on(x) as cupy:
            block = _forward_unscaled(cupy, _to_cupy(cupy, x), ctx.modes)
            block *= block.real.dtype.type(scale)
            return _to_torch(cupy, block)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        scale = norm_scales(ctx.norm, ctx.size)[0]
        with _cupy_on(grad) as cupy:
            g = _to_cupy(cupy, grad)
            c = _multiplicities(cupy, ctx.size[-1], ctx.modes[-1], g.real.dtype)
            g = g * (g.real.dtype.type(scale) / c)
            return _to_torch(cupy, _inverse_unscaled(cupy, g, ctx.size)), None, None


class _TruncatedIrfft(torch.autograd.Function):
    @staticmethod
    def forward(ctx, block, size, norm):
        ctx.size, ctx.norm = tuple(size), norm
        ctx.modes = tuple(s // 2 for s in block.shape[-len(size):-1]) + (block.shape[-1],)
        scale = norm_scales(norm, ctx.size)[1]
        with _cupy_on(block) as cupy:
            b = _to_cupy(cupy, block)
            if scale != 1.0:
                b = b * b.real.dtype.type(scale)
            return _to_torch(cupy, _inverse_unscaled(cupy, b, ctx.size))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        scale = norm_scales(ctx.norm, ctx.size)[1]
        with _cupy_on(grad) as cupy:
            g = _forward_unscaled(cupy, _to_cupy(cupy, grad), ctx.modes)
            c = _multiplicities(cupy, ctx.size[-1], ctx.modes[-1], g.real.dtype)
            g *= c * g.real.dtype.type(scale)
            return _to_torch(cupy, g), None, None


@functools.cache
def _mix_kernel(real: str):
    cupy = import_cupy()
    source = _MIX_SOURCE.replace("COMPLEX", f"{real}2").replace("REAL", real).replace("Q_TILE", str(_Q_TILE))
    return cupy.RawKernel(source, "mix_modes")


def _launch_mix(cupy, a, b, P, Q, R, K, a_sp, a_sr, b_sr, b_sq, conj_a, conj_b):
    out = cupy.empty((P, Q, K), dtype=a.dtype)
    kernel = _mix_kernel("float" if a.dtype == cupy.complex64 else "double")
    grid = (math.ceil(K / _THREADS), P, math.ceil(Q / _Q_TILE))
    kernel(grid, (_THREADS,), (a, b, out, cupy.int32(P), cupy.int32(Q), cupy.int32(R), cupy.int32(K),
                               cupy.int64(a_sp), cupy.int64(a_sr), cupy.int64(b_sr), cupy.int64(b_sq),
                               cupy.int32(conj_a), cupy.int32(conj_b)))
    return out


class _MixModes(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        batch, cin, *block = x.shape
        cout, k = weight.shape[1], math.prod(block)
        with _cupy_on(x) as cupy:
            xs, ws = _to_cupy(cupy, x), _to_cupy(cupy, torch.view_as_complex(weight.contiguous()))
            out = _launch_mix(cupy, xs, ws, batch, cout, cin, k, cin * k, k, cout * k, k, 0, 0)
            return _to_torch(cupy, out.reshape(batch, cout, *block))

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        batch, cin, *block = x.shape
        cout, k = weight.shape[1], math.prod(block)
        with _cupy_on(grad) as cupy:
            g = _to_cupy(cupy, grad)
            xs, ws = _to_cupy(cupy, x), _to_cupy(cupy, torch.view_as_complex(weight.contiguous()))
            grad_x = grad_w = None
            if ctx.needs_input_grad[0]:   # sum_o g[b,o,k] conj(W[i,o,k])
                grad_x = _to_torch(cupy, _launch_mix(cupy, g, ws, batch, cin, cout, k,
                                                     cout * k, k, k, cout * k, 0, 1).reshape(x.shape))
            if ctx.needs_input_grad[1]:   # sum_b conj(x[b,i,k]) g[b,o,k]
                grad_w = _to_torch(cupy, _launch_mix(cupy, xs, g, cin, cout, batch, k,
                                                     k, cin * k, cout * k, k, 1, 0).reshape(weight.shape[:-1]))
                grad_w = torch.view_as_real(grad_w)
            return grad_x, grad_w


def cupy_rfft_modes(x: torch.Tensor, modes: Sequence[int], norm: str = "forward") -> torch.Tensor:
    """Retained block by cuFFT (same contract as :func:`~sciml.kernels.fft.rfft_modes_reference`)."""
    return _TruncatedRfft.apply(x, tuple(modes), norm)


def cupy_irfft_modes(block: torch.Tensor, size: Sequence[int], norm: str = "forward") -> torch.Tensor:
    """Inverse by cuFFT (same contract as :func:`~sciml.kernels.fft.irfft_modes_reference`)."""
    return _TruncatedIrfft.apply(block, tuple(size), norm)


def cupy_mix_modes(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fused dense mixing (same contract as :func:`~sciml.kernels.mixing.mix_modes_reference`)."""
    return _MixModes.apply(x.contiguous(), weight.to(x.real.dtype))
