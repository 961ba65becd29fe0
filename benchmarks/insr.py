"""INSR against grid solvers: error and memory at equal degrees of freedom (Chen et al., ICML 2023).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/insr.py advection      # 1D advection, 240 steps, 3 network sizes
    OMP_NUM_THREADS=1 python benchmarks/insr.py taylor-green   # 100 steps, energy and vorticity vs exact
    OMP_NUM_THREADS=1 python benchmarks/insr.py multiscale     # adaptivity: multi-scale initial condition
    OMP_NUM_THREADS=1 python benchmarks/insr.py advection-2d   # 2D Gaussian, 40 steps, 2 network sizes
    OMP_NUM_THREADS=1 python benchmarks/insr.py vortex-sheet   # double shear layer vs pseudo-spectral solvers

Each part prints a markdown table (and writes its rows as JSON with ``--json PATH``). The grid
solvers are semi-Lagrangian (linear interpolation, the paper's kind of baseline; cubic splines)
and central finite differences of order 2 and 4 with INSR's own time integrator, the implicit
midpoint rule, each on as many nodes as the network has parameters, at the same time step (in
2D a square grid of about as many nodes), and on half as many nodes: the network's float32
parameters take the memory of that many float64 grid values (equal memory). ``--grid-only``
computes the grid columns alone (deterministic, seconds); ``--dt`` and ``--sizes 20x3`` give
the paper's own 1D setting (dt 0.05, a 901-parameter network). The vortex sheet has no exact
solution: the reference is the pseudo-spectral solver at 256^2, and the same solver at 32^2,
64^2 and 128^2 (128^2 = about the INSR's degrees of freedom) is the grid solver it is compared
with.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from sciml.fields.insr.network import make_field
from sciml.fields.insr.references import midpoint_advection, semi_lagrangian_advection
from sciml.grid import Grid
from sciml.workflows.bench import PeakMemory
from sciml.workflows.insr import insr_setup, run_insr, spectral_euler_reference

SIZES = ((16, 2), (32, 3))


#: grid solvers of the advection comparison: column name -> (solver, order)
GRID_SOLVERS = {
    "SL-linear": (semi_lagrangian_advection, 1),   # the paper's kind of baseline: low order, diffusive
    "SL-cubic": (semi_lagrangian_advection, 3),
    "FD2-midpoint": (midpoint_advection, 2),      # INSR's own time integrator, central differences
    "FD4-midpoint": (midpoint_advection, 4),
}


def grid_error(problem, dof: int, dt: float, steps: int, solver: str) -> float:
    """Relative L2 error at the final time of a grid solver (:data:`GRID_SOLVERS`) on about ``dof`` nodes.

    The grid state is float64, 8 bytes a node; ``dof // 2`` nodes take the memory of ``dof`` float32
    network parameters (the INSR state), which is the equal-memory comparison.
    """
    advect, order = GRID_SOLVERS[solver]
    n = dof if problem.domain.ndim == 1 else round(dof ** (1 / problem.domain.ndim))
    grid = Grid.uniform((n,) * problem.domain.ndim, problem.domain)
    pts = grid.points(dtype=torch.float64)
    u0 = problem.initial(pts).reshape(-1).numpy()
    u = advect(u0.reshape(grid.shape), grid, problem.velocity.numpy(), dt, steps, order=order).reshape(-1)
    ref = problem.reference("u", steps * dt, pts).reshape(-1).numpy()
    w = grid.weights(dtype=torch.float64).numpy()
    return float(np.sqrt(np.sum(w * (u - ref) ** 2) / np.sum(w * ref**2)))


def grid_errors(problem, dof: int, dt: float, steps: int) -> dict:
    """Every grid solver's error at ``dof`` nodes (equal DOF) and ``dof // 2`` nodes (equal memory)."""
    row = {}
    for name in GRID_SOLVERS:
        row[f"{name}_equal_dof"] = grid_error(problem, dof, dt, steps, name)
        row[f"{name}_equal_memory"] = grid_error(problem, dof // 2, dt, steps, name)
    return row


def network_dof(setup, width: int, depth: int) -> int:
    """Parameters of the setup's SIREN at that size (the INSR degrees of freedom), without running it."""
    network = dataclasses.replace(setup.network, width=width, depth=depth)
    return make_field(setup.problem.domain, 1, network).num_parameters()


def advection(problem_name: str, steps: int, out: Path, sizes=SIZES, dt: float | None = None,
              grid_only: bool = False) -> list[dict]:
    """INSR (unless ``grid_only``) and every grid solver at the networks' DOF and at equal memory."""
    rows = []
    setup = insr_setup(problem_name)
    dt = setup.dt if dt is None else dt
    problem = setup.problem
    for width, depth in sizes:
        row = {"network": f"SIREN {width}x{depth}", "dt": dt, "steps": steps}
        if grid_only:
            row["dof"] = network_dof(setup, width, depth)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                result = run_insr(problem_name, tmp, steps=steps, dt=dt, width=width, depth=depth, progress=False,
                                  figures=False)
            row.update({"dof": result["insr"]["dof"], "insr_error": result["insr"]["final"]["u_rel_l2"],
                        "insr_seconds": result["insr"]["wall_seconds"],
                        "insr_peak_mb": result["insr"]["peak_memory_mb"]})
        row.update(grid_errors(problem, row["dof"], dt, steps))
        rows.append(row)
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{problem_name}, {steps} steps of dt={dt:g}; error = relative L2 at t={steps * dt:g}; "
          "equal memory: DOF/2 float64 grid nodes against DOF float32 parameters\n")
    solvers = list(GRID_SOLVERS)
    print("| network | DOF | INSR error | " + " | ".join(f"{k}, equal DOF" for k in solvers) + " | "
          + " | ".join(f"{k}, equal memory" for k in solvers) + " | INSR time (s) |")
    print("|---" * (4 + 2 * len(solvers)) + "|")
    for r in rows:
        insr = f"{r['insr_error']:.2e}" if "insr_error" in r else "(not run)"
        seconds = f"{r['insr_seconds']:.0f}" if "insr_seconds" in r else "-"
        print(f"| {r['network']} | {r['dof']} | {insr} | "
              + " | ".join(f"{r[f'{k}_equal_dof']:.2e}" for k in solvers) + " | "
              + " | ".join(f"{r[f'{k}_equal_memory']:.2e}" for k in solvers) + f" | {seconds} |")
    return rows


def taylor_green(steps: int, out: Path) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        result = run_insr("taylor-green", tmp, steps=steps, progress=True, figures=False)
    rows = []
    for rec in result["per_step"]:
        if rec["step"] in (0, 1, 10, steps // 2, steps):
            rows.append({k: rec.get(k) for k in ("step", "t", "kinetic_energy_rel_error", "vorticity_rel_l2",
                                                 "u_rel_l2", "p_rel_l2", "divergence_rms")})
    print(f"\ntaylor-green, dt={result['dt']}, dof={result['insr']['dof']}, "
          f"{result['insr']['wall_seconds']:.0f} s, peak RSS {result['insr']['peak_memory_mb']:.0f} MB\n")
    print("| step | t | kinetic energy rel. error | vorticity rel. L2 | velocity rel. L2 | pressure rel. L2 | RMS div u |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['step']} | {r['t']:.2f} | {r['kinetic_energy_rel_error']:.2e} | {r['vorticity_rel_l2']:.2e} "
              f"| {r['u_rel_l2']:.2e} | {r['p_rel_l2']:.2e} | {r['divergence_rms']:.2e} |")
    return rows


def _relative_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def vortex_sheet(steps: int, out: Path, reference_n: int = 256, grids=(32, 64, 128)) -> list[dict]:
    """INSR vs pseudo-spectral solvers on the double shear layer: vorticity rel. L2 at the snapshot times."""
    every = max(steps // 3, 1)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_insr("vortex-sheet", tmp, steps=steps, snapshot_every=every, progress=True, figures=False)
        with xr.open_dataset(Path(tmp) / "snapshots.nc") as snaps:
            insr = snaps["vorticity"].values  # [time, 64, 64] at the nodes 2π (i/64, j/64)
            times = snaps["time"].values
    problem = insr_setup("vortex-sheet").problem
    later = [float(t) for t in times if t > 0]
    reference = spectral_euler_reference(problem, later, reference_n)
    solvers = {}
    for n in grids:
        start = time.perf_counter()
        with PeakMemory("cpu") as memory:
            w = spectral_euler_reference(problem, later, n)
        solvers[n] = (w, time.perf_counter() - start, memory.mb)
    rows = []
    for k, t in enumerate(later):
        step = round(t / result["dt"])
        row = {"step": step, "t": t, "insr": _relative_l2(insr[times > 0][k], reference[k][::reference_n // 64,
                                                                                             ::reference_n // 64])}
        for n, (w, _, _) in solvers.items():
            row[f"spectral_{n}"] = _relative_l2(w[k], reference[k][::reference_n // n, ::reference_n // n])
        rows.append(row)
        print(json.dumps(row), flush=True)
    insr_info = result["insr"]
    print(f"\nvortex-sheet, {steps} steps of dt={result['dt']:g}; vorticity relative L2 against the pseudo-spectral "
          f"solver at {reference_n}^2 (on each solver's nodes; INSR sampled on 64^2)\n")
    header = "| solver | DOF | " + " | ".join(f"t={r['t']:.2f}" for r in rows) + " | time (s) | peak RSS (MB) |"
    print(header)
    print("|---" * (len(rows) + 4) + "|")
    print(f"| INSR (SIREN {result['network']['width']}x{result['network']['depth']}, u and p) | {insr_info['dof']} | "
          + " | ".join(f"{r['insr']:.2e}" for r in rows)
          + f" | {insr_info['wall_seconds']:.0f} | {insr_info['peak_memory_mb']:.0f} |")
    for n, (_, seconds, mb) in solvers.items():
        print(f"| pseudo-spectral {n}^2 (vorticity) | {n * n} | " + " | ".join(f"{r[f'spectral_{n}']:.2e}" for r in rows)
              + f" | {seconds:.2f} | {mb:.0f} |")
    return rows


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``"16x2,20x3"`` -> ``((16, 2), (20, 3))``."""
    try:
        sizes = tuple(tuple(int(v) for v in item.lower().split("x")) for item in text.split(","))
    except ValueError as exc:
        raise SystemExit(f"--sizes: expected WIDTHxDEPTH,... such as 16x2,32x3, got {text!r}") from exc
    if not sizes or any(len(size) != 2 or min(size) < 1 for size in sizes):
        raise SystemExit(f"--sizes: expected WIDTHxDEPTH,... such as 16x2,32x3, got {text!r}")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("advection", "taylor-green", "multiscale", "advection-2d", "vortex-sheet"))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--dt", type=float, default=None, help="time step of the advection parts (default: the "
                        "preset's; the paper's 1D run used 0.05)")
    parser.add_argument("--sizes", default=None, help="networks of the advection parts as WIDTHxDEPTH,... "
                        "(default 16x2,32x3; the paper's 1D network is 20x3, 901 parameters)")
    parser.add_argument("--grid-only", action="store_true", help="advection parts: only the grid solvers, at the "
                        "networks' DOF (deterministic, seconds)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = None
    print(f"hardware: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread "
          "(2 CPU cores shared with other jobs)")
    sizes = parse_sizes(args.sizes) if args.sizes else SIZES
    options = {"sizes": sizes, "dt": args.dt, "grid_only": args.grid_only}
    if args.part == "advection":
        rows = advection("advection-1d", args.steps or 240, out, **options)
    elif args.part == "multiscale":
        rows = advection("advection-multiscale", args.steps or 240, out, **options)
    elif args.part == "advection-2d":
        rows = advection("advection-2d", args.steps or 40, out, **options)
    elif args.part == "vortex-sheet":
        rows = vortex_sheet(args.steps or 10, out)
    else:
        rows = taylor_green(args.steps or 100, out)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
