r"""The Chebyshev–Tucker format: a Tucker decomposition of a Chebyshev coefficient tensor.

Following Benner, Khoromskaia, Khoromskij, Kweber and Stein ("A mesh-free hybrid
Chebyshev–Tucker tensor format with applications to multi-particle modelling", 2024), a
function on a box is stored as

.. math::
    f(x) = \sum_{r_1 \dots r_d} G_{r_1 \dots r_d} \prod_{k=1}^d \phi_{k, r_k}(x_k), \qquad
    \phi_{k, r}(x_k) = \sum_{j < n_k} A_k[j, r]\, T_j(t_k),

i.e. the tensor :math:`C \in \mathbb R^{n_1 \times \dots \times n_d}` of Chebyshev coefficients
(see :mod:`sciml.fields.chebyshev`) is approximated by :math:`G \times_1 A_1 \cdots \times_d A_d`
with orthonormal :math:`A_k`. Evaluation anywhere costs :math:`\sum_k n_k r_k + \prod_k r_k` per
point; the storage is :math:`\prod_k r_k + \sum_k n_k r_k` instead of :math:`\prod_k n_k`.

Two constructions:

* **From values** at Chebyshev–Lobatto points (:meth:`ChebyshevTuckerField.from_sampled`,
  :meth:`~ChebyshevTuckerField.from_function`): DCT-I to :math:`C`, truncated HOSVD with
  tolerance :math:`\varepsilon` (on every mode the discarded singular values have norm
  :math:`\le \varepsilon\|C\|_F/\sqrt d`, so :math:`\|C - \hat C\|_F \le \varepsilon \|C\|_F`),
  refined by ALS (HOOI). Cost and memory grow with :math:`\prod_k n_k`.
* **From a separable sum** (CP or range-separated input, :meth:`~ChebyshevTuckerField.from_separable`)
  :math:`f = \sum_{q=1}^R \lambda_q \prod_k g_{k,q}(x_k)`. Where the tolerance allows (not far
  below :math:`\sqrt{u}`, :math:`u` the unit round-off), the truncated HOSVD of :math:`C` itself
  from ``[R, R]`` Gram matrices: the Gram matrix of the mode-:math:`k` unfolding is
  :math:`B_k\,\mathrm{diag}(w)\,(\odot_{j\ne k}B_j^\top B_j)\,\mathrm{diag}(w)\,B_k^\top`
  (``[n_k, n_k]``; its leading eigenpairs by a pivoted Cholesky factorisation and a thin SVD), the
  ranks follow the full HOSVD's rule and the achieved error is computed exactly from Gram matrices
  (see :func:`_hosvd_from_grams`); same ranks as the HOSVD of the full grid tensor. Otherwise by the
  reduced HOSVD (RHOSVD,
  Khoromskij & Khoromskaia 2009): each mode's side matrix of coefficients
  :math:`B_k = [\hat g_{k,1}, \dots, \hat g_{k,R}] \in \mathbb R^{n_k \times R}` (columns
  normalised, norms moved into :math:`w_q`) is reduced by its SVD to :math:`U_k`, the core is
  :math:`G = \sum_q w_q \bigotimes_k U_k^\top b_{k,q}`, and the ranks are the smallest with
  :math:`\sum_q |w_q|\,\|(I - U_kU_k^\top) b_{k,q}\| \le 0.1\,\varepsilon\|C\|_F/d` per mode (a bound
  on the error by the triangle inequality; :math:`\|C\|_F^2 = w^\top(\odot_k B_k^\top B_k)w`
  exactly). Optional ALS sweeps on the CP input (mode :math:`k`: leading left singular vectors of
  :math:`B_k \operatorname{diag}(w) (\odot_{j \ne k} U_j^\top B_j)^\top`) refine :math:`U_k`; a
  last HOSVD of the small core recompresses to the :math:`\varepsilon` rule above (the singular
  values of the core's unfoldings are those of :math:`\hat C`'s, the :math:`U_k` being orthonormal),
  so the error is at most :math:`\sqrt{1 + 0.1^2}\,\varepsilon\|C\|_F`. Nothing of size
  :math:`\prod_k n_k` is ever formed: cost :math:`O(\sum_k n_k R^2 + R\prod_k r_k)`.

:class:`SeparableSum` holds such input; :meth:`SeparableSum.gaussians` and
:meth:`SeparableSum.coulomb_long_range` build sums of Gaussians and the long-range part of
Coulomb (Newton) potentials of several centres,

.. math::
    \sum_m Z_m \frac{\operatorname{erf}(|x - c_m|/\sigma)}{|x - c_m|}
    = \sum_m Z_m \frac{2}{\sqrt\pi}\int_0^{1/\sigma} e^{-\tau^2 |x - c_m|^2}\,d\tau
    \approx \sum_m \sum_q Z_m \omega_q \frac{2}{\sqrt\pi} \prod_{k} e^{-\tau_q^2 (x_k - c_{m,k})^2},

Gauss–Legendre nodes :math:`\tau_q` on :math:`[0, 1/\sigma]`. This erf split is our choice for the
long-range part: the singular short-range part :math:`\operatorname{erfc}(r/\sigma)/r` is removed,
the rest is smooth (entire) and separable term by term, like the long-range sum of the
range-separated tensor format (Benner, Khoromskaia, Khoromskij 2018), which cuts the sinc
quadrature of :math:`1/r` instead.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import tensorly as tl
import torch
from scipy.linalg.lapack import dpstrf
from torch import nn
from tqdm.auto import tqdm

from sciml.discretization import Discretization
from sciml.domain import Domain
from sciml.grid import Grid
from sciml.quadrature import chebyshev_lobatto
from sciml.registry import register_model
from sciml.sampled import Sampled

from .base import Field, FieldConfig
from .chebyshev import ChebyshevField, chebyshev_basis, chebyshev_coefficients, check_degrees
from .separable import SeparableSum
from .tucker import (
    _check_sampled,
    _check_tol,
    check_ranks,
    contract_core,
    field_sampled_on_grid,
    floating_dtype,
    grid_values,
    hooi,
    hosvd,
    left_singular_vectors,
    sample_function,
)

__all__ = ["ChebyshevTuckerField", "ChebyshevTuckerFieldConfig", "SeparableSum"]

#: RHOSVD keeps its a-priori error below this fraction of the requested tolerance
_RHOSVD_SHARE = 0.1
#: the Gram route needs the per-mode error budget eps^2 |C|^2 / d above this many n_k u lambda_max (u: unit roundoff)
_GRAM_SAFETY = 4.0
#: the pivoted Cholesky of the Gram route leaves at most this fraction of the per-mode budget undecomposed
_PIVOT_SHARE = 1e-3


# -- the field ----------------------------------------------------------------------------------------------
@dataclasses.dataclass
class ChebyshevTuckerFieldConfig(FieldConfig):
    """Config of a :class:`ChebyshevTuckerField`: Chebyshev degrees and Tucker ranks per axis, dtype."""

    degrees: tuple = ()
    ranks: tuple = ()
    dtype: str = "float64"


@register_model("chebyshev-tucker")
class ChebyshevTuckerField(Field):
    r"""A function in the Chebyshev–Tucker format (see the module docstring).

    Attributes
    ----------
    core : Parameter ``[c, r_1, ..., r_d]``
    factors : ParameterList of ``[n_k, r_k]``
        Chebyshev coefficients of the mode-:math:`k` basis functions (orthonormal columns).
    info : dict
        ``ranks``, ``compression_ratio`` (:math:`c\prod n_k` over the stored numbers),
        ``relative_error`` (coefficient tensor, Frobenius) and the construction's details.

    Examples
    --------
    >>> box = Domain([(-1, 1)] * 3)
    >>> s = SeparableSum.gaussians([[0.2, 0.0, -0.1], [-0.3, 0.1, 0.2]], [0.3, 0.4], [1.0, -0.5], box)
    >>> f = ChebyshevTuckerField.from_separable(s, points=33, tol=1e-8, progress=False)
    >>> f.ranks
    (2, 2, 2)
    >>> x = torch.rand(5, 3, dtype=torch.float64) * 2 - 1
    >>> bool((f(x)[:, 0] - s(x)).abs().max() < 1e-8)
    True
    """

    periodic_axes = False  # a Chebyshev basis needs a bounded box
    config_class = ChebyshevTuckerFieldConfig

    def __init__(self, config: ChebyshevTuckerFieldConfig):
        if not isinstance(config, ChebyshevTuckerFieldConfig):
            raise TypeError(f"config: expected a ChebyshevTuckerFieldConfig, got {type(config).__name__}")
        super().__init__(config.domain(), config.out_channels)
        degrees = check_degrees(config.degrees, self.in_dim, "config.degrees")
        ranks = check_ranks(tuple(config.ranks), [n + 1 for n in degrees], "config.ranks")
        dtype = floating_dtype(config.dtype, "config.dtype")
        self.config = config
        self.core = nn.Parameter(torch.zeros(config.out_channels, *ranks, dtype=dtype))
        self.factors = nn.ParameterList([nn.Parameter(torch.zeros(n + 1, r, dtype=dtype))
                                         for n, r in zip(degrees, ranks)])
        self.info: dict = {}

    # -- construction from values ------------------------------------------------------------------------
    @classmethod
    def from_sampled(cls, data: Sampled, *, tol: float = 1e-6, rank=None, iterations: int = 5,
                     progress: bool = True) -> ChebyshevTuckerField:
        r"""Compress values ``[1, c, n_1..n_d]`` on a Chebyshev :class:`~sciml.Grid`.

        Values -> coefficients (DCT-I) -> truncated HOSVD (``tol`` rule, or ``rank``) ->
        ``iterations`` ALS (HOOI) sweeps.
        """
        values, grid = _check_sampled(data)
        if any(kind != "chebyshev" for kind in grid.kinds):
            raise ValueError(f"data: expected values on a Chebyshev Grid (sciml.Grid.chebyshev), got {grid!r}; "
                             "resample it first (sciml.resample) or use TuckerField")
        values = values[0]
        spatial = tuple(range(1, values.ndim))
        coefficients = chebyshev_coefficients(values, spatial)
        result = hosvd(coefficients, tol=None if rank is not None else tol, rank=rank, modes=spatial)
        core, factors, errors = result.core, result.factors, []
        if iterations:
            core, factors, errors = hooi(coefficients, core, factors, modes=spatial, iterations=iterations,
                                         progress=progress)
        norm = float(torch.linalg.vector_norm(coefficients))
        field = cls._assemble(grid.domain, core, factors)
        residual = float(torch.linalg.vector_norm(grid_values(core, factors) - coefficients))
        field.info.update(relative_error=residual / norm if norm else 0.0,
                          error_bound=result.bound / norm if norm else 0.0, als_errors=errors,
                          method="hosvd+als")
        return field

    @classmethod
    def from_function(cls, function, domain: Domain, *, points=129, **options) -> ChebyshevTuckerField:
        """Sample ``function`` (``[n, d] -> [n, c]`` or ``[n]``) at ``points`` Chebyshev points per axis and compress.

        ``options`` go to :meth:`from_sampled`. This forms the full tensor; for separable input
        use :meth:`from_separable`.
        """
        return cls.from_sampled(sample_function(function, Grid.chebyshev(_points(points, domain), domain)), **options)

    # -- construction from separable input (RHOSVD) ----------------------------------------------------------
    @classmethod
    def from_separable(cls, terms: SeparableSum, *, points=129, tol: float = 1e-6, iterations: int = 0,
                       progress: bool = True) -> ChebyshevTuckerField:
        r"""Compress a :class:`SeparableSum` by the HOSVD from Gram matrices, or RHOSVD + ALS + core HOSVD.

        Without ALS sweeps and where ``tol`` is well above the round-off of squared singular values
        (about :math:`\sqrt{4 d\, n_k u}`, ~6e-7 at 129 points in 3-d; :math:`u` the unit round-off)
        this is the truncated HOSVD of the full coefficient tensor, same ranks and factors, computed
        from the eigen-decompositions of the unfoldings' Gram matrices (:func:`_hosvd_from_grams`);
        otherwise (or with ``iterations``) the RHOSVD route of the module docstring.

        Parameters
        ----------
        terms : SeparableSum
            CP / range-separated input on its box.
        points : int or sequence of int
            Chebyshev–Lobatto points per axis (the degree is ``points - 1``).
        tol : float
            Relative error target in the coefficient tensor's Frobenius norm.
        iterations : int
            ALS sweeps on the canonical input between the RHOSVD and the final recompression
            (default none: with the RHOSVD error held at a tenth of ``tol`` they change the
            result by less than the tolerance; the ranks come from the final core HOSVD).
            Any sweeps select the RHOSVD route.

        Returns
        -------
        ChebyshevTuckerField
            ``info["method"]`` names the route (``"hosvd-from-grams"`` or ``"rhosvd+als"``);
            ``info["relative_error"]`` is the error in the coefficient tensor (computed exactly on the
            first route, bounded on the second).
        """
        if not isinstance(terms, SeparableSum):
            raise TypeError(f"terms: expected a SeparableSum, got {type(terms).__name__}")
        tol = _check_tol(tol)
        nodes = [torch.from_numpy(chebyshev_lobatto(n, lo, hi))               # the Grid.chebyshev coordinates
                 for n, (lo, hi) in zip(_points(points, terms.domain), terms.domain.bounds)]
        sides = [_values_to_coefficients_matrix(t.numel()) @ terms.mode_values(k, t) for k, t in enumerate(nodes)]
        weights, sides = _normalise_terms(terms.weights, sides)
        if weights.numel() == 0:
            raise ValueError("terms: every separable term is zero on the grid")
        grams = [side.T @ side for side in sides]                      # M_k = B_k^T B_k  [R, R]
        norm = math.sqrt(max(float(weights @ _hadamard_into(torch.empty_like(grams[0]), grams) @ weights), 0.0))
        if norm == 0.0:
            raise ValueError("terms: the separable sum is zero on the grid")
        if not iterations:
            direct = _hosvd_from_grams(sides, weights, grams, tol, norm)
            if direct is not None:
                bases, error, bound = direct
                field = cls._assemble(terms.domain, _cp_core(sides, weights, bases)[None], bases)
                field.info.update(relative_error=error / norm, error_bound=bound / norm, cp_rank=terms.rank,
                                  als_errors=[], method="hosvd-from-grams")
                return field
        bases = [_reduced_basis(side, weights, _RHOSVD_SHARE * tol * norm / len(sides)) for side in sides]
        rhosvd_ranks = tuple(b.shape[1] for b in bases)
        errors = []
        for _ in (tqdm(range(iterations), desc="ALS (CP input)", disable=not progress, leave=False)
                  if iterations else ()):
            for k in range(len(sides)):
                bases[k] = _als_update(sides, weights, bases, k)
            errors.append(_cp_projection_error(sides, weights, bases, norm))
        core = _cp_core(sides, weights, bases)
        error_before = math.sqrt(max(norm**2 - float(torch.linalg.vector_norm(core)) ** 2, 0.0)) / norm
        final = hosvd(core, tol=tol)
        factors = [b @ q for b, q in zip(bases, final.factors)]
        field = cls._assemble(terms.domain, final.core[None], factors)
        field.info.update(relative_error=math.hypot(error_before, final.bound / norm), cp_rank=terms.rank,
                          rhosvd_ranks=rhosvd_ranks, als_errors=errors, method="rhosvd+als")
        return field

    @classmethod
    def _assemble(cls, domain: Domain, core: torch.Tensor, factors) -> ChebyshevTuckerField:
        config = ChebyshevTuckerFieldConfig(bounds=tuple(domain.bounds), periodic=(), out_channels=core.shape[0],
                                            degrees=tuple(int(f.shape[0]) - 1 for f in factors),
                                            ranks=tuple(int(f.shape[1]) for f in factors),
                                            dtype=str(core.dtype).removeprefix("torch."))
        field = cls(config)
        with torch.no_grad():
            field.core.copy_(core)
            for parameter, factor in zip(field.factors, factors):
                parameter.copy_(factor)
        full = core.shape[0] * math.prod(int(f.shape[0]) for f in factors)
        field.info = {"ranks": field.ranks, "compression_ratio": full / field.stored_numbers()}
        return field

    # -- properties and conversions ----------------------------------------------------------------------
    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(self.core.shape[1:])

    @property
    def degrees(self) -> tuple[int, ...]:
        return tuple(f.shape[0] - 1 for f in self.factors)

    def stored_numbers(self) -> int:
        """Scalars stored: core plus factors."""
        return self.core.numel() + sum(f.numel() for f in self.factors)

    def coefficient_tensor(self) -> torch.Tensor:
        """The full Chebyshev coefficient tensor ``[c, n_1..n_d]`` (memory :math:`c\\prod n_k`)."""
        return grid_values(self.core, list(self.factors))

    def to_chebyshev(self) -> ChebyshevField:
        """The same function as a dense :class:`~sciml.fields.chebyshev.ChebyshevField` (derivatives, antiderivatives)."""
        return ChebyshevField.from_coefficients(self.coefficient_tensor().detach(), self.domain)

    def integral(self) -> torch.Tensor:
        r""":math:`\int_{\text{box}} f\,dx` ``[c]`` from the factors (Clenshaw–Curtis weights of each basis function)."""
        rows = []
        for factor, (lo, hi) in zip(self.factors, self.domain.bounds):
            j = torch.arange(factor.shape[0], dtype=factor.dtype, device=factor.device)
            weights = torch.where(j % 2 == 0, 2.0 / (1.0 - j * j), torch.zeros_like(j)) * (hi - lo) / 2
            rows.append((weights @ factor)[None])
        return contract_core(self.core, rows)[0]

    # -- evaluation --------------------------------------------------------------------------------------------
    def _axis_rows(self, k: int, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.domain.bounds[k]
        factor = self.factors[k]
        t = (2 * x.to(factor.dtype) - (lo + hi)) / (hi - lo)
        return chebyshev_basis(t, factor.shape[0]) @ factor

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        return contract_core(self.core, [self._axis_rows(k, x[:, k]) for k in range(self.in_dim)])

    def sample(self, on: Discretization, chunk: int = 65536, dtype: torch.dtype | None = None) -> Sampled:
        """Like :meth:`Field.sample`; on a Grid one basis matrix per axis and a mode product (same values)."""
        if dtype is None or dtype == self.core.dtype:
            fast = field_sampled_on_grid(self, on, self._axis_rows, self.core)
            if fast is not None:
                return fast
        return super().sample(on, chunk=chunk, dtype=dtype)


# -- RHOSVD pieces --------------------------------------------------------------------------------------------
def _points(points, domain: Domain) -> tuple[int, ...]:
    sizes = (points,) * domain.ndim if isinstance(points, int) and not isinstance(points, bool) else tuple(points)
    if len(sizes) != domain.ndim or any(isinstance(n, bool) or not isinstance(n, int) or n < 2 for n in sizes):
        raise ValueError(f"points: expected an int >= 2 or {domain.ndim} of them, got {points!r}")
    return sizes


@functools.lru_cache(maxsize=16)
def _values_to_coefficients_matrix(n: int) -> torch.Tensor:
    """``[n, n]`` matrix of the DCT-I from values at ``n`` Chebyshev–Lobatto points to coefficients (do not modify)."""
    return chebyshev_coefficients(torch.eye(n, dtype=torch.float64), 0)


def _normalise_terms(weights: torch.Tensor, sides: list) -> tuple[torch.Tensor, list]:
    """Unit columns in every side matrix (in place), the norms moved into the weights; zero terms dropped."""
    norms = [side.norm(dim=0) for side in sides]
    scale = weights * torch.stack(norms).prod(0)
    keep = scale != 0
    if bool(keep.all()):
        return scale, [side.div_(n) for side, n in zip(sides, norms)]
    return scale[keep], [side[:, keep] / n[keep] for side, n in zip(sides, norms)]


def _reduced_basis(side: torch.Tensor, weights: torch.Tensor, budget: float) -> torch.Tensor:
    r"""Leading left singular vectors of ``side`` ``[n, R]``: fewest with :math:`\sum_q |w_q| \|(I - UU^\top) b_q\| \le` budget.

    For ``n <= R`` the vectors are the eigenvectors of :math:`BB^\top` (faster than an SVD). Squaring
    blurs singular values below :math:`\sqrt{\epsilon}\,\sigma_1`, but the error of every column is
    measured in the basis actually used, so that can only cost rank, never accuracy.
    """
    if side.shape[0] <= side.shape[1]:
        u = torch.linalg.eigh(side @ side.T)[1].flip(-1)
    else:
        u, _ = left_singular_vectors(side)
    coordinates = u.T @ side                                           # columns of side in the basis u
    tails = torch.flip(torch.cumsum(torch.flip(coordinates**2, (0,)), 0), (0,)).sqrt()   # [i, q] = |coords[i:, q]|
    errors = torch.cat([tails, torch.zeros_like(tails[:1])]) @ weights.abs()             # error with i vectors
    rank = max(1, int((errors <= budget).nonzero()[0, 0]))
    return u[:, :rank]


def _projected_sides(sides, bases) -> list:
    return [basis.T @ side for side, basis in zip(sides, bases)]


def _cp_core(sides, weights, bases) -> torch.Tensor:
    """:math:`\\sum_q w_q \\bigotimes_k U_k^\\top b_{k,q}` ``[r_1..r_d]`` (tensorly's ``cp_to_tensor``).

    In 3-d slice by slice, :math:`G_{a::} = P_2\\,\\mathrm{diag}(w \\circ P_1[a])\\,P_3^\\top`, so the
    ``[r_2 r_3, R]`` Khatri–Rao product is never formed (same values, less memory).
    """
    projected = _projected_sides(sides, bases)
    if len(projected) == 3:
        first, second, third = projected
        return torch.stack([torch.mm(second * (row * weights), third.T) for row in first])
    with tl.backend_context("pytorch", local_threadsafe=True):
        return tl.cp_to_tensor((weights, projected))


def _als_update(sides, weights, bases, k: int) -> torch.Tensor:
    """New ``U_k``: leading left singular vectors of the mode-``k`` unfolding of the CP input projected on the others."""
    projected = _projected_sides(sides, bases)
    others = [p for j, p in enumerate(projected) if j != k]
    if len(others) > 1:
        with tl.backend_context("pytorch", local_threadsafe=True):
            khatri_rao = tl.tenalg.khatri_rao(others)                       # [prod_{j != k} r_j, R]
    else:
        khatri_rao = others[0] if others else torch.ones_like(weights)[None]
    return left_singular_vectors((sides[k] * weights) @ khatri_rao.T)[0][:, :bases[k].shape[1]]


def _cp_projection_error(sides, weights, bases, norm: float) -> float:
    r"""Relative error :math:`\sqrt{\|C\|^2 - \|G\|^2}/\|C\|` of the orthogonal Tucker projection (accurate to ~1e-8)."""
    core_norm = float(torch.linalg.vector_norm(_cp_core(sides, weights, bases)))
    return math.sqrt(max(norm**2 - core_norm**2, 0.0)) / norm


# -- the HOSVD from Gram matrices ------------------------------------------------------------------------------------
def _hadamard_into(out: torch.Tensor, matrices) -> torch.Tensor:
    """Entrywise product of ``matrices`` written into ``out`` (ones for none)."""
    if not matrices:
        return out.fill_(1.0)
    out.copy_(matrices[0])
    for m in matrices[1:]:
        out.mul_(m)
    return out


def _hosvd_from_grams(sides, weights, grams, tol: float, norm: float):
    r"""Truncated HOSVD of :math:`C = \sum_q w_q \bigotimes_k b_{k,q}` from ``[R, R]`` Gram matrices; None if unsafe.

    The mode-:math:`k` unfolding is :math:`C_{(k)} = B_k\,\mathrm{diag}(w)\,K_k^\top` with
    :math:`K_k` the Khatri–Rao product of the other side matrices, so its Gram matrix is
    :math:`C_{(k)}C_{(k)}^\top = B_k\,\mathrm{diag}(w)\,N_k\,\mathrm{diag}(w)\,B_k^\top`,
    :math:`N_k = \odot_{j \ne k} B_j^\top B_j` (Hadamard product): an ``[n_k, n_k]`` matrix whose
    eigenpairs are the squared singular values and the left singular vectors of :math:`C_{(k)}`, at
    cost :math:`O(n_k R^2 + n_k^2 R)`. The ranks follow the full HOSVD's rule (discarded
    :math:`\sum_{i \ge r_k}\sigma_i^2 \le \varepsilon^2\|C\|^2/d`). Squaring costs accuracy:
    eigenvalues carry an absolute error of order :math:`u\,\lambda_{\max}`, so the route is refused
    (None) unless the budget :math:`\varepsilon^2\|C\|^2/d` exceeds ``_GRAM_SAFETY`` :math:`n_k u\lambda_{\max}`.

    The error of the orthogonal projection :math:`\hat C = C \times_1 P_1 \cdots \times_d P_d`
    (:math:`P_k = U_kU_k^\top`) is then computed exactly, not bounded: :math:`C - \hat C` is the sum of
    the mutually orthogonal :math:`C \times_{j<k} P_j \times_k (I - P_k)`, so

    .. math::
        \|C - \hat C\|^2 = \sum_k w^\top \big(\odot_{j<k} B_j^\top P_j B_j \odot
        B_k^\top (I - P_k) B_k \odot_{j>k} B_j^\top B_j\big) w,

    every term a quadratic form of a positive semi-definite matrix (no cancellation). Should round-off
    push it above :math:`\varepsilon\|C\|`, the mode with the largest term gains a vector until it does not.

    Returns
    -------
    (bases, error, bound) or None
        Orthonormal ``[n_k, r_k]``, the exact error :math:`\|C - \hat C\|` and the a-priori bound
        :math:`(\sum_k \sum_{i \ge r_k} \sigma_i^{(k)2})^{1/2}`.
    """
    d = len(sides)
    budget = tol**2 * norm**2 / d
    vectors, tails, others = [], [], torch.empty_like(grams[0])
    for k, side in enumerate(sides):
        _hadamard_into(others, [g for j, g in enumerate(grams) if j != k])      # N_k, one [R, R] buffer
        scaled = side * weights
        gram = torch.mm(scaled, others) @ scaled.T
        del scaled
        vector, tail = _leading_eigenvectors(gram, tolerance=_PIVOT_SHARE * budget / gram.shape[0])
        del gram
        if budget < _GRAM_SAFETY * side.shape[0] * torch.finfo(side.dtype).eps * float(tail[0] - tail[1]):
            return None
        vectors.append(vector)
        tails.append(tail)
    ranks = [max(1, int((tail <= budget).nonzero()[0, 0])) if bool((tail <= budget).any()) else tail.numel() - 1
             for tail in tails]
    bound = math.sqrt(sum(float(tail[r]) for tail, r in zip(tails, ranks)))
    while True:
        bases = [v[:, :r] for v, r in zip(vectors, ranks)]
        terms = _projection_error_terms(sides, weights, grams, bases)
        error = math.sqrt(sum(terms))
        grow = [k for k in sorted(range(d), key=lambda k: -terms[k]) if ranks[k] < vectors[k].shape[1]]
        if error <= tol * norm:
            return bases, error, bound
        if not grow:
            return None
        ranks[grow[0]] += 1


def _leading_eigenvectors(gram: torch.Tensor, tolerance: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Leading eigenvectors ``[n, m]`` of a PSD ``gram`` ``[n, n]``, discarded sums ``tails`` ``[m + 1]``.

    ``tails[r]`` bounds :math:`\sum_{i \ge r}\lambda_i` from above.

    A pivoted Cholesky factorisation (LAPACK ``dpstrf``) stops once every remaining pivot is below
    ``tolerance``: :math:`G = LL^\top + S`, :math:`S \succeq 0` with trace at most
    :math:`n\,` ``tolerance``; the SVD of the thin ``[n, m]`` factor :math:`L` gives the leading
    eigenpairs (the eigenvalues of :math:`LL^\top` are below those of :math:`G` and sum to within
    :math:`\operatorname{tr} S` of them). ``tails`` adds :math:`\operatorname{tr} G - \|L\|_F^2` to
    the discarded sums, so they never understate the true ones. Much cheaper than a full ``eigh``
    when the eigenvalues decay fast.
    """
    trace = float(torch.trace(gram))
    chol, pivots, rank, info = dpstrf(gram.numpy().T, lower=1, tol=tolerance, overwrite_a=1)  # F-order view: in place
    if info < 0:
        raise ArithmeticError(f"dpstrf failed (info={info})")
    factor = torch.zeros(gram.shape[0], max(int(rank), 1), dtype=gram.dtype)
    factor[torch.as_tensor(pivots - 1)] = torch.from_numpy(chol[:, :factor.shape[1]]).tril()
    vectors, values, _ = torch.linalg.svd(factor, full_matrices=False)
    squares = values**2
    rest = max(trace - float(squares.sum()), 0.0)
    tails = torch.cat([torch.flip(torch.cumsum(torch.flip(squares, (0,)), 0), (0,)), squares.new_zeros(1)]) + rest
    return vectors, tails


def _projection_error_terms(sides, weights, grams, bases) -> list[float]:
    r"""Squared errors :math:`\|C \times_{j<k} P_j \times_k (I - P_k)\|^2` per mode (sum: :math:`\|C - \hat C\|^2`).

    ``sides`` ``[n_k, R]``, ``weights`` ``[R]``, ``grams`` :math:`B_k^\top B_k`, ``bases`` orthonormal
    ``[n_k, r_k]``; see :func:`_hosvd_from_grams`. Cost :math:`O(\sum_k n_k R^2)`, nothing of size
    :math:`\prod_k n_k`.
    """
    # term k = w^T (A_k o B_k^T (I - P_k) B_k) w = sum((R_k W) A_k o (R_k W)), R_k = (I - P_k) B_k, W = diag(w)
    terms, prefix, others = [], torch.ones_like(grams[0]), torch.empty_like(grams[0])
    for k, (side, basis) in enumerate(zip(sides, bases)):
        projected = basis.T @ side
        residual = torch.addmm(side, basis, projected, alpha=-1).mul_(weights)
        _hadamard_into(others, [prefix, *grams[k + 1:]])                  # A_k
        terms.append(max(float(torch.mm(residual, others).mul_(residual).sum()), 0.0))
        del residual
        prefix.mul_(torch.mm(projected.T, projected))
    return terms
