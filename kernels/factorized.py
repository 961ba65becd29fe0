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
to the output channels). ``"auto"`` picks the cheaper by the multiply counts of
:meth:`SpectralWeight.cost`, checked against timings in ``benchmarks/spectral.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ._validate import as_working_complex
from .mixing import mix_modes_real, mixing_letters

__all__ = ["CPSpectralWeight", "DenseSpectralWeight", "SpectralWeight", "TTSpectralWeight",
           "TuckerSpectralWeight", "make_spectral_weight", "FACTORIZATIONS"]

FACTORIZATIONS = (None, "dense", "cp", "tucker", "tt")
STRATEGIES = ("auto", "direct", "dense")


def _complex_parameter(shape: Sequence[int], std: float, dtype: torch.dtype) -> nn.Parameter:
    """Complex normal entries of standard deviation ``std`` (``E|w|^2 = std^2``) as real pairs."""
    return nn.Parameter(torch.randn(*shape, 2, dtype=dtype) * (std / math.sqrt(2)))


def _c(parameter: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(parameter)


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
        """Complex multiplies of one contraction with ``batch`` inputs by ``strategy``."""
        modes = math.prod(self.block)
        dense_mix = batch * self.in_channels * self.out_channels * modes
        if strategy == "dense":
            return self._rebuild_cost() + dense_mix
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
            return mix_modes_real(x, self.dense_pairs().to(x.real.dtype))
        return self._contract_direct(x)

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


class CPSpectralWeight(SpectralWeight):
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

    def _complex_factors(self):
        return [_c(f) for f in self.factors]

    def _mode_product(self, factors):
        """``prod_j X_j[k_j, r]`` as ``[R, *block]``."""
        letters = self.letters
        spec = ",".join(f"{c}r" for c in letters) + f"->r{letters}"
        return torch.einsum(spec, *factors)

    def to_dense(self):
        a, b, *modes = self._complex_factors()
        return torch.einsum(f"ir,or,r{self.letters}->io{self.letters}", a, b, self._mode_product(modes))

    def _contract_direct(self, x):
        a, b, *modes = (f.to(x.dtype) for f in self._complex_factors())
        letters = self.letters
        projected = torch.einsum(f"bi{letters},ir->br{letters}", x, a)
        return torch.einsum(f"br{letters},or->bo{letters}", projected * self._mode_product(modes), b)

    def _rebuild_cost(self):
        k = math.prod(self.block)
        return self.rank * k * (1 + self.in_channels * self.out_channels)

    def _direct_cost(self, batch):
        k = math.prod(self.block)
        return self.rank * k * (1 + batch * (self.in_channels + self.out_channels + 1))


class TuckerSpectralWeight(SpectralWeight):
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

    def _reduced_weight(self, mode_factors):
        """Core with the block factors applied: ``[R_in, R_out, *block]``."""
        letters, ranks = self.letters, "pqs"[:len(self.block)]
        spec = f"ac{ranks}," + ",".join(f"{c}{r}" for c, r in zip(letters, ranks)) + f"->ac{letters}"
        return torch.einsum(spec, _c(self.core).to(mode_factors[0].dtype), *mode_factors)

    def to_dense(self):
        u, v, *modes = (_c(f) for f in self.factors)
        return torch.einsum(f"ac{self.letters},ia,oc->io{self.letters}", self._reduced_weight(modes), u, v)

    def _contract_direct(self, x):
        u, v, *modes = (_c(f).to(x.dtype) for f in self.factors)
        letters = self.letters
        projected = torch.einsum(f"bi{letters},ia->ba{letters}", x, u)
        mixed = torch.einsum(f"ba{letters},ac{letters}->bc{letters}", projected, self._reduced_weight(modes))
        return torch.einsum(f"bc{letters},oc->bo{letters}", mixed, v)

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


class TTSpectralWeight(SpectralWeight):
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
        """Cores ``2..`` contracted: ``[r_1, out, *block]``."""
        cores = [_c(c) if dtype is None else _c(c).to(dtype) for c in self.cores[1:]]
        result = cores[0]                                  # [r1, out, r2]
        for core in cores[1:]:
            result = torch.tensordot(result, core, dims=([-1], [0]))
        return result.squeeze(-1)

    def to_dense(self):
        first = _c(self.cores[0])[0]                       # [in, r1]
        return torch.tensordot(first, self._block_tensor(), dims=([1], [0]))

    def _contract_direct(self, x):
        letters = self.letters
        first = _c(self.cores[0])[0].to(x.dtype)
        projected = torch.einsum(f"bi{letters},ir->br{letters}", x, first)
        return torch.einsum(f"br{letters},ro{letters}->bo{letters}", projected, self._block_tensor(x.dtype))

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
    if rank is None or (isinstance(rank, int) and rank < 1):
        raise ValueError(f"rank: expected a positive rank for factorization={factorization!r}, got {rank!r}")
    cls = {"cp": CPSpectralWeight, "tucker": TuckerSpectralWeight, "tt": TTSpectralWeight}[factorization]
    return cls(in_channels, out_channels, block, rank, dtype=dtype)
