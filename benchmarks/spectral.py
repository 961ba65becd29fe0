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
``sciml.kernels.dft_is_faster``; ``--factorized`` times a CP/Tucker/TT layer at ``--rank``
(default 0.1, a fraction of the dense parameters) with each contraction strategy;
``--contraction`` times direct vs rebuilt contraction alone over formats, ranks and
``--batches`` — the measurement behind ``SpectralWeight.choose_strategy``. ``--quick`` runs
64²-256², 32 channels, 16 modes, few repetitions.

Achieved bandwidth counts the unavoidable traffic only: reading the input and writing the
output in the forward pass, reading the output gradient and writing the input gradient in
the backward pass (``4 * batch * channels * N² * itemsize`` bytes for equal channels).

Examples::

    python benchmarks/spectral.py --quick --peer
    python benchmarks/spectral.py --sizes 64 128 256 512 --json cpu.json
    python benchmarks/spectral.py --crossover
    python benchmarks/spectral.py --factorized --sizes 64 128 --channels 32 --modes 16
"""

from __future__ import annotations

import argparse
import json
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


#: ``--clock``: wall seconds, or this process's CPU seconds (steadier with one thread on a shared machine)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK = "wall"


def median_ms(step, device, warmup: int, reps: int, reduce=statistics.median) -> float:
    now = CLOCKS["wall" if device.type == "cuda" else CLOCK]
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(reps):
        start = now()
        step()
        _sync(device)
        times.append(now() - start)
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
                    except Exception as error:
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
    """Time competing steps back to back in every repetition; report each one's median
    (and ``median_ratio``, the median ratio of the first step's time to the second's).

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
    first, second = list(times.values())[:2]
    ratios = [a / b for a, b in zip(first, second)]
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


def _resolved_rank(fmt: str, channels: int, block, rank):
    """Explicit rank of ``rank`` (a float is a parameter fraction, as in TFNO configs)."""
    from sciml.operators import resolve_rank
    return resolve_rank(fmt, (channels, channels, *block), rank)


def run_factorized(args, device) -> list[dict]:
    """One factorized ``SpectralConv`` layer, forward + backward, per contraction strategy.

    For every size, format (CP, Tucker, TT at ``--rank``) the layer is timed with the direct
    contraction, with the rebuilt dense weight and with ``auto``, paired (back to back in each
    repetition, see :func:`paired_ms`); a dense-weight layer of the same size is the baseline.
    """
    rows = []
    print(f"{'format':>7} {'rank':>14} {'N':>5} {'C':>3} {'m':>3} {'direct ms':>10} {'rebuild ms':>11} "
          f"{'auto ms':>8} {'auto':>7} {'ok':>3} {'direct-rebuild':>14}")
    for size in args.sizes:
        for channels in args.channels:
            for modes in args.modes:
                if size < 2 * modes:
                    continue
                block = (2 * modes, modes)
                x = torch.randn(args.batch, channels, size, size, device=device, requires_grad=True)
                grad = torch.randn(args.batch, channels, size, size, device=device)
                for fmt in ("dense",) + tuple(args.formats):
                    rank = None if fmt == "dense" else _resolved_rank(fmt, channels, block, args.rank)
                    torch.manual_seed(0)
                    layer = SpectralConv(channels, channels, (modes, modes), factorization=fmt,
                                         rank=rank).to(device)
                    strategies = ("dense",) if fmt == "dense" else ("direct", "dense", "auto")
                    steps = {s: _layer_step(layer, x, grad, s) for s in strategies}
                    times = paired_ms(steps, device, args.warmup, args.reps) if len(steps) > 1 else \
                        {"dense": median_ms(steps["dense"], device, args.warmup, args.reps)}
                    row = {"format": fmt, "rank": rank, "resolution": size, "channels": channels,
                           "modes": modes, **{f"{s}_ms": round(times[s], 3) for s in strategies}}
                    if fmt != "dense":
                        row["auto_picks"] = layer.weight.choose_strategy(args.batch)
                        row["max_rel_diff"] = _strategy_difference(layer, x)
                    rows.append(row)
                    _print_factorized_row(row)
    return rows


def _layer_step(layer, x, grad, strategy):
    def step():
        x.grad = None
        layer.zero_grad(set_to_none=True)
        layer.contraction = strategy
        layer(x).backward(grad)
    return step


def _strategy_difference(layer, x) -> float:
    with torch.no_grad():
        outputs = []
        for strategy in ("direct", "dense"):
            layer.contraction = strategy
            outputs.append(layer(x))
    return float((outputs[0] - outputs[1]).abs().max() / outputs[1].abs().max())


def _print_factorized_row(row):
    if row["format"] == "dense":
        print(f"{'dense':>7} {'-':>14} {row['resolution']:>5} {row['channels']:>3} {row['modes']:>3} "
              f"{'':>10} {row['dense_ms']:>11.2f}", flush=True)
        return
    best = min(row["direct_ms"], row["dense_ms"])
    chosen = row["direct_ms"] if row["auto_picks"] == "direct" else row["dense_ms"]
    print(f"{row['format']:>7} {str(row['rank']).replace(' ', ''):>14} {row['resolution']:>5} {row['channels']:>3} "
          f"{row['modes']:>3} {row['direct_ms']:>10.2f} {row['dense_ms']:>11.2f} {row['auto_ms']:>8.2f} "
          f"{row['auto_picks']:>7} {'yes' if chosen <= 1.1 * best else 'NO':>3} {row['max_rel_diff']:>14.1e}",
          flush=True)


def run_contraction(args, device) -> list[dict]:
    """Contraction alone (forward + backward), direct vs rebuilt, over formats and ranks.

    The measurement behind ``SpectralWeight.choose_strategy``: "ok" says whether the
    strategy ``auto`` picks is within 10% of the faster one.
    """
    from sciml.kernels import make_spectral_weight
    rows = []
    print(f"{'format':>7} {'rank':>4} {'B':>3} {'C':>3} {'m':>3} {'direct ms':>10} {'dense ms':>9} "
          f"{'dir/dense':>9} {'auto':>7} {'ok':>3}")
    for batch in args.batches or [args.batch]:
        for channels in args.channels:
            for modes in args.modes:
                block = (2 * modes, modes)
                x = torch.randn(batch, channels, *block, dtype=torch.complex64, device=device)
                for fmt, rank in CONTRACTION_CASES:
                    rank = min(rank, channels) if fmt == "tucker" else rank
                    weight = make_spectral_weight(channels, channels, block, fmt, rank).to(device)

                    def step(strategy):
                        weight.zero_grad(set_to_none=True)  # noqa: B023 (called at once, in this iteration)
                        weight.contract(x, strategy).abs().sum().backward()  # noqa: B023
                    times = paired_ms({s: (lambda s=s: step(s)) for s in ("direct", "dense")},
                                      device, args.warmup, args.reps)
                    auto = weight.choose_strategy(batch)
                    ok = times[auto] <= 1.1 * min(times["direct"], times["dense"])
                    rows.append({"format": fmt, "rank": rank, "batch": batch, "channels": channels,
                                 "modes": modes, "direct_ms": round(times["direct"], 3),
                                 "dense_ms": round(times["dense"], 3),
                                 "direct_over_dense": round(times["median_ratio"], 3), "auto": auto})
                    print(f"{fmt:>7} {rank:>4} {batch:>3} {channels:>3} {modes:>3} {times['direct']:>10.2f} "
                          f"{times['dense']:>9.2f} {times['median_ratio']:>9.2f} {auto:>7} "
                          f"{'yes' if ok else 'NO':>3}", flush=True)
    return rows


CONTRACTION_CASES = (("cp", 4), ("cp", 16), ("cp", 64), ("cp", 256), ("tucker", 4), ("tucker", 8),
                     ("tucker", 16), ("tucker", 32), ("tt", 4), ("tt", 8), ("tt", 16), ("tt", 32))


def _rank(text: str):
    return float(text) if "." in text or "e" in text else int(text)


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
    parser.add_argument("--factorized", action="store_true",
                        help="time a CP/Tucker/TT layer per contraction strategy at --rank")
    parser.add_argument("--contraction", action="store_true",
                        help="time direct vs rebuilt contraction alone over formats and ranks")
    parser.add_argument("--formats", nargs="+", default=["cp", "tucker", "tt"], choices=["cp", "tucker", "tt"])
    parser.add_argument("--rank", type=_rank, default=0.1,
                        help="factorization rank: a float is a fraction of the dense parameters (default 0.1)")
    parser.add_argument("--batches", type=int, nargs="+", help="batch sizes of --contraction (default --batch)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="CPU runs: wall seconds or process CPU seconds (use cpu with --threads 1 when shared)")
    parser.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = args.clock
    if args.quick:
        args.sizes, args.channels, args.modes, args.reps = [64, 128, 256], [32], [16], 5
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    info = machine(device)
    print("# " + ", ".join(f"{k}={v}" for k, v in info.items()))
    if args.crossover:
        rows = run_crossover(args, device)
    elif args.factorized:
        rows = run_factorized(args, device)
    elif args.contraction:
        rows = run_contraction(args, device)
    else:
        rows = run_table(args, device)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": info, "rows": rows}, handle, indent=1)
    return rows


if __name__ == "__main__":
    main()
