"""INSR stepper: per-step minimisation reproduces the discrete time schemes; divergence is reported."""

from __future__ import annotations

import math

import pytest
import torch

from sciml import Domain, Grid
from sciml.fields.base import Field
from sciml.fields.insr.network import NetworkConfig, PeriodicField, make_field
from sciml.fields.insr.problem import INSRProblem, UnstableTimeStepWarning
from sciml.fields.insr.solver import INSRSolver
from sciml.fields.insr.stepper import (
    INSRDivergenceError,
    Stage,
    StepperConfig,
    advection_rhs,
    fit_field,
    theta_weight,
    time_residual,
)


class Decay(INSRProblem):
    r""":math:`u' = -\lambda u` on [0, 1]; :math:`u_0 = 1 + x/2` (each point decays independently)."""

    name = "decay"

    def __init__(self, rate: float = 1.0):
        super().__init__(Domain.unit(1), {"u": 1})
        self.rate = rate

    def initial_condition(self, name, x):
        return 1 + 0.5 * x

    def rhs(self, u, x):
        return -self.rate * u(x)

    def stages(self):
        def loss(field, ctx):
            return time_residual(ctx.scheme, field, ctx.old["u"], self.rhs, ctx.x, ctx.dt).pow(2).mean()

        return [Stage("u", loss)]


class Quadratic(Field):
    """:math:`u(x) = c_0 + c_1 x + c_2 x^2`: linear in its weights, so every step is a least-squares fit."""

    def __init__(self):
        super().__init__(Domain.unit(1), 1)
        self.coef = torch.nn.Parameter(torch.tensor([0.3, -0.2, 0.1], dtype=torch.float64))

    def evaluate(self, x):
        return self.coef[0] + self.coef[1] * x + self.coef[2] * x**2


def decay_solver(scheme: str, dt: float, rate: float = 1.0) -> INSRSolver:
    config = StepperConfig(scheme=scheme, optimizer="lbfgs", max_iters=30, points=32, initial_iters=50,
                           initial_lr=0.1, tol=1e-28, rtol=1e-12, patience=5)
    return INSRSolver(Decay(rate), dt, config, fields={"u": Quadratic()})


#: one-step amplification factors of u' = -u
AMPLIFICATION = {"explicit-euler": lambda h: 1 - h, "implicit-euler": lambda h: 1 / (1 + h),
                 "midpoint": lambda h: (1 - h / 2) / (1 + h / 2)}


@pytest.mark.parametrize("scheme", sorted(AMPLIFICATION))
def test_decay_reproduces_the_discrete_scheme(scheme, one_thread):
    dt, steps = 0.1, 4
    solver = decay_solver(scheme, dt)
    solver.initialize()
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    with torch.no_grad():
        u0 = solver.fields["u"](x)  # the fitted initial condition (close to 1 + x/2)
    assert torch.allclose(u0, 1 + 0.5 * x, atol=1e-10)  # Adam then L-BFGS, a least-squares problem
    solver.run(steps, progress=False)
    with torch.no_grad():
        u = solver.fields["u"](x)
    discrete = AMPLIFICATION[scheme](dt) ** steps * u0
    # the minimiser of the residual is the scheme's exact update (the field represents it):
    # agreement to the optimiser's tolerance, 1e-10 relative
    assert torch.allclose(u, discrete, rtol=1e-10, atol=0)
    # and the time-discretisation error against exp(-t) is the scheme's: 1st order ~ t dt / 2, midpoint ~ t dt^2 / 12
    exact = math.exp(-dt * steps) * u0
    rel = float(((u - exact) / exact).abs().max())
    expected = 0.4 * dt / 2 if scheme != "midpoint" else 0.4 * dt**2 / 12
    assert 0.7 * expected < rel < 1.4 * expected


def test_snapshots_stack_the_kept_states_over_time(one_thread):
    solver = decay_solver("implicit-euler", 0.2)
    solver.run(3, progress=False)
    grid = Grid.uniform((5,), Domain.unit(1))
    snaps = solver.snapshots(grid)
    assert snaps["u"].dims == ("time", "channel", "x")
    assert snaps["time"].values.tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6])
    first = torch.as_tensor(snaps["u"].isel(time=0, channel=0).values)
    for k in range(4):
        expected = (1 + 0.2) ** -k * first
        assert torch.allclose(torch.as_tensor(snaps["u"].isel(time=k, channel=0).values), expected, rtol=1e-10)
    # restoring leaves the solver at the current step
    assert solver.step_count == 3 and solver.t == pytest.approx(0.6)


def test_linear_theta_form_equals_the_generic_residual():
    torch.manual_seed(0)
    domain = Domain(((-1.0, 1.0), (-1.0, 1.0)))
    new = make_field(domain, 1, NetworkConfig(width=8, depth=2, omega0=3.0, seed=1)).double()
    old = make_field(domain, 1, NetworkConfig(width=8, depth=2, omega0=3.0, seed=2)).double()
    rhs = advection_rhs([0.3, -0.7])
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    u_old, f_old = rhs(old, x, values=True)
    for scheme in ("explicit-euler", "implicit-euler", "midpoint"):
        generic = time_residual(scheme, new, old, rhs, x, 0.1)
        theta = theta_weight(scheme)
        u_new, f_new = rhs(new, x, values=True)
        split = u_new - u_old - 0.1 * (theta * f_new + (1 - theta) * f_old)
        assert torch.allclose(generic, split, atol=1e-12)


def test_periodic_field_is_periodic_with_its_derivatives():
    domain = Domain(((0.0, 2.0), (-1.0, 1.0)), periodic=(True, False))
    field = make_field(domain, 2, NetworkConfig(width=8, depth=2, omega0=3.0)).double()
    assert isinstance(field, PeriodicField)
    y = torch.linspace(-1, 1, 7, dtype=torch.float64)
    left = torch.stack([torch.zeros(7, dtype=torch.float64), y], -1).requires_grad_(True)
    right = torch.stack([torch.full((7,), 2.0, dtype=torch.float64), y], -1).requires_grad_(True)
    fl, fr = field(left), field(right)
    assert torch.allclose(fl, fr, atol=1e-12)
    (gl,) = torch.autograd.grad(fl[:, 0].sum(), left)
    (gr,) = torch.autograd.grad(fr[:, 0].sum(), right)
    assert torch.allclose(gl, gr, atol=1e-12)
    # gradients of the encoding by autograd agree with finite differences (fp64)
    assert torch.autograd.gradcheck(lambda z: field(z), (left.detach().clone().requires_grad_(True),))


def test_fit_field_stops_at_tolerance_and_reports_nan_with_step():
    field = make_field(Domain.unit(1), 1, NetworkConfig(width=4, depth=1, omega0=1.0)).double()
    x = torch.linspace(0, 1, 16, dtype=torch.float64)[:, None]
    config = StepperConfig(max_iters=200, tol=1e-3, rtol=0.0, min_iters=1)
    info = fit_field(field, lambda: field(x).pow(2).mean(), config)
    assert info["converged"] and info["loss"] <= 1e-3 and info["iters"] < 200
    with pytest.raises(INSRDivergenceError, match="step 7, stage 'u'.*nan") as err:
        fit_field(field, lambda: field(x).sum() * float("nan"), config, step=7)
    assert err.value.step == 7


def test_blow_up_is_detected_with_the_step_number(one_thread):
    # u' = 40 u with explicit Euler at dt = 1: x41 per step, beyond 1e3 x the initial value at step 2
    solver = decay_solver("explicit-euler", 1.0, rate=-40.0)
    solver.initialize()
    solver.step()
    with pytest.raises(INSRDivergenceError, match="step 2: the solution blew up") as err:
        solver.step()
    assert err.value.step == 2


class Drift(Decay):
    """Advection in 1D with the CFL-like limits of the advection problem."""

    def courant_number(self, dt, scheme):
        return 2.0 * dt / 0.1

    def time_step_limits(self, scheme):
        return (1.0, 1.0) if scheme == "explicit-euler" else (1.0, math.inf)


def test_unstable_time_step_is_refused_or_warned():
    with pytest.raises(ValueError, match=r"CFL-like number 10 > 1, unstable .* explicit-euler"):
        INSRSolver(Drift(), 0.5, StepperConfig(scheme="explicit-euler"))
    with pytest.warns(UnstableTimeStepWarning, match="CFL-like number 10"):
        INSRSolver(Drift(), 0.5, StepperConfig(scheme="midpoint"))
    with pytest.raises(ValueError, match="dt: expected a finite number > 0"):
        INSRSolver(Drift(), float("nan"))


@pytest.mark.parametrize("kw, match", [({"scheme": "rk4"}, "scheme: expected one of"),
                                       ({"optimizer": "sgd"}, "optimizer: expected one of"),
                                       ({"max_iters": 0}, "max_iters: expected a positive int"),
                                       ({"lr": -1.0}, "lr: expected a finite number > 0"),
                                       ({"rtol": -1.0}, "rtol: expected a number >= 0"),
                                       ({"initial_lbfgs_iters": 0}, "initial_lbfgs_iters: expected a positive int"),
                                       ({"initial_lbfgs_iters": 2.5}, "initial_lbfgs_iters: expected a positive int")])
def test_stepper_config_rejects_bad_values(kw, match):
    with pytest.raises(ValueError, match=match):
        StepperConfig(**kw)


# ---------------------------------------------------------------------------- H^1 (Sobolev) velocity fits
def _euler_context(sobolev: float, incremental: bool = True):
    from sciml.fields.insr.euler import IncompressibleEuler
    from sciml.fields.insr.stepper import StepContext, frozen_copy

    problem = IncompressibleEuler.taylor_green(incremental=incremental, sobolev=sobolev)
    fields = {k: f.double() for k, f in problem.make_fields(NetworkConfig(width=8, depth=2, omega0=2.0,
                                                                          hidden_omega0=2.0)).items()}
    old = {k: frozen_copy(f) for k, f in fields.items()}
    with torch.no_grad():  # a new state that differs from the old one
        for p in fields["p"].parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(3), dtype=p.dtype))
    x = 2 * math.pi * torch.rand(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ctx = StepContext(new=fields, old=old, x=x, t=0.0, dt=0.2, scheme="midpoint", step=1)
    return problem, ctx


def _central_difference(fn, x, h=1e-6):
    cols = []
    for j in range(x.shape[1]):
        e = torch.zeros_like(x)
        e[:, j] = h
        cols.append((fn((x + e).requires_grad_(True)) - fn((x - e).requires_grad_(True))).detach() / (2 * h))
    return torch.stack(cols, -1)


@pytest.mark.parametrize("incremental", [True, False])
def test_sobolev_targets_carry_the_jacobian_of_the_backtrace(incremental, one_thread):
    problem, ctx = _euler_context(1.0, incremental)
    plain, _ = _euler_context(0.0, incremental)
    values, jac = problem._advect_targets(ctx)
    # the values are those of the values-only fit, the Jacobian that of the backtraced target (fp64
    # central differences, h = 1e-6: truncation and rounding below 1e-8)
    assert torch.allclose(values, plain._advect_targets(ctx), rtol=0, atol=1e-14)
    assert torch.allclose(jac, _central_difference(problem._advect_target_fn(ctx), ctx.x), atol=1e-8)
    # projection: u* - dt grad(p_new - p_old), its Jacobian holds the pressures' Hessians
    ctx.current_stage = "pressure"
    problem._pressure_source(ctx)
    values, jac = problem._projection_targets(ctx)
    assert torch.allclose(values, plain._projection_targets(ctx), rtol=0, atol=1e-14)
    advected, p_new, p_old = ctx.prepared["advected"], ctx.new["p"], ctx.old["p"]

    def target(y):
        g = torch.autograd.grad(p_new(y).sum(), y, create_graph=True)[0]
        if incremental:
            g = g - torch.autograd.grad(p_old(y).sum(), y, create_graph=True)[0]
        return advected(y) - ctx.dt * g

    assert torch.allclose(jac, _central_difference(target, ctx.x), atol=1e-8)


class _Perturbed(Field):
    r"""Taylor–Green plus :math:`\epsilon (\sin k x, 0)`: misfit :math:`\epsilon\sin kx`, Jacobian misfit :math:`\epsilon k\cos kx`."""

    def __init__(self, eps, k):
        super().__init__(Domain(((0.0, 2 * math.pi), (0.0, 2 * math.pi)), periodic=True), 2)
        self.eps = torch.nn.Parameter(torch.tensor(eps, dtype=torch.float64))
        self.k = k

    def evaluate(self, x):
        s, c = torch.sin(x), torch.cos(x)
        return torch.stack([s[:, 0] * c[:, 1] + self.eps * torch.sin(self.k * x[:, 0]), -c[:, 0] * s[:, 1]], -1)


@pytest.mark.parametrize("sobolev", [0.0, 0.25])
def test_sobolev_initial_loss_weights_the_jacobian_misfit(sobolev):
    from sciml.fields.insr.euler import IncompressibleEuler

    problem = IncompressibleEuler.taylor_green(sobolev=sobolev)
    eps, k = 1e-2, 3
    field = _Perturbed(eps, k)
    x = 2 * math.pi * torch.rand(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # values only: mean over points and the 2 channels (the solver's initial fit); H^1: sum over channels
    expected = (eps**2 * torch.sin(k * x[:, 0]).pow(2).mean() / (2 if sobolev == 0 else 1)
                + sobolev * eps**2 * k**2 * torch.cos(k * x[:, 0]).pow(2).mean())
    assert float(problem.initial_loss("u", field, x)().detach()) == pytest.approx(float(expected), rel=1e-12)
    # the loss is minimised over the field's weights: its gradient in eps is 2 eps (mean sin^2 + sobolev k^2 mean cos^2)
    loss = problem.initial_loss("u", field, x)()
    loss.backward()
    assert float(field.eps.grad) == pytest.approx(2 * float(expected) / eps, rel=1e-12)


def test_sobolev_rejects_bad_values_and_a_non_differentiable_velocity():
    from sciml.fields.insr.euler import IncompressibleEuler

    for bad in (-1.0, float("inf"), True):
        with pytest.raises(ValueError, match="sobolev: expected a finite number >= 0"):
            IncompressibleEuler.taylor_green(sobolev=bad)

    def numpy_velocity(x):
        return torch.as_tensor(torch.stack([x[:, 1], -x[:, 0]], -1).detach().numpy())

    problem = IncompressibleEuler(numpy_velocity, sobolev=1.0)
    field = _Perturbed(0.0, 1)
    with pytest.raises(ValueError, match="initial_velocity: the H\\^1 fit .* differentiable"):
        problem.initial_loss("u", field, torch.zeros(3, 2, dtype=torch.float64))


class DecayFittedToSlope(Decay):
    """Decay whose step-0 fit also matches the slope of ``u0``, with the slope weighted 100x."""

    calls = 0

    def initial_loss(self, name, field, x):
        type(self).calls += 1
        x = x.detach().requires_grad_(True)

        def loss():
            u = field(x)
            (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
            return (u - (1 + 0.5 * x)).pow(2).mean() + 100 * (du - 0.5).pow(2).mean()

        return loss


def test_initial_fit_uses_the_problem_loss_and_its_own_lbfgs_budget(one_thread):
    config = StepperConfig(optimizer="lbfgs", max_iters=30, points=32, initial_iters=5, initial_lr=0.1,
                           initial_lbfgs_iters=3, tol=0.0, rtol=0.0, patience=100)
    solver = INSRSolver(DecayFittedToSlope(), 0.1, config, fields={"u": Quadratic()})
    record = solver.initialize()
    assert DecayFittedToSlope.calls == 1
    assert record["iters_u"] <= 3                  # the L-BFGS refinement ran initial_lbfgs_iters, not max_iters
    # with a budget, the slope term (weight 100) dominates: the fitted slope is closer to 0.5 than the values-only fit's
    values_only = INSRSolver(Decay(), 0.1, config, fields={"u": Quadratic()})
    values_only.initialize()
    x = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None].requires_grad_(True)

    def slope_error(s):
        (du,) = torch.autograd.grad(s.fields["u"](x).sum(), x)
        return float((du - 0.5).abs().max())

    assert slope_error(solver) < 0.5 * slope_error(values_only)
