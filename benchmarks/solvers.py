"""PDE solver benchmarks (issue 4): convergence tables and generation timings.

Run: ``python benchmarks/solvers.py [--ns-samples 20]``. Prints markdown tables
(copied into ``benchmarks/README.md``). Single process; the data pipeline
parallelises across processes.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time

import numpy as np

from sciml.datasets.burgers import BurgersConfig, BurgersProblem, solve_burgers
from sciml.datasets.darcy import DarcyConfig, DarcyProblem, solve_darcy
from sciml.datasets.navier_stokes import NavierStokesConfig, NavierStokesProblem, fno_forcing, solve_navier_stokes
from sciml.datasets.poisson import solve_poisson

PI = np.pi


def table(title, header, rows):
    print(f"\n{title}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def with_orders(label, sizes, errors):
    rows, previous = [], None
    for size, error in zip(sizes, errors):
        order = "" if previous is None else f"{np.log2(previous / error):.2f}"
        rows.append([label, str(size), f"{error:.3e}", order])
        previous, label = error, ""
    return rows


def darcy_convergence():
    errors, sizes = [], [17, 33, 65, 129, 257]
    for n in sizes:
        x = np.linspace(0, 1, n)
        X, Y = np.meshgrid(x, x, indexing="ij")
        a = 1 + 0.5 * np.sin(2 * PI * X) * np.cos(3 * PI * Y)
        u = np.exp(X) * np.sin(PI * X) * np.sin(2 * PI * Y)
        u_x = np.exp(X) * (PI * np.cos(PI * X) + np.sin(PI * X)) * np.sin(2 * PI * Y)
        u_xx = np.exp(X) * ((1 - PI**2) * np.sin(PI * X) + 2 * PI * np.cos(PI * X)) * np.sin(2 * PI * Y)
        u_y = 2 * PI * np.exp(X) * np.sin(PI * X) * np.cos(2 * PI * Y)
        f = -(PI * np.cos(2 * PI * X) * np.cos(3 * PI * Y) * u_x + a * u_xx
              - 1.5 * PI * np.sin(2 * PI * X) * np.sin(3 * PI * Y) * u_y - a * 4 * PI**2 * u)
        errors.append(np.max(np.abs(solve_darcy(a, f) - u)))
    return with_orders("Darcy, manufactured, variable a (nodes per axis)", sizes, errors)


def poisson_convergence():
    rows = []
    for boundary in ("dirichlet", "neumann"):
        for k in (0.0, 8.0):
            sizes, errors = [17, 33, 65, 129, 257], []
            for n in sizes:
                x = np.linspace(0, 1, n)
                c, c_x = np.cos(1.3 * PI * x + 0.2), -1.3 * PI * np.sin(1.3 * PI * x + 0.2)
                s, co = np.sin(2 * x + 0.5), np.cos(2 * x + 0.5)
                e, e_y, e_yy = np.exp(x) * s, np.exp(x) * (s + 2 * co), np.exp(x) * (4 * co - 3 * s)
                u = np.outer(c, e)
                f = -(np.outer(-(1.3 * PI) ** 2 * c, e) + np.outer(c, e_yy)) - k**2 * u
                g = ({"left": u[0], "right": u[-1], "bottom": u[:, 0], "top": u[:, -1]} if boundary == "dirichlet"
                     else {"left": -c_x[0] * e, "right": c_x[-1] * e, "bottom": -c * e_y[0], "top": c * e_y[-1]})
                uh = solve_poisson(f, boundary, g, wavenumber=k)
                if boundary == "neumann" and k == 0:
                    w = np.outer(*[np.r_[0.5, np.ones(n - 2), 0.5]] * 2)
                    u = u - np.sum(u * w) / w.sum()
                errors.append(np.max(np.abs(uh - u)))
            name = "Poisson" if k == 0 else f"Helmholtz k={k:g}"
            rows += with_orders(f"{name}, {boundary} (nodes per axis)", sizes, errors)
    return rows


def cole_hopf(x, t, nu):
    phi, phi_x = np.ones_like(x), np.zeros_like(x)
    for m, (a, th) in enumerate([(0.6, 0.3), (0.25, 1.1)], start=1):
        k, d = 2 * PI * m, np.exp(-nu * (2 * PI * m) ** 2 * t)
        phi, phi_x = phi + a * d * np.cos(k * x + th), phi_x - a * k * d * np.sin(k * x + th)
    return -2 * nu * phi_x / phi


def burgers_convergence():
    nu, T, x = 0.05, 0.5, np.arange(128) / 128
    steps = [10, 20, 40, 80, 160]
    time_errors = [np.max(np.abs(solve_burgers(cole_hopf(x, 0, nu), nu, [T], max_dt=T / n)[0]
                                 - cole_hopf(x, T, nu))) for n in steps]
    rows = with_orders("Burgers ETDRK4 vs Cole–Hopf, N=128 (steps to T=0.5)", steps, time_errors)
    space = []
    for n in (16, 32, 64):
        xs = np.arange(n) / n
        space.append(np.max(np.abs(solve_burgers(cole_hopf(xs, 0, nu), nu, [T], max_dt=1e-3)[0]
                                   - cole_hopf(xs, T, nu))))
    return rows + [["Burgers, space (dt=1e-3)", str(n), f"{e:.3e}", "spectral"] for n, e in zip((16, 32, 64), space)]


def navier_stokes_convergence():
    x = np.arange(32) / 32
    w0, nu, T = 20 * np.sin(2 * PI * x)[:, None] * np.sin(4 * PI * x)[None, :], 0.05, 1.0
    exact = w0 * np.exp(-20 * PI**2 * nu * T)
    rows = []
    for scheme in ("cn-heun", "etdrk4"):
        steps = [10, 20, 40, 80]
        errors = [np.max(np.abs(solve_navier_stokes(w0, nu, [T], max_dt=T / n, scheme=scheme)[0] - exact))
                  / np.max(np.abs(exact)) for n in steps]
        rows += with_orders(f"NS Taylor–Green, {scheme}, relative (steps to T=1)", steps, errors)
    start = NavierStokesProblem(NavierStokesConfig(resolution=32)).initial_conditions([0])
    for scheme, dts in (("etdrk4", (0.2, 0.1, 0.05, 0.025)), ("cn-heun", (0.1, 0.05, 0.025, 0.0125))):
        runs = [solve_navier_stokes(start, 1e-3, [2.0], fno_forcing(32), dt, scheme) for dt in dts]
        diffs = [np.max(np.abs(a - b)) for a, b in zip(runs[:-1], runs[1:])]
        rows += with_orders(f"NS FNO flow 32², {scheme}, max diff w(dt) vs w(dt/2) (dt)", dts[:-1], diffs)
    return rows


def timed(label, make, seeds, scale=1):
    start, cpu = time.perf_counter(), time.process_time()
    out = make().solve_batch(seeds)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    shapes = ", ".join(f"{k}{list(v.shape)}" for k, v in out.items())
    return [label, str(len(seeds)), f"{elapsed:.1f}", f"{cpu:.1f}", f"{cpu * scale:.0f}", shapes]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ns-samples", type=int, default=20, help="NS samples timed (extrapolated to 1000)")
    parser.add_argument("--skip-timings", action="store_true")
    parser.add_argument("--skip-convergence", action="store_true")
    args = parser.parse_args()
    model = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in model.splitlines() if "Model name" in line), "?")
    print(f"CPU: {model}; python {platform.python_version()}; numpy {np.__version__}")
    header = ["problem", "size", "max error", "observed order"]
    if not args.skip_convergence:
        table("Convergence on the verification problems", header,
              darcy_convergence() + poisson_convergence() + burgers_convergence() + navier_stokes_convergence())
    if args.skip_timings:
        return
    n = args.ns_samples
    rows = [timed("Darcy 64² (FNO default)", lambda: DarcyProblem(DarcyConfig()), np.arange(1000)),
            timed("Burgers 1024, 10 snapshots", lambda: BurgersProblem(BurgersConfig()), np.arange(1000)),
            timed("NS 64², nu=1e-3, T=50, 50 snapshots", lambda: NavierStokesProblem(NavierStokesConfig()),
                  np.arange(n), scale=1000 / n)]
    table("Generation time, one process (CPU seconds are robust to other load on the machine)",
          ["problem", "samples timed", "wall s", "CPU s", "CPU s per 1000", "shapes"], rows)


if __name__ == "__main__":
    main()
