"""What an INSR problem declares: its fields, initial condition, stages per step, reference, dt check."""

from __future__ import annotations

import math
import warnings

import torch

from sciml.domain import Domain

from .network import NetworkConfig, make_field

__all__ = ["INSRProblem", "UnstableTimeStepWarning"]


class UnstableTimeStepWarning(UserWarning):
    """The time step exceeds the problem's accuracy limit (the CFL-like number is in the message)."""


class INSRProblem:
    """Base class of the PDEs :class:`~sciml.fields.insr.INSRSolver` evolves.

    Subclasses set :attr:`name`, :attr:`domain`, :attr:`channels` (field name -> channels) and
    implement :meth:`initial_condition`, :meth:`stages` and optionally :meth:`reference`,
    :meth:`courant_number`, :meth:`sample_points` and :meth:`metrics`.
    """

    name = "problem"

    def __init__(self, domain: Domain, channels: dict):
        if not isinstance(domain, Domain):
            raise TypeError(f"domain: expected a sciml.Domain, got {type(domain).__name__}")
        self.domain = domain
        self.channels = dict(channels)

    # ------------------------------------------------------------------ declared by subclasses
    def initial_condition(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Values ``[n, c]`` of field ``name`` at time 0 at points ``x`` ``[n, d]``."""
        raise NotImplementedError

    def stages(self) -> list:
        """The :class:`~sciml.fields.insr.Stage` list run in order at every step."""
        raise NotImplementedError

    def initial_loss(self, name: str, field, x: torch.Tensor):
        """The loss of the step-0 fit of field ``name`` at points ``x``, a callable ``() -> scalar``.

        Default: the mean squared misfit of the values to :meth:`initial_condition` (over points
        and channels). Problems override it to fit more than values (e.g. derivatives).
        """
        target = self.initial_condition(name, x).to(next(field.parameters()).dtype)

        def loss():
            return (field(x) - target).pow(2).mean()

        return loss

    def reference(self, name: str, t: float, x: torch.Tensor) -> torch.Tensor | None:
        """Reference values ``[n, c]`` of field ``name`` at time ``t`` (``None``: no reference)."""
        return None

    def courant_number(self, dt: float, scheme: str) -> float:
        """The CFL-like number of a step ``dt`` (0 when the problem has none)."""
        return 0.0

    def time_step_limits(self, scheme: str) -> tuple[float, float]:
        """``(warn_above, refuse_above)`` for the CFL-like number with ``scheme`` (default: no limits)."""
        return math.inf, math.inf

    def value_scale(self) -> float:
        """Magnitude of values the fields may reach without having blown up (default 0: the initial values)."""
        return 0.0

    def metrics(self, fields: dict, t: float, points: torch.Tensor) -> dict:
        """Problem-specific numbers at time ``t`` (errors against the reference by default)."""
        out = {}
        for name, field in fields.items():
            ref = self.reference(name, t, points)
            if ref is None:
                continue
            with torch.no_grad():
                value = field(points)
            ref = ref.to(value.dtype)
            out[f"{name}_rel_l2"] = float((value - ref).norm() / ref.norm().clamp_min(1e-300))
            out[f"{name}_max_abs"] = float((value - ref).abs().max())
        return out

    # ------------------------------------------------------------------ shared
    def make_fields(self, network: NetworkConfig | None = None) -> dict:
        """One SIREN per field of :attr:`channels`, sized by ``network``."""
        network = network or NetworkConfig()
        return {name: make_field(self.domain, c, network, index=i) for i, (name, c) in enumerate(self.channels.items())}

    def sample_points(self, n: int, generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``n`` points drawn uniformly in the domain ``[n, d]``."""
        unit = torch.rand(n, self.domain.ndim, generator=generator, dtype=torch.float64)
        lower = torch.tensor(self.domain.lower, dtype=torch.float64)
        return (lower + unit * torch.tensor(self.domain.lengths, dtype=torch.float64)).to(dtype)

    def check_time_step(self, dt: float, scheme: str, steps: int = 1) -> float:
        """Validate ``dt``: refuse (``ValueError``) or warn from the CFL-like number; returns it."""
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not dt > 0 or not math.isfinite(dt):
            raise ValueError(f"dt: expected a finite number > 0, got {dt!r}")
        number = float(self.courant_number(dt, scheme))
        warn_above, refuse_above = self.time_step_limits(scheme)
        if number > refuse_above:
            raise ValueError(f"dt: {dt:g} gives a CFL-like number {number:.3g} > {refuse_above:g}, "
                             f"unstable for {self.name} with the {scheme} scheme; reduce dt")
        if number > warn_above:
            warnings.warn(f"dt: {dt:g} gives a CFL-like number {number:.3g} > {warn_above:g} for {self.name}; "
                          "expect a large time-discretisation error", UnstableTimeStepWarning, stacklevel=3)
        return number
