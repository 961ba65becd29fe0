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

from ._validate import as_working_complex, check_modes_first
from .mixing import (
    complex_as_real_matrix,
    from_modes_first,
    mix_modes_first,
    mix_modes_pairs,
    mixing_letters,
    to_modes_first,
)

__all__ = [
    "FACTORIZATIONS",
    "CPSpectralWeight",
    "DenseSpectralWeight",
    "SpectralWeight",
    "TTSpectralWeight",
    "TuckerSpectralWeight",
    "TuckerWeightBase",
    "cp_factor_std",
    "init_tucker_",
    "make_spectral_weight",
    "tt_core_std",
    "tucker_core_std",
]

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


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {STRATEGIES}, got {strategy!r}")


def _c(parameter: torch.Tensor) -> torch.Tensor:
    return torch.view_as_complex(parameter)


# Complex numbers as (real, imag) pairs of real tensors: the factorized contractions run in
# real arithmetic, because complex batched products are 20-60x slower on CPU (see mixing.py).
def real_pairs(parameter: torch.Tensor, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary parts of a real-pairs parameter ``[..., 2]``, cast to ``dtype``."""
    real, imag = parameter[..., 0], parameter[..., 1]
    return (real, imag) if dtype is None else (real.to(dtype), imag.to(dtype))


def _multiply(a, b):
    """Elementwise (broadcasting) complex product of two (real, imag) pairs."""
    return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]


def _matmul(a, b):
    """Complex ``a @ b`` (broadcasting) of two (real, imag) pairs."""
    return a[0] @ b[0] - a[1] @ b[1], a[0] @ b[1] + a[1] @ b[0]


def complex_tensordot(a, b, dims):
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


def cp_factor_std(sizes: Sequence[int], rank: int, std: float) -> float:
    r"""Scale :math:`s = (\sigma^2 / R)^{1/(2N)}` of i.i.d. CP factors giving entries of mean square ``std**2``."""
    return (std ** 2 / rank) ** (1.0 / (2 * len(sizes)))


def tt_core_std(sizes: Sequence[int], rank: int, std: float) -> float:
    r"""Scale :math:`s = (\sigma^2 / r^{N-1})^{1/(2N)}` of i.i.d. TT cores (inner ranks ``rank``), same goal."""
    return (std ** 2 / rank ** (len(sizes) - 1)) ** (1.0 / (2 * len(sizes)))


def tucker_core_std(sizes: Sequence[int], ranks: Sequence[int], std: float) -> float:
    r"""Scale :math:`\sigma \prod_j (n_j / R_j)^{1/2}` of an i.i.d. Tucker core with orthonormal factors."""
    return std * math.sqrt(math.prod(n / r for n, r in zip(sizes, ranks)))


def _rescale_to_mean_square(parameter: nn.Parameter, squared_norm: float, sizes: Sequence[int],
                            std: float) -> None:
    """Scale ``parameter`` (one factor of a multilinear format) so ``||W||^2 = prod(sizes) std^2``."""
    if squared_norm > 0:
        with torch.no_grad():
            parameter.mul_(math.sqrt(math.prod(sizes) * std ** 2 / squared_norm))


class SpectralWeight(nn.Module):
    """Base class: a complex weight ``[in, out, *block]`` stored as real parameters.

    Subclasses implement :meth:`to_dense`, :meth:`_direct_modes_first` (the contraction with the
    factors, in the modes-first layout) and the cost model (:meth:`_rebuild_cost`,
    :meth:`_direct_cost`); factorized formats also :meth:`_modes_first_weight`.
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
        _check_strategy(strategy)
        x = as_working_complex(x, "x")
        expected = (self.in_channels, *self.block)
        if tuple(x.shape[1:]) != expected:
            raise ValueError(f"x: expected shape [batch, {', '.join(map(str, expected))}], got {tuple(x.shape)}")
        return from_modes_first(self.contract_modes_first(to_modes_first(x), strategy), self.block)

    def contract_modes_first(self, stacked: torch.Tensor, strategy: str = "auto") -> torch.Tensor:
        r"""The same contraction in the modes-first real layout: ``[K, B, 2 in] -> [K, B, 2 out]``.

        ``stacked[k, b]`` is :math:`[\Re \hat x_{b,:,k} \,|\, \Im \hat x_{b,:,k}]` (see
        :func:`~sciml.kernels.mixing.to_modes_first`); the DFT path of
        :class:`~sciml.kernels.SpectralConv` transforms straight into and out of this layout.

        Examples
        --------
        >>> weight = DenseSpectralWeight(3, 4, (8, 5))
        >>> x = torch.randn(2, 3, 8, 5, dtype=torch.complex64)
        >>> y = from_modes_first(weight.contract_modes_first(to_modes_first(x)), (8, 5))
        >>> torch.allclose(y, weight.contract(x))
        True
        """
        _check_strategy(strategy)
        check_modes_first(stacked, math.prod(self.block), self.in_channels)
        if strategy == "auto":
            strategy = self.choose_strategy(stacked.shape[1])
        if strategy == "dense":
            return mix_modes_pairs(stacked, self._modes_first_pairs(stacked.dtype))
        return self._direct_modes_first(stacked)

    def _modes_first_weight(self, dtype: torch.dtype | None = None):
        """The dense weight as (real, imag) ``[K, in, out]`` (``K`` retained modes, C order), cast to ``dtype``."""
        w = self._modes_first_pairs(dtype)
        return w[..., :self.out_channels], w[..., self.out_channels:]

    def _modes_first_pairs(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The dense weight as ``[K, in, 2 out]`` = ``[Re W_k | Im W_k]`` (one reordering copy), cast to ``dtype``."""
        pairs = self.dense_pairs()
        pairs = pairs if dtype is None else pairs.to(dtype)
        return pairs.reshape(self.in_channels, self.out_channels, -1, 2).permute(2, 0, 3, 1).reshape(
            -1, self.in_channels, 2 * self.out_channels)

    def _direct_modes_first(self, stacked: torch.Tensor) -> torch.Tensor:
        """Contraction with the factors, modes first: ``[K, B, 2 in] -> [K, B, 2 out]``."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}, block={self.block}"


class DenseSpectralWeight(SpectralWeight):
    r"""Dense complex weight ``[in, out, *block]``, stored modes first as ``weight [*block, in, 2, out]``.

    The parameter holds :math:`P_k = [\Re W_k \,|\, \Im W_k]` for every retained mode ``k``: the
    matrix the mode mixing multiplies with (:func:`~sciml.kernels.mixing.mix_modes_pairs`), so
    neither the forward pass nor the gradient reorders the weight (on a 2-core CPU that reordering
    took a quarter of a 64² layer's forward + backward). :meth:`dense_pairs` is the conventional
    ``[in, out, *block, 2]`` view. Checkpoints written with the earlier ``[in, out, *block, 2]``
    parameter load unchanged (converted in :meth:`_load_from_state_dict`).

    Examples
    --------
    >>> weight = DenseSpectralWeight(3, 4, (8, 5))
    >>> weight.weight.shape, weight.dense_pairs().shape
    (torch.Size([8, 5, 3, 2, 4]), torch.Size([3, 4, 8, 5, 2]))
    """

    _version = 2   # 1: parameter [in, out, *block, 2]; 2: [*block, in, 2, out]

    def __init__(self, in_channels, out_channels, block, dtype=torch.float32):
        super().__init__(in_channels, out_channels, block)
        drawn = _complex_parameter((self.in_channels, self.out_channels, *self.block), self.init_std, dtype)
        self.weight = nn.Parameter(self._to_storage(drawn.detach()))

    def _to_storage(self, pairs: torch.Tensor) -> torch.Tensor:
        """``[in, out, *block, 2]`` -> ``[*block, in, 2, out]`` (contiguous)."""
        d = len(self.block)
        return pairs.permute(*range(2, d + 2), 0, d + 2, 1).contiguous()

    def to_dense(self):
        return _c(self.dense_pairs().contiguous())

    def dense_pairs(self):
        """The parameter as ``[in, out, *block, 2]`` (a view; writes go to the parameter)."""
        d = len(self.block)
        return self.weight.permute(d, d + 2, *range(d), d + 1)

    def _modes_first_pairs(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        pairs = self.weight if dtype is None else self.weight.to(dtype)
        return pairs.reshape(-1, self.in_channels, 2 * self.out_channels)      # a view: no copy

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        key = prefix + "weight"
        legacy = (self.in_channels, self.out_channels, *self.block, 2)
        value = state_dict.get(key)
        if (isinstance(value, torch.Tensor) and tuple(value.shape) == legacy
                and (tuple(value.shape) != tuple(self.weight.shape) or local_metadata.get("version", 1) < 2)):
            state_dict[key] = self._to_storage(value)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _rebuild_cost(self):
        return 0

    def _direct_cost(self, batch):
        return batch * self.in_channels * self.out_channels * math.prod(self.block)

    def choose_strategy(self, batch):
        return "dense"

    def _direct_modes_first(self, stacked):  # the dense weight is its own "factors"
        return mix_modes_pairs(stacked, self._modes_first_pairs(stacked.dtype))


class _FactorizedSpectralWeight(SpectralWeight):
    """Common part of CP/Tucker/TT: the dense weight is rebuilt in real arithmetic, modes first.

    Subclasses implement :meth:`_modes_first_weight`, the weight as (real, imag) ``[K, in, out]``
    (``K`` retained modes, flattened in C order), which serves both :meth:`to_dense` and the
    ``"dense"`` strategy.
    """

    def _modes_first_weight(self, dtype: torch.dtype | None = None):
        raise NotImplementedError

    def _modes_first_pairs(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.cat(self._modes_first_weight(dtype), dim=-1)

    def to_dense(self):
        real, imag = self._modes_first_weight()
        return torch.complex(real, imag).permute(1, 2, 0).reshape(self.in_channels, self.out_channels, *self.block)


class CPSpectralWeight(_FactorizedSpectralWeight):
    r"""CP (canonical polyadic) weight :math:`W = \sum_r a_r \otimes b_r \otimes x_r \otimes y_r`.

    Parameters: ``factors[0]`` ``[in, R, 2]``, ``factors[1]`` ``[out, R, 2]``, then one
    ``[K_j, R, 2]`` per block axis.

    Initialisation: all :math:`N = d + 2` factors i.i.d. complex normal with
    :math:`\mathbb E|f|^2 = s^2`. An entry is a sum of :math:`R` products of :math:`N`
    independent zero-mean factors, so :math:`\mathbb E|W|^2 = R s^{2N}`; matching the dense
    init :math:`\sigma^2 = 2 / (I + O)` gives :math:`s = (\sigma^2 / R)^{1 / (2N)}`
    (:func:`cp_factor_std`). With i.i.d. entries one draw's mean square scatters around
    :math:`\sigma^2` by tens of percent at small ranks (the column norms fluctuate), so each
    column is then scaled to its expected norm :math:`\sqrt{n_j}\, s`. The diagonal part of
    :math:`\|W\|^2 = \sum_{rr'} \prod_j \langle f_{jr}, f_{jr'} \rangle` is then exactly
    :math:`P \sigma^2` and the zero-mean cross terms leave a relative error of standard
    deviation :math:`\sqrt{2 / P}` -- the order of the dense init's own :math:`1/\sqrt{P}`
    (exact rescaling would need the :math:`R \times R` Gram matrices, gigabytes at the 3D rank
    0.1 sizes of the FNO papers).
    """

    def __init__(self, in_channels, out_channels, block, rank: int, dtype=torch.float32):
        super().__init__(in_channels, out_channels, block)
        self.rank = int(rank)
        sizes = (self.in_channels, self.out_channels, *self.block)
        std = cp_factor_std(sizes, self.rank, self.init_std)
        self.factors = nn.ParameterList([_complex_parameter((n, self.rank), std, dtype) for n in sizes])
        with torch.no_grad():
            for n, factor in zip(sizes, self.factors):                     # columns of norm sqrt(n) s
                factor.mul_(math.sqrt(n) * std / factor.square().sum(dim=(0, 2), keepdim=True).sqrt())

    def _mode_product(self, dtype=None):
        """``prod_j X_j[k_j, r]`` as (real, imag) ``[K, R]``."""
        first, *others = (real_pairs(f, dtype) for f in self.factors[2:])
        product = first
        for factor in others:                                  # [K_so_far, 1, R] * [1, K_j, R]
            product = _multiply(_map(lambda t: t[:, None], product), _map(lambda t: t[None], factor))
            product = _map(lambda t: t.reshape(-1, self.rank), product)
        return product

    def _modes_first_weight(self, dtype=None):
        a, b = real_pairs(self.factors[0], dtype), real_pairs(self.factors[1], dtype)
        outer = _multiply(_map(lambda t: t[:, None], a), _map(lambda t: t[None], b))    # [I, O, R]
        outer = _map(lambda t: t.reshape(-1, self.rank).T, outer)                        # [R, I*O]
        modes = torch.cat(self._mode_product(dtype), dim=-1)                             # [K, 2R]
        weight = modes @ complex_as_real_matrix(*outer)                                  # [K, 2*I*O]
        size = self.in_channels * self.out_channels
        return _map(lambda t: t.reshape(-1, self.in_channels, self.out_channels),
                    (weight[:, :size], weight[:, size:]))

    def _direct_modes_first(self, stacked):
        # the per-mode scaling is elementwise: done on interleaved (complex) rank pairs, which
        # torch vectorizes well; four real products on the halves measured 2-3x slower
        dtype = stacked.dtype
        into_rank = _interleave_columns(complex_as_real_matrix(*real_pairs(self.factors[0], dtype)))
        projected = torch.view_as_complex((stacked @ into_rank).unflatten(-1, (self.rank, 2)))
        scaled = torch.view_as_real(projected * torch.complex(*self._mode_product(dtype))[:, None])
        out_of_rank = _interleave_rows(complex_as_real_matrix(*_transpose(real_pairs(self.factors[1], dtype))))
        return scaled.flatten(-2) @ out_of_rank                                           # [K, B, 2O]

    def _rebuild_cost(self):
        k = math.prod(self.block)
        return self.rank * k * (1 + self.in_channels * self.out_channels)

    def _direct_cost(self, batch):
        k = math.prod(self.block)
        return self.rank * k * (1 + batch * (self.in_channels + self.out_channels + 1))


def init_tucker_(core: torch.Tensor, factors: Sequence[torch.Tensor], std: float,
                 balanced_modes: Sequence[int] = ()) -> None:
    r"""Fill Tucker parameters (real pairs) so the rebuilt tensor has entries of variance ``std**2``.

    Every factor :math:`U_j` (``[n_j, R_j, 2]``, :math:`R_j \le n_j`) gets Haar-random orthonormal
    columns (QR of a complex normal matrix, phases fixed), so :math:`\mathbb E |U_{j,ia}|^2 = 1/n_j`
    and :math:`\|W\|_F = \|G\|_F` exactly; the core gets i.i.d. complex normal entries with

    .. math::
        \mathbb E|G|^2 = \sigma^2 \prod_j \frac{n_j}{R_j}
        \quad\Longrightarrow\quad
        \mathbb E|W_{\mathbf i}|^2 = \sum_{\mathbf a} \mathbb E|G_{\mathbf a}|^2 \prod_j \mathbb E|U_{j,i_j a_j}|^2
        = \sigma^2

    (the cross terms vanish because core entries are independent with zero mean,
    :func:`tucker_core_std`). As :math:`\|W\|_F = \|G\|_F`, the core is then rescaled to make
    one draw's mean square exactly :math:`\sigma^2`. Draws from torch's RNG.

    The factors of ``balanced_modes`` get orthonormal columns *and* equal row norms
    :math:`\sqrt{R_j / n_j}`: the first :math:`R_j` columns of the unitary DFT matrix times a
    Haar-random :math:`R_j \times R_j` unitary. Every slice along such a mode then carries about
    the same share of :math:`\|G\|^2` (with Haar columns the row norms are random, and a slice
    can start near zero). The joint factorization of MG-TFNO balances its layer mode this way.
    """
    sizes = tuple(f.shape[0] for f in factors)
    ranks = tuple(core.shape[:-1])
    if len(sizes) != len(ranks) or any(f.shape[1] != r for f, r in zip(factors, ranks)) or any(
            r > n for n, r in zip(sizes, ranks)):
        raise ValueError(f"factors: expected [n_j, R_j, 2] with R_j <= n_j matching core ranks {ranks}, got "
                         f"{[tuple(f.shape) for f in factors]}")
    with torch.no_grad():
        core.copy_(torch.randn_like(core) * (tucker_core_std(sizes, ranks, std) / math.sqrt(2)))
        for mode, factor in enumerate(factors):
            n, r = factor.shape[:2]
            if mode in balanced_modes:
                angles = torch.outer(torch.arange(n, dtype=torch.float64), torch.arange(r, dtype=torch.float64))
                dft = torch.polar(torch.full_like(angles, n ** -0.5), -2 * math.pi * angles / n)
                columns = dft @ _haar_columns(r, r)
            else:
                columns = _haar_columns(n, r)
            factor.copy_(torch.view_as_real(columns).to(factor.dtype))
    _rescale_to_mean_square(core, float(core.detach().double().pow(2).sum()), sizes, std)


def _haar_columns(n: int, r: int) -> torch.Tensor:
    """``r`` orthonormal columns of a Haar-random ``n x n`` unitary, complex128 ``[n, r]``."""
    gaussian = torch.view_as_complex(torch.randn(n, r, 2, dtype=torch.float64))
    q, upper = torch.linalg.qr(gaussian)
    phases = torch.sgn(torch.diagonal(upper))             # makes the distribution Haar (Mezzadri 2007)
    phases = torch.where(phases == 0, torch.ones_like(phases), phases)
    return q * phases[None, :]


class TuckerWeightBase(_FactorizedSpectralWeight):
    r"""A Tucker weight :math:`W = G \times_1 U \times_2 V \times_3 X \times_4 Y`, contracted in real arithmetic.

    Holds the contraction only; subclasses say where the core and factors come from by
    implementing :meth:`tucker_core` and :meth:`tucker_factors` and setting ``ranks``
    (``(R_in, R_out, *R_block)``). :class:`TuckerSpectralWeight` owns them as parameters;
    :class:`sciml.operators.JointTuckerLayer` reads one layer of a joint factorization.
    """

    ranks: tuple[int, ...]

    def tucker_core(self, dtype: torch.dtype | None = None):
        """The core as (real, imag) ``[R_in, R_out, *R_block]``, cast to ``dtype``."""
        raise NotImplementedError

    def tucker_factors(self, dtype: torch.dtype | None = None) -> list:
        """The factors as (real, imag) ``[n_j, R_j]`` for the modes ``(in, out, *block)``."""
        raise NotImplementedError

    def _reduced_weight(self, core, block_factors):
        """Core with the block factors applied: (real, imag) ``[K, R_in, R_out]``."""
        for factor in block_factors:                                      # contract axis 2, append K_j
            core = complex_tensordot(core, factor, dims=([2], [1]))
        return _map(lambda t: t.reshape(*self.ranks[:2], -1).permute(2, 0, 1), core)

    def _modes_first_weight(self, dtype=None):
        u, v, *block_factors = self.tucker_factors(dtype)
        return _matmul(_matmul(u, self._reduced_weight(self.tucker_core(dtype), block_factors)), _transpose(v))

    def _direct_modes_first(self, stacked):
        u, v, *block_factors = self.tucker_factors(stacked.dtype)
        reduced = self._reduced_weight(self.tucker_core(stacked.dtype), block_factors)
        projected = _mix_channels(stacked, u)                                            # [K, B, 2 R_in]
        mixed = mix_modes_first(projected, *reduced)                                     # [K, B, 2 R_out]
        return _mix_channels(mixed, _transpose(v))

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


class TuckerSpectralWeight(TuckerWeightBase):
    r"""Tucker weight :math:`W = G \times_1 U \times_2 V \times_3 X \times_4 Y` with its own parameters.

    Parameters: ``core`` ``[R_in, R_out, *R_block, 2]`` and ``factors`` ``[n_j, R_j, 2]``.
    ``rank`` is an int (capped by each dimension) or one rank per dimension. Initialised by
    :func:`init_tucker_`: orthonormal factors, core scaled so :math:`\mathbb E|W|^2 = 2 / (I + O)`.
    """

    def __init__(self, in_channels, out_channels, block, rank, dtype=torch.float32):
        super().__init__(in_channels, out_channels, block)
        sizes = (self.in_channels, self.out_channels, *self.block)
        ranks = (rank,) * len(sizes) if isinstance(rank, int) else tuple(rank)
        if len(ranks) != len(sizes):
            raise ValueError(f"rank: expected an int or {len(sizes)} ranks (in, out, *block), got {rank!r}")
        self.ranks = tuple(min(int(r), n) for r, n in zip(ranks, sizes))
        self.core = nn.Parameter(torch.empty(*self.ranks, 2, dtype=dtype))
        self.factors = nn.ParameterList([nn.Parameter(torch.empty(n, r, 2, dtype=dtype))
                                         for n, r in zip(sizes, self.ranks)])
        init_tucker_(self.core, list(self.factors), self.init_std)

    def tucker_core(self, dtype=None):
        return real_pairs(self.core, dtype)

    def tucker_factors(self, dtype=None):
        return [real_pairs(f, dtype) for f in self.factors]


class TTSpectralWeight(_FactorizedSpectralWeight):
    r"""Tensor-train weight over the axes ``(in, out, *block)``.

    Parameters: ``cores[j]`` ``[r_{j-1}, n_j, r_j, 2]`` with ``r_{-1} = r_{last} = 1`` and
    every inner rank equal to ``rank``.

    Initialisation: all :math:`N = d + 2` cores i.i.d. complex normal with
    :math:`\mathbb E|g|^2 = s^2`. An entry sums :math:`\prod_{j} r_j = r^{N-1}` (inner ranks)
    products of :math:`N` independent zero-mean core entries, so
    :math:`\mathbb E|W|^2 = r^{N-1} s^{2N}` and :math:`s = (\sigma^2 / r^{N-1})^{1/(2N)}`
    with :math:`\sigma^2 = 2 / (I + O)` (:func:`tt_core_std`). As for CP, ``cores[0]`` is then
    rescaled so that the draw's mean square is exactly :math:`\sigma^2`, the norm computed by
    the transfer products :math:`E_j = \sum_i G_j[:, i, :]^H E_{j-1} G_j[:, i, :]`.
    """

    def __init__(self, in_channels, out_channels, block, rank: int, dtype=torch.float32):
        super().__init__(in_channels, out_channels, block)
        sizes = (self.in_channels, self.out_channels, *self.block)
        self.rank = int(rank)
        ranks = [1] + [self.rank] * (len(sizes) - 1) + [1]
        std = tt_core_std(sizes, self.rank, self.init_std)
        self.cores = nn.ParameterList([_complex_parameter((ranks[j], n, ranks[j + 1]), std, dtype)
                                       for j, n in enumerate(sizes)])
        transfer = torch.ones(1, 1, dtype=_c(self.cores[0].detach()).dtype)
        for core in self.cores:
            core = _c(core.detach())
            transfer = torch.einsum("ab,aic,bid->cd", transfer, core.conj(), core)
        _rescale_to_mean_square(self.cores[0], float(transfer.real.sum()), sizes, self.init_std)

    def _block_tensor(self, dtype=None):
        """Cores ``2..`` contracted from the last one: (real, imag) ``[K, r_1, out]``."""
        *middle, last = (real_pairs(c, dtype) for c in self.cores[2:])
        tail = _map(lambda t: t.squeeze(-1), last)                         # [r_d, K_last]
        for core in reversed(middle):                                      # [r_j, K_j, ..., K_last]
            tail = complex_tensordot(core, tail, dims=([-1], [0]))
        tail = _map(lambda t: t.reshape(t.shape[0], -1), tail)             # [r_2, K]
        block = complex_tensordot(real_pairs(self.cores[1], dtype), tail, dims=([-1], [0]))   # [r_1, out, K]
        return _map(lambda t: t.permute(2, 0, 1), block)

    def _modes_first_weight(self, dtype=None):
        first = real_pairs(self.cores[0][0], dtype)                            # [in, r_1]
        return _matmul(first, self._block_tensor(dtype))

    def _direct_modes_first(self, stacked):
        dtype = stacked.dtype
        projected = _mix_channels(stacked, real_pairs(self.cores[0][0], dtype))              # [K, B, 2 r_1]
        return mix_modes_first(projected, *self._block_tensor(dtype))

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
