r"""The INSR time stepper: a neural field's weights evolve in time (Chen et al., ICML 2023).

The spatial discretization of a time-dependent PDE is a neural field :math:`u_\theta`; the
state at step :math:`n` is the weight vector :math:`\theta_n`. One step initialises
:math:`\theta_{n+1}` from :math:`\theta_n` (warm start) and minimises a time-integration
residual over points :math:`x_i` drawn in the domain,

.. math::

   \theta_{n+1} = \arg\min_\theta \frac1N \sum_i
   \bigl| u_\theta(x_i) - u_{\theta_n}(x_i) - \Delta t\, F(\tilde u)(x_i) \bigr|^2
   + \text{penalties},

with :math:`\tilde u = u_{\theta_n}` (explicit Euler), :math:`u_\theta` (implicit Euler) or
:math:`\tfrac12(u_\theta + u_{\theta_n})` (midpoint) -- see :func:`time_residual`. Problems
that are not first order in time (elasticity) or that are split into sub-problems
(incompressible Euler: advection, pressure, projection) give their own loss per
:class:`Stage`; a step runs the stages in order, each optimising one named field while the
others are frozen.

Convergence per stage: stop when the loss falls below ``tol``, or when the best loss of the
last ``patience`` iterations improved on the best before them by less than ``rtol``
(relative), or after ``max_iters`` iterations (the budget). The points are drawn once per
step (fresh every step), so the loss is deterministic within a step and L-BFGS can be used.

Bad steps are never silent: a non-finite loss or parameter, or a loss above
``divergence_loss`` at the end of a stage, raises :class:`INSRDivergenceError` naming the step.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Callable

import torch

from sciml.fields.autodiff import jacobian

__all__ = [
    "SCHEMES",
    "INSRDivergenceError",
    "Stage",
    "StepContext",
    "StepperConfig",
    "advection_rhs",
    "fit_field",
    "frozen_copy",
    "theta_weight",
    "time_residual",
]

#: time-integration schemes of :func:`time_residual`
SCHEMES = ("explicit-euler", "implicit-euler", "midpoint")
OPTIMIZERS = ("adam", "lbfgs")


class INSRDivergenceError(FloatingPointError):
    """A step produced non-finite values or a residual above the divergence threshold.

    ``step`` is the step number (0 is the fit of the initial condition), ``stage`` the stage's field.
    """

    def __init__(self, message: str, step: int, stage: str):
        super().__init__(message)
        self.step = step
        self.stage = stage


@dataclasses.dataclass
class StepperConfig:
    """Optimisation budget and convergence criterion of every step.

    Attributes
    ----------
    scheme : str
        One of :data:`SCHEMES` (first-order-in-time problems use it; others ignore it).
    optimizer : str
        ``"adam"`` or ``"lbfgs"`` (strong-Wolfe line search).
    lr : float
        Learning rate of Adam (L-BFGS uses ``lbfgs_lr``).
    max_iters : int
        Budget of optimiser iterations per stage and step.
    min_iters : int
        Iterations always run before the convergence test.
    tol : float
        Absolute loss below which a stage has converged.
    rtol : float
        Relative improvement over ``patience`` iterations below which a stage has converged.
    patience : int
        Window of the relative-improvement test.
    points : int
        Collocation points drawn per step.
    initial_iters : int
        Budget of the fit of the initial condition (step 0).
    initial_lr : float
        Adam learning rate of the initial fit.
    initial_lbfgs_iters : int, optional
        Budget of the L-BFGS refinement of the initial fit (default ``None``: ``max_iters``).
    lbfgs_lr : float
        L-BFGS step length (1 with the strong-Wolfe line search).
    divergence_loss : float
        A stage ending with a loss above this raises :class:`INSRDivergenceError`.
    seed : int
        Seed of the point draws.
    """

    scheme: str = "midpoint"
    optimizer: str = "lbfgs"
    lr: float = 1e-4
    max_iters: int = 50
    min_iters: int = 5
    tol: float = 1e-10
    rtol: float = 1e-3
    patience: int = 20
    points: int = 2048
    initial_iters: int = 1000
    initial_lr: float = 1e-3
    initial_lbfgs_iters: int | None = None
    lbfgs_lr: float = 1.0
    divergence_loss: float = 1e6
    seed: int = 0

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme: expected one of {SCHEMES}, got {self.scheme!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {self.optimizer!r}")
        for name in ("max_iters", "points", "initial_iters", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        value = self.initial_lbfgs_iters
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"initial_lbfgs_iters: expected a positive int or None, got {value!r}")
        if isinstance(self.min_iters, bool) or not isinstance(self.min_iters, int) or self.min_iters < 0:
            raise ValueError(f"min_iters: expected an int >= 0, got {self.min_iters!r}")
        for name in ("lr", "initial_lr", "lbfgs_lr", "divergence_loss"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
                raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
        for name in ("tol", "rtol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name}: expected a number >= 0, got {value!r}")


@dataclasses.dataclass
class StepContext:
    """What a stage's loss sees: the fields before (frozen) and after the step, the points, time.

    ``new`` maps names to the fields being evolved (stages earlier in the step already
    updated theirs); ``old`` to frozen copies of the state at time ``t`` and ``older`` at
    ``t - dt`` (``old`` again at the first step); ``x`` ``[n, d]`` holds this step's points;
    ``prepared`` holds what each stage's ``prepare`` returned (keyed by stage label, which
    ``current_stage`` names while a stage runs).
    """

    new: dict
    old: dict
    x: torch.Tensor
    t: float
    dt: float
    scheme: str
    step: int
    prepared: dict = dataclasses.field(default_factory=dict)
    older: dict | None = None
    current_stage: str = ""


@dataclasses.dataclass
class Stage:
    """One minimisation of a step: field ``field`` is optimised for ``loss(field, ctx) -> scalar``.

    ``prepare(ctx)``, when given, runs once before the iterations (without gradients to the
    optimised field) and its result lands in ``ctx.prepared[label]``, e.g. targets that depend
    only on frozen fields. ``energy=True`` marks a loss that is an energy (any sign, e.g. the
    incremental potential of elasticity): the absolute ``tol`` test is then off.
    """

    field: str
    loss: Callable
    prepare: Callable | None = None
    name: str | None = None
    energy: bool = False

    @property
    def label(self) -> str:
        return self.name or self.field


def frozen_copy(field: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``field`` with gradients switched off (the state at the previous step)."""
    clone = copy.deepcopy(field)
    for p in clone.parameters():
        p.requires_grad_(False)
    return clone.eval()


def time_residual(scheme: str, new, old, rhs: Callable, x: torch.Tensor, dt: float,
                  old_rhs: torch.Tensor | None = None) -> torch.Tensor:
    r"""Residual ``[n, c]`` of one step of :math:`\partial_t u = F(u)` at points ``x`` ``[n, d]``.

    .. math::

       r = u_{n+1}(x) - u_n(x) - \Delta t\, F(\tilde u)(x), \qquad
       \tilde u = \begin{cases} u_n & \text{explicit Euler} \\ u_{n+1} & \text{implicit Euler}
       \\ \tfrac12 (u_n + u_{n+1}) & \text{midpoint} \end{cases}

    Parameters
    ----------
    scheme : str
        One of :data:`SCHEMES`.
    new, old : callable ``[n, d] -> [n, c]``
        The field being optimised and the frozen previous state.
    rhs : callable ``(u, x) -> [n, c]``
        :math:`F(u)` at ``x`` for a callable field ``u`` (may differentiate ``u`` in ``x``).
    x : Tensor ``[n, d]``
    dt : float
    old_rhs : Tensor ``[n, c]``, optional
        Precomputed :math:`F(u_n)(x)` for the explicit scheme.

    Examples
    --------
    Explicit Euler of :math:`u' = -u` from :math:`u_n = 1` is :math:`u_{n+1} = 1 - \Delta t`:

    >>> x = torch.zeros(1, 1, dtype=torch.float64)
    >>> r = time_residual("explicit-euler", lambda y: torch.full_like(y, 0.9), torch.ones_like,
    ...                   lambda u, y: -u(y), x, 0.1)
    >>> round(float(r), 12)
    0.0
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {SCHEMES}, got {scheme!r}")
    if scheme == "explicit-euler":
        forcing = rhs(old, x) if old_rhs is None else old_rhs
    elif scheme == "implicit-euler":
        forcing = rhs(new, x)
    else:
        forcing = rhs(lambda y: 0.5 * (new(y) + old(y)), x)
    return new(x) - old(x) - dt * forcing


def theta_weight(scheme: str) -> float:
    r"""Weight :math:`\theta` of :math:`F(u_{n+1})` when :math:`F` is linear: 0, 1, 1/2 for explicit, implicit, midpoint.

    For linear :math:`F`, :func:`time_residual` equals
    :math:`u_{n+1} - u_n - \Delta t\,(\theta F(u_{n+1}) + (1-\theta) F(u_n))`, which lets a
    problem evaluate the frozen :math:`u_n` and :math:`F(u_n)` once per step.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme: expected one of {SCHEMES}, got {scheme!r}")
    return {"explicit-euler": 0.0, "implicit-euler": 1.0, "midpoint": 0.5}[scheme]


def advection_rhs(velocity) -> Callable:
    r""":math:`F(u) = -\mathbf a\cdot\nabla u` per channel, for a constant velocity ``a`` ``[d]``.

    The returned callable ``rhs(u, x, values=False)`` gives ``F(u)(x)`` ``[n, c]``, or
    ``(u(x), F(u)(x))`` with ``values=True`` (one forward pass).
    """
    a = torch.as_tensor(velocity, dtype=torch.float64)

    def rhs(u, x, values=False):
        y, jac = jacobian(u, x, values=True)  # [n, c], [n, c, d]
        f = -(jac * a.to(jac.dtype)).sum(-1)
        return (y, f) if values else f

    return rhs


def fit_field(field: torch.nn.Module, loss_fn: Callable[[], torch.Tensor], config: StepperConfig, *,
              max_iters: int | None = None, lr: float | None = None, optimizer: str | None = None,
              step: int = 0, stage: str = "u", anneal: bool = False, energy: bool = False) -> dict:
    """Minimise ``loss_fn()`` over the parameters of ``field`` with the convergence rule of the module.

    With ``anneal=True`` (Adam only) the learning rate follows a cosine from ``lr`` to ``lr / 100``
    over the budget and the relative-improvement test is off (the fit of the initial condition).
    With ``energy=True`` the loss may be negative and the absolute ``tol`` test is off.

    Returns ``{"loss", "iters", "converged", "seconds"}``. Raises
    :class:`INSRDivergenceError` on a non-finite loss or a final loss above
    ``config.divergence_loss``.
    """
    params = [p for p in field.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"field: {stage!r} has no trainable parameters")
    budget = config.max_iters if max_iters is None else max_iters
    kind = optimizer or config.optimizer
    if anneal and kind == "adam":
        config = dataclasses.replace(config, rtol=0.0)
    start = time.perf_counter()
    history: list[float] = []
    if kind == "lbfgs":
        converged = _run_lbfgs(params, loss_fn, config, budget, history, step, stage, energy)
    else:
        converged = _run_adam(params, loss_fn, config, budget, lr or config.lr, anneal, history, step, stage, energy)
    final = float(loss_fn().detach())
    if not math.isfinite(final) or any(not bool(torch.isfinite(p).all()) for p in params):
        raise INSRDivergenceError(f"step {step}, stage {stage!r}: non-finite loss or weights after "
                                  f"{len(history)} iterations; reduce dt or the learning rate", step, stage)
    if final > config.divergence_loss:
        raise INSRDivergenceError(f"step {step}, stage {stage!r}: the residual loss {final:.3e} exceeds "
                                  f"divergence_loss={config.divergence_loss:.1e}; the solution diverged", step, stage)
    return {"loss": final, "iters": len(history), "converged": converged or (not energy and final <= config.tol),
            "seconds": time.perf_counter() - start}


class _Converged(Exception):
    """Raised from inside the L-BFGS closure to stop at a converged iterate."""


def _record(history: list[float], value: torch.Tensor, step: int, stage: str) -> float:
    value = float(value.detach())
    if not math.isfinite(value):
        raise INSRDivergenceError(f"step {step}, stage {stage!r}: the loss became {value} at iteration "
                                  f"{len(history)}; reduce dt or the learning rate", step, stage)
    history.append(value)
    return value


def _run_adam(params, loss_fn, config, budget, lr, anneal, history, step, stage, energy=False) -> bool:
    opt = torch.optim.Adam(params, lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, budget, eta_min=lr / 100) if anneal else None
    for _ in range(budget):
        opt.zero_grad(set_to_none=True)
        value = loss_fn()
        value.backward()
        _record(history, value, step, stage)
        if len(history) >= config.min_iters and _converged(history, config, energy):
            return True  # the parameters are those the loss was measured at
        opt.step()
        if scheduler is not None:
            scheduler.step()
    return False


def _run_lbfgs(params, loss_fn, config, budget, history, step, stage, energy=False) -> bool:
    """L-BFGS in one call (its line search keeps state across iterations); ``history`` counts evaluations."""
    opt = torch.optim.LBFGS(params, lr=config.lbfgs_lr, max_iter=budget, max_eval=budget, history_size=50,
                            tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad(set_to_none=True)
        value = loss_fn()
        value.backward()
        current = _record(history, value, step, stage)
        # stop only at an iterate that is the best so far (not at a rejected line-search trial)
        if len(history) >= config.min_iters and current <= min(history) and _converged(history, config, energy):
            raise _Converged
        return value

    try:
        opt.step(closure)
    except _Converged:
        return True
    return False


def _converged(history: list[float], config: StepperConfig, energy: bool = False) -> bool:
    if not energy and history[-1] <= config.tol:
        return True
    w = config.patience
    if len(history) <= w:
        return False
    if config.rtol <= 0:
        return False
    before, recent = min(history[:-w]), min(history[-w:])
    return before - recent <= config.rtol * abs(before)
