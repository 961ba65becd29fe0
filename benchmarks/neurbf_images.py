"""NeuRBF against SIREN and a dense grid field on images shipped with scikit-image.

Issue 7 target: at equal parameter budget and equal time, NeuRBF beats SIREN in PSNR.

Every model gets the same parameter budget (``for_budget``), the same pixels (all of them,
every step, MSE loss, Adam with a cosine schedule) and the same number of steps (``--seed``
seeds every model's initialisation). The models
are trained *interleaved* — one step of each in turn — so a shared, loaded machine slows all
of them alike; each step is timed. The table reports, per image and model: parameters, PSNR
and SSIM (``skimage.metrics``) after all steps, the median time per step, and the PSNR at
*equal time*: at the largest evaluated step whose cumulative training time is within the
time the fastest model needed for all its steps.

Images: ``camera``, ``coins`` (grayscale) and ``astronaut`` (RGB), loaded from the files
scikit-image ships (no download), area-downsampled to ``--size`` pixels per side.

A second table (``--knn``) times the neighbour search of :mod:`sciml.kernels.rbf` — brute
force against the k-d tree, interleaved, medians — the measurement behind ``KDTREE_FROM``.

Examples::

    python benchmarks/neurbf_images.py --size 96 --params 20000 --steps 250
    python benchmarks/neurbf_images.py --knn
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time

import numpy as np
import torch

import sciml
from sciml.fields.encodings import GridField
from sciml.fields.mlp import SIREN
from sciml.fields.neurbf import NeuRBF
from sciml.kernels.rbf import nearest_kernels

IMAGES = ("camera", "coins", "astronaut")


def load_image(name: str, size: int) -> np.ndarray:
    """``[channels, size, size]`` in ``[0, 1]`` from ``skimage.data`` (centre square, area-averaged)."""
    import skimage.data
    from skimage.transform import resize

    image = getattr(skimage.data, name)().astype(np.float64) / 255.0
    if image.ndim == 2:
        image = image[..., None]
    h, w = image.shape[:2]
    side = min(h, w)
    image = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    image = resize(image, (size, size), anti_aliasing=True)
    return np.clip(image, 0.0, 1.0).transpose(2, 0, 1)


def make_models(params: int, channels: int, target: sciml.Sampled, seed: int = 0) -> dict:
    domain = sciml.Domain.unit(2)
    neurbf = NeuRBF.for_budget(domain, params, out_channels=channels, features=16, width=32, seed=seed)
    neurbf.init_from_sampled(target, progress=False)
    return {
        "SIREN": (SIREN.for_budget(domain, params, out_channels=channels, depth=3, seed=seed), 1e-3),
        "grid (dense)": (GridField.for_budget(domain, params, out_channels=channels, encoding="dense",
                                              n_levels=4, base_resolution=4, width=32, seed=seed), 1e-2),
        "NeuRBF": (neurbf, 1e-2),
    }


def psnr_ssim(field, x, image):
    from skimage.metrics import structural_similarity

    with torch.no_grad():
        pred = field(x).T.reshape(image.shape).clamp(0, 1).double().numpy()
    mse = float(((pred - image) ** 2).mean())
    ssim = structural_similarity(pred, image, data_range=1.0, channel_axis=0)
    return -10 * math.log10(mse), ssim


def fit_interleaved(models: dict, x, y, image, steps: int, every: int, progress: bool):
    from tqdm.auto import tqdm

    state = {}
    for name, (field, lr) in models.items():
        opt = torch.optim.Adam(field.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps, eta_min=lr / 20)
        state[name] = dict(opt=opt, sched=sched, times=[], curve=[(0.0, psnr_ssim(field, x, image)[0])])
    for step in tqdm(range(1, steps + 1), desc="interleaved fit", disable=not progress):
        for name, (field, _) in models.items():
            s = state[name]
            start = time.perf_counter()
            loss = ((field(x) - y) ** 2).mean()
            s["opt"].zero_grad()
            loss.backward()
            s["opt"].step()
            s["sched"].step()
            s["times"].append(time.perf_counter() - start)
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"{name}: loss became {float(loss.detach())} at step {step}")
            if step % every == 0 or step == steps:
                s["curve"].append((sum(s["times"]), psnr_ssim(field, x, image)[0]))
    return state


def run_images(args) -> list[dict]:
    torch.manual_seed(0)
    rows = []
    for name in args.images:
        image = load_image(name, args.size)
        grid = sciml.Grid.uniform(image.shape[1:], sciml.Domain.unit(2), centring="cell")
        x = grid.points(dtype=torch.float32)
        y = torch.tensor(image, dtype=torch.float32).reshape(image.shape[0], -1).T
        target = sciml.Sampled(torch.tensor(image)[None], grid)
        models = make_models(args.params, image.shape[0], target, args.seed)
        state = fit_interleaved(models, x, y, image, args.steps, args.every, not args.no_progress)
        equal_time = min(sum(s["times"]) for s in state.values())
        for model, (field, _) in models.items():
            s = state[model]
            p, ssim = psnr_ssim(field, x, image)
            at_time = max(v for t, v in s["curve"] if t <= equal_time * (1 + 1e-9))
            rows.append(dict(image=name, channels=image.shape[0], model=model, params=field.num_parameters(),
                             psnr=p, ssim=ssim, step_ms=1e3 * statistics.median(s["times"]),
                             psnr_equal_time=at_time, equal_time_s=equal_time))
            print(f"{name:10s} {model:13s} params={field.num_parameters():6d} PSNR={p:6.2f} SSIM={ssim:.3f} "
                  f"step={rows[-1]['step_ms']:.0f} ms PSNR@{equal_time:.0f}s={at_time:6.2f}", flush=True)
    return rows


def run_knn(args) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.knn_points, 2, generator=gen)
    rows = []
    for num in (16, 32, 64, 128, 512, 2048, 8192):
        centres = torch.rand(num, 2, generator=gen)
        times = {"brute": [], "kdtree": []}
        for _ in range(args.repeats):
            for path in times:  # interleaved
                start = time.perf_counter()
                nearest_kernels(x, centres, 4, path=path)
                times[path].append(time.perf_counter() - start)
        brute, tree = (1e3 * statistics.median(times[p]) for p in ("brute", "kdtree"))
        rows.append(dict(centres=num, brute_ms=brute, kdtree_ms=tree, speedup=brute / tree))
        print(f"K={num:5d} brute={brute:8.2f} ms kdtree={tree:7.2f} ms brute/kdtree={brute / tree:6.2f}", flush=True)
    return rows


def markdown(rows: list[dict], args) -> str:
    lines = [f"Images {args.size}x{args.size}, budget {args.params} parameters, {args.steps} Adam steps on all "
             f"pixels, models trained interleaved; CPU ({platform.processor() or platform.machine()}), "
             f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), 2 cores shared with other jobs.",
             "", "| image | model | params | PSNR (dB) | SSIM | ms/step (median) | PSNR at equal time (dB) |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['image']} | {r['model']} | {r['params']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                     f"{r['step_ms']:.0f} | {r['psnr_equal_time']:.2f} (at {r['equal_time_s']:.1f} s) |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--params", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--every", type=int, default=25, help="evaluate the PSNR every this many steps")
    parser.add_argument("--images", nargs="+", default=list(IMAGES), choices=IMAGES)
    parser.add_argument("--knn", action="store_true", help="time the neighbour search instead")
    parser.add_argument("--knn-points", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed of every model")
    parser.add_argument("--json", help="write the rows to this JSON file")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = run_knn(args) if args.knn else run_images(args)
    if not args.knn:
        print(markdown(rows, args))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": platform.platform(), "args": vars(args), "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
