r"""INSR runs: solve a time-dependent PDE with an evolving neural field, next to a classical reference.

:func:`run_insr` is what ``sciml insr PROBLEM`` calls. It writes into ``out``:

- ``metrics.json``: per step the error against the reference (and the grid solver's at equal
  degrees of freedom, for advection), the wall time, the peak memory, the degrees of freedom;
- ``snapshots.nc``: the fields (and the reference) sampled on the problem's evaluation grid every
  ``snapshot_every`` steps, stacked over ``time`` (xarray, written atomically);
- ``checkpoints/step_XXXX.pt``: the fields' state dicts at the same steps, ``network.json``;
- ``figures/``: frames of the evolution and the error curve (matplotlib PNGs).

Problems (:data:`INSR_PROBLEMS`): ``advection-1d`` (a Gaussian of width 0.1 moving at 0.25 on
``[-2, 2]``, 240 steps of 0.01; at ``dt=0.05`` the midpoint rule's own dispersion error,
:math:`N (a k \Delta t)^3/12` per mode :math:`k`, is about 5% after 240 steps, whatever the network),
``advection-2d``, ``advection-multiscale`` (adaptivity: a wide pulse carrying a narrow one),
``taylor-green`` and ``vortex-sheet`` (incompressible Euler; exact and pseudo-spectral references).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from sciml._atomic import atomic_write_bytes, atomic_write_text
from sciml.domain import Domain
from sciml.fields.insr.advection import Advection, multiscale_pulse
from sciml.fields.insr.euler import (
    IncompressibleEuler,
    initial_velocity_grid,
    vorticity,
)
from sciml.fields.insr.network import NetworkConfig
from sciml.fields.insr.references import semi_lagrangian_advection
from sciml.fields.insr.solver import INSRSolver
from sciml.fields.insr.stepper import StepperConfig
from sciml.grid import Grid

from .bench import PeakMemory

__all__ = ["INSR_PROBLEMS", "InsrSetup", "format_insr_summary", "insr_setup", "run_insr", "spectral_euler_reference"]


@dataclasses.dataclass
class InsrSetup:
    """Defaults of one INSR problem: the problem, its time step, steps, network, budget, evaluation grid."""

    problem: object
    dt: float
    steps: int
    network: NetworkConfig
    stepper: StepperConfig
    grid_shape: tuple


def _advection_1d():
    return InsrSetup(Advection.paper_1d(), 0.01, 240, NetworkConfig(width=16, depth=2),
                     StepperConfig(max_iters=50, points=1024), (801,))


def _advection_2d():
    return InsrSetup(Advection.gaussian_2d(width=0.25), 0.05, 40, NetworkConfig(width=32, depth=3, omega0=10.0),
                     StepperConfig(max_iters=50, points=4096), (81, 81))


def _advection_multiscale():
    problem = Advection(Domain(((-2.0, 2.0),)), [0.25], multiscale_pulse([-1.0], 0.3, ripple=0.3))
    return InsrSetup(problem, 0.01, 240, NetworkConfig(width=16, depth=2),
                     StepperConfig(max_iters=50, points=1024), (801,))


def _taylor_green():
    return InsrSetup(IncompressibleEuler.taylor_green(), 0.05, 100,
                     NetworkConfig(width=32, depth=3, omega0=5.0, hidden_omega0=5.0),
                     StepperConfig(max_iters=100, points=1024, initial_iters=2000), (32, 32))


def _vortex_sheet():
    return InsrSetup(IncompressibleEuler.vortex_sheet(), 0.05, 40,
                     NetworkConfig(width=64, depth=3, omega0=10.0, hidden_omega0=10.0),
                     StepperConfig(max_iters=100, points=4096, initial_iters=2000), (64, 64))


#: problem name -> factory of its :class:`InsrSetup`
INSR_PROBLEMS = {"advection-1d": _advection_1d, "advection-2d": _advection_2d,
                 "advection-multiscale": _advection_multiscale, "taylor-green": _taylor_green,
                 "vortex-sheet": _vortex_sheet}


def insr_setup(problem: str) -> InsrSetup:
    """The default :class:`InsrSetup` of a registered problem name."""
    if problem not in INSR_PROBLEMS:
        raise ValueError(f"problem: expected one of {sorted(INSR_PROBLEMS)}, got {problem!r}")
    return INSR_PROBLEMS[problem]()


# ---------------------------------------------------------------------------- references
def spectral_euler_reference(problem: IncompressibleEuler, times, n: int = 64, viscosity: float = 0.0) -> np.ndarray:
    r"""Vorticity ``[len(times), n, n]`` of ``problem`` by the pseudo-spectral solver of :mod:`sciml.datasets`.

    The box :math:`[0, 2\pi]^2` maps onto the unit square of
    :func:`sciml.datasets.navier_stokes.solve_navier_stokes` (vorticity and time unchanged,
    viscosity divided by :math:`4\pi^2`); ``viscosity=0`` runs with :math:`10^{-12}` (that solver
    needs :math:`\nu > 0`). Nodes ``2π (i/n, j/n)``.
    """
    from sciml.datasets.navier_stokes import solve_navier_stokes

    w0 = _initial_vorticity(problem, n)
    nu = max(viscosity, 1e-12) / (4 * math.pi**2)
    return solve_navier_stokes(w0, nu, list(times), max_dt=0.01)


def _grid_advection_reference(problem: Advection, dof: int, dt: float, steps: int) -> dict:
    """Semi-Lagrangian (linear) grid solver with ``dof`` unknowns: relative L2 error per step."""
    n = max(round(dof ** (1 / problem.domain.ndim)), 2)
    grid = Grid.uniform((n,) * problem.domain.ndim, problem.domain)
    pts = grid.points(dtype=torch.float64)
    u0 = problem.initial(pts).reshape(grid.shape).numpy()
    start = time.perf_counter()
    with PeakMemory("cpu") as memory:
        frames = semi_lagrangian_advection(u0, grid, problem.velocity.numpy(), dt, steps, order=1, every=1)
    seconds = time.perf_counter() - start
    w = grid.weights(dtype=torch.float64).numpy()
    errors = []
    for k in range(steps + 1):
        ref = problem.reference("u", k * dt, pts).reshape(-1).numpy()
        errors.append(float(np.sqrt(np.sum(w * (frames[k].reshape(-1) - ref) ** 2) / np.sum(w * ref**2))))
    return {"method": "semi-Lagrangian, linear interpolation", "dof": int(np.prod(grid.shape)),
            "errors": errors, "seconds": seconds, "peak_memory_mb": memory.mb}


def _relative_errors(problem, solver, grid: Grid) -> dict:
    pts = grid.points(dtype=solver.dtype)
    out = problem.metrics(solver.fields, solver.t, pts) if isinstance(problem, IncompressibleEuler) else {}
    if isinstance(problem, Advection):
        w = grid.weights(dtype=torch.float64)
        with torch.no_grad():
            u = solver.fields["u"](pts).reshape(-1).double()
        ref = problem.reference("u", solver.t, pts.double()).reshape(-1)
        out["u_rel_l2"] = float(torch.sqrt((w * (u - ref) ** 2).sum() / (w * ref**2).sum()))
    return out


# ---------------------------------------------------------------------------- the run
def run_insr(problem: str, out, *, steps: int | None = None, dt: float | None = None, width: int | None = None,
             depth: int | None = None, max_iters: int | None = None, points: int | None = None,
             initial_iters: int | None = None, snapshot_every: int | None = None, seed: int = 0,
             progress: bool = True, figures: bool = True, echo=None) -> dict:
    """Solve ``problem`` with INSR, compare with its reference each step, write the results into ``out``.

    Parameters
    ----------
    problem : str
        A key of :data:`INSR_PROBLEMS`.
    out : path
        Output directory (created).
    steps, dt, width, depth, max_iters, points, initial_iters :
        Override the problem's defaults (:func:`insr_setup`).
    snapshot_every : int, optional
        Steps between snapshots and checkpoints (default: about 10 per run).
    seed : int
        Seed of the network initialisation and of the point draws.
    progress, figures : bool
        Show a progress bar; draw the PNG figures.
    echo : callable, optional
        Receives one-line messages (e.g. ``print``).

    Returns
    -------
    dict
        The content of ``metrics.json``.

    Raises
    ------
    ValueError
        For an unknown problem or a time step refused by the CFL-like check (with its number).
    INSRDivergenceError
        (a ``FloatingPointError``) when a step diverges, naming the step.
    """
    setup = insr_setup(problem)
    steps = setup.steps if steps is None else steps
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    dt = setup.dt if dt is None else dt
    network = dataclasses.replace(setup.network, seed=seed, **{k: v for k, v in (("width", width), ("depth", depth))
                                                               if v is not None})
    stepper = dataclasses.replace(setup.stepper, seed=seed, **{k: v for k, v in (
        ("max_iters", max_iters), ("points", points), ("initial_iters", initial_iters)) if v is not None})
    every = snapshot_every or max(steps // 10, 1)
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"snapshot_every: expected a positive int, got {snapshot_every!r}")
    out = Path(out)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    solver = INSRSolver(setup.problem, dt, stepper, network, keep_every=every)
    grid = Grid.uniform(setup.grid_shape, setup.problem.domain)
    dof = solver.num_parameters()
    per_step = []

    def record(solver, rec):
        entry = {k: v for k, v in rec.items()}
        entry.update(_relative_errors(setup.problem, solver, grid))
        per_step.append(entry)
        if rec["step"] % every == 0:
            _write_checkpoint(out, solver)

    start = time.perf_counter()
    with PeakMemory("cpu") as memory:
        record(solver, solver.initialize())
        solver.run(steps, progress=progress, callback=record)
    wall = time.perf_counter() - start
    if steps not in solver.checkpoints:  # the final state is always kept and written
        solver.checkpoints[steps] = {n: {k: v.clone() for k, v in f.state_dict().items()}
                                     for n, f in solver.fields.items()}
        _write_checkpoint(out, solver)
    result = {"problem": problem, "steps": steps, "dt": dt, "courant_number": solver.courant,
              "network": dataclasses.asdict(network), "stepper": dataclasses.asdict(stepper),
              "insr": {"dof": dof, "wall_seconds": wall, "peak_memory_mb": memory.mb,
                       "state_bytes": 4 * dof, "final": per_step[-1]},
              "per_step": per_step}
    if isinstance(setup.problem, Advection):
        result["grid"] = _grid_advection_reference(setup.problem, dof, dt, steps)
        result["grid"]["state_bytes"] = 8 * result["grid"]["dof"]
        for entry, err in zip(per_step, result["grid"]["errors"]):
            entry["grid_u_rel_l2"] = err
    snapshots = _snapshots(setup.problem, solver, grid, steps, every)
    atomic_write_bytes(out / "snapshots.nc", snapshots.to_netcdf())
    atomic_write_text(out / "network.json", json.dumps(dataclasses.asdict(network), indent=2))
    if figures:
        from sciml.fields.insr.figures import plot_error_curves, plot_frames

        result["figures"] = [str(plot_frames(snapshots, out / "figures" / "frames.png")),
                             str(plot_error_curves(per_step, out / "figures" / "errors.png"))]
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2, default=_json_default))
    if echo is not None:
        echo(format_insr_summary(result))
    return result


def format_insr_summary(result: dict) -> str:
    """One line per solver: final error, degrees of freedom, wall time, peak memory."""
    final = result["insr"]["final"]
    keys = [k for k in ("u_rel_l2", "vorticity_rel_l2", "kinetic_energy_rel_error") if k in final]
    lines = [(f"{result['problem']}: {result['steps']} steps of dt={result['dt']:g} "
              f"(CFL-like number {result['courant_number']:.3g})"),
             "INSR: " + ", ".join(f"{k}={final[k]:.3e}" for k in keys)
             + f", dof={result['insr']['dof']}, {result['insr']['wall_seconds']:.1f} s, "
               f"peak {result['insr']['peak_memory_mb']:.1f} MB"]
    if "grid" in result:
        g = result["grid"]
        lines.append(f"grid ({g['method']}): u_rel_l2={g['errors'][-1]:.3e}, dof={g['dof']}, "
                     f"{g['seconds']:.2f} s, peak {g['peak_memory_mb']:.1f} MB")
    return "\n".join(lines)


def _write_checkpoint(out: Path, solver: INSRSolver) -> None:
    buffer = io.BytesIO()
    torch.save({"step": solver.step_count, "t": solver.t,
                "fields": {n: f.state_dict() for n, f in solver.fields.items()}}, buffer)
    atomic_write_bytes(out / "checkpoints" / f"step_{solver.step_count:04d}.pt", buffer.getvalue())


def _snapshots(problem, solver: INSRSolver, grid: Grid, steps: int, every: int) -> xr.Dataset:
    kept = [s for s in sorted(solver.checkpoints) if s % every == 0 or s == steps]
    data = solver.snapshots(grid, kept)
    times = [s * solver.dt for s in kept]
    pts = grid.points(dtype=torch.float64)
    if isinstance(problem, Advection):
        ref = np.stack([problem.reference("u", t, pts).reshape(1, *grid.shape).numpy() for t in times])
        data["u_reference"] = (("time",) + data["u"].dims[1:], ref)
    elif isinstance(problem, IncompressibleEuler):
        frames = solver.map_checkpoints(
            lambda sol: vorticity(sol.fields["u"], pts.to(sol.dtype)).detach().reshape(grid.shape).numpy(), kept)
        dims = ("time",) + data["p"].dims[2:]
        data["vorticity"] = (dims, np.stack(frames))
        n = grid.shape[0]
        if grid.shape == (n, n) and n % 2 == 0:  # the spectral solver's nodes 2π (i/n, j/n)
            later = [t for t in times if t > 0]
            ref = [_initial_vorticity(problem, n)[None]] * (len(times) - len(later))
            if later:
                ref.append(spectral_euler_reference(problem, later, n))
            data["vorticity_spectral"] = (dims, np.concatenate(ref))
    return data.assign_coords(time=("time", np.asarray(times)))


def _initial_vorticity(problem: IncompressibleEuler, n: int) -> np.ndarray:
    """Spectral vorticity ``∂x v - ∂y u`` of ``u_0`` on the node grid ``2π (i/n, j/n)``, ``[n, n]``."""
    u = initial_velocity_grid(problem, n)
    k = np.fft.fftfreq(n, d=1.0 / n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    return np.real(np.fft.ifft2(1j * kx * np.fft.fft2(u[1]) - 1j * ky * np.fft.fft2(u[0])))


def _json_default(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
