r"""Mode mixing with dense weights: the per-mode channel contraction of spectral layers.

.. math::
    \hat y_{b,o,k} = \sum_i \hat x_{b,i,k} \, W_{i,o,k}

for every retained mode :math:`k` (a multi-index over the block). The complex weight is
stored as **real pairs**, a real tensor ``[in, out, *block, 2]`` (``torch.view_as_real``
layout): optimizers, gradient clipping, DDP all-reduce and checkpoints then only ever see
real tensors. :func:`mix_modes_reference` is the readable torch reference (``einsum``);
:func:`mix_modes_real` computes the same in real arithmetic, one batched GEMM over the modes,

.. math::
    [\Re \hat y \;|\; \Im \hat y]_{k} = [\Re \hat x \;|\; \Im \hat x]_{k}
    \begin{bmatrix} \Re W_k & \Im W_k \\ -\Im W_k & \Re W_k \end{bmatrix},

which is what the torch paths run: complex batched matrix products on CPU were measured
20-50x slower than this real GEMM (torch 2.13, 2 cores). The CuPy path
(:mod:`sciml.kernels.cupy_backend`) is tested against the reference too.
"""

from __future__ import annotations

import torch

from ._validate import as_working_complex

__all__ = ["check_mixing_shapes", "complex_as_real_matrix", "from_modes_first", "mix_modes_first", "mix_modes_pairs", "mix_modes_real",
           "mix_modes_reference", "mixing_letters", "to_modes_first"]

_MODE_LETTERS = "xyz"


def mixing_letters(d: int) -> str:
    """Einsum letters of ``d`` mode axes (``x``, ``y``, ``z``)."""
    return _MODE_LETTERS[:d]


def mix_modes_reference(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""Dense mode mixing ``out[b, o, k] = sum_i x[b, i, k] W[i, o, k]`` by ``torch.einsum``.

    Parameters
    ----------
    x : complex tensor ``[B, I, *block]``
        Retained Fourier block (see :mod:`sciml.kernels.fft`).
    weight : real tensor ``[I, O, *block, 2]``
        Complex weights as real pairs (``W = weight[..., 0] + 1j * weight[..., 1]``).

    Returns
    -------
    complex tensor ``[B, O, *block]``, dtype of ``x`` (complex64/complex128).

    Examples
    --------
    >>> x = torch.randn(2, 3, 8, 4, dtype=torch.complex64)
    >>> w = torch.randn(3, 5, 8, 4, 2)
    >>> mix_modes_reference(x, w).shape
    torch.Size([2, 5, 8, 4])
    """
    x = as_working_complex(x, "x")
    check_mixing_shapes(x, weight)
    letters = mixing_letters(x.ndim - 2)
    complex_weight = torch.view_as_complex(weight.to(x.real.dtype).contiguous())
    return torch.einsum(f"bi{letters},io{letters}->bo{letters}", x, complex_weight)


def mix_modes_real(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Same contract as :func:`mix_modes_reference`, by one real batched GEMM over the modes.

    Examples
    --------
    >>> x = torch.randn(2, 3, 8, 4, dtype=torch.complex128)
    >>> w = torch.randn(3, 5, 8, 4, 2, dtype=torch.float64)
    >>> torch.allclose(mix_modes_real(x, w), mix_modes_reference(x, w))
    True
    """
    x = as_working_complex(x, "x")
    check_mixing_shapes(x, weight)
    cin, cout, modes = weight.shape[0], weight.shape[1], x[0, 0].numel()
    w = weight.to(x.real.dtype).reshape(cin, cout, modes, 2).permute(2, 0, 1, 3)         # [K, I, O, 2]
    mixed = mix_modes_first(to_modes_first(x), w[..., 0], w[..., 1])
    return from_modes_first(mixed, x.shape[2:])


def to_modes_first(x: torch.Tensor) -> torch.Tensor:
    r"""Complex ``[B, C, *block]`` as the real tensor ``[K, B, 2C]`` = :math:`[\Re x \,|\, \Im x]` per mode.

    ``K`` is the number of retained modes (the block flattened in C order). This is the layout
    of the real-arithmetic contractions: channel mixing is then one GEMM with
    :func:`complex_as_real_matrix`, per-mode mixing one batched GEMM (:func:`mix_modes_first`).
    """
    batch, channels = x.shape[:2]
    pairs = torch.view_as_real(x).reshape(batch, channels, -1, 2).permute(2, 0, 3, 1)   # [K, B, 2, C]
    return pairs.reshape(pairs.shape[0], batch, 2 * channels)


def from_modes_first(stacked: torch.Tensor, block) -> torch.Tensor:
    """Inverse of :func:`to_modes_first`: real ``[K, B, 2C]`` to complex ``[B, C, *block]``."""
    channels = stacked.shape[-1] // 2
    mixed = torch.complex(stacked[..., :channels], stacked[..., channels:])             # [K, B, C]
    return mixed.permute(1, 2, 0).reshape(stacked.shape[1], channels, *block)


def complex_as_real_matrix(real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
    r"""The real matrix :math:`\begin{bmatrix} \Re A & \Im A \\ -\Im A & \Re A \end{bmatrix}` ``[..., 2I, 2O]``.

    For a complex ``A = real + 1j * imag`` of shape ``[..., I, O]``:
    ``[Re x | Im x] @ complex_as_real_matrix(Re A, Im A) = [Re(x A) | Im(x A)]``.
    """
    return torch.cat([torch.cat([real, imag], dim=-1), torch.cat([-imag, real], dim=-1)], dim=-2)


def mix_modes_first(stacked: torch.Tensor, real: torch.Tensor, imag: torch.Tensor) -> torch.Tensor:
    """Per-mode mixing in the :func:`to_modes_first` layout: ``[K, B, 2I]`` by ``W_k = real_k + 1j imag_k``.

    ``real``, ``imag``: ``[K, I, O]``. Returns ``[K, B, 2O]``; see :func:`mix_modes_pairs`.

    Examples
    --------
    >>> x, w = torch.randn(3, 5, 4, dtype=torch.complex128), torch.randn(5, 6, 4, 2, dtype=torch.float64)
    >>> wk = w.permute(2, 0, 1, 3)                                          # [K, I, O, 2]
    >>> def mixed(x):
    ...     return from_modes_first(mix_modes_first(to_modes_first(x), wk[..., 0], wk[..., 1]), (4,))
    >>> torch.allclose(mixed(x), mix_modes_reference(x, w))                 # B <= 2 I
    True
    >>> torch.allclose(mixed(x.repeat(4, 1, 1)), mix_modes_reference(x.repeat(4, 1, 1), w))   # B > 2 I
    True
    """
    if real.shape != imag.shape:
        raise ValueError(f"imag: expected the shape of real {tuple(real.shape)}, got {tuple(imag.shape)}")
    if stacked.ndim == 3 and stacked.shape[1] > stacked.shape[2]:     # B > 2 I: block matrix, no pairs copy
        _check_stacked(stacked, real, "real")
        return torch.bmm(stacked, complex_as_real_matrix(real, imag))
    return mix_modes_pairs(stacked, torch.cat([real, imag], dim=-1))


def mix_modes_pairs(stacked: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    r"""Per-mode mixing ``[K, B, 2I] -> [K, B, 2O]`` by :math:`P_k = [\Re W_k \,|\, \Im W_k]` (``pairs [K, I, 2O]``).

    Two real forms, chosen by the batch (measured, ``benchmarks/README.md``, spectral core):

    * ``B <= 2 I``: the rows :math:`\Re x, \Im x` of every sample times :math:`P_k` in one batched
      product, then :math:`\Re y = \Re x \Re W - \Im x \Im W`, :math:`\Im y = \Re x \Im W + \Im x \Re W`
      from its four blocks: the weight is used as stored, nothing of its size is built;
    * larger batches: one product with the real block matrix of :func:`complex_as_real_matrix`
      (``4 I O`` entries built per call, amortised over the batch).

    Forward + backward on one CPU thread, the first form was 1.4-12x faster at ``B / I <= 2``
    and the second 1.2-1.5x faster at ``B / I >= 4``.
    """
    _check_stacked(stacked, pairs, "pairs", even=True)
    k, batch, twice = stacked.shape
    cin, cout = twice // 2, pairs.shape[-1] // 2
    if batch <= 2 * cin:
        blocks = torch.bmm(stacked.reshape(k, 2 * batch, cin), pairs).view(k, batch, 4, cout)
        rr, ri, ir, ii = blocks.unbind(2)            # (Re x | Im x) times (Re W | Im W)
        return torch.cat([rr - ii, ri + ir], dim=-1)
    real, imag = pairs.view(k, cin, 2, cout).unbind(2)
    return torch.bmm(stacked, complex_as_real_matrix(real, imag))


def _check_stacked(stacked: torch.Tensor, weight: torch.Tensor, name: str, even: bool = False) -> None:
    """``stacked [K, B, 2 I]`` against a per-mode weight ``[K, I, n]`` (``n`` even when ``even``)."""
    if stacked.ndim != 3 or stacked.shape[2] % 2 or weight.ndim != 3 or (even and weight.shape[-1] % 2) \
            or tuple(weight.shape[:2]) != (stacked.shape[0], stacked.shape[2] // 2):
        form = "[K, I, 2 O]" if even else "[K, I, O]"
        raise ValueError(f"{name}: expected {form} matching stacked [K, B, 2 I], got {name} "
                         f"{tuple(weight.shape)} and stacked {tuple(stacked.shape)}")


def check_mixing_shapes(x: torch.Tensor, weight: torch.Tensor) -> None:
    """``x [B, I, *block]`` and ``weight [I, O, *block, 2]`` must agree on ``I`` and ``block``."""
    if not isinstance(weight, torch.Tensor) or weight.is_complex():
        raise TypeError(f"weight: expected a real tensor [in, out, *block, 2] (complex as real pairs), got "
                        f"{weight.dtype if isinstance(weight, torch.Tensor) else type(weight).__name__}")
    if x.ndim < 3 or x.ndim > 5:
        raise ValueError(f"x: expected [batch, channels, *block] with a 1D-3D block, got shape {tuple(x.shape)}")
    expected = (x.shape[1], "out") + tuple(x.shape[2:]) + (2,)
    if weight.ndim != x.ndim + 1 or weight.shape[0] != x.shape[1] or tuple(weight.shape[2:]) != expected[2:]:
        raise ValueError(f"weight: expected shape {expected} to match x of shape {tuple(x.shape)}, "
                         f"got {tuple(weight.shape)}")
