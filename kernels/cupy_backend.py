r"""CuPy path for CUDA tensors: cuFFT with cached plans and a fused mode-mixing kernel.

Everything here runs on the caller's CUDA tensors without copies: tensors cross to CuPy
and back through DLPack, CuPy runs on the **current torch stream** (an
``ExternalStream``) and allocates through torch's caching allocator (a
``PythonFunctionAllocator`` installed with ``cupy.cuda.using_allocator``, a thread-local
context, so nothing is switched globally and torch's peak-memory statistics include
CuPy's temporaries). cuFFT plans are cached by CuPy's own plan cache (per device and thread,
``cupy.fft.config.get_plan_cache()``, 16 plans by default), so a plan is built once per shape
while it stays cached. One spectral layer at one input shape uses about ``2 d`` plans (an R2C
and ``d - 1`` C2C transforms forward, as many inverse; backward passes reuse them), so a
model trained at one batch size and evaluated at other batch sizes and resolutions can need more
than 16: :func:`set_cupy_plan_cache_size` sets CuPy's cache to the kernels' one cache setting,
:data:`sciml.kernels.dft.CACHE_SIZE`, when called -- sciml never changes CuPy's global state on
its own. The other cache here (last-axis multiplicities per size and device) holds
:data:`~sciml.kernels.dft.CACHE_SIZE` entries like the DFT and DCT matrix caches.

The mixing kernel's launch geometry (:func:`mix_launch_geometry`) is plain Python, tested on any
machine: the batch is folded into the grid's x axis (limit 2^31 - 1) instead of its y axis (limit
65535), and launches are split where even that would not fit.

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
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from . import dft
from ._validate import multiplicities, norm_scales
from .dft import bounded_cache

__all__ = ["MAX_GRID", "MixLaunch", "cupy_available", "cupy_irfft_modes", "cupy_mix_modes", "cupy_rfft_modes",
           "import_cupy", "mix_launch_geometry", "set_cupy_plan_cache_size"]

INSTALL_HINT = "pip install 'sciml[gpu]'"
_Q_TILE = 8
_THREADS = 128

#: CUDA's grid limits (x, y, z): gridDim.y and gridDim.z are at most 65535 on every device.
MAX_GRID = (2**31 - 1, 65535, 65535)

# One thread per (p, mode k) and tile of Q_TILE columns q. The grid's x axis enumerates
# (p, block of modes) pairs -- p_count * k_blocks of them, up to 2^31 - 1 -- and its y axis the
# q tiles; launches that would exceed either limit are split by mix_launch_geometry, each
# launch covering p in [p_start, p_start + p_count) and q tiles from q_tile_start.
_MIX_SOURCE = r"""
extern "C" __global__ void mix_modes(const COMPLEX* __restrict__ a, const COMPLEX* __restrict__ b,
                                     COMPLEX* __restrict__ out, int P, int Q, int R, int K,
                                     long long a_sp, long long a_sr, long long b_sr, long long b_sq,
                                     int conj_a, int conj_b, int p_start, int k_blocks, int q_tile_start)
{
    const int p = p_start + (int)(blockIdx.x / k_blocks);
    const int k = (int)(blockIdx.x % k_blocks) * blockDim.x + threadIdx.x;
    const int q0 = (q_tile_start + (int)blockIdx.y) * Q_TILE;
    if (k >= K || p >= P) return;
    REAL acc_re[Q_TILE], acc_im[Q_TILE];
    #pragma unroll
    for (int t = 0; t < Q_TILE; ++t) { acc_re[t] = 0; acc_im[t] = 0; }
    const REAL sa = conj_a ? -1 : 1, sb = conj_b ? -1 : 1;
    for (int r = 0; r < R; ++r) {
        const COMPLEX av = a[(long long)p * a_sp + (long long)r * a_sr + k];
        const REAL are = av.x, aim = sa * av.y;
        #pragma unroll
        for (int t = 0; t < Q_TILE; ++t) {
            const int q = q0 + t;
            if (q < Q) {
                const COMPLEX bv = b[(long long)r * b_sr + (long long)q * b_sq + k];
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


@dataclass(frozen=True)
class MixLaunch:
    """One launch of the mixing kernel: rows ``p`` in ``[p_start, p_stop)``, q tiles ``[q_tile_start, q_tile_stop)``.

    ``grid`` is ``((p_stop - p_start) * k_blocks, q_tile_stop - q_tile_start, 1)``; block ``(threads,)``.
    """

    p_start: int
    p_stop: int
    q_tile_start: int
    q_tile_stop: int
    k_blocks: int

    @property
    def grid(self) -> tuple[int, int, int]:
        return ((self.p_stop - self.p_start) * self.k_blocks, self.q_tile_stop - self.q_tile_start, 1)


def mix_launch_geometry(P: int, Q: int, K: int, threads: int = _THREADS, q_tile: int = _Q_TILE,
                        max_grid: tuple[int, int, int] = MAX_GRID) -> list[MixLaunch]:
    """Launches of the mixing kernel covering ``out[P, Q, K]`` once, each within CUDA's grid limits.

    Pure Python (no CuPy): the kernel's x axis runs over ``(p, block of threads modes)`` pairs,
    its y axis over tiles of ``q_tile`` columns. Rows ``p`` are split into chunks of at most
    ``max_grid[0] // k_blocks`` and q tiles into chunks of at most ``max_grid[1]``, so any batch
    size works (one launch in every practical case: the x limit is 2^31 - 1).

    Parameters
    ----------
    P, Q, K : int
        Rows, columns and modes of the output (``P`` is the batch in the forward pass).
    threads, q_tile : int
        Threads per block (modes per block) and columns per thread.
    max_grid : tuple of 3 int
        Grid limits (x, y, z); CUDA's by default.

    Examples
    --------
    >>> [launch.grid for launch in mix_launch_geometry(100_000, 32, 256)]
    [(200000, 4, 1)]
    >>> len(mix_launch_geometry(10, 4, 1000, threads=100, max_grid=(25, 65535, 65535)))
    5
    """
    for name, value in (("P", P), ("Q", Q), ("K", K), ("threads", threads), ("q_tile", q_tile)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name in ("P", "Q", "K") else 1):
            raise ValueError(f"{name}: expected a non-negative int (positive for threads, q_tile), got {value!r}")
    if P == 0 or Q == 0 or K == 0:
        return []
    k_blocks = math.ceil(K / threads)
    if k_blocks > max_grid[0]:
        raise ValueError(f"K: {K} modes need {k_blocks} blocks of {threads} threads, more than the grid's "
                         f"x limit {max_grid[0]}")
    p_chunk, q_tiles, q_chunk = max_grid[0] // k_blocks, math.ceil(Q / q_tile), max_grid[1]
    return [MixLaunch(p, min(P, p + p_chunk), t, min(q_tiles, t + q_chunk), k_blocks)
            for p in range(0, P, p_chunk) for t in range(0, q_tiles, q_chunk)]


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
    except Exception:
        return False


def set_cupy_plan_cache_size(size: int | None = None, device: int | None = None) -> int:
    """Resize CuPy's cuFFT plan cache of ``device`` (current thread) to ``size`` plans; returns the old size.

    ``size`` defaults to :data:`sciml.kernels.dft.CACHE_SIZE`. This changes CuPy's state for
    every user of CuPy in the thread, which is why sciml only does it when asked.

    Parameters
    ----------
    size : int, optional
        Plans kept (CuPy's default is 16); ``None``: :data:`~sciml.kernels.dft.CACHE_SIZE`.
    device : int, optional
        CUDA device index; the current one by default.
    """
    size = dft.CACHE_SIZE if size is None else size
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size: expected a non-negative number of plans, got {size!r}")
    cupy = import_cupy()
    with cupy.cuda.Device(device):                        # None: the current device
        cache = cupy.fft.config.get_plan_cache()
        previous = cache.get_size()
        cache.set_size(size)
    return previous


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
    with cupy.cuda.Device(device), cupy.cuda.using_allocator(_torch_allocator().malloc), \
            _external_stream(cupy, stream.cuda_stream, device):
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


@bounded_cache          # sciml.kernels.dft.CACHE_SIZE entries
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
    for launch in mix_launch_geometry(P, Q, K):
        kernel(launch.grid, (_THREADS,),
               (a, b, out, cupy.int32(P), cupy.int32(Q), cupy.int32(R), cupy.int32(K),
                cupy.int64(a_sp), cupy.int64(a_sr), cupy.int64(b_sr), cupy.int64(b_sq),
                cupy.int32(conj_a), cupy.int32(conj_b), cupy.int32(launch.p_start), cupy.int32(launch.k_blocks),
                cupy.int32(launch.q_tile_start)))
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
