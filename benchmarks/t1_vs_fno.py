"""Transform Once (T1) against FNO of equal width, depth and modes: epoch time and NS accuracy.

Part 1 (speed): one training epoch (forward + backward + Adam step over ``--samples`` samples in
batches of ``--batch``) of FNO, T1 (DCT) and T1 (FFT) on 2D Navier-Stokes-shaped random inputs
(10 vorticity snapshots -> the next) at 64², 128², 256². The models are timed interleaved
(model A, B, C, A, B, C, ...) after a warm-up epoch each; the table gives medians and the
ratio FNO / T1.

Part 2 (accuracy): the ``sciml bench navier-stokes --quick`` setting (32², 20/4 trajectories, the
one-step map of 10 snapshots, width 24, modes 8, 4 layers, 5 epochs), trained with the bench's own
``bench_model`` (Trainer, Gaussian normalizers, RelativeL2, one-cycle schedule), then evaluated
zero-shot at 2x and 4x (the test trajectories solved at that resolution). FNO; the bench's T1
(FFT, Fourier layer, collocation activation); the paper's layer (mode mixing, activation on the
coefficients); each of those two changes alone; T1 with the DCT; then FNO and T1 again with
``--long-epochs`` epochs.

Run::

    OMP_NUM_THREADS=1 python benchmarks/t1_vs_fno.py --out runs/t1_vs_fno

Prints two markdown tables and writes ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from _markdown import markdown_table, rel_l2_cells

import sciml
from sciml.operators import FNO, FNOConfig
from sciml.operators.transform_once import TransformOnce, TransformOnceConfig
from sciml.workflows.bench import bench_model, bench_model_config, bench_profile, evaluation_sets
from sciml.workflows.train import load_problem, make_model, make_normalizers


def make_models(width: int, modes: int, n_layers: int, in_channels: int = 10) -> dict:
    shared = {"in_channels": in_channels, "out_channels": 1, "width": width, "modes": (modes, modes),
              "n_layers": n_layers}
    return {"fno": FNO(FNOConfig(**shared)),
            "t1-dct": TransformOnce(TransformOnceConfig(**shared, init="fan-in")),
            "t1-fft": TransformOnce(TransformOnceConfig(**shared, init="fan-in", transform="fft"))}


def time_epoch(model, optimizer, inputs, targets, grid, batch: int) -> float:
    loss_fn = sciml.losses.RelativeL2()
    start = time.perf_counter()
    for first in range(0, inputs.shape[0], batch):
        x = sciml.Sampled(inputs[first:first + batch], grid, validate=False)
        loss = loss_fn(model(x), sciml.Sampled(targets[first:first + batch], grid, validate=False))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{type(model).__name__}: non-finite loss {float(loss.detach())} while timing")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def speed(resolutions, width: int, modes: int, n_layers: int, samples: int, batch: int, repeats: int) -> list[dict]:
    rows = []
    for n in resolutions:
        torch.manual_seed(0)
        models = make_models(width, modes, n_layers)
        optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
        grid = sciml.Grid.uniform((n, n), sciml.Domain.unit(2, periodic=True))
        inputs, targets = torch.randn(samples, 10, n, n), torch.randn(samples, 1, n, n)
        times = {name: [] for name in models}
        for repeat in range(repeats + 1):                     # repeat 0 warms up (allocations, caches)
            for name, model in models.items():
                seconds = time_epoch(model, optimizers[name], inputs, targets, grid, batch)
                if repeat:
                    times[name].append(seconds)
        medians = {name: statistics.median(t) for name, t in times.items()}
        row = {"resolution": n, "seconds": times, "median": medians,
               "ratio_dct": medians["fno"] / medians["t1-dct"], "ratio_fft": medians["fno"] / medians["t1-fft"]}
        print(f"{n}²: " + ", ".join(f"{k} {v:.3f}s" for k, v in medians.items()), flush=True)
        rows.append(row)
    return rows


def accuracy(epochs: int, n_train: int | None, n_test: int | None, out: Path, progress: bool,
             long_epochs: int, resolution: int | None = None, factors=None, only=None) -> dict:
    profile = bench_profile("navier-stokes", quick=True, epochs=epochs, n_train=n_train, n_test=n_test,
                            progress=progress, resolution=resolution)
    data = load_problem(profile.data, progress=progress)
    tests = evaluation_sets(data, factors or profile.factors)
    normalizers = make_normalizers(data.train)
    grid = data.train.targets.on
    results = {"profile": sciml.config_to_dict(profile.data), "width": profile.width, "modes": profile.modes,
               "n_layers": profile.n_layers, "trainer": sciml.config_to_dict(profile.trainer), "models": []}
    runs = [("fno", "fno", {}, profile.trainer),
            ("t1", "t1", {}, profile.trainer),                                   # the bench's T1: FFT, Fourier layer
            ("t1, paper layer", "t1", {"layer": "mixing", "nonlinearity": "modes"}, profile.trainer),
            ("t1, mixing layer", "t1", {"layer": "mixing"}, profile.trainer),
            ("t1, coefficient activation", "t1", {"nonlinearity": "modes"}, profile.trainer),
            ("t1-dct", "t1", {"transform": "dct"}, profile.trainer)]
    if long_epochs:
        long = profile.trainer.replace(epochs=long_epochs)
        runs += [("fno", "fno", {}, long), ("t1", "t1", {}, long)]
    if only:
        labels = sorted({run[0] for run in runs})
        runs = [run for run in runs if run[0] in only]
        if not runs:
            raise SystemExit(f"--only: no run labelled {only}; labels: {labels}")
    for label, name, extra, trainer in runs:
        torch.manual_seed(profile.trainer.seed)
        config = {**bench_model_config(name, profile, grid), **extra}
        model = make_model(name, config, data.train.inputs.channels, data.train.targets.channels)
        entry = bench_model(label, model, data.train, tests, trainer,
                            out / label.replace(", ", "-").replace(" ", "-") / str(trainer.epochs), normalizers=normalizers)
        entry.pop("history", None)
        results["models"].append(entry)
        errors = ", ".join(f"{k} {v['rel_l2']:.3e}" for k, v in entry["errors"].items())
        print(f"{label}: {entry['seconds_per_epoch']:.2f} s/epoch, {entry['params']:,} params, rel L2 {errors}",
              flush=True)
    return results


def speed_table(rows, width, modes, n_layers, samples, batch, repeats) -> str:
    lines = [(f"Epoch = {samples} samples, batch {batch}, forward + backward + Adam; width {width}, modes {modes}², "
              f"{n_layers} layers, 10 -> 1 channels; median of {repeats} interleaved repeats."), "",
             "| resolution | FNO s/epoch | T1-DCT s/epoch | T1-FFT s/epoch | FNO / T1-DCT | FNO / T1-FFT |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        m = r["median"]
        lines.append(f"| {r['resolution']}² | {m['fno']:.3f} | {m['t1-dct']:.3f} | {m['t1-fft']:.3f} | "
                     f"{r['ratio_dct']:.1f}x | {r['ratio_fft']:.1f}x |")
    return "\n".join(lines)


def accuracy_table(results) -> str:
    keys = list(results["models"][0]["errors"])
    header = ["model", "params", "epochs", "s/epoch", "train s"] + [f"rel L2 {k}" for k in keys]
    return markdown_table(header, [[e["name"], f"{e['params']:,}", e["epochs"], f"{e['seconds_per_epoch']:.2f}",
                                    f"{e['train_seconds']:.0f}", *rel_l2_cells(e, keys)]
                                   for e in results["models"]])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/t1_vs_fno")
    parser.add_argument("--resolutions", default="64,128,256")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--modes", type=int, default=12)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="accuracy part (default: the quick profile's)")
    parser.add_argument("--long-epochs", type=int, default=20,
                        help="epochs of the second FNO / T1 pair (the first uses the quick profile's)")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--resolution", type=int, default=None, help="training grid of the accuracy part")
    parser.add_argument("--factors", default=None, help="evaluation resolutions as factors, e.g. '1' or '1,2,4'")
    parser.add_argument("--only", default=None, help="'|'-separated run labels (they contain commas), e.g. "
                                                     "'fno|t1|t1, paper layer' (0 --long-epochs drops the long pair)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if not args.skip_speed:
        resolutions = [int(r) for r in args.resolutions.split(",")]
        rows = speed(resolutions, args.width, args.modes, args.layers, args.samples, args.batch, args.repeats)
        report["speed"] = rows
        print(speed_table(rows, args.width, args.modes, args.layers, args.samples, args.batch, args.repeats))
    if not args.skip_accuracy:
        report["accuracy"] = accuracy(args.epochs, args.n_train, args.n_test, out, not args.no_progress,
                                      args.long_epochs, args.resolution,
                                      [int(f) for f in args.factors.split(",")] if args.factors else None,
                                      [label.strip() for label in args.only.split("|")] if args.only else None)
        print(accuracy_table(report["accuracy"]))
    (out / "results.json").write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
