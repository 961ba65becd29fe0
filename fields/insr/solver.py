"""The INSR solver: fit the initial condition, then evolve the fields' weights step by step.

The state history is kept every ``keep_every`` steps as in-memory checkpoints (state dicts), as
checkpoint directories on disk when ``checkpoint_dir`` is given, and as labelled snapshots sampled
on any discretization (:meth:`INSRSolver.snapshots`).

A checkpoint directory ``checkpoint_dir/step-NNNN`` is written by
:func:`sciml.training.save_checkpoint` (``config.json`` + ``model.safetensors`` + ``state.pt``,
under a temporary name, fsynced and renamed; a ``latest`` pointer file names the newest one). Its
"model" is a ``ModuleDict`` ``{"fields": {name: field}, "previous": {name: field}}`` holding the
fields at step ``n`` and ``n - 1`` (second-order-in-time problems need both); ``config.json``
carries under ``metrics["insr"]`` the step, time, ``dt``, problem name, stepper and network
configs; ``state.pt`` the point generator, the blow-up scale and the history. Restoring one is
exact: continuing from it repeats the uninterrupted run bit for bit.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from pathlib import Path

import torch
import xarray as xr

from sciml.discretization import Discretization
from sciml.training.checkpoint import (
    CONFIG_FILE,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from sciml.training.store import write_pointer

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
    dtype : torch.dtype, optional
        Convert the fields to this floating-point type (e.g. ``torch.float64`` for elasticity at
        small strain, where float32 rounding swamps the stored energy).
    checkpoint_dir : path, optional
        Also write every kept step as a checkpoint directory ``checkpoint_dir/step-NNNN`` (see the
        module docstring) and point ``checkpoint_dir/latest`` at it.

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
        Step -> ``{field: state_dict}`` (in memory).
    network : NetworkConfig or None
        The network the fields were made with (``None`` when ``fields`` was given).

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
                 blowup_factor: float = 1e3, dtype: torch.dtype | None = None, checkpoint_dir=None):
        if not isinstance(problem, INSRProblem):
            raise TypeError(f"problem: expected an INSRProblem, got {type(problem).__name__}")
        self.config = config or StepperConfig()
        if not isinstance(self.config, StepperConfig):
            raise TypeError(f"config: expected a StepperConfig, got {type(self.config).__name__}")
        self.problem = problem
        self.courant = problem.check_time_step(dt, self.config.scheme)
        self.dt = float(dt)
        if network is not None and not isinstance(network, NetworkConfig):
            raise TypeError(f"network: expected a NetworkConfig, got {type(network).__name__}")
        self.network = None if fields is not None else (network or NetworkConfig())
        self.fields = fields if fields is not None else problem.make_fields(self.network)
        if dtype is not None:
            if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
                raise TypeError(f"dtype: expected a floating-point torch.dtype, got {dtype!r}")
            self.fields = {name: field.to(dtype) for name, field in self.fields.items()}
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
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self._previous: dict | None = None  # state at step n-1 (second-order-in-time problems)
        self._scale = None
        self._generator = torch.Generator().manual_seed(int(self.config.seed))

    # ------------------------------------------------------------------ helpers
    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.fields.values()))._param_dtype()

    @property
    def previous_fields(self) -> dict | None:
        """Frozen copies of the fields one step back (``None`` before the first step or after a restore from memory)."""
        return self._previous

    def num_parameters(self) -> int:
        """Degrees of freedom of the state: the trainable scalars of every field."""
        return sum(f.num_parameters() for f in self.fields.values())

    def _points(self) -> torch.Tensor:
        return self.problem.sample_points(self.config.points, self._generator, dtype=self.dtype)

    def _keep(self) -> None:
        if self.keep_every and self.step_count % self.keep_every == 0:
            self.checkpoint()

    def checkpoint(self) -> Path | None:
        """Keep the current state now: in :attr:`checkpoints`, and on disk with ``checkpoint_dir``.

        Returns the checkpoint directory written (``None`` without ``checkpoint_dir``).
        """
        self.checkpoints[self.step_count] = {n: copy.deepcopy(f.state_dict()) for n, f in self.fields.items()}
        if self.checkpoint_dir is None:
            return None
        path = self.save(self.checkpoint_path(self.step_count), overwrite=True)
        write_pointer(self.checkpoint_dir, "latest", path.name)
        return path

    def _largest_value(self, x: torch.Tensor) -> float:
        with torch.no_grad():
            return max(float(f(x).abs().max()) for f in self.fields.values())

    # ------------------------------------------------------------------ stepping
    def initialize(self) -> dict:
        """Fit every field to the initial condition (step 0).

        The loss is the problem's :meth:`~sciml.fields.insr.INSRProblem.initial_loss` (values, or
        values and derivatives). Adam with a cosine-annealed learning rate for
        ``config.initial_iters`` iterations, then, when ``config.optimizer`` is ``"lbfgs"``, L-BFGS
        refinement (``config.initial_lbfgs_iters`` evaluations, default ``max_iters``) under the
        usual criterion.

        Returns ``{field: fit info}`` and records it in :attr:`history`.
        """
        x = self._points()
        record = {"step": 0, "t": 0.0}
        for name, field in self.fields.items():
            loss = self.problem.initial_loss(name, field, x)
            info = fit_field(field, loss, self.config, max_iters=self.config.initial_iters,
                             lr=self.config.initial_lr, optimizer="adam", step=0, stage=name, anneal=True)
            if self.config.optimizer == "lbfgs":
                info = fit_field(field, loss, self.config, max_iters=self.config.initial_lbfgs_iters, step=0,
                                 stage=name)
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
    def checkpoint_path(self, step: int) -> Path:
        """``checkpoint_dir/step-NNNN``, where :meth:`checkpoint` writes step ``step``."""
        if self.checkpoint_dir is None:
            raise ValueError("checkpoint_dir: this solver writes no checkpoint directories (checkpoint_dir=None)")
        return self.checkpoint_dir / f"step-{int(step):04d}"

    def save(self, path, overwrite: bool = False) -> Path:
        """Write the current state as a checkpoint directory at ``path`` (:func:`sciml.training.save_checkpoint`).

        Holds the fields at this step and the previous one, the point generator, the blow-up scale
        and the history, so :meth:`load` continues exactly; returns ``path``.
        """
        previous = self._previous if self._previous is not None else \
            {n: frozen_copy(f) for n, f in self.fields.items()}
        meta = {"step": self.step_count, "t": self.t, "dt": self.dt, "problem": self.problem.name,
                "fields": sorted(self.fields), "dtype": str(self.dtype).removeprefix("torch."),
                "stepper": dataclasses.asdict(self.config),
                "network": None if self.network is None else dataclasses.asdict(self.network)}
        state = {"generator": self._generator.get_state(), "scale": self._scale, "history": self.history,
                 "has_previous": self._previous is not None}
        return save_checkpoint(path, self._state_module(previous), epoch=self.step_count, metrics={"insr": meta},
                               trainer_state=state, save_rng=False, overwrite=overwrite)

    def _state_module(self, previous: dict) -> torch.nn.ModuleDict:
        return torch.nn.ModuleDict({"fields": torch.nn.ModuleDict(self.fields),
                                    "previous": torch.nn.ModuleDict(previous)})

    def load(self, path) -> dict:
        """Put back the state saved by :meth:`save` at ``path`` (a directory or a ``latest`` pointer).

        Fields, previous step, time, step count, point generator, blow-up scale and history are
        restored; returns the checkpoint's ``metrics["insr"]``.

        Raises
        ------
        ValueError
            ``path`` is not a checkpoint, is damaged, or holds other fields than this solver's.
        """
        previous = {n: frozen_copy(f) for n, f in self.fields.items()}
        folder = resolve_checkpoint(path)
        try:
            ckpt = load_checkpoint(folder, self._state_module(previous))
        except ValueError as exc:
            raise ValueError(f"path: the checkpoint at {str(folder)!r} does not hold this solver's fields "
                             f"{sorted(self.fields)}: {exc}") from exc
        meta, state = ckpt.metrics.get("insr"), ckpt.state.get("trainer", {})
        if not isinstance(meta, dict) or "generator" not in state:
            raise ValueError(f"path: {str(folder)!r} is a sciml checkpoint but not an INSR one (no 'insr' metrics)")
        if not math.isclose(meta["dt"], self.dt, rel_tol=1e-12):
            raise ValueError(f"path: the checkpoint at {str(folder)!r} was taken with dt={meta['dt']:g}, "
                             f"this solver has dt={self.dt:g}")
        self.step_count, self.t = int(meta["step"]), float(meta["t"])
        self._previous = previous if state["has_previous"] else None
        self._generator.set_state(state["generator"])
        self._scale = state["scale"]
        self.history = list(state["history"])
        return meta

    @classmethod
    def from_checkpoint(cls, path, problem: INSRProblem, fields: dict | None = None, **options) -> INSRSolver:
        """A solver rebuilt from a checkpoint directory written by :meth:`save` (or a ``latest`` pointer).

        ``dt``, the stepper config and the network come from the checkpoint; pass ``fields`` when
        the solver was built with its own fields. ``options`` go to the constructor
        (``keep_every``, ``checkpoint_dir``, ``blowup_factor``).

        Examples
        --------
        >>> solver = INSRSolver.from_checkpoint("run/checkpoints/latest", Advection.paper_1d())  # doctest: +SKIP
        >>> solver.run(10)  # continues exactly where the saved run stopped  # doctest: +SKIP
        """
        folder = resolve_checkpoint(path)
        try:
            meta = json.loads((folder / CONFIG_FILE).read_text())["metrics"]["insr"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"path: {str(folder)!r} is not an INSR checkpoint ({exc})") from exc
        if meta["problem"] != problem.name:
            raise ValueError(f"problem: the checkpoint at {str(folder)!r} is of {meta['problem']!r}, got {problem.name!r}")
        if fields is None and meta["network"] is None:
            raise ValueError(f"fields: the checkpoint at {str(folder)!r} was taken with custom fields; pass them")
        network = None if meta["network"] is None else NetworkConfig(**meta["network"])
        dtype = getattr(torch, meta["dtype"]) if fields is None else None
        solver = cls(problem, meta["dt"], StepperConfig(**meta["stepper"]), network, fields, dtype=dtype, **options)
        solver.load(folder)
        return solver

    def restore(self, step: int) -> None:
        """Put back the state kept at ``step``.

        From its checkpoint directory when ``checkpoint_dir`` holds one (exact: see :meth:`load`),
        otherwise from the in-memory copy (fields, time and step count; the previous step is
        forgotten, i.e. a second-order problem continues from rest).
        """
        if self.checkpoint_dir is not None and self.checkpoint_path(step).is_dir():
            self.load(self.checkpoint_path(step))
            return
        self._load_fields(step)
        self._previous = None

    def _load_fields(self, step: int) -> None:
        if step in self.checkpoints:
            for name, state in self.checkpoints[step].items():
                self.fields[name].load_state_dict(state)
        elif self.checkpoint_dir is not None and self.checkpoint_path(step).is_dir():
            previous = {n: frozen_copy(f) for n, f in self.fields.items()}
            load_checkpoint(self.checkpoint_path(step), self._state_module(previous))
        else:
            raise ValueError(f"step: no checkpoint kept for step {step}; kept: {self.kept_steps()}")
        self.step_count, self.t = step, step * self.dt

    def kept_steps(self) -> list[int]:
        """Steps with a kept state, in memory or as checkpoint directories."""
        steps = set(self.checkpoints)
        if self.checkpoint_dir is not None and self.checkpoint_dir.is_dir():
            steps |= {int(p.name[5:]) for p in self.checkpoint_dir.glob("step-*") if p.name[5:].isdigit()}
        return sorted(steps)

    def sample(self, on: Discretization) -> xr.Dataset:
        """The current fields sampled on ``on``, one variable per field (dims ``channel, *space``)."""
        data = {}
        for name, field in self.fields.items():
            with torch.no_grad():
                array = field.sample(on).to_xarray(name=name).isel(batch=0, drop=True)
            data[name] = array
        return xr.Dataset(data).assign_coords(time=self.t)

    def map_checkpoints(self, fn, steps=None) -> list:
        """``[fn(self) for each kept step]`` with the fields loaded from that step; the state is put back after."""
        current = {n: copy.deepcopy(f.state_dict()) for n, f in self.fields.items()}
        step_now, t_now, previous = self.step_count, self.t, self._previous
        steps = self.kept_steps() if steps is None else list(steps)
        try:
            results = []
            for s in steps:
                self._load_fields(s)
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
