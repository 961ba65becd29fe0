r"""Spectral weights, dense or factorized, and their contraction with a retained block.

A spectral weight is a complex tensor :math:`W \in \mathbb{C}^{I \times O \times K_1 \cdots K_d}`
(in channels, out channels, retained block). Every parameter is stored as real pairs
(trailing dimension 2). Formats, for ``d = 2`` (block axes ``x, y``):

=========  =====================================================================  ===========================
format     weight                                                                 parameters
=========  =====================================================================  ===========================
dense      :math:`W_{ioxy}`                                                         :math:`I O K_x K_y`
CP         :math:`\sum_r A_{ir} B_{or} X_{xr} Y_{yr}`                               :math:`R (I + O + K_x + K_y)`
Tucker     :math:`\sum_{acpq} G_{acpq} U_{ia} V_{oc} X_{xp} Y_{yq}`                 core + factors
TT         :math:`\sum G^1_{i r_1} G^2_{r_1 o r_2} G^3_{r_2 x r_3} G^4_{r_3 y}`    :math:`\sum_j r_{j-1} n_j r_j`
=========  =====================================================================  ===========================

:meth:`SpectralWeight.contract` computes :math:`\hat y_{bok} = \sum_i \hat x_{bik} W_{iok}`
either by rebuilding the dense weight (``"dense"``) or directly with the factors
(``"direct"``: project the input channels onto the rank space first, mix there, expand
to the output channels). ``"auto"`` picks the cheaper by :meth:`SpectralWeight.cost`
(multiply counts plus a measured per-entry overhead of rebuilding, :data:`DENSE_ENTRY_COST`;
``benchmarks/spectral.py --contraction`` is the measurement).

Both strategies run in real arithmetic, in the modes-first layout ``[K, B, 2C]`` of
:func:`~sciml.kernels.mixing.to_modes_first`: channel projections are single real GEMMs, per-mode
mixing one batched real GEMM, and the factor products are real tensor contractions of the
(real, imag) parts (complex batched products are 20-60x slower on CPU). :meth:`to_dense` is
rebuilt the same way; the tests check both strategies against it, against tensorly and against
:func:`~sciml.kernels.mixing.mix_modes_reference`, values and gradients in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._validate import as_working_complex
from .mixing import (complex_as_real_matrix, from_modes_first, mix_modes_first, mix_modes_real, mixing_letters,
                     to_modes_first)

__all__ = ["CPSpectralWeight", "DenseSpectralWeight", "SpectralWeight", "TTSpectralWeight",
           "TuckerSpectralWeight", "make_spectral_weight", "FACTORIZATIONS"]

#: low-rank formats of spectral weights
LOW_RANK_FORMATS = ("cp", "tucker", "tt")
FACTORIZATIONS = (None, "dense") + LOW_RANK_FORMATS
STRATEGIES = ("auto", "direct", "dense")

#: Overhead of the ``"dense"`` strategy per rebuilt weight entry, in complex multiplies. Fitted
#: (least squares on relative time, then rounded into the range that ranks every case right) to
#: ``benchmarks/spectral.py --contraction --batches 1 8 32 --threads 1`` on a 2-core AMD EPYC:
#: 36 fitted; 16-32 picks the faster strategy (within 10%) in all 36 cases, 0 misses 2, 64 misses 1.
DENSE_ENTRY_COST = 32


def _complex_parameter(shape: Sequence[int], std: float, dtype: torch.dtype) -> nn.Parameter:
    """Complex normal entries of standard deviation ``std`` (``E|w|^2 = std^2``) as real pairs."""
    return nn.Parameter(torch.randn(*shape, 2, dtype=dtype) * (std / math.sqrt(2)))


def _c(parameter: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(parameter)


# Complex numbers as (real, imag) pairs of real tensors: the factorized contractions run in
# real arithmetic, because complex batched products are 20-60x slower on CPU (see mixing.py).
def _parts(parameter: torch.Tensor, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary parts of a real-pairs parameter ``[..., 2]``, cast to ``dtype``."""
    real, imag = parameter[..., 0], parameter[..., 1]
    return (real, imag) if dtype is None else (real.to(dtype), imag.to(dtype))


def _multiply(a, b):
    """Elementwise (broadcasting) complex product of two (real, imag) pairs."""
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


def _matmul(a, b):
    """Complex ``a @ b`` (broadcasting) of two (real, imag) pairs."""
    return a[0] @ b[0] - a[1] @ b[1], a[0] @ b[1] + a[1] @ b[0]


def _tensordot(a, b, dims):
    """Complex ``torch.tensordot(a, b, dims)`` of two (real, imag) pairs."""
    def dot(x, y):
        return torch.tensordot(x, y, dims=dims)
    return dot(a[0], b[0]) - dot(a[1], b[1]), dot(a[0], b[1]) + dot(a[1], b[0])


def _transpose(a):
    return a[0].transpose(-1, -2), a[1].transpose(-1, -2)


def _map(function, a):
    return function(a[0]), function(a[1])


def _interleave_columns(matrix: torch.Tensor) -> torch.Tensor:
    """Columns ``[re_0..re_{n-1}, im_0..im_{n-1}]`` reordered to ``[re_0, im_0, re_1, ...]``."""
    return matrix.unflatten(-1, (2, -1)).transpose(-1, -2).flatten(-2)


def _interleave_rows(matrix: torch.Tensor) -> torch.Tensor:
    """Rows reordered like :func:`_interleave_columns`."""
    return matrix.unflatten(-2, (2, -1)).transpose(-2, -3).flatten(-3, -2)


def _mix_channels(stacked: torch.Tensor, matrix) -> torch.Tensor:
    """``[K, B, 2I]`` (see :func:`~sciml.kernels.mixing.to_modes_first`) times a complex ``[I, O]``: one GEMM."""
    return stacked @ complex_as_real_matrix(*matrix)


class SpectralWeight(nn.Module):
    """Base class: a complex weight ``[in, out, *block]`` stored as real parameters.

    Subclasses implement :meth:`to_dense`, :meth:`_contract_direct` and :meth:`cost`.
    The default initialization gives entries of variance ``2 / (in + out)``
    (Glorot-like, as in neuraloperator), whatever the format.
    """

    def __init__(self, in_channels: int, out_channels: int, block: Sequence[int]):
        super().__init__()
        self.in_channels, self.out_channels, self.block = int(in_channels), int(out_channels), tuple(block)
        self.init_std = math.sqrt(2.0 / (self.in_channels + self.out_channels))

    @property
    def letters(self) -> str:
        return mixing_letters(len(self.block))

    def to_dense(self) -> torch.Tensor:
        """Complex tensor ``[in, out, *block]``."""
        raise NotImplementedError

    def dense_pairs(self) -> torch.Tensor:
        """The dense weight as real pairs ``[in, out, *block, 2]``."""
        return torch.view_as_real(self.to_dense())

    def cost(self, batch: int, strategy: str) -> int:
        """Modelled cost of one contraction with ``batch`` inputs by ``strategy``, in complex multiplies.

        The multiplies of each strategy, plus for ``"dense"`` :data:`DENSE_ENTRY_COST` per entry of
        the rebuilt weight (materializing it as a real block matrix, and its gradient).
        """
        entries = self.in_channels * self.out_channels * math.prod(self.block)
        if strategy == "dense":
            return self._rebuild_cost() + batch * entries + DENSE_ENTRY_COST * entries
        return self._direct_cost(batch)

    def choose_strategy(self, batch: int) -> str:
        return "direct" if self.cost(batch, "direct") < self.cost(batch, "dense") else "dense"

    def contract(self, x: torch.Tensor, strategy: str = "auto") -> torch.Tensor:
        r"""``out[b, o, k] = sum_i x[b, i, k] W[i, o, k]`` for ``x`` complex ``[B, in, *block]``."""
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy: expected one of {STRATEGIES}, got {strategy!r}")
        x = as_working_complex(x, "x")
        expected = (self.in_channels, *self.block)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"x: expected shape [batch, {', '.join(map(str, expected))}], got {tuple(x.shape)}")
        if strategy == "auto":
            strategy = self.choose_strategy(x.shape[0])
        if strategy == "dense":
            return self._contract_dense(x)
        return self._contract_direct(x)

    def _contract_dense(self, x: torch.Tensor) -> torch.Tensor:
        """Rebuild the dense weight, then mix (one real batched GEMM over the modes)."""
        return mix_modes_real(x, self.dense_pairs().to(x.real.dtype))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, block={self.block}"


class DenseSpectralWeight(SpectralWeight):
    """Dense complex weight ``[in, out, *block]`` stored as ``weight [in, out, *block, 2]``."""

    def __init__(self, in_channels, out_channels, block, dtype=torch.float32):
        super().__init__(in_channels, out_channels, block)
        self.weight = _complex_parameter((self.in_channels, self.out_channels, *self.block), self.init_std, dtype)

    def to_dense(self):
        return _c(self.weight)

    def dense_pairs(self):
        return self.weight

    def _rebuild_cost(self):
        return 0

    def _direct_cost(self, batch):
        return batch * self.in_channels * self.out_channels * math.prod(self.block)

    def choose_strategy(self, batch):
        return "dense"

    def _contract_direct(self, x):  # the dense weight is its own "factors"
        return self._contract_dense(x)


class _FactorizedSpectralWeight(SpectralWeight):
    """Common part of CP/Tucker/TT: the dense weight is rebuilt in real arithmetic, modes first.

    Subclasses implement :meth:`_modes_first_weight`, the weight as (real, imag) ``[K, in, out]``
    (``K`` retained modes, flattened in C order), which serves both :meth:`to_dense` and the
    ``"dense"`` strategy.
    """

    def _modes_first_weight(self, dtype: torch.dtype | None = None):
        raise NotImplementedError

    def to_dense(self):
        real, imag = self._modes_first_weight()
        return torch.complex(real, imag).permute(1, 2, 0).reshape(self.in_channels, self.out_channels, *self.block)

    def _contract_dense(self, x):
        mixed = mix_modes_first(to_modes_first(x), *self._modes_first_weight(x.real.dtype))
        return from_modes_first(mixed, self.block)


class CPSpectralWeight(_FactorizedSpectralWeight):
    r"""CP (canonical polyadic) weight :math:`W = \sum_r a_r \otimes b_r \otimes x_r \otimes y_r`.

    Parameters: ``factors[0]`` ``[in, R, 2]``, ``factors[1]`` ``[out, R, 2]``, then one
    ``[K_j, R, 2]`` per block axis.
    """

    def __init__(self, in_channels, out_channels, block, rank: int, dtype=torch.float32):
        super().__init__(in_channels, out_channels, block)
        self.rank = int(rank)
        sizes = (self.in_channels, self.out_channels, *self.block)
        # E|W|^2 = R * prod(s^2): choose s so that it equals init_std^2
        std = (self.init_std ** 2 / self.rank) ** (1.0 / (2 * len(sizes)))
        self.factors = nn.ParameterList([_complex_parameter((n, self.rank), std, dtype) for n in sizes])

    def _mode_product(self, dtype=None):
        """``prod_j X_j[k_j, r]`` as (real, imag) ``[K, R]``."""
        first, *others = (_parts(f, dtype) for f in self.factors[2:])
        product = first
        for factor in others:                                  # [K_so_far, 1, R] * [1, K_j, R]
            product = _multiply(_map(lambda t: t[:, None], product), _map(lambda t: t[None], factor))
            product = _map(lambda t: t.reshape(-1, self.rank), product)
        return product

    def _modes_first_weight(self, dtype=None):
        a, b = _parts(self.factors[0], dtype), _parts(self.factors[1], dtype)
        outer = _multiply(_map(lambda t: t[:, None], a), _map(lambda t: t[None], b))    # [I, O, R]
        outer = _map(lambda t: t.reshape(-1, self.rank).T, outer)                        # [R, I*O]
        modes = torch.cat(self._mode_product(dtype), dim=-1)                             # [K, 2R]
        weight = modes @ complex_as_real_matrix(*outer)                                  # [K, 2*I*O]
        size = self.in_channels * self.out_channels
        return _map(lambda t: t.reshape(-1, self.in_channels, self.out_channels),
                    (weight[:, :size], weight[:, size:]))

    def _contract_direct(self, x):
        # the per-mode scaling is elementwise: done on interleaved (complex) rank pairs, which
        # torch vectorizes well; four real products on the halves measured 2-3x slower
        dtype = x.real.dtype
        into_rank = _interleave_columns(complex_as_real_matrix(*_parts(self.factors[0], dtype)))
        projected = torch.view_as_complex((to_modes_first(x) @ into_rank).unflatten(-1, (self.rank, 2)))
        scaled = torch.view_as_real(projected * torch.complex(*self._mode_product(dtype))[:, None])
        out_of_rank = _interleave_rows(complex_as_real_matrix(*_transpose(_parts(self.factors[1], dtype))))
        return from_modes_first(scaled.flatten(-2) @ out_of_rank, self.block)              # [K, B, 2O]

    def _rebuild_cost(self):
        k = math.prod(self.block)
        return self.rank * k * (1 + self.in_channels * self.out_channels)

    def _direct_cost(self, batch):
        k = math.prod(self.block)
        return self.rank * k * (1 + batch * (self.in_channels + self.out_channels + 1))


class TuckerSpectralWeight(_FactorizedSpectralWeight):
    r"""Tucker weight :math:`W = G \times_1 U \times_2 V \times_3 X \times_4 Y`.

    Parameters: ``core`` ``[R_in, R_out, *R_block, 2]`` and ``factors`` ``[n_j, R_j, 2]``.
    ``rank`` is an int (capped by each dimension) or one rank per dimension.
    """

    def __init__(self, in_channels, out_channels, block, rank, dtype=torch.float32):
        super().__init__(in_channels, out_channels, block)
        sizes = (self.in_channels, self.out_channels, *self.block)
        ranks = (rank,) * len(sizes) if isinstance(rank, int) else tuple(rank)
        if len(ranks) != len(sizes):
            raise ValueError(f"rank: expected an int or {len(sizes)} ranks (in, out, *block), got {rank!r}")
        self.ranks = tuple(min(int(r), n) for r, n in zip(ranks, sizes))
        # factors ~ N(0, 1/n): E|W|^2 = var(core) * prod(R_j / n_j)
        core_std = self.init_std * math.sqrt(math.prod(n / r for n, r in zip(sizes, self.ranks)))
        self.core = _complex_parameter(self.ranks, core_std, dtype)
        self.factors = nn.ParameterList([_complex_parameter((n, r), n ** -0.5, dtype)
                                         for n, r in zip(sizes, self.ranks)])

    def _reduced_weight(self, dtype=None):
        """Core with the block factors applied: (real, imag) ``[K, R_in, R_out]``."""
        core = _parts(self.core, dtype)                                   # [R_in, R_out, *R_block]
        for factor in self.factors[2:]:                                   # contract axis 2, append K_j
            core = _tensordot(core, _parts(factor, dtype), dims=([2], [1]))
        return _map(lambda t: t.reshape(*self.ranks[:2], -1).permute(2, 0, 1), core)

    def _modes_first_weight(self, dtype=None):
        u, v = _parts(self.factors[0], dtype), _parts(self.factors[1], dtype)
        return _matmul(_matmul(u, self._reduced_weight(dtype)), _transpose(v))      # U W_k V^T

    def _contract_direct(self, x):
        dtype = x.real.dtype
        projected = _mix_channels(to_modes_first(x), _parts(self.factors[0], dtype))     # [K, B, 2 R_in]
        mixed = mix_modes_first(projected, *self._reduced_weight(dtype))                 # [K, B, 2 R_out]
        return from_modes_first(_mix_channels(mixed, _transpose(_parts(self.factors[1], dtype))), self.block)

    def _rebuild_cost(self):
        k = math.prod(self.block)
        r_in, r_out = self.ranks[:2]
        return self._block_cost() + k * r_out * self.in_channels * (r_in + self.out_channels)

    def _direct_cost(self, batch):
        k = math.prod(self.block)
        r_in, r_out = self.ranks[:2]
        return self._block_cost() + batch * k * (self.in_channels * r_in + r_in * r_out + r_out * self.out_channels)

    def _block_cost(self):
        return math.prod(self.ranks[:2]) * math.prod(self.block) * sum(self.ranks[2:])


class TTSpectralWeight(_FactorizedSpectralWeight):
    r"""Tensor-train weight over the axes ``(in, out, *block)``.

    Parameters: ``cores[j]`` ``[r_{j-1}, n_j, r_j, 2]`` with ``r_{-1} = r_{last} = 1`` and
    every inner rank equal to ``rank``.
    """

    def __init__(self, in_channels, out_channels, block, rank: int, dtype=torch.float32):
        super().__init__(in_channels, out_channels, block)
        sizes = (self.in_channels, self.out_channels, *self.block)
        self.rank = int(rank)
        ranks = [1] + [self.rank] * (len(sizes) - 1) + [1]
        # E|W|^2 = prod_j (r_{j-1} * s^2) over the inner sums: choose s to match init_std^2
        inner = math.prod(ranks[1:-1])
        std = (self.init_std ** 2 / inner) ** (1.0 / (2 * len(sizes)))
        self.cores = nn.ParameterList([_complex_parameter((ranks[j], n, ranks[j + 1]), std, dtype)
                                       for j, n in enumerate(sizes)])

    def _block_tensor(self, dtype=None):
        """Cores ``2..`` contracted from the last one: (real, imag) ``[K, r_1, out]``."""
        *middle, last = (_parts(c, dtype) for c in self.cores[2:])
        tail = _map(lambda t: t.squeeze(-1), last)                         # [r_d, K_last]
        for core in reversed(middle):                                      # [r_j, K_j, ..., K_last]
            tail = _tensordot(core, tail, dims=([-1], [0]))
        tail = _map(lambda t: t.reshape(t.shape[0], -1), tail)             # [r_2, K]
        block = _tensordot(_parts(self.cores[1], dtype), tail, dims=([-1], [0]))   # [r_1, out, K]
        return _map(lambda t: t.permute(2, 0, 1), block)

    def _modes_first_weight(self, dtype=None):
        first = _parts(self.cores[0][0], dtype)                            # [in, r_1]
        return _matmul(first, self._block_tensor(dtype))

    def _contract_direct(self, x):
        dtype = x.real.dtype
        projected = _mix_channels(to_modes_first(x), _parts(self.cores[0][0], dtype))     # [K, B, 2 r_1]
        return from_modes_first(mix_modes_first(projected, *self._block_tensor(dtype)), self.block)

    def _block_tensor_cost(self):
        k = math.prod(self.block)
        return self.rank * self.out_channels * self.rank * k

    def _rebuild_cost(self):
        k = math.prod(self.block)
        return self._block_tensor_cost() + self.in_channels * self.rank * self.out_channels * k

    def _direct_cost(self, batch):
        k = math.prod(self.block)
        return self._block_tensor_cost() + batch * k * self.rank * (self.in_channels + self.out_channels)


def make_spectral_weight(in_channels: int, out_channels: int, block: Sequence[int],
                         factorization: str | None = None, rank=None,
                         dtype: torch.dtype = torch.float32) -> SpectralWeight:
    """Build a spectral weight of the given format.

    Parameters
    ----------
    in_channels, out_channels : int
    block : sequence of int
        Shape of the retained block, ``(2 m_0, ..., 2 m_{d-2}, m_{d-1})``.
    factorization : {None, "dense", "cp", "tucker", "tt"}
    rank : int or sequence of int
        Required for the factorized formats (Tucker accepts one rank per dimension).
    dtype : torch.float32 or torch.float64

    Examples
    --------
    >>> w = make_spectral_weight(4, 4, (8, 4), "cp", rank=6)
    >>> w.to_dense().shape
    torch.Size([4, 4, 8, 4])
    """
    if factorization not in FACTORIZATIONS:
        raise ValueError(f"factorization: expected one of {FACTORIZATIONS}, got {factorization!r}")
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype: expected torch.float32 or torch.float64 for the weight, got {dtype}")
    if factorization in (None, "dense"):
        return DenseSpectralWeight(in_channels, out_channels, block, dtype=dtype)
    ranks = rank if isinstance(rank, (tuple, list)) else (rank,)
    if rank is None or not ranks or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in ranks):
        raise ValueError(f"rank: expected a positive integer rank (a tuple of them for Tucker) for "
                         f"factorization={factorization!r}, got {rank!r}; resolve a fraction of the dense "
                         f"parameters with sciml.operators.resolve_rank first")
    cls = {"cp": CPSpectralWeight, "tucker": TuckerSpectralWeight, "tt": TTSpectralWeight}[factorization]
    return cls(in_channels, out_channels, block, rank, dtype=dtype)
