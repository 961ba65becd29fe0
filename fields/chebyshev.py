r"""Chebyshev fields: tensor-product Chebyshev interpolants on a box.

On :math:`[a_1, b_1] \times \dots \times [a_d, b_d]`, with :math:`t_k = (2x_k - a_k - b_k)/(b_k - a_k)`,

.. math::
    f(x) = \sum_{j_1 < n_1} \cdots \sum_{j_d < n_d} C_{j_1 \dots j_d}\, T_{j_1}(t_1) \cdots T_{j_d}(t_d),
    \qquad T_j(\cos\theta) = \cos j\theta .

**Values <-> coefficients.** :meth:`sciml.Grid.chebyshev` makes Chebyshev–*Lobatto* points
(second kind, the extrema :math:`\cos(\pi i/N)`, :math:`N = n - 1`, stored ascending). The
interpolant through them has the coefficients of a DCT-I,

.. math::
    C_j = \frac{2 - \delta_{j0} - \delta_{jN}}{2N}\Big(f_0 + (-1)^j f_N
          + 2\sum_{i=1}^{N-1} f_i \cos\frac{\pi i j}{N}\Big), \qquad f_i = f(\cos(\pi i / N)),

computed per axis from an FFT of the even extension :math:`(f_0, \dots, f_N, f_{N-1}, \dots, f_1)`.
:func:`sciml.kernels.dct` is the DCT-II, whose nodes are the Chebyshev points of the *first*
kind (:math:`\cos(\pi(i + \tfrac12)/n)`), so it does not apply to these grids.

**Evaluation** builds :math:`T_0..T_{n-1}` at the points by the three-term recurrence
:math:`T_{j+1} = 2tT_j - T_{j-1}` (stable on :math:`[-1, 1]`) and contracts one axis at a time;
on a :class:`~sciml.Grid` it is one matrix per axis.

**Calculus on the coefficients** (exact for the interpolant): derivatives by
:math:`c'_{j-1} = c'_{j+1} + 2j c_j` (halving :math:`c'_0`), antiderivatives by
:math:`b_j = (c_{j-1} - c_{j+1})/(2j)`, and the integral over the box by
:math:`\int_{-1}^1 T_j = 2/(1 - j^2)` for even :math:`j` (0 for odd) — the Clenshaw–Curtis rule
applied to the values.

**Adaptive degree** (:meth:`ChebyshevField.from_function`): sample on :math:`17` points per
axis, double the intervals (:math:`n \to 2n - 1`, nested points) on every axis whose last
coefficients (max over the other axes) exceed ``tol`` times the largest one, then chop each axis
after its last coefficient above that threshold (Boyd 2001; Trefethen, *ATAP*, ch. 8 on the
geometric decay :math:`|c_j| = O(\rho^{-j})` for functions analytic in the Bernstein ellipse
:math:`E_\rho`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from torch import nn

from sciml.discretization import Discretization
from sciml.domain import Domain
from sciml.grid import Grid
from sciml.registry import register_model
from sciml.sampled import Sampled

from .base import Field, FieldConfig
from .tucker import contract_core, field_sampled_on_grid, floating_dtype, sample_function

__all__ = ["ChebyshevField", "ChebyshevFieldConfig", "chebyshev_basis", "chebyshev_coefficients",
           "chebyshev_values"]

#: points per axis the adaptive construction starts from
_START_POINTS = 17


# -- transforms ---------------------------------------------------------------------------------------
def chebyshev_coefficients(values: torch.Tensor, dims: int | Sequence[int] = -1) -> torch.Tensor:
    r"""Chebyshev coefficients from values at ascending Chebyshev–Lobatto points (DCT-I per axis).

    Parameters
    ----------
    values : tensor
        Real values; along each of ``dims`` a length :math:`n \ge 2` axis of samples at
        :math:`-\cos(\pi i/(n-1))` (the order of :meth:`sciml.Grid.chebyshev`).
    dims : int or sequence of int
        Axes to transform.

    Returns
    -------
    tensor
        Same shape: coefficients of :math:`T_0 .. T_{n-1}` along each transformed axis.

    Examples
    --------
    >>> t = torch.tensor(sciml.quadrature.chebyshev_lobatto(5))
    >>> chebyshev_coefficients(4 * t**3 - 3 * t).abs().round(decimals=12)          # T_3
    tensor([0., 0., 0., 1., 0.], dtype=torch.float64)
    """
    return _along(values, dims, _values_to_coefficients)


def chebyshev_values(coefficients: torch.Tensor, dims: int | Sequence[int] = -1) -> torch.Tensor:
    """Values at ascending Chebyshev–Lobatto points from coefficients: the inverse of :func:`chebyshev_coefficients`.

    Examples
    --------
    >>> c = torch.randn(3, 9, dtype=torch.float64)
    >>> torch.allclose(chebyshev_coefficients(chebyshev_values(c)), c)
    True
    """
    return _along(coefficients, dims, _coefficients_to_values)


def chebyshev_basis(t: torch.Tensor, n: int) -> torch.Tensor:
    r"""``[p, n]`` matrix :math:`T_j(t_i)`, :math:`j < n`, by the three-term recurrence (differentiable in ``t``).

    Examples
    --------
    >>> chebyshev_basis(torch.tensor([0.5]), 4)
    tensor([[ 1.0000,  0.5000, -0.5000, -1.0000]])
    """
    columns = [torch.ones_like(t), t]
    for _ in range(2, n):
        columns.append(2 * t * columns[-1] - columns[-2])
    return torch.stack(columns[:n], -1)


def _along(x: torch.Tensor, dims, transform) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"values: expected a real floating torch.Tensor, got {type(x).__name__}")
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if not dims or any(not -x.ndim <= d < x.ndim for d in dims):
        raise ValueError(f"dims: expected axes in [{-x.ndim}, {x.ndim}), got {dims} for shape {tuple(x.shape)}")
    for d in dims:
        if x.shape[d] < 2:
            raise ValueError(f"values: expected at least 2 Chebyshev points along dim {d}, got {x.shape[d]}")
        x = transform(x.movedim(d, -1)).movedim(-1, d)
    return x


def _dct1(x: torch.Tensor) -> torch.Tensor:
    """Unnormalized DCT-I ``y_j = x_0 + (-1)^j x_N + 2 sum_i x_i cos(pi i j / N)`` along the last axis."""
    extended = torch.cat([x, x[..., 1:-1].flip(-1)], -1)
    return torch.fft.rfft(extended, dim=-1).real


def _values_to_coefficients(values: torch.Tensor) -> torch.Tensor:
    big_n = values.shape[-1] - 1
    coefficients = _dct1(values.flip(-1)) / big_n            # flip: ascending -> cos(pi i / N) order
    scale = torch.ones(big_n + 1, dtype=values.dtype, device=values.device)
    scale[0] = scale[-1] = 0.5
    return coefficients * scale


def _coefficients_to_values(coefficients: torch.Tensor) -> torch.Tensor:
    scale = torch.full((coefficients.shape[-1],), 0.5, dtype=coefficients.dtype, device=coefficients.device)
    scale[0] = scale[-1] = 1.0
    return _dct1(coefficients * scale).flip(-1)


def check_degrees(degrees, ndim: int, label: str) -> tuple[int, ...]:
    """``ndim`` polynomial degrees as non-negative ints, or a ``ValueError`` naming ``label``."""
    sizes = tuple(degrees) if isinstance(degrees, (tuple, list)) else ()
    if len(sizes) != ndim or any(isinstance(n, bool) or not isinstance(n, int) or n < 0 for n in sizes):
        raise ValueError(f"{label}: expected {ndim} non-negative ints, got {degrees!r}")
    return sizes


# -- the field -------------------------------------------------------------------------------------------
@dataclasses.dataclass
class ChebyshevFieldConfig(FieldConfig):
    """Config of a :class:`ChebyshevField`: coefficients per axis (degree + 1) and the dtype."""

    degrees: tuple = ()
    dtype: str = "float64"


@register_model("chebyshev")
class ChebyshevField(Field):
    r"""A tensor-product Chebyshev series on a box (see the module docstring for the maths).

    Build it with :meth:`from_function` (adaptive or fixed degree), :meth:`from_sampled`
    (values on a Chebyshev :class:`~sciml.Grid`) or :meth:`from_coefficients`; the constructor
    takes a :class:`ChebyshevFieldConfig` and allocates zero coefficients (for checkpoints).

    Attributes
    ----------
    coefficients : Parameter ``[c, n_1, ..., n_d]``

    Examples
    --------
    >>> f = ChebyshevField.from_function(lambda x: torch.exp(x[:, 0]) * torch.sin(x[:, 1]),
    ...                                  Domain([(0, 1), (0, 2)]))
    >>> f.degrees
    (10, 12)
    >>> x = torch.tensor([[0.3, 1.7]], dtype=torch.float64)
    >>> abs(f(x).item() - math.exp(0.3) * math.sin(1.7)) < 1e-12
    True
    >>> abs(f.integral().item() - (math.e - 1) * (1 - math.cos(2))) < 1e-14
    True
    """

    periodic_axes = False  # a Chebyshev basis needs a bounded box
    config_class = ChebyshevFieldConfig

    def __init__(self, config: ChebyshevFieldConfig):
        if not isinstance(config, ChebyshevFieldConfig):
            raise TypeError(f"config: expected a ChebyshevFieldConfig, got {type(config).__name__}")
        super().__init__(config.domain(), config.out_channels)
        sizes = check_degrees(config.degrees, self.in_dim, "config.degrees")
        dtype = floating_dtype(config.dtype, "config.dtype")
        self.config = config
        self.coefficients = nn.Parameter(torch.zeros(config.out_channels, *(n + 1 for n in sizes), dtype=dtype))

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_coefficients(cls, coefficients: torch.Tensor, domain: Domain) -> ChebyshevField:
        """A field with the given coefficients ``[c, n_1..n_d]`` on ``domain``."""
        if not isinstance(domain, Domain):
            raise TypeError(f"domain: expected a sciml.Domain, got {type(domain).__name__}")
        if not isinstance(coefficients, torch.Tensor) or not coefficients.is_floating_point():
            raise TypeError(f"coefficients: expected a real floating tensor, got {type(coefficients).__name__}")
        if coefficients.ndim != domain.ndim + 1:
            raise ValueError(f"coefficients: expected shape [c, n_1..n_{domain.ndim}], got {tuple(coefficients.shape)}")
        if not bool(torch.isfinite(coefficients).all()):
            raise ValueError("coefficients: expected finite values, found NaN or infinite entries")
        config = ChebyshevFieldConfig(bounds=tuple(domain.bounds), periodic=(), out_channels=coefficients.shape[0],
                                      degrees=tuple(n - 1 for n in coefficients.shape[1:]),
                                      dtype=str(coefficients.dtype).removeprefix("torch."))
        field = cls(config)
        with torch.no_grad():
            field.coefficients.copy_(coefficients)
        return field

    @classmethod
    def from_sampled(cls, data: Sampled) -> ChebyshevField:
        """The interpolant of values ``[1, c, n_1..n_d]`` on a Chebyshev :class:`~sciml.Grid`."""
        if not isinstance(data, Sampled):
            raise TypeError(f"data: expected a sciml.Sampled, got {type(data).__name__}")
        if not isinstance(data.on, Grid) or any(kind != "chebyshev" for kind in data.on.kinds):
            raise ValueError(f"data: expected values on a Chebyshev Grid (sciml.Grid.chebyshev), got {data.on!r}")
        if data.batch_size != 1 or data.values.is_complex():
            raise ValueError(f"data: expected one real function (batch size 1), got {data!r}")
        values = data.values[0].detach()
        values = values if values.dtype in (torch.float32, torch.float64) else values.to(torch.float64)
        coefficients = chebyshev_coefficients(values, tuple(range(1, values.ndim)))
        return cls.from_coefficients(coefficients, data.on.domain)

    @classmethod
    def from_function(cls, function, domain: Domain, *, degree=None, tol: float = 1e-13, max_degree: int = 256,
                      max_points: int = 1 << 24) -> ChebyshevField:
        r"""Interpolate ``function`` (``[n, d] -> [n, c]`` or ``[n]``, called in float64) on ``domain``.

        Parameters
        ----------
        degree : int or sequence of int, optional
            Fixed degree per axis (``degree + 1`` Lobatto points). Without it the degree is chosen
            adaptively (see the module docstring) and the series chopped at relative level ``tol``.
        tol : float
            Relative size (to the largest coefficient) below which trailing coefficients count as
            resolved / are dropped.
        max_degree : int
            Largest degree per axis the adaptive search may reach; ``ValueError`` beyond it.
        max_points : int
            Largest number of samples of ``function`` (a guard for high dimensions).
        """
        if not isinstance(domain, Domain):
            raise TypeError(f"domain: expected a sciml.Domain, got {type(domain).__name__}")
        if degree is not None:
            degrees = (degree,) * domain.ndim if isinstance(degree, int) and not isinstance(degree, bool) else degree
            if len(tuple(degrees)) != domain.ndim or any(not isinstance(n, int) or n < 1 for n in degrees):
                raise ValueError(f"degree: expected a positive int or {domain.ndim} of them, got {degree!r}")
            return cls.from_sampled(_sample(function, [n + 1 for n in degrees], domain, max_points))
        if isinstance(tol, bool) or not isinstance(tol, float) or not 0 < tol < 1:
            raise ValueError(f"tol: expected a float in (0, 1), got {tol!r}")
        if isinstance(max_degree, bool) or not isinstance(max_degree, int) or max_degree < _START_POINTS - 1:
            raise ValueError(f"max_degree: expected an int >= {_START_POINTS - 1}, got {max_degree!r}")
        return cls.from_coefficients(_adaptive_coefficients(function, domain, tol, max_degree, max_points), domain)

    # -- properties --------------------------------------------------------------------------------
    @property
    def degrees(self) -> tuple[int, ...]:
        """Polynomial degree per axis."""
        return tuple(n - 1 for n in self.coefficients.shape[1:])

    def _scales(self) -> list[float]:
        """``2 / (b_k - a_k)``: d t_k / d x_k."""
        return [2.0 / (hi - lo) for lo, hi in self.domain.bounds]

    # -- evaluation --------------------------------------------------------------------------------
    def _axis_rows(self, k: int, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.domain.bounds[k]
        t = (2 * x.to(self.coefficients.dtype) - (lo + hi)) / (hi - lo)
        return chebyshev_basis(t, self.coefficients.shape[k + 1])

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        return contract_core(self.coefficients, [self._axis_rows(k, x[:, k]) for k in range(self.in_dim)])

    def sample(self, on: Discretization, chunk: int = 65536, dtype: torch.dtype | None = None) -> Sampled:
        """Like :meth:`Field.sample`; on a Grid one basis matrix per axis and a mode product (same values)."""
        if dtype is None or dtype == self.coefficients.dtype:
            fast = field_sampled_on_grid(self, on, self._axis_rows, self.coefficients)
            if fast is not None:
                return fast
        return super().sample(on, chunk=chunk, dtype=dtype)

    def values_on_grid(self) -> Sampled:
        """Values on the Chebyshev grid of the field's own degrees (inverse DCT-I, ``O(N log N)``)."""
        sizes = [max(n, 2) for n in self.coefficients.shape[1:]]
        coefficients = _pad_to(self.coefficients.detach(), sizes)
        values = chebyshev_values(coefficients, tuple(range(1, coefficients.ndim)))
        return Sampled(values[None], Grid.chebyshev(tuple(sizes), self.domain), validate=False)

    # -- calculus ----------------------------------------------------------------------------------
    def derivative(self, axis: int, order: int = 1) -> ChebyshevField:
        r""":math:`\partial^m f / \partial x_k^m` as a Chebyshev field (degree lowered by ``order`` along ``axis``)."""
        axis = self._check_axis(axis)
        if isinstance(order, bool) or not isinstance(order, int) or order < 0:
            raise ValueError(f"order: expected a non-negative int, got {order!r}")
        coefficients = self.coefficients.movedim(axis + 1, -1)
        for _ in range(order):
            coefficients = _differentiate(coefficients) * self._scales()[axis]
        return ChebyshevField.from_coefficients(coefficients.movedim(-1, axis + 1).detach(), self.domain)

    def antiderivative(self, axis: int) -> ChebyshevField:
        r""":math:`F(x) = \int_{a_k}^{x_k} f \,dx_k` (zero on the face :math:`x_k = a_k`), degree raised by one."""
        axis = self._check_axis(axis)
        coefficients = _integrate(self.coefficients.movedim(axis + 1, -1)) / self._scales()[axis]
        return ChebyshevField.from_coefficients(coefficients.movedim(-1, axis + 1).detach(), self.domain)

    def integral(self) -> torch.Tensor:
        r""":math:`\int_{\text{box}} f\,dx` per channel ``[c]``: :math:`\sum_j C_j \prod_k \frac{b_k - a_k}{2}\int_{-1}^1 T_{j_k}`."""
        weights = []
        for n, scale in zip(self.coefficients.shape[1:], self._scales()):
            j = torch.arange(n, dtype=self.coefficients.dtype, device=self.coefficients.device)
            even = torch.where(j % 2 == 0, 2.0 / (1.0 - j * j), torch.zeros_like(j))
            weights.append(even[None] / scale)
        return contract_core(self.coefficients, weights)[0]

    def _check_axis(self, axis) -> int:
        if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < self.in_dim:
            raise ValueError(f"axis: expected an int in [0, {self.in_dim}), got {axis!r}")
        return axis


def _differentiate(c: torch.Tensor) -> torch.Tensor:
    """Coefficients of the derivative along the last axis (on [-1, 1]); length n - 1 (at least 1)."""
    n = c.shape[-1]
    if n == 1:
        return torch.zeros_like(c)
    out = [torch.zeros_like(c[..., 0])] * (n + 1)          # out[j] = c'_j, with c'_{n-1} = c'_n = 0
    for j in range(n - 1, 0, -1):
        out[j - 1] = out[j + 1] + 2 * j * c[..., j]
    out[0] = out[0] / 2
    return torch.stack(out[:n - 1], -1)


def _integrate(c: torch.Tensor) -> torch.Tensor:
    """Coefficients of the antiderivative along the last axis vanishing at t = -1; length n + 1."""
    n = c.shape[-1]
    padded = torch.cat([c, torch.zeros_like(c[..., :2])], -1)
    b = [None] * (n + 1)
    b[1] = padded[..., 0] - padded[..., 2] / 2
    for j in range(2, n + 1):
        b[j] = (padded[..., j - 1] - padded[..., j + 1]) / (2 * j)
    signs = [(-1.0) ** j for j in range(1, n + 1)]
    b[0] = -sum(s * bj for s, bj in zip(signs, b[1:]))
    return torch.stack(b, -1)


def _pad_to(coefficients: torch.Tensor, sizes) -> torch.Tensor:
    pad = []
    for n, size in zip(reversed(coefficients.shape[1:]), reversed(sizes)):
        pad += [0, size - n]
    return torch.nn.functional.pad(coefficients, pad)


def _sample(function, sizes, domain: Domain, max_points: int) -> Sampled:
    if math.prod(sizes) > max_points:
        raise ValueError(f"max_points: sampling {tuple(sizes)} = {math.prod(sizes)} points exceeds "
                         f"max_points={max_points}; raise it or lower the degree")
    data = sample_function(function, Grid.chebyshev(tuple(sizes), domain))
    return data


def _adaptive_coefficients(function, domain: Domain, tol: float, max_degree: int, max_points: int) -> torch.Tensor:
    sizes = [_START_POINTS] * domain.ndim
    while True:
        values = _sample(function, sizes, domain, max_points).values[0]
        coefficients = chebyshev_coefficients(values, tuple(range(1, values.ndim)))
        magnitude = coefficients.abs()
        threshold = tol * float(magnitude.max())
        if threshold == 0.0:                                   # the zero function
            return coefficients[(slice(None),) + (slice(0, 1),) * domain.ndim]
        profiles = [magnitude.movedim(k + 1, -1).reshape(-1, n).amax(0) for k, n in enumerate(sizes)]
        unresolved = [k for k, (p, n) in enumerate(zip(profiles, sizes))
                      if float(p[-max(3, n // 10):].max()) > threshold]
        if not unresolved:
            break
        for k in unresolved:
            if 2 * sizes[k] - 2 > max_degree:
                raise ValueError(f"max_degree: the function is not resolved to tol={tol:g} along axis {k} with "
                                 f"degree <= {max_degree} (trailing coefficients "
                                 f"{float(profiles[k][-3:].max()) / float(magnitude.max()):.1e} of the largest); "
                                 "raise max_degree or tol, or check the function is smooth")
            sizes[k] = 2 * sizes[k] - 1
    keep = [int((p > threshold).nonzero().max()) + 1 for p in profiles]
    return coefficients[(slice(None),) + tuple(slice(0, n) for n in keep)].contiguous()
