"""Chebyshev–Tucker at 129³ Chebyshev points: RHOSVD from separable input vs HOSVD of the full grid tensor.

Two inputs on a box, both given as closed forms (for the full route) and as separable sums
(for the reduced route):

* ``coulomb``: the long-range part of the Newton potential of five charges,
  ``sum_m Z_m erf(|x - c_m| / sigma) / |x - c_m|`` on ``[-4, 4]^3``, ``sigma = 0.5``
  (range-separated input: the erf-kernel's Gauss–Legendre Gaussian sum shifted to each centre);
* ``gaussians``: 20 Gaussians with random centres, widths in [0.15, 0.5] and signed amplitudes on ``[-1, 1]^3``.

Routes, both at tolerance ``eps`` (default 1e-6, rule ``eps |C| / sqrt(d)`` per mode):

* ``full``: sample the closed form at the 129³ points, DCT-I to the coefficient tensor, truncated HOSVD
  (``ChebyshevTuckerField.from_function(..., iterations=0)``); the time of the HOSVD step alone is
  reported too;
* ``rhosvd``: ``ChebyshevTuckerField.from_separable`` (side matrices per mode; at eps = 1e-6 the truncated
  HOSVD of the full coefficient tensor computed from ``[R, R]`` Gram matrices, the error computed exactly;
  at smaller eps RHOSVD + HOSVD of the small core) — nothing of size 129³ is formed.

Times (wall and CPU, ``time.process_time``; single-threaded runs) are medians of interleaved repeats
(per repeat: 5 fast builds, one full build, one HOSVD of the prebuilt tensor); the inputs (closed form,
separable sum) are built once, untimed. On a shared machine the CPU time is the steadier number. Peak memory is the growth of the
resident set's high-water mark (``VmHWM`` after resetting it through ``/proc/self/clear_refs``) over the
resident set before the build, measured in a fresh subprocess per route (for the HOSVD step alone: over
the resident set holding the prebuilt coefficient tensor). Errors are max relative
errors against the closed form at 2000 random points.

Usage::

    python benchmarks/chebyshev_tucker.py [--points 129] [--tol 1e-6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

from sciml import Domain, Grid
from sciml.fields.chebyshev import chebyshev_coefficients
from sciml.fields.chebyshev_tucker import ChebyshevTuckerField, SeparableSum
from sciml.fields.tucker import hosvd, sample_function

F64 = torch.float64


def make_case(name: str):
    """``(box, separable sum, closed form)`` of a benchmark input."""
    if name == "coulomb":
        box = Domain([(-4.0, 4.0)] * 3)
        centres = torch.tensor([[0.0, 0.0, 0.0], [1.2, 0.3, -0.4], [-0.9, 1.1, 0.5], [0.4, -1.3, 0.8],
                                [-0.6, -0.5, -1.2]], dtype=F64)
        charges = torch.tensor([6.0, 1.0, 1.0, 8.0, 1.0], dtype=F64)
        sigma = 0.5

        def exact(x):
            out = torch.zeros(x.shape[0], dtype=F64)
            for c, z in zip(centres, charges):
                r = (x - c).norm(dim=-1)
                safe = torch.where(r > 0, r, torch.ones_like(r))
                limit = torch.full_like(r, 2 / (sigma * math.sqrt(math.pi)))
                out = out + z * torch.where(r > 0, torch.special.erf(safe / sigma) / safe, limit)
            return out

        return box, SeparableSum.coulomb_long_range(centres, charges, sigma, box), exact
    if name == "gaussians":
        box = Domain([(-1.0, 1.0)] * 3)
        g = torch.Generator().manual_seed(0)
        centres = (torch.rand(20, 3, generator=g, dtype=F64) * 2 - 1) * 0.7
        widths = 0.15 + 0.35 * torch.rand(20, generator=g, dtype=F64)
        amplitudes = torch.randn(20, generator=g, dtype=F64)

        def exact(x):
            out = torch.zeros(x.shape[0], dtype=F64)
            for c, s, a in zip(centres, widths, amplitudes):
                out = out + a * torch.exp(-((x - c) ** 2).sum(-1) / (2 * s**2))
            return out

        return box, SeparableSum.gaussians(centres, widths, amplitudes, box), exact
    raise ValueError(f"case: expected 'coulomb' or 'gaussians', got {name!r}")


def build(route: str, case, points: int, tol: float):
    """One build by ``route``; ``case`` is a name or a prebuilt ``make_case`` triple (input construction untimed)."""
    box, terms, exact = make_case(case) if isinstance(case, str) else case
    if route == "rhosvd":
        return ChebyshevTuckerField.from_separable(terms, points=points, tol=tol, progress=False)
    return ChebyshevTuckerField.from_function(exact, box, points=points, tol=tol, iterations=0, progress=False)


def full_coefficients(case: str, points: int) -> torch.Tensor:
    """The full coefficient tensor ``[1, n, n, n]`` (closed form sampled at the Chebyshev points, DCT-I)."""
    box, _, exact = make_case(case)
    values = sample_function(exact, Grid.chebyshev((points,) * 3, box)).values[0]
    return chebyshev_coefficients(values, (1, 2, 3))


def hosvd_seconds(coefficients: torch.Tensor, tol: float) -> tuple[float, float]:
    """Wall and CPU time of the truncated HOSVD alone on the prebuilt full coefficient tensor."""
    start, start_cpu = time.perf_counter(), time.process_time()
    hosvd(coefficients, tol=tol, modes=(1, 2, 3))
    return time.perf_counter() - start, time.process_time() - start_cpu


def peak_memory_mb(route: str, case: str, points: int, tol: float) -> float:
    """Growth of the peak RSS during one build (route ``rhosvd``/``full``) or one HOSVD of the prebuilt
    tensor (route ``hosvd``), in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, "--memory-child", route, case, str(points), str(tol)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _memory_child(route: str, case: str, points: int, tol: float) -> None:
    coefficients = full_coefficients(case, points) if route == "hosvd" else None
    # warm up at the measured size: imports, lazily loaded library code and workspaces are not counted
    if route == "hosvd":
        hosvd(coefficients, tol=tol, modes=(1, 2, 3))
    else:
        build(route, case, points, tol)
    ctypes.CDLL("libc.so.6").malloc_trim(0)                     # freed heap back to the OS: growth is new memory
    rss = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as handle:           # reset VmHWM to the current RSS
        handle.write("5")
    if route == "hosvd":
        hosvd(coefficients, tol=tol, modes=(1, 2, 3))
    else:
        build(route, case, points, tol)
    print((_status("VmHWM") - rss) / 2**20)


def _status(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def max_relative_error(field, case: str) -> float:
    box, _, exact = make_case(case)
    g = torch.Generator().manual_seed(1)
    lower, upper = torch.tensor(box.lower, dtype=F64), torch.tensor(box.upper, dtype=F64)
    x = lower + (upper - lower) * torch.rand(2000, 3, generator=g, dtype=F64)
    with torch.no_grad():
        reference = exact(x)
        return float((field(x)[:, 0] - reference).abs().max() / reference.abs().max())


def run_case(case: str, points: int, tol: float, repeats: int, fast_runs: int = 5) -> dict:
    inputs = make_case(case)
    coefficients = full_coefficients(case, points)
    times = {"rhosvd": [], "full": [], "hosvd": []}
    cpu = {"rhosvd": [], "full": [], "hosvd": []}
    fields = {}
    for _ in range(repeats):                     # interleaved: fast route (fast_runs builds), full route, HOSVD alone
        for route in ("rhosvd",) * fast_runs + ("full",):
            start, start_cpu = time.perf_counter(), time.process_time()
            fields[route] = build(route, inputs, points, tol)
            times[route].append(time.perf_counter() - start)
            cpu[route].append(time.process_time() - start_cpu)
        wall, used = hosvd_seconds(coefficients, tol)
        times["hosvd"].append(wall)
        cpu["hosvd"].append(used)
    del coefficients
    row = {"case": case, "points": points, "tol": tol,
           "hosvd_only_s": statistics.median(times["hosvd"]), "hosvd_only_cpu_s": statistics.median(cpu["hosvd"]),
           "hosvd_only_all_s": times["hosvd"],
           "hosvd_only_mb": peak_memory_mb("hosvd", case, points, tol), "cp_rank": inputs[1].rank}
    for route in ("rhosvd", "full"):
        row[route] = {"ranks": fields[route].ranks, "seconds": statistics.median(times[route]),
                      "cpu_seconds": statistics.median(cpu[route]), "all_seconds": times[route],
                      "peak_mb": peak_memory_mb(route, case, points, tol),
                      "max_rel_error": max_relative_error(fields[route], case),
                      "coefficient_error": fields[route].info["relative_error"],
                      "method": fields[route].info["method"]}
    return row


def table(rows: list) -> str:
    header = ("| input | route | Tucker ranks | wall time | CPU time | peak memory | max rel. error | "
              "RHOSVD faster by (wall / CPU) | RHOSVD smaller by |")
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        fast, full = row["rhosvd"], row["full"]
        mb = max(fast["peak_mb"], 0.1)
        lines.append(f"| {row['case']} (CP rank {row['cp_rank']}) | from the separable input ({fast['method']}) | "
                     f"{fast['ranks']} | {fast['seconds']:.3f} s | {fast['cpu_seconds']:.3f} s | "
                     f"{fast['peak_mb']:.1f} MB | {fast['max_rel_error']:.1e} | | |")
        lines.append(f"| | full grid: sample + DCT-I + HOSVD | {full['ranks']} | {full['seconds']:.2f} s | "
                     f"{full['cpu_seconds']:.2f} s | {full['peak_mb']:.0f} MB | {full['max_rel_error']:.1e} | "
                     f"{full['seconds'] / fast['seconds']:.0f}x / {full['cpu_seconds'] / fast['cpu_seconds']:.0f}x | "
                     f"{full['peak_mb'] / mb:.0f}x |")
        lines.append(f"| | HOSVD step alone (tensor prebuilt) | {full['ranks']} | {row['hosvd_only_s']:.2f} s | "
                     f"{row['hosvd_only_cpu_s']:.2f} s | {row['hosvd_only_mb']:.0f} MB | | "
                     f"{row['hosvd_only_s'] / fast['seconds']:.1f}x / "
                     f"{row['hosvd_only_cpu_s'] / fast['cpu_seconds']:.1f}x | {row['hosvd_only_mb'] / mb:.0f}x |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=129)
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=["coulomb", "gaussians"])
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        route, case, points, tol = args.memory_child
        _memory_child(route, case, int(points), float(tol))
        return
    rows = [run_case(case, args.points, args.tol, args.repeats) for case in args.cases]
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
