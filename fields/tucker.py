r"""Tucker fields: a truncated Tucker decomposition of gridded data, evaluable anywhere.

Values :math:`X \in \mathbb R^{c \times n_1 \times \dots \times n_d}` on a tensor-product
:class:`~sciml.Grid` are approximated by

.. math::
    X \approx \hat X = G \times_1 U_1 \times_2 U_2 \cdots \times_d U_d, \qquad
    G \in \mathbb R^{c \times r_1 \times \dots \times r_d},\ U_k \in \mathbb R^{n_k \times r_k},

the channel mode kept at full size. The factors come from the truncated higher-order SVD
(HOSVD: :math:`U_k` = leading left singular vectors of the mode-:math:`k` unfolding
:math:`X_{(k)}`), optionally refined by higher-order orthogonal iteration (HOOI, an ALS on the
Stiefel manifolds, through :func:`tensorly.decomposition.partial_tucker`). With the singular
values :math:`\sigma^{(k)}_i` of :math:`X_{(k)}` the HOSVD error obeys (De Lathauwer et al. 2000)

.. math::
    \|X - \hat X\|_F \le \Big(\sum_{k=1}^d \sum_{i > r_k} (\sigma^{(k)}_i)^2\Big)^{1/2},

so choosing on every mode the smallest :math:`r_k` with
:math:`\big(\sum_{i>r_k} (\sigma^{(k)}_i)^2\big)^{1/2} \le \varepsilon \|X\|_F/\sqrt d`
guarantees a relative error :math:`\le \varepsilon`; HOOI started from the HOSVD only lowers
the error. Tensor algebra runs in tensorly with the PyTorch backend set inside
``tensorly.backend_context`` for the call, never globally.

A :class:`TuckerField` evaluates :math:`\hat X` between the grid points by interpolating each
factor along its own axis, :math:`u_k(x_k) = \sum_j \ell_j(x_k) U_k[j, :]`, and contracting
:math:`\hat f(x) = G \times_1 u_1(x_1) \cdots \times_d u_d(x_d)`. The interpolant per axis
follows the grid: polynomial (barycentric formula) on Chebyshev–Lobatto axes, linear on uniform
and explicit axes (periodic axes wrap, bounded axes hold the end values outside the nodes) —
the same rules as :func:`sciml.resample` ``"polynomial"`` / ``"linear"``, here differentiable
in the coordinates.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import NamedTuple

import tensorly as tl
import torch
from tensorly.decomposition import partial_tucker
from tensorly.tenalg import multi_mode_dot
from torch import nn
from tqdm.auto import tqdm

from sciml.discretization import Discretization, discretization_from_dict
from sciml.grid import Grid, GridAxis
from sciml.registry import register_model
from sciml.sampled import Sampled

from .base import Field, FieldConfig

__all__ = ["HOSVDResult", "TuckerField", "TuckerFieldConfig", "hooi", "hosvd", "ranks_for_tolerance"]

#: entries of the largest intermediate ``[points, c, r_2, ..., r_d]`` when evaluating in chunks
_CHUNK_ENTRIES = 1 << 22


class HOSVDResult(NamedTuple):
    """A truncated HOSVD: ``core`` ``[m_0.., r_1, ..]``, ``factors`` ``[n_k, r_k]`` per compressed mode,
    the full ``singular_values`` of each compressed unfolding and the ``bound`` of the error."""

    core: torch.Tensor
    factors: list
    singular_values: list
    bound: float


# -- decompositions -----------------------------------------------------------------------------
def ranks_for_tolerance(singular_values: Sequence[torch.Tensor], threshold: float) -> tuple[int, ...]:
    r"""Smallest ranks with :math:`\big(\sum_{i \ge r_k} \sigma_i^2\big)^{1/2} \le` ``threshold`` per mode.

    Examples
    --------
    >>> ranks_for_tolerance([torch.tensor([3.0, 1.0, 0.1, 0.01])], threshold=0.2)
    (2,)
    """
    ranks = []
    for s in singular_values:
        s = s.to(torch.float64)
        tails = torch.flip(torch.cumsum(torch.flip(s * s, (0,)), 0), (0,)).sqrt()  # tails[i] = |s[i:]|
        below = (tails <= threshold).nonzero()
        ranks.append(max(1, int(below[0, 0]) if below.numel() else s.numel()))
    return tuple(ranks)


def hosvd(tensor: torch.Tensor, *, tol: float | None = None, rank=None, modes: Sequence[int] | None = None
          ) -> HOSVDResult:
    r"""Truncated higher-order SVD of ``tensor`` along ``modes`` (all by default).

    Parameters
    ----------
    tensor : tensor ``[n_0, ..., n_{D-1}]``
        Real floating tensor.
    tol : float, optional
        Relative error target :math:`\varepsilon`: each mode keeps the smallest rank whose
        discarded singular values have norm :math:`\le \varepsilon \|X\|_F / \sqrt{d}`
        (:math:`d` = number of compressed modes), so :math:`\|X - \hat X\|_F \le \varepsilon\|X\|_F`.
    rank : int or sequence of int, optional
        Ranks per compressed mode (an int for all); overrides ``tol``.
    modes : sequence of int, optional
        Modes to compress; the others keep their size (identity factor, not stored).

    Returns
    -------
    HOSVDResult
        ``core`` with the compressed modes at their ranks, ``factors`` with orthonormal
        columns, ``singular_values`` of every compressed unfolding and the a-priori error
        ``bound`` :math:`(\sum_k \sum_{i>r_k} \sigma_i^{(k)2})^{1/2}`.

    Examples
    --------
    >>> a, b, c = (torch.randn(n, 2, dtype=torch.float64) for n in (5, 6, 7))
    >>> x = torch.einsum("ir,jr,kr->ijk", a, b, c)             # CP rank 2: Tucker ranks <= 2
    >>> out = hosvd(x, tol=1e-10)
    >>> tuple(out.core.shape), out.bound < 1e-10 * float(x.norm())
    ((2, 2, 2), True)
    """
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        raise TypeError(f"tensor: expected a real floating torch.Tensor, got {_describe(tensor)}")
    modes = list(range(tensor.ndim)) if modes is None else [int(m) for m in modes]
    if not modes or any(not 0 <= m < tensor.ndim for m in modes) or len(set(modes)) != len(modes):
        raise ValueError(f"modes: expected distinct modes in [0, {tensor.ndim}), got {modes}")
    if tol is None and rank is None:
        raise ValueError("tol, rank: expected a tolerance or ranks, got neither")
    with tl.backend_context("pytorch", local_threadsafe=True):
        svds = [left_singular_vectors(tl.unfold(tensor, m)) for m in modes]     # one unfolding alive at a time
        values = [s for _, s in svds]
        if rank is not None:
            ranks = check_ranks(rank, [s.numel() for s in values], "rank")
        else:
            ranks = ranks_for_tolerance(values, _check_tol(tol) * float(torch.linalg.vector_norm(tensor))
                                        / math.sqrt(len(modes)))
        factors = [u[:, :r].contiguous() for (u, _), r in zip(svds, ranks)]
        core = multi_mode_dot(tensor, factors, modes=modes, transpose=True)
    bound = math.sqrt(sum(float((s[r:] ** 2).sum()) for s, r in zip(values, ranks)))
    return HOSVDResult(core, factors, values, bound)


def hooi(tensor: torch.Tensor, core: torch.Tensor, factors: Sequence[torch.Tensor], *,
         modes: Sequence[int] | None = None, iterations: int = 10, tol: float = 1e-10,
         progress: bool = True) -> tuple[torch.Tensor, list, list]:
    r"""Refine a Tucker approximation by higher-order orthogonal iteration (tensorly).

    Each sweep replaces :math:`U_k` by the leading left singular vectors of
    :math:`(X \times_{j \ne k} U_j^\top)_{(k)}`; the relative error
    :math:`\sqrt{\|X\|^2 - \|G\|^2}/\|X\|` never increases. Sweeps stop after ``iterations``
    or when the error changes by less than ``tol``.

    Returns
    -------
    core, factors, errors
        The refined decomposition and the relative error after every sweep.

    Examples
    --------
    >>> x = torch.randn(6, 7, 8, dtype=torch.float64)
    >>> start = hosvd(x, rank=3)
    >>> core, factors, errors = hooi(x, start.core, start.factors, iterations=5, progress=False)
    >>> errors[-1] <= start.bound / float(x.norm())       # HOOI improves on the HOSVD
    True
    """
    modes = list(range(tensor.ndim)) if modes is None else [int(m) for m in modes]
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations: expected a non-negative int, got {iterations!r}")
    if len(factors) != len(modes):
        raise ValueError(f"factors: expected {len(modes)} factors (one per mode), got {len(factors)}")
    ranks = tuple(int(f.shape[1]) for f in factors)
    factors, errors = list(factors), []
    bar = tqdm(range(iterations), desc="HOOI", disable=not progress, leave=False)
    with tl.backend_context("pytorch", local_threadsafe=True):
        for _ in bar:
            (core, factors), sweep = partial_tucker(tensor, rank=ranks, modes=modes, n_iter_max=1,
                                                    init=(core, list(factors)), tol=0.0)
            error = float(sweep[-1])
            if not math.isfinite(error):
                raise ArithmeticError(f"HOOI diverged: relative error {error} after {len(errors)} sweeps")
            errors.append(error)
            bar.set_postfix(error=f"{error:.3e}")
            if len(errors) > 1 and abs(errors[-2] - errors[-1]) < tol:
                break
    return core, list(factors), errors


def left_singular_vectors(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Left singular vectors and singular values of ``matrix`` ``[m, n]``.

    A wide matrix is first reduced by a QR factorisation of its transpose,
    :math:`A^\top = QR \Rightarrow A = R^\top Q^\top`, so only the small ``[m, m]`` factor
    :math:`R^\top` is decomposed (same vectors and values, :math:`O(m^2 n)` work).
    """
    if matrix.shape[1] > matrix.shape[0]:
        matrix = torch.linalg.qr(matrix.T, mode="r")[1].T
    u, s, _ = torch.linalg.svd(matrix, full_matrices=False)
    return u, s


def floating_dtype(name: str, label: str) -> torch.dtype:
    """The torch floating dtype called ``name`` (``"float64"``), or a ``ValueError`` naming ``label``."""
    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{label}: expected a torch floating dtype name, got {name!r}")
    return dtype


def check_ranks(rank, limits: Sequence[int], name: str) -> tuple[int, ...]:
    """Ranks as a tuple of ints in ``[1, limit]`` per mode (an int means the same for all)."""
    ranks = (rank,) * len(limits) if isinstance(rank, int) and not isinstance(rank, bool) else rank
    try:
        ranks = tuple(ranks)
    except TypeError:
        raise TypeError(f"{name}: expected an int or a sequence of {len(limits)} ints, got {rank!r}") from None
    if len(ranks) != len(limits) or any(isinstance(r, bool) or not isinstance(r, int) for r in ranks):
        raise ValueError(f"{name}: expected {len(limits)} ints, got {rank!r}")
    for k, (r, n) in enumerate(zip(ranks, limits)):
        if not 1 <= r <= n:
            raise ValueError(f"{name}: expected mode {k} rank in [1, {n}], got {r}")
    return ranks


def _check_tol(tol) -> float:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol: expected a relative tolerance in (0, 1), got {tol!r}")
    return float(tol)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of dtype {value.dtype}"
    return type(value).__name__


# -- evaluation helpers shared by the tensor fields ---------------------------------------------------
def contract_core(core: torch.Tensor, rows: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""Values ``[p, c]`` of :math:`\sum_{r} G_{c r_1 \dots r_d} \prod_k u_k[p, r_k]` for ``core`` ``[c, r_1..r_d]``."""
    points, width = rows[0].shape[0], math.prod(core.shape[:-1])
    chunk = max(1, _CHUNK_ENTRIES // max(1, width))
    outs = []
    for start in range(0, points, chunk):
        part = [r[start:start + chunk] for r in rows]
        out = torch.einsum("pa,...a->p...", part[-1], core)          # [p, c, r_1, ..., r_{d-1}]
        for row in reversed(part[:-1]):
            out = torch.einsum("pa,p...a->p...", row, out)
        outs.append(out)
    return torch.cat(outs, 0) if outs else core.new_zeros(0, core.shape[0])


def grid_values(core: torch.Tensor, matrices: Sequence[torch.Tensor]) -> torch.Tensor:
    """``core ×_1 M_1 ... ×_d M_d`` ``[c, m_1..m_d]`` for matrices ``M_k`` ``[m_k, r_k]``."""
    with tl.backend_context("pytorch", local_threadsafe=True):
        return multi_mode_dot(core, list(matrices), modes=list(range(1, core.ndim)))


def interpolate_axis(axis: GridAxis, factor: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    r"""Rows ``[p, r]`` of ``factor`` ``[n, r]`` (values at the nodes of ``axis``) interpolated at ``t`` ``[p]``.

    Chebyshev axes: the barycentric formula through the Lobatto points,
    :math:`\ell(t) = \sum_j \frac{w_j}{t - x_j} U_j / \sum_j \frac{w_j}{t - x_j}`,
    :math:`w_j = (-1)^j` halved at the ends. Other axes: linear between the two neighbouring
    nodes; periodic axes wrap, bounded axes are clamped to the first and last node.
    Differentiable in ``t`` (except exactly at the nodes of a Chebyshev axis).
    """
    nodes = torch.tensor(axis.coordinates, dtype=factor.dtype, device=factor.device)
    if axis.kind == "chebyshev":
        return _barycentric(nodes, t.to(factor.dtype)) @ factor
    t = t.to(factor.dtype)
    if axis.periodic:
        nodes = torch.cat([nodes, nodes[:1] + axis.length])
        t = nodes[0] + torch.remainder(t - nodes[0], axis.length)
    else:
        t = t.clamp(nodes[0], nodes[-1])
    if nodes.numel() == 1:
        return factor[:1].expand(t.shape[0], -1)
    first = (torch.searchsorted(nodes, t.detach(), right=True) - 1).clamp(0, nodes.numel() - 2)
    weight = ((t - nodes[first]) / (nodes[first + 1] - nodes[first]))[:, None]
    return (1 - weight) * factor[first] + weight * factor[(first + 1) % factor.shape[0]]


def _barycentric(nodes: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    n = nodes.numel()
    w = torch.ones(n, dtype=nodes.dtype, device=nodes.device)
    w[1::2] = -1.0
    w[0] *= 0.5
    w[-1] *= 0.5
    t = t.clamp(nodes[0], nodes[-1])
    gaps = t[:, None] - nodes[None, :]
    hit = gaps == 0
    terms = w / torch.where(hit, torch.ones_like(gaps), gaps)
    rows = terms / terms.sum(1, keepdim=True)
    return torch.where(hit.any(1, keepdim=True), hit.to(rows.dtype), rows)


def field_sampled_on_grid(field: Field, on: Discretization, axis_rows, core: torch.Tensor) -> Sampled | None:
    """Separable sampling ``core ×_k axis_rows(k, x_k)`` for tensor fields; ``None`` unless ``on`` is a Grid."""
    if not isinstance(on, Grid) or on.ndim != field.in_dim:
        return None
    dtype = core.dtype
    coords = on.coordinates(dtype=dtype, device=core.device)
    for k, c in enumerate(coords):          # each axis inside the box (other coordinates at the lower corner)
        corner = field._lower.to(dtype).expand(c.shape[0], field.in_dim).clone()
        corner[:, k] = c
        field.check_coordinates(corner)
    matrices = [axis_rows(k, c) for k, c in enumerate(coords)]
    return Sampled(grid_values(core, matrices)[None], on, validate=False)


# -- the field ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class TuckerFieldConfig(FieldConfig):
    """Config of a :class:`TuckerField`: the data grid (``Grid.to_dict()``), the Tucker ranks and the dtype."""

    grid: dict | None = None
    ranks: tuple = ()
    dtype: str = "float64"


@register_model("tucker")
class TuckerField(Field):
    r"""A Tucker decomposition of gridded values, evaluable at any point of the grid's box.

    Build it with :meth:`from_sampled` (values on a :class:`~sciml.Grid`) or
    :meth:`from_function` (a callable sampled on a grid); the constructor takes a
    :class:`TuckerFieldConfig` and allocates zero parameters (for checkpoints).

    Attributes
    ----------
    core : Parameter ``[c, r_1, ..., r_d]``
    factors : ParameterList of ``[n_k, r_k]``
        Orthonormal columns, values of the mode-:math:`k` basis functions at the grid nodes.
    info : dict
        ``relative_error`` (on the data grid), ``error_bound`` (HOSVD a-priori, relative),
        ``compression_ratio``, ``ranks``, ``hooi_errors``.

    Examples
    --------
    >>> grid = Grid.uniform((20, 30), Domain([(0, 1), (0, 2)]))
    >>> x, y = grid.mesh().unbind(-1)
    >>> data = Sampled((torch.sin(3 * x) * torch.cos(y) + x * y)[None, None], grid)
    >>> field = TuckerField.from_sampled(data, tol=1e-10, progress=False)
    >>> field.ranks, field.info["relative_error"] < 1e-10
    ((2, 2), True)
    >>> torch.allclose(field(grid.points()), data.values.reshape(-1, 1), atol=1e-12)
    True
    """

    config_class = TuckerFieldConfig

    def __init__(self, config: TuckerFieldConfig):
        if not isinstance(config, TuckerFieldConfig):
            raise TypeError(f"config: expected a TuckerFieldConfig, got {type(config).__name__}")
        super().__init__(config.domain(), config.out_channels)
        grid = discretization_from_dict(config.grid) if isinstance(config.grid, dict) else config.grid
        if not isinstance(grid, Grid) or grid.ndim != self.in_dim:
            raise ValueError(f"config.grid: expected a {self.in_dim}D Grid (dict), got {config.grid!r}")
        ranks = check_ranks(tuple(config.ranks), grid.shape, "config.ranks")
        dtype = floating_dtype(config.dtype, "config.dtype")
        self.config, self.grid = config, grid
        self.core = nn.Parameter(torch.zeros(config.out_channels, *ranks, dtype=dtype))
        self.factors = nn.ParameterList([nn.Parameter(torch.zeros(n, r, dtype=dtype))
                                         for n, r in zip(grid.shape, ranks)])
        self.info: dict = {}

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_sampled(cls, data: Sampled, *, tol: float = 1e-6, rank=None, method: str = "hooi",
                     iterations: int = 10, progress: bool = True) -> TuckerField:
        r"""Decompose one function's values on a Grid.

        Parameters
        ----------
        data : Sampled
            Values ``[1, c, n_1..n_d]`` on a :class:`~sciml.Grid` (batch size one: one field).
        tol : float
            Relative Frobenius error target (see :func:`hosvd`); ignored when ``rank`` is given.
        rank : int or sequence of int, optional
            Tucker ranks per axis.
        method : {"hosvd", "hooi"}
            Truncated HOSVD alone, or refined by ``iterations`` HOOI sweeps.
        progress : bool
            Show a progress bar over the HOOI sweeps.
        """
        values, grid = _check_sampled(data)
        if method not in ("hosvd", "hooi"):
            raise ValueError(f"method: expected 'hosvd' or 'hooi', got {method!r}")
        values = values[0]
        modes = list(range(1, values.ndim))
        result = hosvd(values, tol=None if rank is not None else tol, rank=rank, modes=modes)
        core, factors, hooi_errors = result.core, result.factors, []
        if method == "hooi" and iterations:
            core, factors, hooi_errors = hooi(values, core, factors, modes=modes, iterations=iterations,
                                              progress=progress)
        norm = float(torch.linalg.vector_norm(values))
        field = cls._assemble(grid, core, factors, values.shape[0])
        approx = grid_values(core, factors)
        field.info = {
            "relative_error": float(torch.linalg.vector_norm(approx - values)) / norm if norm else 0.0,
            "error_bound": result.bound / norm if norm else 0.0,
            "ranks": field.ranks,
            "compression_ratio": values.numel() / field.stored_numbers(),
            "hooi_errors": hooi_errors,
        }
        return field

    @classmethod
    def from_function(cls, function, grid: Grid, **options) -> TuckerField:
        """Sample ``function`` (``[n, d] -> [n, c]`` or ``[n]``) on ``grid`` in float64 and decompose it.

        ``options`` go to :meth:`from_sampled`.
        """
        return cls.from_sampled(sample_function(function, grid), **options)

    @classmethod
    def _assemble(cls, grid: Grid, core: torch.Tensor, factors, channels: int) -> TuckerField:
        config = TuckerFieldConfig(bounds=tuple(grid.domain.bounds), periodic=tuple(grid.domain.periodic),
                                   out_channels=channels, grid=grid.to_dict(),
                                   ranks=tuple(int(f.shape[1]) for f in factors),
                                   dtype=str(core.dtype).removeprefix("torch."))
        field = cls(config)
        with torch.no_grad():
            field.core.copy_(core)
            for parameter, factor in zip(field.factors, factors):
                parameter.copy_(factor)
        return field

    # -- properties ------------------------------------------------------------------------------
    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(self.core.shape[1:])

    def stored_numbers(self) -> int:
        """Scalars stored: core plus factors."""
        return self.core.numel() + sum(f.numel() for f in self.factors)

    def to_tensor(self) -> torch.Tensor:
        """The reconstructed values ``[c, n_1..n_d]`` on the data grid."""
        return grid_values(self.core, list(self.factors))

    # -- evaluation ----------------------------------------------------------------------------------
    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        rows = [self._axis_rows(k, x[:, k]) for k in range(self.in_dim)]
        return contract_core(self.core, rows)

    def _axis_rows(self, k: int, t: torch.Tensor) -> torch.Tensor:
        return interpolate_axis(self.grid.axes[k], self.factors[k], t)

    def sample(self, on: Discretization, chunk: int = 65536, dtype: torch.dtype | None = None) -> Sampled:
        """Like :meth:`Field.sample`; on a Grid one interpolation per axis and a mode product (same values)."""
        if dtype is None or dtype == self.core.dtype:
            fast = field_sampled_on_grid(self, on, self._axis_rows, self.core)
            if fast is not None:
                return fast
        return super().sample(on, chunk=chunk, dtype=dtype)


def _check_sampled(data) -> tuple[torch.Tensor, Grid]:
    if not isinstance(data, Sampled):
        raise TypeError(f"data: expected a sciml.Sampled, got {type(data).__name__}")
    if not isinstance(data.on, Grid):
        raise ValueError(f"data: expected values on a sciml.Grid, got {data.on!r}")
    if data.batch_size != 1:
        raise ValueError(f"data: expected one function (batch size 1), got batch size {data.batch_size}; "
                         "select one with data[i:i+1]")
    values = data.values.detach()
    if values.is_complex():
        raise TypeError("data: expected real values, got a complex dtype")
    if values.dtype not in (torch.float32, torch.float64):
        values = values.to(torch.float64)
    return values, data.on


def sample_function(function, grid: Grid, chunk: int = 1 << 20) -> Sampled:
    """Values ``[1, c, *grid.shape]`` of ``function`` (``[n, d] -> [n, c]`` or ``[n]``) at the grid points (float64)."""
    if not callable(function):
        raise TypeError(f"function: expected a callable [n, d] -> [n, c], got {type(function).__name__}")
    if not isinstance(grid, Grid):
        raise TypeError(f"grid: expected a sciml.Grid, got {type(grid).__name__}")
    points = grid.points(dtype=torch.float64)
    outs = []
    for start in range(0, points.shape[0], chunk):
        out = torch.as_tensor(function(points[start:start + chunk]))
        outs.append(out[:, None] if out.ndim == 1 else out)
    values = torch.cat(outs, 0)
    if values.ndim != 2 or values.shape[0] != points.shape[0]:
        raise ValueError(f"function: expected values [n] or [n, c] for n={points.shape[0]} points, got "
                         f"{tuple(values.shape)}")
    values = values.to(torch.float64).T.reshape(values.shape[1], *grid.shape)
    return Sampled(values[None], grid)
