r"""Incompressible Euler in 2D by operator splitting, with separate velocity and pressure fields.

.. math::

   \partial_t \mathbf u + (\mathbf u\cdot\nabla)\mathbf u = -\nabla p, \qquad \nabla\cdot\mathbf u = 0

on the periodic box :math:`[0, 2\pi]^2`. One step (after Chen et al. 2023, Sec. 4) runs three
stages, each the fit of one field:

1. **advection** (semi-Lagrangian): fit
   :math:`\mathbf u^*(x) = \mathbf u_n(x_d) - \Delta t\,\nabla p_n(x_m)` with the trajectory traced
   back by the midpoint rule, :math:`x_m = x - \tfrac{\Delta t}2 \mathbf u_n(x)`,
   :math:`x_d = x - \Delta t\,\mathbf u_n(x_m)`;
2. **pressure**: fit :math:`p_{n+1}` to the Poisson equation of the increment
   :math:`\Delta (p_{n+1} - p_n) = \nabla\cdot\mathbf u^* / \Delta t` (plus :math:`(\bar p)^2`
   fixing the constant);
3. **projection**: fit :math:`\mathbf u_{n+1} = \mathbf u^* - \Delta t \nabla (p_{n+1} - p_n)`.

With ``sobolev`` :math:`=\lambda > 0` the two velocity regressions (stages 1 and 3) also match the
Jacobians, :math:`\frac1N\sum_i |\mathbf u(x_i) - \mathbf T(x_i)|^2 + \lambda\,
\|\nabla\mathbf u(x_i) - \nabla\mathbf T(x_i)\|_F^2` (an :math:`H^1` fit), with the targets'
Jacobians :math:`\nabla\mathbf T` taken by autograd through the frozen fields and the backtrace
map. A values-only fit leaves errors of the fit's scale (a fraction of the point spacing) whose
derivatives are large; they never decay, so the vorticity error grows step by step.

This is the incremental pressure-correction form (``incremental=True``, default): the pressure
gradient integrated along the trajectory makes the step second order, so the steady Taylor–Green
vortex keeps its energy. With ``incremental=False`` stage 1 drops the old pressure and stages
2-3 solve for the whole pressure (the paper's Chorin splitting): its error
:math:`\tfrac{\Delta t^2}2 (\mathbf u\cdot\nabla)^2\mathbf u` per step dissipates energy at a rate
:math:`\propto \Delta t` (about :math:`\Delta t^2/2` of the Taylor–Green energy per step).

Each stage is a regression of one field onto targets computed from frozen fields once per step
(:class:`~sciml.fields.insr.Stage` ``prepare``), so the step costs three small fits.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from sciml.domain import Domain
from sciml.fields.autodiff import divergence, gradient, jacobian, laplacian

from .problem import INSRProblem
from .references import taylor_green
from .stepper import Stage, frozen_copy

__all__ = ["IncompressibleEuler", "vorticity"]


def vorticity(velocity, x: torch.Tensor) -> torch.Tensor:
    r""":math:`\omega = \partial_x v - \partial_y u` of a 2D velocity field at ``x`` ``[n, 2]``, ``[n, 1]`` (autograd)."""
    jac = jacobian(velocity, x)  # [n, 2, 2]: d u_i / d x_j
    return (jac[:, 1, 0] - jac[:, 0, 1])[:, None]


class IncompressibleEuler(INSRProblem):
    r"""2D incompressible Euler on the periodic box :math:`[0, 2\pi]^2`, split into three stages.

    Parameters
    ----------
    initial_velocity : callable ``[n, 2] -> [n, 2]``
        :math:`\mathbf u_0` (should be divergence-free).
    initial_pressure : callable ``[n, 2] -> [n, 1]``, optional
        :math:`p_0` (default 0; the first pressure stage then finds it).
    length_scale : float
        Smallest length scale :math:`h` of :math:`\mathbf u_0`: the CFL-like number is
        :math:`\max|\mathbf u_0|\,\Delta t / h` (semi-Lagrangian advection is stable at any
        value; above 1 the departure points jump over features: a warning).
    speed : float
        :math:`\max|\mathbf u_0|`.
    exact : callable ``(x [n, 2] ndarray, t) -> dict``, optional
        Exact solution (like :func:`~sciml.fields.insr.taylor_green`) used by :meth:`reference`.
    name : str
    incremental : bool
        Incremental pressure correction (default) or the plain Chorin splitting (module docstring).
    sobolev : float
        Weight :math:`\lambda \ge 0` of the Jacobian term of the velocity regressions (0: values
        only, the default; about :math:`h^2` balances values and derivatives).

    Examples
    --------
    >>> problem = IncompressibleEuler.taylor_green()
    >>> problem.courant_number(0.05, "midpoint")
    0.05
    """

    name = "euler"

    def __init__(self, initial_velocity, initial_pressure=None, length_scale: float = 1.0, speed: float = 1.0,
                 exact=None, name: str = "euler", incremental: bool = True, sobolev: float = 0.0):
        super().__init__(Domain(((0.0, 2 * math.pi), (0.0, 2 * math.pi)), periodic=True), {"u": 2, "p": 1})
        if not callable(initial_velocity):
            raise TypeError(f"initial_velocity: expected a callable [n, 2] -> [n, 2], got {type(initial_velocity).__name__}")
        if not length_scale > 0 or not speed > 0:
            raise ValueError(f"length_scale, speed: expected numbers > 0, got {length_scale!r}, {speed!r}")
        self.initial_velocity = initial_velocity
        self.initial_pressure = initial_pressure
        self.length_scale, self.speed, self.exact, self.name = float(length_scale), float(speed), exact, name
        self.incremental = bool(incremental)
        if isinstance(sobolev, bool) or not isinstance(sobolev, (int, float)) or not sobolev >= 0 \
                or not math.isfinite(sobolev):
            raise ValueError(f"sobolev: expected a finite number >= 0, got {sobolev!r}")
        self.sobolev = float(sobolev)

    @classmethod
    def taylor_green(cls, incremental: bool = True, sobolev: float = 0.0) -> IncompressibleEuler:
        """The steady Taylor–Green vortex (exact solution :func:`~sciml.fields.insr.taylor_green`)."""

        def velocity(x):  # differentiable in x (the H^1 fit of the initial condition needs its Jacobian)
            return torch.stack([torch.sin(x[:, 0]) * torch.cos(x[:, 1]), -torch.cos(x[:, 0]) * torch.sin(x[:, 1])], -1)

        def pressure(x):
            return torch.as_tensor(taylor_green(x.detach().cpu().numpy())["pressure"], dtype=x.dtype)

        return cls(velocity, pressure, length_scale=1.0, speed=1.0, exact=taylor_green, name="taylor-green",
                   incremental=incremental, sobolev=sobolev)

    @classmethod
    def vortex_sheet(cls, thickness: float = math.pi / 15, perturbation: float = 0.05,
                     incremental: bool = True, sobolev: float = 0.0) -> IncompressibleEuler:
        r"""Double shear layer (Bell, Colella & Glaz 1989): two vortex sheets of ``thickness`` rolling up.

        :math:`u = \tanh((y - \pi/2)/\delta)` for :math:`y \le \pi`, :math:`\tanh((3\pi/2 - y)/\delta)`
        above, :math:`v = \epsilon \sin x`. No exact solution: compare with the pseudo-spectral solver.
        """
        if not thickness > 0:
            raise ValueError(f"thickness: expected a number > 0, got {thickness!r}")

        def velocity(x):
            y = x[:, 1]
            u = torch.where(y <= math.pi, torch.tanh((y - math.pi / 2) / thickness),
                            torch.tanh((3 * math.pi / 2 - y) / thickness))
            return torch.stack([u, perturbation * torch.sin(x[:, 0])], -1)

        return cls(velocity, None, length_scale=thickness, speed=1.0, name="vortex-sheet", incremental=incremental,
                   sobolev=sobolev)

    # ------------------------------------------------------------------ problem interface
    def initial_condition(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if name == "u":
            return self.initial_velocity(x)
        if self.initial_pressure is None:
            return x.new_zeros(x.shape[0], 1)
        return self.initial_pressure(x)

    def initial_loss(self, name: str, field, x: torch.Tensor):
        """The loss of the fit of field ``name`` to the initial condition at ``x``, a callable ``() -> scalar``.

        Mean squared misfit of the values (over points and channels, as
        :meth:`~sciml.fields.insr.INSRSolver.initialize` fits them); for the velocity with
        ``sobolev > 0`` the loss of the velocity stages (summed over channels, plus ``sobolev``
        times the mean squared Jacobian misfit), the Jacobian of ``initial_velocity`` by autograd
        (it must then be differentiable in ``x``).
        """
        dtype = next(field.parameters()).dtype
        if name == "u" and self.sobolev > 0:
            ctx = _FitContext(x, {"initial": _values_and_jacobian(self.initial_velocity, x.to(dtype),
                                                                  name="initial_velocity")})
            return functools.partial(_regression, field, ctx, self.sobolev)
        return super().initial_loss(name, field, x)

    def courant_number(self, dt: float, scheme: str) -> float:
        return self.speed * dt / self.length_scale

    def time_step_limits(self, scheme: str) -> tuple[float, float]:
        return 1.0, math.inf

    def reference(self, name: str, t: float, x: torch.Tensor):
        if self.exact is None:
            return None
        sol = self.exact(x.detach().cpu().numpy(), t)
        key = "velocity" if name == "u" else "pressure"
        return torch.as_tensor(sol[key], dtype=x.dtype)

    def stages(self) -> list:
        regression = functools.partial(_regression, sobolev=self.sobolev)
        return [Stage("u", regression, prepare=self._advect_targets, name="advect"),
                Stage("p", _poisson_loss, prepare=self._pressure_source, name="pressure"),
                Stage("u", regression, prepare=self._projection_targets, name="project")]

    def _advect_target_fn(self, ctx):
        """The advection target as a function of the points (differentiable in them)."""
        u_old, p_old, dt = ctx.old["u"], ctx.old["p"], ctx.dt

        def target(x):
            midpoint = x - 0.5 * dt * u_old(x)
            value = u_old(x - dt * u_old(midpoint))
            if self.incremental:
                (grad_p,) = torch.autograd.grad(p_old(midpoint).sum(), midpoint, create_graph=True)
                value = value - dt * grad_p
            return value

        return target

    def _advect_targets(self, ctx):
        if self.sobolev > 0:
            return _values_and_jacobian(self._advect_target_fn(ctx), ctx.x)
        u_old, x, dt = ctx.old["u"], ctx.x, ctx.dt
        with torch.no_grad():
            midpoint = x - 0.5 * dt * u_old(x)
            target = u_old(x - dt * u_old(midpoint))
        if self.incremental:
            target = target - dt * gradient(ctx.old["p"], midpoint).detach()
        return target

    def _pressure_source(self, ctx):
        advected = ctx.prepared["advected"] = frozen_copy(ctx.new["u"])  # u*, reused by the projection
        source = divergence(advected, ctx.x) / ctx.dt
        if self.incremental:
            source = source + laplacian(ctx.old["p"], ctx.x)
        return source.detach()

    def _projection_targets(self, ctx):
        x = ctx.x
        if self.sobolev > 0:
            advected, p_new, p_old, dt, incremental = (ctx.prepared["advected"], ctx.new["p"], ctx.old["p"], ctx.dt,
                                                       self.incremental)

            def target(y):
                (grad_p,) = torch.autograd.grad(p_new(y).sum(), y, create_graph=True)
                if incremental:
                    grad_p = grad_p - torch.autograd.grad(p_old(y).sum(), y, create_graph=True)[0]
                return advected(y) - dt * grad_p

            return _values_and_jacobian(target, x)
        grad_p = gradient(ctx.new["p"], x)
        if self.incremental:
            grad_p = grad_p - gradient(ctx.old["p"], x)
        grad_p = grad_p.detach()
        with torch.no_grad():
            return ctx.prepared["advected"](x) - ctx.dt * grad_p

    def metrics(self, fields: dict, t: float, points: torch.Tensor) -> dict:
        """Errors of velocity (and pressure up to its mean) against the exact solution, kinetic energy,
        vorticity and the RMS divergence, at ``points`` of a uniform grid (equal quadrature weights)."""
        u_field = fields["u"]
        with torch.no_grad():
            u = u_field(points)
        omega = vorticity(u_field, points).detach()
        div = divergence(u_field, points).detach()
        area = (2 * math.pi) ** 2
        out = {"kinetic_energy": float(0.5 * area * u.pow(2).sum(-1).mean()),
               "divergence_rms": float(div.pow(2).mean().sqrt())}
        if self.exact is not None:
            sol = self.exact(points.detach().cpu().numpy(), t)
            ref_u = torch.as_tensor(sol["velocity"], dtype=u.dtype)
            ref_w = torch.as_tensor(sol["vorticity"], dtype=u.dtype)
            with torch.no_grad():
                p = fields["p"](points)
            ref_p = torch.as_tensor(sol["pressure"], dtype=u.dtype)
            p, ref_p = p - p.mean(), ref_p - ref_p.mean()
            out.update({
                "u_rel_l2": float((u - ref_u).norm() / ref_u.norm()),
                "vorticity_rel_l2": float((omega - ref_w).norm() / ref_w.norm()),
                "p_rel_l2": float((p - ref_p).norm() / ref_p.norm()),
                "kinetic_energy_exact": float(sol["kinetic_energy"]),
                "kinetic_energy_rel_error": abs(out["kinetic_energy"] - sol["kinetic_energy"]) / sol["kinetic_energy"],
            })
        return out


class _FitContext:
    """The two attributes of a step context that :func:`_regression` reads."""

    def __init__(self, x: torch.Tensor, prepared: dict):
        self.x, self.prepared, self.current_stage = x, prepared, next(iter(prepared))


def _values_and_jacobian(fn, x: torch.Tensor, name: str = "target") -> tuple[torch.Tensor, torch.Tensor]:
    """``(fn(x), d fn / d x)`` ``[n, c]``, ``[n, c, d]``, detached (targets of an :math:`H^1` fit)."""
    x = x.detach().requires_grad_(True)
    values = fn(x)
    if not values.requires_grad:
        raise ValueError(f"{name}: the H^1 fit (sobolev > 0) needs a function differentiable in x by autograd "
                         "(torch operations), got values detached from x")
    jac = torch.stack([torch.autograd.grad(values[:, i].sum(), x, retain_graph=True)[0]
                       for i in range(values.shape[1])], 1)
    return values.detach(), jac.detach()


def _regression(field, ctx, sobolev: float = 0.0) -> torch.Tensor:
    """Mean squared misfit to the prepared target; with a ``(values, jacobian)`` target, plus
    ``sobolev`` times the mean squared Jacobian misfit."""
    target = ctx.prepared[ctx.current_stage]
    if isinstance(target, tuple):
        values, target_jac = target
        u, jac = jacobian(field, ctx.x, values=True)
        return (u - values).pow(2).sum(-1).mean() + sobolev * (jac - target_jac).pow(2).sum((-2, -1)).mean()
    return (field(ctx.x) - target).pow(2).sum(-1).mean()


def _poisson_loss(field, ctx) -> torch.Tensor:
    source = ctx.prepared["pressure"]
    p, lap = laplacian(field, ctx.x, values=True)
    return (lap - source).pow(2).mean() + p.mean().pow(2)


def initial_velocity_grid(problem: IncompressibleEuler, n: int) -> np.ndarray:
    """``u_0`` on the ``n x n`` node grid ``2π (i/n, j/n)``, ``[2, n, n]`` (for grid references)."""
    s = 2 * math.pi * np.arange(n) / n
    pts = np.stack(np.meshgrid(s, s, indexing="ij"), -1).reshape(-1, 2)
    u = problem.initial_velocity(torch.as_tensor(pts, dtype=torch.float64)).numpy()
    return u.T.reshape(2, n, n)
