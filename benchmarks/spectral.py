"""Benchmark of one spectral-convolution layer (forward + backward), per path.

Default run (issue 3): 2D grids 64² .. 1024², batch 8, channels 32 and 64, modes 16 and
32, the paths ``reference``, ``dft``, ``cupy`` (CUDA + CuPy only) and ``auto``; with
``--peer`` also neuraloperator's ``SpectralConv`` (if importable; never a dependency) on
exactly the same retained block, checked to give the same numbers. Prints a table with
the median forward+backward time, the peak memory and the achieved bandwidth, and with
``--json PATH`` writes ``{"machine": ..., "rows": [{"path", "resolution", "channels",
"modes", "fwd_bwd_ms", "peak_mem_mb", ...}]}``.

Other modes: ``--crossover`` times the truncated DFT against the FFT (transform pair,
forward + backward) over a grid of sizes and modes — the measurement behind
``sciml.kernels.dft_is_faster``; ``--factorized`` times direct vs rebuilt contraction of
CP/Tucker/TT weights. ``--quick`` runs 64²-256², 32 channels, 16 modes, few repetitions.

Achieved bandwidth counts the unavoidable traffic only: reading the input and writing the
output in the forward pass, reading the output gradient and writing the input gradient in
the backward pass (``4 * batch * channels * N² * itemsize`` bytes for equal channels).

Examples::

    python benchmarks/spectral.py --quick --peer
    python benchmarks/spectral.py --sizes 64 128 256 512 --json cpu.json
    python benchmarks/spectral.py --crossover
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time

import torch

from sciml.kernels import SpectralConv, choose_path, cupy_available, dft_is_faster
from sciml.kernels.dft import irfft_modes_dft, rfft_modes_dft
from sciml.kernels.fft import irfft_modes_reference, rfft_modes_reference


# -- measurement helpers -------------------------------------------------------------------------
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(step, device, warmup: int, reps: int, reduce=statistics.median) -> float:
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return 1e3 * reduce(times)


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def peak_memory_mb(step, device) -> float:
    """Peak memory of one ``step`` above what was allocated before it (CUDA: allocator; CPU: RSS)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    try:  # Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return float("nan")
    base = _rss_kb("VmRSS:")
    step()
    return (_rss_kb("VmHWM:") - base) / 1024


def machine(device) -> dict:
    info = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
            "cpu": _cpu_model(), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        if cupy_available():
            import cupy
            info["cupy"] = cupy.__version__
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# -- the layer benchmark -------------------------------------------------------------------------
def _neuralop_layer(ours: SpectralConv, modes: int, device):
    """neuraloperator's SpectralConv with the same retained block and the same weights, or None."""
    try:
        from neuralop.layers.spectral_convolution import SpectralConv as PeerConv
    except ImportError:
        return None
    c_in, c_out = ours.in_channels, ours.out_channels
    peer = PeerConv(c_in, c_out, n_modes=(2 * modes, 2 * modes - 2), bias=False).to(device)
    # their dim-0 modes are fft-shifted (index j <-> frequency j - m); ours start at frequency 0
    dense = torch.roll(ours.weight.to_dense().detach(), shifts=-modes, dims=2)
    with torch.no_grad():
        target = peer.weight.to_tensor() if hasattr(peer.weight, "to_tensor") else peer.weight
        target.copy_(dense)
    return peer


def bench_layer(size, channels, modes, path, args, device):
    torch.manual_seed(0)
    layer = SpectralConv(channels, channels, (modes, modes), path="auto" if path == "neuralop" else path).to(device)
    x = torch.randn(args.batch, channels, size, size, device=device, requires_grad=True)
    grad = torch.randn(args.batch, channels, size, size, device=device)
    module, chosen = layer, choose_path(x, (size, size), (modes, modes), layer.path)
    max_error = None
    if path == "neuralop":
        module = _neuralop_layer(layer, modes, device)
        if module is None:
            return None
        with torch.no_grad():
            reference, theirs = layer(x, path="reference"), module(x)
            max_error = float((theirs - reference).abs().max() / reference.abs().max())
        chosen = "neuralop"
    elif path != "reference":
        with torch.no_grad():
            reference = layer(x, path="reference")
            max_error = float((layer(x) - reference).abs().max() / reference.abs().max())

    def step():
        x.grad = None
        module.zero_grad(set_to_none=True)
        module(x).backward(grad)

    ms = median_ms(step, device, args.warmup, args.reps)
    peak = peak_memory_mb(step, device)
    traffic = 4 * args.batch * channels * size * size * x.element_size()
    return {"path": path, "resolution": size, "channels": channels, "modes": modes,
            "fwd_bwd_ms": round(ms, 3), "peak_mem_mb": round(peak, 1),
            "bandwidth_gb_s": round(traffic / (ms * 1e-3) / 1e9, 1), "chosen": chosen,
            "max_rel_error_vs_reference": max_error}


def run_table(args, device) -> list[dict]:
    paths = list(args.paths)
    if "cupy" in paths and not (device.type == "cuda" and cupy_available()):
        print("# cupy path skipped: needs a CUDA device and CuPy (pip install 'sciml[gpu]')")
        paths.remove("cupy")
    if args.peer:
        paths.append("neuralop")
    rows = []
    for size in args.sizes:
        for channels in args.channels:
            for modes in args.modes:
                if size < 2 * modes:
                    continue
                for path in list(paths):
                    try:
                        row = bench_layer(size, channels, modes, path, args, device)
                    except Exception as error:  # noqa: BLE001 - report and go on with the other paths
                        print(f"# {path} N={size} C={channels} m={modes} failed: {type(error).__name__}: {error}")
                        continue
                    if row is None:
                        print("# --peer: neuraloperator is not importable here; peer rows skipped")
                        paths.remove("neuralop")
                        continue
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                    rows.append(row)
                    _print_row(row, rows)
    return rows


def _print_row(row, rows):
    if len(rows) == 1:
        print(f"{'path':>9} {'N':>5} {'C':>3} {'m':>3} {'fwd+bwd ms':>11} {'peak MB':>8} {'GB/s':>7} "
              f"{'chosen':>9} {'vs ref':>8} {'ref/this':>8}")
    ref = next((r for r in rows if r["path"] == "reference" and all(
        r[k] == row[k] for k in ("resolution", "channels", "modes"))), None)
    ratio = f"{ref['fwd_bwd_ms'] / row['fwd_bwd_ms']:8.2f}" if ref else f"{'':>8}"
    error = row["max_rel_error_vs_reference"]
    error = f"{error:8.1e}" if error is not None else f"{'':>8}"
    print(f"{row['path']:>9} {row['resolution']:>5} {row['channels']:>3} {row['modes']:>3} "
          f"{row['fwd_bwd_ms']:>11.2f} {row['peak_mem_mb']:>8.1f} {row['bandwidth_gb_s']:>7.1f} "
          f"{row['chosen']:>9} {error} {ratio}", flush=True)


# -- crossover and factorized contraction --------------------------------------------------------
def _transform_pair_step(x, modes, shape, forward, inverse):
    def step():
        x.grad = None
        inverse(forward(x, modes), shape).sum().backward()
    return step


def paired_ms(steps: dict, device, warmup: int, reps: int) -> dict:
    """Time competing steps back to back in every repetition; report each one's median.

    On a shared machine the load changes between seconds, not within one pair, so the
    median of paired timings compares the candidates under the same conditions.
    """
    for _ in range(warmup):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    for _ in range(reps):
        for name, step in steps.items():
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            times[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(*times.values())]
    result = {name: 1e3 * statistics.median(values) for name, values in times.items()}
    result["median_ratio"] = statistics.median(ratios)
    return result


def run_crossover(args, device) -> list[dict]:
    """Transform pair (truncated forward + inverse, forward + backward) by FFT and by DFT."""
    grids = {1: [(64,), (256,), (1024,), (4096,)], 2: [(32, 32), (64, 64), (128, 128), (256, 256)],
             3: [(16, 16, 16), (32, 32, 32)]}
    rows = []
    print(f"{'d':>2} {'N':>6} {'m':>4} {'fft ms':>9} {'dft ms':>9} {'fft/dft':>8} {'rule':>5} {'agree':>6}")
    for d, shapes in grids.items():
        for shape in shapes:
            for m in (4, 8, 16, 32):
                if shape[0] < 2 * m:
                    continue
                modes = (m,) * d
                x = torch.randn(args.batch, args.channels[0], *shape, device=device, requires_grad=True)
                steps = {name: _transform_pair_step(x, modes, shape, forward, inverse)
                         for name, (forward, inverse) in {"fft": (rfft_modes_reference, irfft_modes_reference),
                                                          "dft": (rfft_modes_dft, irfft_modes_dft)}.items()}
                times = paired_ms(steps, device, args.warmup, args.reps)
                ratio = times["median_ratio"]   # median of paired fft/dft ratios
                rule = dft_is_faster(shape, modes, device)
                rows.append({"d": d, "N": shape[0], "m": m, "fft_ms": round(times["fft"], 3),
                             "dft_ms": round(times["dft"], 3), "fft_over_dft": round(ratio, 3),
                             "rule_says_dft": rule})
                agree = "yes" if (ratio > 1) == rule or 0.9 < ratio < 1.1 else "NO"
                print(f"{d:>2} {shape[0]:>6} {m:>4} {times['fft']:>9.2f} {times['dft']:>9.2f} {ratio:>8.2f} "
                      f"{'dft' if rule else 'fft':>5} {agree:>6}", flush=True)
    return rows


def run_factorized(args, device) -> list[dict]:
    from sciml.kernels import make_spectral_weight
    rows = []
    print(f"{'format':>7} {'rank':>4} {'C':>3} {'m':>3} {'direct ms':>10} {'dense ms':>9} {'auto':>7} {'ok':>3}")
    for channels in args.channels:
        for modes in args.modes:
            block = (2 * modes, modes)
            x = torch.randn(args.batch, channels, *block, dtype=torch.complex64, device=device)
            for fmt, rank in (("cp", 16), ("cp", 64), ("tucker", 8), ("tucker", 16), ("tt", 8), ("tt", 16)):
                weight = make_spectral_weight(channels, channels, block, fmt, rank).to(device)
                times = {}
                for strategy in ("direct", "dense"):
                    def step(strategy=strategy):
                        weight.zero_grad(set_to_none=True)
                        weight.contract(x, strategy).abs().sum().backward()
                    times[strategy] = median_ms(step, device, args.warmup, args.reps)
                auto = weight.choose_strategy(args.batch)
                ok = times[auto] <= 1.1 * min(times.values())
                rows.append({"format": fmt, "rank": rank, "channels": channels, "modes": modes,
                             "direct_ms": round(times["direct"], 3), "dense_ms": round(times["dense"], 3),
                             "auto": auto})
                print(f"{fmt:>7} {rank:>4} {channels:>3} {modes:>3} {times['direct']:>10.2f} "
                      f"{times['dense']:>9.2f} {auto:>7} {'yes' if ok else 'NO':>3}", flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--modes", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--paths", nargs="+", default=["reference", "dft", "cupy", "auto"],
                        choices=["reference", "dft", "cupy", "auto"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--peer", action="store_true", help="also time neuraloperator's SpectralConv")
    parser.add_argument("--quick", action="store_true", help="64²-256², 32 channels, 16 modes, 5 reps")
    parser.add_argument("--crossover", action="store_true", help="measure the DFT/FFT crossover instead")
    parser.add_argument("--factorized", action="store_true", help="time direct vs dense factorized contraction")
    parser.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.channels, args.modes, args.reps = [64, 128, 256], [32], [16], 5
    device = torch.device(args.device)
    info = machine(device)
    print("# " + ", ".join(f"{k}={v}" for k, v in info.items()))
    if args.crossover:
        rows = run_crossover(args, device)
    elif args.factorized:
        rows = run_factorized(args, device)
    else:
        rows = run_table(args, device)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": info, "rows": rows}, handle, indent=1)
    return rows


if __name__ == "__main__":
    main()
