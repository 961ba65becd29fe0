"""Tri-plane shape classification (issue 7 target: above 90 % test accuracy) and batched fitting speed.

Two measurements:

1. ``accuracy``: generate ``--train`` and ``--test`` shapes per class (sphere, box, torus with random
   size, orientation and position; exact SDFs), fit one tri-plane per shape with a shared decoder
   that is then frozen (:func:`sciml.fields.classifier.fit_planes_for_classification`), train
   :class:`~sciml.fields.classifier.TriPlaneClassifier` on the training planes with and without
   cube-symmetry augmentation (``--classifier-seeds`` trainings each), and report the test
   accuracies, their mean and their minimum.
2. ``speed``: time per fitting step of ``K`` tri-planes fitted together
   (:func:`sciml.fields.batched.fit_batched_sdf`) against ``K`` separate fits in a Python loop
   (same sizes, same number of points), in interleaved repeats; medians and the ratio.

Prints markdown tables and writes ``results.json`` to ``--out``.

Examples::

    python benchmarks/triplane_classifier.py --out runs/triplane-bench
    python benchmarks/triplane_classifier.py --train 10 --test 5 --steps 30 --epochs 5   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from sciml._atomic import atomic_write_text
from sciml.fields.batched import BatchedTriPlanes, fit_batched_sdf
from sciml.fields.classifier import (
    TriPlaneClassifier,
    classifier_accuracy,
    fit_planes_for_classification,
    train_classifier,
)
from sciml.fields.shapes import make_shape_dataset
from sciml.fields.triplane import TriPlaneConfig


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=60, help="training shapes per class")
    p.add_argument("--test", type=int, default=20, help="test shapes per class")
    p.add_argument("--points", type=int, default=2048, help="SDF samples per shape")
    p.add_argument("--batch-points", type=int, default=512, help="samples per shape and fitting step")
    p.add_argument("--resolution", type=int, default=16)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--decoder-steps", type=int, default=200)
    p.add_argument("--steps", type=int, default=120, help="plane fitting steps with the frozen decoder")
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--classifier-seeds", type=int, default=3, help="classifier trainings (seeds) per setting")
    p.add_argument("--speed-fields", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/triplane-classifier"))
    return p.parse_args()


def accuracy_run(args, config):
    train = make_shape_dataset(args.train, n_points=args.points, seed=args.seed)
    test = make_shape_dataset(args.test, n_points=args.points, seed=args.seed + 1)
    start = time.perf_counter()
    planes, _, fit_loss = fit_planes_for_classification(
        torch.cat([train.points, test.points]), torch.cat([train.sdf, test.sdf]), config, decoder_fields=24,
        decoder_steps=args.decoder_steps, plane_steps=args.steps, batch_points=args.batch_points)
    fit_seconds = time.perf_counter() - start
    rows = []
    for augment in (True, False):
        for seed in range(args.seed, args.seed + args.classifier_seeds):
            torch.manual_seed(seed)
            model = TriPlaneClassifier(config.channels, len(train.classes), width=16)
            start = time.perf_counter()
            train_classifier(model, planes[:len(train)], train.labels, epochs=args.epochs, augment=augment, seed=seed)
            rows.append({"augment": augment, "seed": seed, "train_seconds": time.perf_counter() - start,
                         "train_accuracy": classifier_accuracy(model, planes[:len(train)], train.labels),
                         "test_accuracy": classifier_accuracy(model, planes[len(train):], test.labels)})
    return {"classes": list(train.classes), "n_train": len(train), "n_test": len(test), "fit_seconds": fit_seconds,
            "fit_loss_mean": float(fit_loss.mean()), "fit_loss_max": float(fit_loss.max()), "classifier": rows}


def speed_run(args, config):
    k, n = args.speed_fields, args.batch_points
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.rand(k, n, 3, generator=gen) * 2 - 1
    y = x.norm(dim=-1) - 0.5
    batched = BatchedTriPlanes(config, k, shared_decoder=False)
    fields = [batched.field(i) for i in range(k)]
    optimizers = [torch.optim.Adam(f.parameters(), lr=1e-3) for f in fields]

    def run_batched(steps=5):
        fit_batched_sdf(batched, x, y, steps=steps, progress=False)

    def run_loop(steps=5):
        for _ in range(steps):
            for f, opt, xi, yi in zip(fields, optimizers, x, y):
                opt.zero_grad()
                (f(xi)[:, 0] - yi).abs().mean().backward()
                opt.step()

    run_batched(1), run_loop(1)  # warm-up
    times = {"batched": [], "loop": []}
    for _ in range(args.repeats):  # interleaved, so load changes hit both alike
        for name, fn in (("batched", run_batched), ("loop", run_loop)):
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) / 5 * 1e3)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return {"fields": k, "points_per_field": n, "step_ms": medians, "speedup": medians["loop"] / medians["batched"]}


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    config = TriPlaneConfig(bounds=((-1.0, 1.0),) * 3, resolution=args.resolution, channels=args.channels,
                            width=32, depth=2, n_frequencies=0)
    machine = {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
               "torch": torch.__version__, "threads": torch.get_num_threads()}
    speed = speed_run(args, config)
    accuracy = accuracy_run(args, config)
    results = {"machine": machine, "config": vars(args) | {"out": str(args.out)}, "accuracy": accuracy,
               "speed": speed}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "results.json", json.dumps(results, indent=2))

    print(f"\nTri-plane classification: {accuracy['n_train']} training / {accuracy['n_test']} test shapes "
          f"({', '.join(accuracy['classes'])}), planes 3x{args.channels}x{args.resolution}x{args.resolution}, "
          f"fit {accuracy['fit_seconds']:.0f} s, mean fit loss {accuracy['fit_loss_mean']:.4f}\n")
    print("| augmentation | seed | train accuracy | test accuracy | classifier training (s) |")
    print("| --- | --- | --- | --- | --- |")
    for row in accuracy["classifier"]:
        print(f"| {'cube symmetries' if row['augment'] else 'none'} | {row['seed']} | {row['train_accuracy']:.1%} | "
              f"{row['test_accuracy']:.1%} | {row['train_seconds']:.0f} |")
    for augment in (True, False):
        test = [r["test_accuracy"] for r in accuracy["classifier"] if r["augment"] == augment]
        print(f"| {'cube symmetries' if augment else 'none'} | mean (min) | | {statistics.mean(test):.1%} "
              f"({min(test):.1%}) | |")
    print(f"\nFitting {speed['fields']} tri-planes ({speed['points_per_field']} points each), median ms per step "
          f"over {args.repeats} interleaved repeats:\n")
    print("| batched (one pass) | Python loop over fields | speed-up |")
    print("| --- | --- | --- |")
    print(f"| {speed['step_ms']['batched']:.1f} | {speed['step_ms']['loop']:.1f} | {speed['speedup']:.2f}x |")
    print(f"\nmachine: {machine}; results in {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
