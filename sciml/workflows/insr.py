r"""INSR runs: solve a time-dependent PDE with an evolving neural field, next to a classical reference.

:func:`run_insr` is what ``sciml insr PROBLEM`` calls. It writes into ``out``:

- ``metrics.json``: per step the error against the reference (and the grid solver's at equal
  degrees of freedom, for advection), the wall time, the peak memory, the degrees of freedom;
- ``snapshots.nc``: the fields (and the reference) sampled on the problem's evaluation grid every
  ``snapshot_every`` steps, stacked over ``time`` (xarray, written atomically);
- ``checkpoints/step-NNNN/``: checkpoint directories of the solver's state at the same steps and at
  the last one (:meth:`~sciml.fields.insr.INSRSolver.save`: ``config.json``, ``model.safetensors``,
  ``state.pt``, written atomically by :func:`sciml.training.save_checkpoint`), with a ``latest``
  pointer; :meth:`~sciml.fields.insr.INSRSolver.from_checkpoint` resumes from one; ``network.json``;
- ``figures/``: frames of the evolution and the error curve (matplotlib PNGs).

Problems (:data:`INSR_PROBLEMS`): ``advection-1d`` (a Gaussian of width 0.1 moving at 0.25 on
``[-2, 2]``, 240 steps of 0.01; at ``dt=0.05`` the midpoint rule's own dispersion error,
:math:`N (a k \Delta t)^3/12` per mode :math:`k`, is about 5% after 240 steps, whatever the network),
``advection-2d``, ``advection-multiscale`` (adaptivity: a wide pulse carrying a narrow one),
``taylor-green`` and ``vortex-sheet`` (incompressible Euler; exact and pseudo-spectral references;
for ``vortex-sheet`` the vorticity error against the pseudo-spectral solver is recorded at the
snapshot steps), ``elasticity-2d`` and ``elasticity-3d`` (a cantilever released from rest under
gravity, :meth:`~sciml.fields.insr.Elasticity.cantilever`, in float64: at small strain float32
cannot resolve the stored energy; reference: implicit-Euler linear elastodynamics with P2 finite
elements on the same mesh, :func:`~sciml.fields.insr.references.fem_elastodynamics`, which needs
scikit-fem; per step the displacement error at the mesh vertices, the tip displacement and the
energies of both).
"""

from __future__ import annotations

import dataclasses
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
from sciml.fields.insr.elasticity import Elasticity
from sciml.fields.insr.euler import (
    IncompressibleEuler,
    initial_velocity_grid,
    vorticity,
)
from sciml.fields.insr.network import NetworkConfig
from sciml.fields.insr.references import fem_elastodynamics, semi_lagrangian_advection
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
    dtype: torch.dtype = torch.float32


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
    # H1 fits of the velocity (values and Jacobian, weight 4) at step 0 and in both velocity
    # stages: values-only fits leave residuals with large derivatives (vorticity 4.2% after 100 steps)
    return InsrSetup(IncompressibleEuler.taylor_green(sobolev=4.0), 0.05, 100,
                     NetworkConfig(width=32, depth=3, omega0=5.0, hidden_omega0=5.0),
                     StepperConfig(max_iters=100, points=1024, initial_iters=2000, initial_lbfgs_iters=300), (32, 32))


def _vortex_sheet():
    return InsrSetup(IncompressibleEuler.vortex_sheet(), 0.05, 40,
                     NetworkConfig(width=64, depth=3, omega0=10.0, hidden_omega0=10.0),
                     StepperConfig(max_iters=100, points=4096, initial_iters=2000), (64, 64))


def _elasticity_2d():
    return InsrSetup(Elasticity.cantilever(2), 0.01, 30, NetworkConfig(width=16, depth=2, omega0=2.0, hidden_omega0=2.0),
                     StepperConfig(max_iters=150, points=1024, initial_iters=1), (41, 9), torch.float64)


def _elasticity_3d():
    return InsrSetup(Elasticity.cantilever(3), 0.01, 20, NetworkConfig(width=16, depth=2, omega0=2.0, hidden_omega0=2.0),
                     StepperConfig(max_iters=150, points=1024, initial_iters=1), (21, 5, 5), torch.float64)


#: problem name -> factory of its :class:`InsrSetup`
INSR_PROBLEMS = {"advection-1d": _advection_1d, "advection-2d": _advection_2d,
                 "advection-multiscale": _advection_multiscale, "taylor-green": _taylor_green,
                 "vortex-sheet": _vortex_sheet, "elasticity-2d": _elasticity_2d, "elasticity-3d": _elasticity_3d}


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
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    solver = INSRSolver(setup.problem, dt, stepper, network, keep_every=every, checkpoint_dir=out / "checkpoints",
                        dtype=setup.dtype)
    grid = Grid.uniform(setup.grid_shape, setup.problem.domain)
    dof = solver.num_parameters()
    fem = _fem_reference(setup.problem, dt, steps, grid) if isinstance(setup.problem, Elasticity) else None
    per_step = []

    def record(solver, rec):
        entry = dict(rec)
        entry.update(_relative_errors(setup.problem, solver, grid))
        if fem is not None:
            entry.update(_elasticity_errors(setup.problem, solver, fem))
        per_step.append(entry)

    start = time.perf_counter()
    with PeakMemory("cpu") as memory:
        record(solver, solver.initialize())
        solver.run(steps, progress=progress, callback=record)
    wall = time.perf_counter() - start
    if steps not in solver.checkpoints:  # the final state is always kept and written
        solver.checkpoint()
    bytes_per_value = torch.finfo(solver.dtype).bits // 8
    result = {"problem": problem, "steps": steps, "dt": dt, "courant_number": solver.courant,
              "network": dataclasses.asdict(network), "stepper": dataclasses.asdict(stepper),
              "insr": {"dof": dof, "wall_seconds": wall, "peak_memory_mb": memory.mb, "dtype": str(solver.dtype),
                       "state_bytes": bytes_per_value * dof, "final": per_step[-1]},
              "per_step": per_step}
    if isinstance(setup.problem, Advection):
        result["grid"] = _grid_advection_reference(setup.problem, dof, dt, steps)
        result["grid"]["state_bytes"] = 8 * result["grid"]["dof"]
        for entry, err in zip(per_step, result["grid"]["errors"]):
            entry["grid_u_rel_l2"] = err
    if fem is not None:
        result["fem"] = {"method": "P2 Lagrange FEM, linear elasticity, implicit Euler (scikit-fem), same mesh",
                         "dof": fem["dof"], "seconds": fem["seconds"], "peak_memory_mb": fem["peak_memory_mb"],
                         "state_bytes": 8 * fem["dof"]}
    snapshots = _snapshots(setup.problem, solver, grid, steps, every, fem)
    if "vorticity_spectral" in snapshots and setup.problem.exact is None:  # vortex sheet: error at the snapshots
        _spectral_errors(snapshots, per_step, dt)
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
    if "vorticity_spectral_rel_l2" in final:
        keys.append("vorticity_spectral_rel_l2")
    lines = [(f"{result['problem']}: {result['steps']} steps of dt={result['dt']:g} "
              f"(CFL-like number {result['courant_number']:.3g})"),
             "INSR: " + ", ".join(f"{k}={final[k]:.3e}" for k in keys)
             + f", dof={result['insr']['dof']}, {result['insr']['wall_seconds']:.1f} s, "
               f"peak {result['insr']['peak_memory_mb']:.1f} MB"]
    if "grid" in result:
        g = result["grid"]
        lines.append(f"grid ({g['method']}): u_rel_l2={g['errors'][-1]:.3e}, dof={g['dof']}, "
                     f"{g['seconds']:.2f} s, peak {g['peak_memory_mb']:.1f} MB")
    if "fem" in result:
        f = result["fem"]
        lines.append(f"FEM reference ({f['method']}): dof={f['dof']}, {f['seconds']:.2f} s, "
                     f"tip displacement {final['fem_tip_displacement']} (INSR {final['tip_displacement']})")
    return "\n".join(lines)


def _snapshots(problem, solver: INSRSolver, grid: Grid, steps: int, every: int, fem: dict | None = None) -> xr.Dataset:
    kept = [s for s in sorted(solver.checkpoints) if s % every == 0 or s == steps]
    data = solver.snapshots(grid, kept)
    times = [s * solver.dt for s in kept]
    pts = grid.points(dtype=torch.float64)
    if isinstance(problem, Advection):
        ref = np.stack([problem.reference("u", t, pts).reshape(1, *grid.shape).numpy() for t in times])
        data["u_reference"] = (("time",) + data["u"].dims[1:], ref)
    elif fem is not None:  # FEM displacement [steps + 1, n, d] at the grid points -> [time, channel, *grid]
        ref = fem["grid"][kept].transpose(0, 2, 1).reshape(len(kept), -1, *grid.shape)
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


def _spectral_errors(snapshots: xr.Dataset, per_step: list, dt: float) -> None:
    """Add ``vorticity_spectral_rel_l2`` (INSR vs the pseudo-spectral solver on the grid) to the snapshot steps."""
    by_step = {rec["step"]: rec for rec in per_step}
    for k, t in enumerate(snapshots["time"].values):
        insr, ref = (snapshots[name].isel(time=k).values for name in ("vorticity", "vorticity_spectral"))
        rec = by_step.get(round(float(t) / dt))
        if rec is not None:
            rec["vorticity_spectral_rel_l2"] = float(np.linalg.norm(insr - ref) / max(np.linalg.norm(ref), 1e-300))


def _fem_reference(problem: Elasticity, dt: float, steps: int, grid: Grid) -> dict:
    """P2 FEM implicit-Euler run probed at the mesh vertices, the grid points and the beam tip."""
    vertices = problem.mesh.points(dtype=torch.float64).numpy()
    grid_points = grid.points(dtype=torch.float64).numpy()
    tip = _tip(problem)
    start = time.perf_counter()
    with PeakMemory("cpu") as memory:
        fem = fem_elastodynamics(problem, dt, steps, np.concatenate([vertices, grid_points, tip]), order=2)
    u = fem.pop("displacement")
    m, g = vertices.shape[0], grid_points.shape[0]
    fem.update(vertices=u[:, :m], grid=u[:, m:m + g], tip=u[:, -1], seconds=time.perf_counter() - start,
               peak_memory_mb=memory.mb)
    return fem


def _tip(problem: Elasticity) -> np.ndarray:
    """The centre of the face of largest x, ``[1, d]``: where a cantilever's deflection is largest."""
    lower, upper = np.array(problem.mesh.domain.lower), np.array(problem.mesh.domain.upper)
    centre = (lower + upper) / 2
    centre[0] = upper[0]
    return centre[None]


def _elasticity_errors(problem: Elasticity, solver: INSRSolver, fem: dict) -> dict:
    """Displacement error at the vertices (lumped-mass weighted), tip deflection, energies: INSR and FEM."""
    k = solver.step_count
    field, dtype = solver.fields["u"], solver.dtype
    vertices = problem.mesh.points(dtype=dtype)
    with torch.no_grad():
        u = field(vertices).double().numpy()
        tip = field(torch.as_tensor(_tip(problem), dtype=dtype)).double().numpy()[0]
    ref, w = fem["vertices"][k], problem.mesh.weights(dtype=torch.float64).numpy()[:, None]
    out = {"u_rel_l2": float(np.sqrt((w * (u - ref) ** 2).sum() / max((w * ref**2).sum(), 1e-300))),
           "tip_displacement": tip.tolist(), "fem_tip_displacement": fem["tip"][k].tolist()}
    x = problem.sample_points(8192, torch.Generator().manual_seed(12345), dtype=dtype)
    previous = solver.previous_fields["u"] if solver.previous_fields is not None else None
    energies = problem.energies(field, x, previous, solver.dt if previous is not None else None)
    energies.setdefault("kinetic", 0.0)
    for name in ("kinetic", "elastic", "gravity", "total"):
        out[f"energy_{name}"] = energies[name]
        out[f"fem_energy_{name}"] = float(fem[name][k])
    return out


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
