"""Zero-shot super-resolution of FNO on Darcy: where the gap comes from, and oversampling against it.

Trains the ``sciml bench darcy --quick`` FNO (32² training grid, 800 / 100 samples, 16 epochs,
one-cycle Adam, the bench's normalizers and seed) twice with the bench's own building blocks
(:mod:`sciml.workflows.bench`): the plain FNO and the same FNO with
``FNOConfig(oversampling=s)`` (the network runs on a grid ``s`` times finer per axis and the
output is read back at the input's nodes, :meth:`sciml.operators.FNO.forward_oversampled`).
Both are evaluated on the test seeds solved at 32², 64² and 128² (``--nested`` adds 63² and
125², whose node grids contain the 32² nodes and whose padded Fourier period equals the
training one exactly).

Then, with the plain model's trained weights and no retraining, it evaluates the finer test
sets under controlled variants (the diagnosis table):

* ``plain``: the model as trained, at the finer grid;
* ``padding matched``: domain padding chosen so the padded period in physical units equals the
  training one (32 nodes + 3 zeros span 35/31; 64 nodes + 6 zeros span 70/63);
* ``coarse coefficient``: the 32² test coefficient, linearly interpolated to the finer grid,
  as input (no detail beyond the training grid's);
* ``via 32²``: predict at 32² and interpolate the prediction linearly (and, as its lower bound,
  the 32² truth interpolated the same way);
* ``spectral outputs from 32²``: the finer-grid run with every block's spectral-convolution
  output replaced by the one computed at 32² (band-limited, so evaluated exactly at the finer
  points by its trigonometric interpolant), one block at a time and all four;
* error parts near the coefficient's jumps (within one training-grid spacing) and away.

One thread by default (``--threads``). On the shared 2-core CPU the run takes about 16 minutes
(``--skip-diagnosis``, no ``--nested``) to 31 minutes (``--nested``, with the diagnosis): the
oversampled model trains 2.6-3.5x slower than the plain one and evaluates the 125² and 128² sets
on 249² and 255² grids.

Examples::

    python benchmarks/darcy_zero_shot.py --nested
    python benchmarks/darcy_zero_shot.py --n-train 64 --n-test 8 --epochs 1 --out /tmp/dzs-smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import sciml
from sciml.operators.embedding import grid_embedding

try:                                      # run as a script (benchmarks/ on sys.path) or imported
    from _markdown import markdown_table
except ImportError:                       # pragma: no cover
    from benchmarks._markdown import markdown_table


# -- training ---------------------------------------------------------------------------------
def load_sets(profile, nested: bool, progress: bool):
    """Data, test sets by resolution key (training first) and normalizers of the quick profile."""
    from sciml.workflows.bench import evaluation_sets
    from sciml.workflows.train import load_problem, make_normalizers

    data = load_problem(profile.data, progress=progress)
    tests = evaluation_sets(data, profile.factors)
    if nested:
        base = data.test.targets.on.shape[0]
        for n in (2 * (base - 1) + 1, 4 * (base - 1) + 1):
            test = data.evaluation(n)
            tests[f"{n}x{n}"] = test
    return data, tests, make_normalizers(data.train)


def train_variant(name: str, extra: dict, profile, data, tests, normalizers, out: Path) -> tuple[dict, torch.nn.Module]:
    """Train the bench FNO with config fields ``extra`` under the profile's budget; its results entry."""
    from sciml.workflows.bench import bench_model, bench_model_config, bench_trainer
    from sciml.workflows.train import make_model

    torch.manual_seed(profile.trainer.seed)
    config = {**bench_model_config("fno", profile, data.train.targets.on), **extra}
    model = make_model("fno", config, data.train.inputs.channels, data.train.targets.channels)
    entry = bench_model(name, model, data.train, tests, bench_trainer("fno", profile), out / name,
                        normalizers=normalizers)
    return entry, model


# -- diagnosis --------------------------------------------------------------------------------
def relative_l2(prediction: torch.Tensor, target: sciml.Sampled) -> float:
    """Mean relative L2 error over the samples (the bench's metric)."""
    return float(sciml.losses.relative_lp(prediction, target, reduction="mean"))


@torch.no_grad()
def run_network(model, normalizers, coefficient, grid, *, pad=None, swap=None, record=None) -> torch.Tensor:
    """The FNO forward pass spelled out, with hooks; decoded prediction ``[B, 1, *grid.shape]``.

    ``pad`` overrides the zeros appended per axis; ``swap`` maps a block index to the spectral
    output to use instead of the block's own; ``record`` (a list) receives each spectral output.
    """
    encode, decode = normalizers
    x = encode.encode(sciml.Sampled(coefficient, grid)).values
    embedding = grid_embedding(grid, x.dtype)
    x = model.lifting(torch.cat([x, embedding.expand(x.shape[0], *embedding.shape[1:])], 1))
    n = coefficient.shape[-1]
    pad = model.padding.widths(grid.shape)[0][1] if pad is None else pad
    x = F.pad(x, (0, pad) * grid.ndim)
    for index, block in enumerate(model.blocks):
        spectral = block.spectral(x)
        if record is not None:
            record.append(spectral)
        if swap is not None and index in swap:
            spectral = swap[index]
        z = block.norm(spectral) + block.skip(x)
        y = block.channel_mlp(block.activation(z)) + block.channel_mlp_skip(x)
        z = block.channel_mlp_norm(y)
        x = z if block.last else block.activation(z)
    x = x[..., :n, :n]
    return decode.decode(sciml.Sampled(model.projection(x), grid)).values


def trigonometric_values(samples: torch.Tensor, spacing: float, points: int, new_spacing: float) -> torch.Tensor:
    """The trigonometric interpolant of periodic samples ``[..., N, N]`` (spacing ``spacing``) at ``j * new_spacing``.

    Exact for the output of a spectral convolution (band-limited below ``N / 2``).
    """
    size = samples.shape[-1]
    period = size * spacing
    k = torch.fft.fftfreq(size, d=1.0 / size).to(torch.float64)
    coefficients = torch.fft.fft2(samples.to(torch.float64), norm="forward")
    t = torch.arange(points, dtype=torch.float64) * new_spacing
    basis = torch.exp(2j * math.pi * t[:, None] * k[None, :] / period)
    return torch.einsum("ik,...kl,jl->...ij", basis, coefficients, basis).real.to(samples.dtype)


def near_jumps(coefficient: torch.Tensor, radius: float) -> torch.Tensor:
    """Boolean mask of the nodes within ``radius`` (max-norm, physical units) of a coefficient jump."""
    n = coefficient.shape[-1]
    reach = max(1, int(math.floor(radius * (n - 1) + 1e-9)))
    jump = torch.zeros_like(coefficient, dtype=torch.bool)
    for axis in (-2, -1):
        differs = coefficient.diff(dim=axis) != 0
        jump |= F.pad(differs, (0, 1) if axis == -1 else (0, 0, 0, 1))
        jump |= F.pad(differs, (1, 0) if axis == -1 else (0, 0, 1, 0))
    return F.max_pool2d(jump.float(), 2 * reach + 1, stride=1, padding=reach) > 0


def error_parts(prediction: torch.Tensor, target: sciml.Sampled, mask: torch.Tensor) -> tuple[float, float]:
    """Relative L2 error restricted to ``mask`` and to its complement (means over samples; they add in squares)."""
    weights = target.on.weights_shaped(prediction.dtype)
    squared = (prediction - target.values) ** 2 * weights
    norm = (target.values ** 2 * weights).sum((1, 2, 3))
    near = torch.sqrt((squared * mask).sum((1, 2, 3)) / norm).mean().item()
    away = torch.sqrt((squared * ~mask).sum((1, 2, 3)) / norm).mean().item()
    return near, away


@torch.no_grad()
def diagnose(model, normalizers, tests: dict) -> dict:
    """``{variant: {resolution: rel L2}}`` of the trained plain ``model`` (see the module docstring)."""
    model.eval()
    keys = list(tests)
    coarse = tests[keys[0]]
    n0 = coarse.inputs.on.shape[0]
    pad0 = model.padding.widths(coarse.inputs.on.shape)[0][1]
    period = (n0 + pad0) / (n0 - 1)
    rows: dict[str, dict[str, float]] = {}

    def put(variant, key, value):
        rows.setdefault(variant, {})[key] = value

    recorded = []
    coarse_prediction = run_network(model, normalizers, coarse.inputs.values, coarse.inputs.on, record=recorded)
    for key in keys:
        test = tests[key]
        grid, a, n = test.inputs.on, test.inputs.values, test.inputs.on.shape[0]
        plain = run_network(model, normalizers, a, grid)
        put("plain", key, relative_l2(plain, test.targets))
        near, away = error_parts(plain, test.targets, near_jumps(a, 1.0 / (n0 - 1)))
        put("plain, error part near jumps (<= 1 training spacing)", key, near)
        put("plain, error part away from jumps", key, away)
        if key == keys[0]:
            continue
        matched = round(period * (n - 1)) - n
        put("padding matched to the training period", key,
            relative_l2(run_network(model, normalizers, a, grid, pad=matched), test.targets))
        coarse_a = sciml.resample(coarse.inputs, grid, "linear").values
        put("coarse (32²) coefficient, linearly interpolated, as input", key,
            relative_l2(run_network(model, normalizers, coarse_a, grid), test.targets))
        via = sciml.resample(sciml.Sampled(coarse_prediction, coarse.inputs.on), grid, "linear").values
        put("via training grid: predict at 32², interpolate linearly", key, relative_l2(via, test.targets))
        put("lower bound of the above: 32² truth interpolated linearly", key,
            relative_l2(sciml.resample(coarse.targets, grid, "linear").values, test.targets))
        pad = model.padding.widths(grid.shape)[0][1]
        swapped = {i: trigonometric_values(s, 1.0 / (n0 - 1), n + pad, 1.0 / (n - 1)) for i, s in enumerate(recorded)}
        own = []
        run_network(model, normalizers, a, grid, record=own)
        for i in swapped:
            put(f"spectral output of block {i} taken from the 32² run", key,
                relative_l2(run_network(model, normalizers, a, grid, swap={i: swapped[i]}), test.targets))
        put("spectral outputs of all blocks taken from the 32² run", key,
            relative_l2(run_network(model, normalizers, a, grid, swap=swapped), test.targets))
        for i in swapped:
            mine, theirs = own[i][..., :n, :n], swapped[i][..., :n, :n]
            put(f"block {i} spectral output: relative difference to the 32² run's", key,
                ((mine - theirs).norm() / theirs.norm()).item())
    return rows


# -- tables -----------------------------------------------------------------------------------
def fix_table(results: dict) -> str:
    """One row per trained variant: s/epoch, rel L2 per resolution, ratios to the training resolution."""
    keys = results["resolutions"]
    header = ["model", "s/epoch", *[f"rel L2 {k}" for k in keys], *[f"{k} / {keys[0]}" for k in keys[1:]]]
    rows = []
    for entry in results["models"]:
        errors = [entry["errors"][k]["rel_l2"] for k in keys]
        rows.append([entry["name"], f"{entry['seconds_per_epoch']:.1f}", *[f"{e:.3e}" for e in errors],
                     *[f"{e / errors[0]:.2f}" for e in errors[1:]]])
    return markdown_table(header, rows)


def diagnosis_table(rows: dict, keys: list[str]) -> str:
    """One row per diagnosis variant, one column per resolution (``-`` where not defined)."""
    def cell(values, key):
        return f"{values[key]:.3e}" if key in values else "-"
    return markdown_table(["variant (plain FNO's weights)", *keys],
                          [[name, *[cell(values, k) for k in keys]] for name, values in rows.items()])


# -- command line -----------------------------------------------------------------------------
def run(args) -> dict:
    """Train both variants, diagnose the plain one; the results dict (also written to ``out/results.json``)."""
    from sciml.workflows.bench import _environment, bench_profile, write_results

    torch.set_num_threads(args.threads)
    profile = bench_profile("darcy", quick=True, epochs=args.epochs, n_train=args.n_train, n_test=args.n_test,
                            progress=args.progress)
    if args.seed is not None:             # the models' initialisation and batch order only; the data stay
        profile.trainer = profile.trainer.replace(seed=args.seed)
    out = Path(args.out)
    data, tests, normalizers = load_sets(profile, args.nested, args.progress)
    variants = [("fno", {})] + [(f"fno-oversampling-{s}", {"oversampling": s}) for s in args.oversampling]
    entries, plain = [], None
    for name, extra in variants:
        print(f"training {name} ...", flush=True)
        entry, model = train_variant(name, extra, profile, data, tests, normalizers, out)
        entries.append(entry)
        plain = model if plain is None else plain
    diagnosis = {} if args.skip_diagnosis else diagnose(plain, normalizers, tests)
    results = {"problem": "darcy", "profile": "quick", "data": {"n_train": len(data.train), "n_test": len(data.test)},
               "epochs": profile.trainer.epochs, "seed": profile.trainer.seed, "resolutions": list(tests), "models": entries,
               "diagnosis": diagnosis, "environment": {**_environment("cpu"), "python": platform.python_version(),
                                                        "loadavg_end": os.getloadavg()}}
    write_results(results, out)
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oversampling", type=int, nargs="+", default=[2],
                        help="oversampling factors to train besides the plain FNO (default: 2)")
    parser.add_argument("--epochs", type=int, default=None, help="override the quick profile's 16 epochs")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None,
                        help="training seed (initialisation, batch order); the data are the profile's")
    parser.add_argument("--nested", action="store_true", help="also evaluate at 63² and 125² (nested node grids)")
    parser.add_argument("--skip-diagnosis", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/darcy_zero_shot")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    args = parser.parse_args(argv)
    if any(s < 2 for s in args.oversampling):
        parser.error(f"--oversampling: expected factors >= 2, got {args.oversampling}")
    start = time.perf_counter()
    results = run(args)
    print(f"\nDarcy quick profile, {results['data']['n_train']} train / {results['data']['n_test']} test, "
          f"{results['epochs']} epochs, seed {results['seed']}, {results['environment']['threads']} thread(s), "
          f"{time.perf_counter() - start:.0f} s in all, load average at the end {results['environment']['loadavg_end']}\n")
    print(fix_table(results))
    if results["diagnosis"]:
        print()
        print(diagnosis_table(results["diagnosis"], results["resolutions"]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    main()
