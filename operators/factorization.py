r"""Factorized spectral weights for TFNO: rank selection, random initialisation, fits to dense weights.

A spectral weight is a complex tensor :math:`W \in \mathbb C^{I \times O \times K_1 \cdots K_d}`
with :math:`P = I O \prod_j K_j` entries. The formats themselves (CP, Tucker, TT, and their
contraction with the spectrum directly through the factors) live in
:mod:`sciml.kernels.factorized`; this module decides their ranks and builds them:

* :func:`random_factorized_weight` draws the factors directly, at the per-factor scale that
  gives the rebuilt weight the dense layer's entry variance ``2 / (I + O)`` (derivations in the
  classes of :mod:`sciml.kernels.factorized`). No dense tensor is formed: this is how a TFNO
  is initialised.
* :func:`weight_from_dense` fits the factors to a *given* dense weight with tensorly's
  decompositions (``parafac``, ``tucker``, ``tensor_train``), run with the PyTorch backend
  inside ``tensorly.backend_context`` -- never set globally. This is
  :meth:`sciml.operators.TFNO.from_fno` (compressing a trained FNO).

Ranks given as a **fraction** ``f`` keep about ``f P`` parameters:

* CP and Tucker: tensorly's ``validate_cp_rank`` / ``validate_tucker_rank``;
* TT (one inner rank ``r``): the largest ``r`` with :math:`\sum_j r_{j-1} n_j r_j \le f P`.

Examples
--------
>>> resolve_rank("tucker", (32, 32, 32, 16), 0.1)
(18, 18, 18, 9)
>>> w = random_factorized_weight((32, 32, 32, 16), "cp", 0.1)
>>> w.rank
468
>>> w = weight_from_dense(torch.randn(4, 4, 8, 4, dtype=torch.complex128), "tucker", (4, 4, 8, 4))
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorly as tl
import torch
from tensorly.cp_tensor import validate_cp_rank
from tensorly.decomposition import parafac, tensor_train, tucker
from tensorly.tucker_tensor import validate_tucker_rank

from sciml.kernels.factorized import (
    LOW_RANK_FORMATS,
    CPSpectralWeight,
    SpectralWeight,
    TTSpectralWeight,
    TuckerSpectralWeight,
    make_spectral_weight,
)

__all__ = ["full_rank", "parameter_count", "random_dense_weight", "random_factorized_weight", "resolve_rank",
           "weight_from_dense"]

KINDS = LOW_RANK_FORMATS


def resolve_rank(kind: str, shape: Sequence[int], rank) -> int | tuple[int, ...]:
    """Explicit rank of a ``kind`` factorization of a tensor of ``shape``.

    Parameters
    ----------
    kind : {"cp", "tucker", "tt"}
    shape : sequence of int
        ``(in, out, *block)`` (or any tensor shape, e.g. with a leading layer mode).
    rank : float, int or tuple of int
        Float: fraction of ``prod(shape)`` parameters; int: explicit (Tucker: the same for
        every mode, capped by the mode sizes); tuple: Tucker ranks per mode.

    Returns
    -------
    int (CP rank, TT inner rank) or tuple of int (Tucker ranks per mode).
    """
    shape = tuple(int(n) for n in shape)
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if isinstance(rank, bool) or not isinstance(rank, (int, float, tuple, list)):
        raise TypeError(f"rank: expected a float fraction, an int or a tuple of ints, got {rank!r}")
    if isinstance(rank, (tuple, list)):
        if kind != "tucker" or len(rank) != len(shape):
            raise ValueError(f"rank: expected {len(shape)} Tucker ranks for shape {shape}, got {tuple(rank)}")
        return tuple(min(int(r), n) for r, n in zip(rank, shape))
    if rank <= 0:
        raise ValueError(f"rank: expected a positive rank or fraction, got {rank!r}")
    if isinstance(rank, int):
        return tuple(min(rank, n) for n in shape) if kind == "tucker" else rank
    if kind == "tucker":
        return tuple(int(r) for r in validate_tucker_rank(shape, rank=rank))
    if kind == "cp":
        return max(1, int(validate_cp_rank(shape, rank=rank)))
    return _tt_rank_for_fraction(shape, rank)


def _tt_rank_for_fraction(shape: tuple[int, ...], fraction: float) -> int:
    budget = fraction * math.prod(shape)
    r = 1
    while r < full_rank("tt", shape) and parameter_count("tt", shape, r + 1) <= budget:
        r += 1
    return r


def full_rank(kind: str, shape: Sequence[int]) -> int | tuple[int, ...]:
    """Smallest rank at which a Tucker or TT factorization of ``shape`` is exact for every tensor.

    Tucker: the mode sizes. TT: ``max_j min(prod(shape[:j]), prod(shape[j:]))``. CP has no
    such rank that ALS reaches reliably; ``ValueError``.
    """
    shape = tuple(shape)
    if kind == "tucker":
        return shape
    if kind == "tt":
        return max(min(math.prod(shape[:j]), math.prod(shape[j:])) for j in range(1, len(shape)))
    raise ValueError(f"kind: full_rank is defined for 'tucker' and 'tt', got {kind!r}")


def parameter_count(kind: str, shape: Sequence[int], rank) -> int:
    """Complex entries stored by a ``kind`` factorization of ``shape`` at explicit ``rank``."""
    shape = tuple(shape)
    if kind == "dense":
        return math.prod(shape)
    if kind == "cp":
        return rank * sum(shape)
    if kind == "tucker":
        ranks = resolve_rank("tucker", shape, rank)
        return math.prod(ranks) + sum(n * r for n, r in zip(shape, ranks))
    ranks = [1] + [rank] * (len(shape) - 1) + [1]
    return sum(ranks[j] * n * ranks[j + 1] for j, n in enumerate(shape))


def random_dense_weight(shape: Sequence[int], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Complex normal tensor of ``shape`` with ``E|w|^2 = 2 / (in + out)`` (``shape[:2]``), from torch's RNG."""
    std = math.sqrt(2.0 / (shape[0] + shape[1]))
    complex_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    return torch.randn(*shape, dtype=complex_dtype) * std


def random_factorized_weight(shape: Sequence[int], kind: str, rank,
                             dtype: torch.dtype = torch.float32) -> SpectralWeight:
    r"""A randomly initialised CP/Tucker/TT weight of ``shape``, drawn factor by factor.

    The factors are drawn directly (torch's RNG) at the scale that gives the rebuilt weight
    entries of mean square :math:`2 / (I + O)`, the dense layer's (:func:`random_dense_weight`):
    CP and TT factors complex normal at :math:`s = (\sigma^2 / \#\text{terms})^{1/(2N)}`, Tucker
    with orthonormal factors and a scaled core; see :mod:`sciml.kernels.factorized`. Cost:
    the parameters only -- no dense tensor and no decomposition (the former initialisation,
    a tensorly fit of a random dense tensor, took seconds to minutes per layer at the FNO
    papers' 3D sizes).

    Parameters
    ----------
    shape : sequence of int
        ``(in, out, *block)``.
    kind : {"cp", "tucker", "tt"}
    rank : float, int or tuple of int
        See :func:`resolve_rank`.
    dtype : torch.float32 or torch.float64
        Real dtype of the parameters.

    Returns
    -------
    SpectralWeight
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) < 3:
        raise ValueError(f"shape: expected (in, out, *block) with a 1D-3D block, got {shape}")
    explicit = resolve_rank(kind, shape, rank)
    return make_spectral_weight(shape[0], shape[1], shape[2:], kind, explicit, dtype=dtype)


def weight_from_dense(dense: torch.Tensor, kind: str, rank, *, n_iter_max: int = 100,
                      match_norm: bool = False) -> SpectralWeight:
    r"""A CP/Tucker/TT :class:`~sciml.kernels.factorized.SpectralWeight` fitted to a dense weight.

    Parameters
    ----------
    dense : complex tensor ``[in, out, *block]``
    kind : {"cp", "tucker", "tt"}
    rank : float, int or tuple
        See :func:`resolve_rank`. At :func:`full_rank` Tucker and TT reproduce ``dense``
        to rounding.
    n_iter_max : int
        Iterations of the alternating least squares (CP) or HOOI (Tucker).
    match_norm : bool
        Rescale the factorization to the Frobenius norm of ``dense`` (random initialisation).

    Returns
    -------
    SpectralWeight
        Parameters in the real dtype of ``dense`` (float32 for complex64, float64 for complex128).
    """
    if not isinstance(dense, torch.Tensor) or not dense.is_complex() or dense.ndim < 3:
        raise TypeError(f"dense: expected a complex tensor [in, out, *block], got "
                        f"{getattr(dense, 'dtype', type(dense).__name__)} {tuple(getattr(dense, 'shape', ()))}")
    dense = dense.detach().cpu()
    shape = tuple(dense.shape)
    real = torch.float64 if dense.dtype == torch.complex128 else torch.float32
    explicit = resolve_rank(kind, shape, rank)
    seed = int(torch.randint(0, 2**31 - 1, ()).item())        # tensorly's RNG follows torch's
    with tl.backend_context("pytorch"):
        if kind == "tucker":
            core, factors = tucker(dense, rank=list(explicit), init="svd", svd=thin_svd, n_iter_max=n_iter_max,
                                   random_state=seed)
            weight = TuckerSpectralWeight(shape[0], shape[1], shape[2:], explicit, dtype=real)
            _assign(weight.core, core)
            for parameter, factor in zip(weight.factors, factors):
                _assign(parameter, factor)
            rebuilt_norm = tl.norm(tl.tucker_to_tensor((core, factors)))
        elif kind == "cp":
            weights, factors = parafac(dense, rank=explicit, init="random", n_iter_max=n_iter_max,
                                       random_state=np.random.RandomState(seed))
            factors = [factors[0] * weights[None, :]] + list(factors[1:])
            weight = CPSpectralWeight(shape[0], shape[1], shape[2:], explicit, dtype=real)
            for parameter, factor in zip(weight.factors, factors):
                _assign(parameter, factor)
            rebuilt_norm = tl.norm(tl.cp_to_tensor((None, factors)))
        else:
            cores = tensor_train(dense, rank=[1] + [explicit] * (len(shape) - 1) + [1], svd=thin_svd)
            weight = TTSpectralWeight(shape[0], shape[1], shape[2:], explicit, dtype=real)
            for parameter, core in zip(weight.cores, cores):
                _assign(parameter, _pad_tt_core(core, parameter.shape[:3]))
            rebuilt_norm = tl.norm(tl.tt_to_tensor(cores))
    if match_norm and float(rebuilt_norm) > 0:
        _rescale(weight, float(torch.linalg.vector_norm(dense)) / float(rebuilt_norm))
    return weight


def thin_svd(matrix: torch.Tensor, n_eigenvecs: int | None = None, **kwargs):
    """Thin SVD for tensorly that factorizes the tall side: LAPACK is far slower on wide complex matrices.

    For a wide ``A`` (``m < n``), ``A^H = P S Q^H`` gives ``A = Q S P^H``.
    """
    k = min(matrix.shape) if n_eigenvecs is None else min(int(n_eigenvecs), *matrix.shape)
    if matrix.shape[0] >= matrix.shape[1]:
        u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    else:
        p, s, qh = torch.linalg.svd(matrix.mH, full_matrices=False)
        u, vh = qh.mH, p.mH
    return u[:, :k], s[:k], vh[:k, :]


def _assign(parameter: torch.nn.Parameter, value: torch.Tensor) -> None:
    value = torch.as_tensor(value).to(torch.complex128 if parameter.dtype == torch.float64 else torch.complex64)
    if tuple(value.shape) != tuple(parameter.shape[:-1]):
        raise RuntimeError(f"factor of shape {tuple(value.shape)} does not fit parameter {tuple(parameter.shape)}")
    with torch.no_grad():
        parameter.copy_(torch.view_as_real(value.contiguous()))


def _pad_tt_core(core: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Zero-pad a TT core ``[r0, n, r1]`` to ``shape`` (tensorly caps ranks at the unfolding sizes)."""
    core = torch.as_tensor(core)
    padded = core.new_zeros(tuple(shape))
    padded[:core.shape[0], :, :core.shape[2]] = core
    return padded


def _rescale(weight: SpectralWeight, factor: float) -> None:
    with torch.no_grad():
        if isinstance(weight, TuckerSpectralWeight):
            weight.core.mul_(factor)
        elif isinstance(weight, CPSpectralWeight):
            weight.factors[0].mul_(factor)
        else:
            weight.cores[0].mul_(factor)
