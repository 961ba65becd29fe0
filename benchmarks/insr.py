"""INSR against grid solvers: error and memory at equal degrees of freedom (Chen et al., ICML 2023).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/insr.py advection      # 1D advection, 240 steps, 3 network sizes
    OMP_NUM_THREADS=1 python benchmarks/insr.py taylor-green   # 100 steps, energy and vorticity vs exact
    OMP_NUM_THREADS=1 python benchmarks/insr.py multiscale     # adaptivity: multi-scale initial condition

Each part prints a markdown table (and writes its rows as JSON with ``--json PATH``). The grid
solver is semi-Lagrangian (linear interpolation, the paper's baseline; cubic splines as a
stronger one) on as many nodes as the network has parameters, at the same time step.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from sciml.fields.insr.references import semi_lagrangian_advection

from sciml.grid import Grid
from sciml.workflows.insr import insr_setup, run_insr

SIZES = ((16, 2), (32, 3))


def grid_error(problem, dof: int, dt: float, steps: int, order: int) -> float:
    grid = Grid.uniform((dof,), problem.domain)
    pts = grid.points(dtype=torch.float64)
    u0 = problem.initial(pts).reshape(-1).numpy()
    u = semi_lagrangian_advection(u0, grid, problem.velocity.numpy(), dt, steps, order=order)
    ref = problem.reference("u", steps * dt, pts).reshape(-1).numpy()
    w = grid.weights(dtype=torch.float64).numpy()
    return float(np.sqrt(np.sum(w * (u - ref) ** 2) / np.sum(w * ref**2)))


def advection(problem_name: str, steps: int, out: Path) -> list[dict]:
    rows = []
    for width, depth in SIZES:
        with tempfile.TemporaryDirectory() as tmp:
            result = run_insr(problem_name, tmp, steps=steps, width=width, depth=depth, progress=False, figures=False)
        problem, dt = insr_setup(problem_name).problem, result["dt"]
        dof = result["insr"]["dof"]
        rows.append({"network": f"SIREN {width}x{depth}", "dof": dof,
                     "insr_error": result["insr"]["final"]["u_rel_l2"],
                     "grid_linear_error": grid_error(problem, dof, dt, steps, 1),
                     "grid_cubic_error": grid_error(problem, dof, dt, steps, 3),
                     "insr_seconds": result["insr"]["wall_seconds"],
                     "insr_peak_mb": result["insr"]["peak_memory_mb"],
                     "grid_seconds": result["grid"]["seconds"], "grid_peak_mb": result["grid"]["peak_memory_mb"],
                     "cells_per_step": float(problem.velocity.norm()) * dt / (4.0 / (dof - 1))})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{problem_name}, {steps} steps of dt={dt:g}; error = relative L2 at t={steps * dt:g}\n")
    print("| network | DOF (= grid nodes) | INSR error | grid SL-linear error | grid SL-cubic error "
          "| INSR time (s) | INSR peak RSS (MB) | grid time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['network']} | {r['dof']} | {r['insr_error']:.2e} | {r['grid_linear_error']:.2e} | "
              f"{r['grid_cubic_error']:.2e} | {r['insr_seconds']:.0f} | {r['insr_peak_mb']:.0f} | "
              f"{r['grid_seconds']:.3f} |")
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("advection", "taylor-green", "multiscale"))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = None
    print(f"hardware: {platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread "
          "(2 CPU cores shared with other jobs)")
    if args.part == "advection":
        rows = advection("advection-1d", args.steps or 240, out)
    elif args.part == "multiscale":
        rows = advection("advection-multiscale", args.steps or 240, out)
    else:
        rows = taylor_green(args.steps or 100, out)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
