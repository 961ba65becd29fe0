"""INSR: time-dependent PDEs solved by evolving a neural field's weights (Chen et al., ICML 2023).

The spatial discretization is a neural field (a SIREN) whose weights are the state; each time step
warm-starts from the previous weights and minimises a time-integration residual (or an incremental
potential) over points drawn in the domain. No training data: the method is the solver.

- :class:`INSRSolver` runs the steps; :class:`StepperConfig` sets the optimiser, budget, convergence.
- Problems: :class:`Advection` (midpoint rule, Dirichlet penalty), :class:`IncompressibleEuler`
  (advection / pressure / projection splitting), :class:`Elasticity` (implicit-Euler energy).
- References: :func:`semi_lagrangian_advection` and :func:`midpoint_advection` (grid solvers),
  :func:`taylor_green` (exact), :func:`fem_elastodynamics` (scikit-fem on the same mesh).
- Checkpoints are directories (``step-NNNN/`` and ``latest``, :mod:`sciml.training.checkpoint`);
  :meth:`INSRSolver.from_checkpoint` resumes a run.
"""

from .advection import Advection, gaussian_pulse, multiscale_pulse
from .elasticity import Elasticity, ScaledField, lame_parameters, stored_energy
from .euler import IncompressibleEuler, vorticity
from .network import NetworkConfig, PeriodicField, make_field
from .problem import INSRProblem, UnstableTimeStepWarning
from .references import fem_elastodynamics, midpoint_advection, semi_lagrangian_advection, taylor_green
from .solver import INSRSolver
from .stepper import (
    SCHEMES,
    INSRDivergenceError,
    Stage,
    StepContext,
    StepperConfig,
    advection_rhs,
    fit_field,
    frozen_copy,
    theta_weight,
    time_residual,
)

__all__ = [
    "SCHEMES",
    "Advection",
    "Elasticity",
    "INSRDivergenceError",
    "INSRProblem",
    "INSRSolver",
    "IncompressibleEuler",
    "NetworkConfig",
    "PeriodicField",
    "ScaledField",
    "Stage",
    "StepContext",
    "StepperConfig",
    "UnstableTimeStepWarning",
    "advection_rhs",
    "fem_elastodynamics",
    "fit_field",
    "frozen_copy",
    "gaussian_pulse",
    "lame_parameters",
    "make_field",
    "midpoint_advection",
    "multiscale_pulse",
    "semi_lagrangian_advection",
    "stored_energy",
    "taylor_green",
    "theta_weight",
    "time_residual",
    "vorticity",
]
