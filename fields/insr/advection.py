r"""Linear advection :math:`\partial_t u + \mathbf a\cdot\nabla u = 0` in 1D/2D, solved by INSR.

Each step minimises the midpoint-rule residual (or the scheme of the stepper config, see
:func:`~sciml.fields.insr.time_residual`; :math:`F` is linear, so :math:`u_n` and :math:`F(u_n)`
are evaluated once per step) with :math:`F(u) = -\mathbf a\cdot\nabla u`, plus a
Dirichlet penalty :math:`\lambda\,\overline{u_{n+1}^2}` on boundary points (non-periodic
domains; the pulse must stay away from the boundary, where the exact solution is ~0).

Exact solution: the translated initial condition :math:`u(x, t) = u_0(x - \mathbf a t)`
(wrapped into the box on periodic axes).
"""

from __future__ import annotations

import math

import torch

from sciml.domain import Domain

from .problem import INSRProblem
from .stepper import Stage, advection_rhs, theta_weight

__all__ = ["Advection", "gaussian_pulse", "multiscale_pulse"]


def gaussian_pulse(center, width: float):
    r""":math:`u_0(x) = \exp(-|x - c|^2 / (2 w^2))` as a callable ``[n, d] -> [n, 1]``.

    Examples
    --------
    >>> u0 = gaussian_pulse([0.0], 0.1)
    >>> round(float(u0(torch.tensor([[0.1]], dtype=torch.float64))), 12)  # exp(-1/2)
    0.606530659713
    """
    if not width > 0:
        raise ValueError(f"width: expected a number > 0, got {width!r}")
    c = torch.as_tensor(center, dtype=torch.float64).reshape(-1)

    def u0(x):
        d2 = (x - c.to(x.dtype)).pow(2).sum(-1, keepdim=True)
        return torch.exp(-d2 / (2 * width**2))

    u0.width = float(width)
    return u0


def multiscale_pulse(center, width: float, ripple: float = 0.25, ripple_width: float | None = None):
    r"""A wide Gaussian carrying a narrow one: :math:`g_w(x - c) + r\, g_{w/8}(x - c)` (adaptivity test).

    ``ripple_width`` defaults to ``width / 8``; the smallest scale is the narrow width.
    """
    narrow = ripple_width or width / 8
    wide, fine = gaussian_pulse(center, width), gaussian_pulse(center, narrow)

    def u0(x):
        return wide(x) + ripple * fine(x)

    u0.width = float(narrow)
    return u0


class Advection(INSRProblem):
    r"""Advection of a scalar by a constant velocity on a box.

    Parameters
    ----------
    domain : Domain
        1D or 2D box; periodic axes wrap, other boundaries get a homogeneous Dirichlet penalty.
    velocity : sequence of float
        Constant :math:`\mathbf a` ``[d]``.
    initial : callable ``[n, d] -> [n, 1]``
        :math:`u_0` (e.g. :func:`gaussian_pulse`); its ``width`` attribute, when present, is the
        length scale of the CFL-like number :math:`|\mathbf a|\,\Delta t / w`.
    boundary_weight : float
        :math:`\lambda` of the Dirichlet penalty.
    boundary_points : int
        Points per boundary face in 2D.
    length_scale : float, optional
        Overrides ``initial.width``.

    Examples
    --------
    The paper's 1D setup (see :meth:`paper_1d`):

    >>> problem = Advection.paper_1d()
    >>> problem.courant_number(0.05, "midpoint")
    0.125
    """

    name = "advection"

    def __init__(self, domain: Domain, velocity, initial, boundary_weight: float = 1.0,
                 boundary_points: int = 64, length_scale: float | None = None):
        super().__init__(domain, {"u": 1})
        self.velocity = torch.as_tensor(velocity, dtype=torch.float64).reshape(-1)
        if self.velocity.numel() != domain.ndim:
            raise ValueError(f"velocity: expected {domain.ndim} components for a {domain.ndim}D domain, "
                             f"got {self.velocity.numel()}")
        if not callable(initial):
            raise TypeError(f"initial: expected a callable [n, d] -> [n, 1], got {type(initial).__name__}")
        if not boundary_weight >= 0:
            raise ValueError(f"boundary_weight: expected a number >= 0, got {boundary_weight!r}")
        self.initial = initial
        self.boundary_weight = float(boundary_weight)
        self.length_scale = float(length_scale or getattr(initial, "width", min(domain.lengths) / 16))
        self.rhs = advection_rhs(self.velocity)
        self.boundary = _boundary_points(domain, boundary_points)

    @classmethod
    def paper_1d(cls, width: float = 0.1, velocity: float = 0.25) -> Advection:
        """Gaussian pulse (width 0.1) at -1.5 on ``[-2, 2]`` moved right at speed 0.25 (Chen et al. 2023, 5.1)."""
        return cls(Domain(((-2.0, 2.0),)), [velocity], gaussian_pulse([-1.5], width))

    @classmethod
    def gaussian_2d(cls, width: float = 0.1, velocity=(0.25, 0.125)) -> Advection:
        """Gaussian pulse (width 0.1) at (-1, -0.5) on ``[-2, 2]^2`` moved by ``velocity``."""
        return cls(Domain(((-2.0, 2.0), (-2.0, 2.0))), list(velocity), gaussian_pulse([-1.0, -0.5], width))

    def initial_condition(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.initial(x)

    def reference(self, name: str, t: float, x: torch.Tensor) -> torch.Tensor:
        y = x.to(torch.float64) - t * self.velocity
        lower = torch.tensor(self.domain.lower, dtype=torch.float64)
        length = torch.tensor(self.domain.lengths, dtype=torch.float64)
        periodic = torch.tensor(self.domain.periodic)
        y = torch.where(periodic, lower + torch.remainder(y - lower, length), y)
        return self.initial(y).to(x.dtype)

    def courant_number(self, dt: float, scheme: str) -> float:
        """:math:`|\\mathbf a|\\,\\Delta t / w` with :math:`w` the smallest length scale of :math:`u_0`."""
        return float(self.velocity.norm()) * dt / self.length_scale

    def time_step_limits(self, scheme: str) -> tuple[float, float]:
        # explicit Euler amplifies a mode of wavenumber 1/w by sqrt(1 + C^2) per step: refuse C > 1;
        # the implicit schemes are stable, but C > 1 moves the pulse by more than its width per step
        return (1.0, 1.0) if scheme == "explicit-euler" else (1.0, math.inf)

    def stages(self) -> list:
        return [Stage("u", self._loss, prepare=self._prepare, name="u")]

    def _prepare(self, ctx):
        # F is linear: u_n and F(u_n) are evaluated once per step (see theta_weight)
        old, old_rhs = self.rhs(ctx.old["u"], ctx.x, values=True)
        return old.detach(), old_rhs.detach(), theta_weight(ctx.scheme)

    def _loss(self, field, ctx) -> torch.Tensor:
        old, old_rhs, theta = ctx.prepared["u"]
        if theta > 0:
            new, new_rhs = self.rhs(field, ctx.x, values=True)
            forcing = theta * new_rhs + (1 - theta) * old_rhs
        else:
            new, forcing = field(ctx.x), old_rhs
        loss = (new - old - ctx.dt * forcing).pow(2).mean()
        if self.boundary is not None and self.boundary_weight > 0:
            loss = loss + self.boundary_weight * field(self.boundary.to(ctx.x.dtype)).pow(2).mean()
        return loss


def _boundary_points(domain: Domain, per_face: int) -> torch.Tensor | None:
    """Points on the non-periodic faces of ``domain`` ``[m, d]`` (``None`` if fully periodic)."""
    faces = []
    for a in range(domain.ndim):
        if domain.periodic[a]:
            continue
        for side in domain.bounds[a]:
            if domain.ndim == 1:
                faces.append(torch.tensor([[float(side)]], dtype=torch.float64))
                continue
            axes = [torch.linspace(lo, hi, per_face, dtype=torch.float64) for lo, hi in domain.bounds]
            axes[a] = torch.tensor([float(side)], dtype=torch.float64)
            faces.append(torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, domain.ndim))
    return torch.cat(faces) if faces else None
