"""The INSR solver: fit the initial condition, then evolve the fields' weights step by step.

The state history is kept as in-memory checkpoints (state dicts, every ``keep_every`` steps)
and as labelled snapshots sampled on any discretization (:meth:`INSRSolver.snapshots`).
"""

from __future__ import annotations

import copy
import math
import time

import torch
import xarray as xr

from sciml.discretization import Discretization

from .network import NetworkConfig
from .problem import INSRProblem
from .stepper import (
    INSRDivergenceError,
    StepContext,
    StepperConfig,
    fit_field,
    frozen_copy,
)

__all__ = ["INSRSolver"]


class INSRSolver:
    r"""Evolve a problem's neural fields in time by per-step optimisation of their weights.

    Parameters
    ----------
    problem : INSRProblem
        The PDE: fields, initial condition, stages, reference.
    dt : float
        Time step; checked by :meth:`INSRProblem.check_time_step` (CFL-like number).
    config : StepperConfig, optional
        Optimiser, budget and convergence criterion per step.
    network : NetworkConfig, optional
        Size of the SIRENs (ignored when ``fields`` is given).
    fields : dict of str -> Field, optional
        Fields to evolve (default: ``problem.make_fields(network)``).
    keep_every : int
        Keep a checkpoint (a copy of every state dict) every this many steps (0: none).
    blowup_factor : float
        A step whose field values exceed this multiple of the largest initial value (at the step's
        points; at least ``problem.value_scale()``) raises :class:`~sciml.fields.insr.INSRDivergenceError`.

    Attributes
    ----------
    fields : dict of str -> Field
    t : float
        Current time.
    step_count : int
    history : list of dict
        Per step: ``step``, ``t``, per stage ``loss_<stage>``, ``iters_<stage>``, ``converged``,
        ``seconds``.
    checkpoints : dict of int -> dict
        Step -> ``{field: state_dict}``.

    Examples
    --------
    Two midpoint steps of 1D advection with a tiny SIREN and a small budget:

    >>> from sciml.fields.insr import Advection, INSRSolver, NetworkConfig, StepperConfig
    >>> problem = Advection.paper_1d()
    >>> solver = INSRSolver(problem, 0.01, StepperConfig(max_iters=5, points=128, initial_iters=20),
    ...                     NetworkConfig(width=8, depth=2))
    >>> records = solver.run(2, progress=False)
    >>> [r["step"] for r in solver.history], round(solver.t, 6), solver.num_parameters()
    ([0, 1, 2], 0.02, 97)
    """

    def __init__(self, problem: INSRProblem, dt: float, config: StepperConfig | None = None,
                 network: NetworkConfig | None = None, fields: dict | None = None, keep_every: int = 1,
                 blowup_factor: float = 1e3):
        if not isinstance(problem, INSRProblem):
            raise TypeError(f"problem: expected an INSRProblem, got {type(problem).__name__}")
        self.config = config or StepperConfig()
        if not isinstance(self.config, StepperConfig):
            raise TypeError(f"config: expected a StepperConfig, got {type(self.config).__name__}")
        self.problem = problem
        self.courant = problem.check_time_step(dt, self.config.scheme)
        self.dt = float(dt)
        self.fields = fields if fields is not None else problem.make_fields(network)
        missing = set(problem.channels) - set(self.fields)
        if missing:
            raise ValueError(f"fields: missing {sorted(missing)} of the problem's fields {sorted(problem.channels)}")
        if isinstance(keep_every, bool) or not isinstance(keep_every, int) or keep_every < 0:
            raise ValueError(f"keep_every: expected an int >= 0, got {keep_every!r}")
        if not blowup_factor > 1:
            raise ValueError(f"blowup_factor: expected a number > 1, got {blowup_factor!r}")
        self.keep_every = keep_every
        self.blowup_factor = float(blowup_factor)
        self.t = 0.0
        self.step_count = 0
        self.history: list[dict] = []
        self.checkpoints: dict[int, dict] = {}
        self._previous: dict | None = None  # state at step n-1 (second-order-in-time problems)
        self._scale = None
        self._generator = torch.Generator().manual_seed(int(self.config.seed))

    # ------------------------------------------------------------------ helpers
    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.fields.values()))._param_dtype()

    def num_parameters(self) -> int:
        """Degrees of freedom of the state: the trainable scalars of every field."""
        return sum(f.num_parameters() for f in self.fields.values())

    def _points(self) -> torch.Tensor:
        return self.problem.sample_points(self.config.points, self._generator, dtype=self.dtype)

    def _keep(self) -> None:
        if self.keep_every and self.step_count % self.keep_every == 0:
            self.checkpoints[self.step_count] = {n: copy.deepcopy(f.state_dict()) for n, f in self.fields.items()}

    def _largest_value(self, x: torch.Tensor) -> float:
        with torch.no_grad():
            return max(float(f(x).abs().max()) for f in self.fields.values())

    # ------------------------------------------------------------------ stepping
    def initialize(self) -> dict:
        """Fit every field to the initial condition (step 0).

        Adam with a cosine-annealed learning rate for ``config.initial_iters`` iterations, then,
        when ``config.optimizer`` is ``"lbfgs"``, L-BFGS refinement under the usual criterion.

        Returns ``{field: fit info}`` and records it in :attr:`history`.
        """
        x = self._points()
        record = {"step": 0, "t": 0.0}
        for name, field in self.fields.items():
            target = self.problem.initial_condition(name, x).to(self.dtype)

            def loss(field=field, target=target):
                return (field(x) - target).pow(2).mean()

            info = fit_field(field, loss, self.config, max_iters=self.config.initial_iters,
                             lr=self.config.initial_lr, optimizer="adam", step=0, stage=name, anneal=True)
            if self.config.optimizer == "lbfgs":
                info = fit_field(field, loss, self.config, step=0, stage=name)
            record[f"loss_{name}"], record[f"iters_{name}"] = info["loss"], info["iters"]
        self._scale = max(self._largest_value(x), self.problem.value_scale(), 1e-12)
        self.history.append(record)
        self._keep()
        return record

    def step(self) -> dict:
        """Advance by ``dt``: run every stage of the problem once; returns the step's record."""
        if self._scale is None:
            self.initialize()
        step = self.step_count + 1
        start = time.perf_counter()
        old = {n: frozen_copy(f) for n, f in self.fields.items()}
        ctx = StepContext(new=self.fields, old=old, x=self._points(), t=self.t, dt=self.dt,
                          scheme=self.config.scheme, step=step,
                          older=self._previous if self._previous is not None else old)
        record = {"step": step, "t": self.t + self.dt}
        converged = True
        for stage in self.problem.stages():
            if stage.field not in self.fields:
                raise ValueError(f"stage {stage.label!r}: unknown field {stage.field!r}")
            ctx.current_stage = stage.label
            if stage.prepare is not None:
                ctx.prepared[stage.label] = stage.prepare(ctx)
            field = self.fields[stage.field]
            info = fit_field(field, lambda field=field, stage=stage: stage.loss(field, ctx), self.config,
                             step=step, stage=stage.label, energy=stage.energy)
            record[f"loss_{stage.label}"], record[f"iters_{stage.label}"] = info["loss"], info["iters"]
            converged &= info["converged"]
        largest = self._largest_value(ctx.x)
        if not math.isfinite(largest) or largest > self.blowup_factor * self._scale:
            raise INSRDivergenceError(f"step {step}: the solution blew up (largest value {largest:.3e} > "
                                      f"{self.blowup_factor:g} x the initial {self._scale:.3e}); reduce dt "
                                      f"(CFL-like number {self.courant:.3g})", step, "all")
        record["converged"] = bool(converged)
        record["seconds"] = time.perf_counter() - start
        self._previous = old
        self.t += self.dt
        self.step_count = step
        self.history.append(record)
        self._keep()
        return record

    def run(self, steps: int, progress: bool = True, callback=None) -> list[dict]:
        """Take ``steps`` steps with a progress bar; ``callback(solver, record)`` after each."""
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps: expected an int >= 0, got {steps!r}")
        from tqdm.auto import tqdm

        if self._scale is None:
            self.initialize()
        records = []
        bar = tqdm(range(steps), desc=f"insr {self.problem.name}", disable=not progress, unit="step")
        for _ in bar:
            record = self.step()
            if callback is not None:
                callback(self, record)
            bar.set_postfix(t=f"{self.t:.3g}", iters=sum(v for k, v in record.items() if k.startswith("iters_")))
            records.append(record)
        return records

    # ------------------------------------------------------------------ history
    def restore(self, step: int) -> None:
        """Load the kept checkpoint of ``step`` into the fields (and set the time)."""
        if step not in self.checkpoints:
            raise ValueError(f"step: no checkpoint kept for step {step}; kept: {sorted(self.checkpoints)}")
        for name, state in self.checkpoints[step].items():
            self.fields[name].load_state_dict(state)
        self.step_count, self.t = step, step * self.dt
        self._previous = None

    def sample(self, on: Discretization) -> xr.Dataset:
        """The current fields sampled on ``on``, one variable per field (dims ``channel, *space``)."""
        data = {}
        for name, field in self.fields.items():
            with torch.no_grad():
                array = field.sample(on).to_xarray(name=name).isel(batch=0, drop=True)
            data[name] = array
        return xr.Dataset(data).assign_coords(time=self.t)

    def map_checkpoints(self, fn, steps=None) -> list:
        """``[fn(self) for each kept step]`` with the fields restored to that step; the state is restored after."""
        current = {n: copy.deepcopy(f.state_dict()) for n, f in self.fields.items()}
        step_now, t_now, previous = self.step_count, self.t, self._previous
        steps = sorted(self.checkpoints) if steps is None else list(steps)
        try:
            results = []
            for s in steps:
                self.restore(s)
                results.append(fn(self))
        finally:
            for name, state in current.items():
                self.fields[name].load_state_dict(state)
            self.step_count, self.t, self._previous = step_now, t_now, previous
        return results

    def snapshots(self, on: Discretization, steps=None) -> xr.Dataset:
        """Every kept checkpoint (or ``steps``) sampled on ``on``, stacked over a ``time`` dimension.

        The fields are restored to the current state afterwards.
        """
        frames = self.map_checkpoints(lambda solver: solver.sample(on), steps)
        if not frames:
            raise ValueError("steps: no snapshots to stack (no checkpoints kept)")
        return xr.concat(frames, dim="time")
