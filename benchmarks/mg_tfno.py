"""MG-TFNO compressed >= 100x against FNO on 2D Navier-Stokes (the ``sciml bench navier-stokes --quick`` setting).

The quick profile: 32², 20 / 4 trajectories (800 / 160 pairs), the one-step map of the last 10
vorticity snapshots to the next, 5 epochs of Adam with a one-cycle schedule, batch 20, Gaussian
normalizers, relative L2 loss. FNO is the bench's own (width 24, modes 8, 4 layers, lr 5e-3).
Every model is built from ``bench_model_config`` plus the overrides below and trained with
``bench_model`` in this process, one after the other, on the same data with the same seed and
epochs; the test set at 64² (the test trajectories solved at 64²) is evaluated zero-shot.

Rows:

* ``fno`` -- the bench's FNO, at the shared lr (5e-3) and at ``--lr``;
* ``mg-tfno (rank 0.05, 1 level)`` -- the bench's MG-TFNO before its quick NS profile dropped
  patching: joint Tucker rank 0.05, one multigrid level, ``init="random"``;
* ``mg-tfno (rank 0.05, 0 levels)`` -- the same without patching (the quick profile's now),
  frequency factors initialised on the lowest frequencies (``--init``);
* ``mg-tfno 100x`` -- width ``--width`` (12; FNO's modes 8 and 4 layers), no patching
  (``--levels`` 0), explicit joint Tucker ranks ``--rank`` (layer, in, out, kx, ky) =
  (2, 5, 5, 6, 5), at the shared lr and at ``--lr`` (3e-2: small models train faster at a
  higher rate, so FNO gets that rate too), joint weights initialised by ``--init``
  (default ``lowest-frequencies``: :meth:`sciml.operators.JointTucker.init_lowest_frequencies`);
* with ``--with-patches``, the compressed MG-TFNO at one multigrid level as well.

Parameters are those of the whole model (lifting, projection, skips and channel MLPs included);
the ratio column is FNO's count over the row's.

Run::

    OMP_NUM_THREADS=1 python benchmarks/mg_tfno.py --threads 1 --json runs/mg_tfno.json

Prints a markdown table (model, params, FNO params / params, lr, s/epoch, rel L2 at 32² and 64²)
and writes the entries to ``--json`` when given. ``--resolution``, ``--n-train`` / ``--n-test`` and
``--only`` run a subset at another size (the high-resolution, little-data regime of the paper).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from _markdown import markdown_table, rel_l2_cells

from sciml.workflows.bench import bench_model, bench_model_config, bench_profile, evaluation_sets
from sciml.workflows.train import load_problem, make_model, make_normalizers


def parse_rank(text: str) -> tuple[int, ...]:
    """``"2,6,6,5,4"`` -> ``(2, 6, 6, 5, 4)``."""
    try:
        rank = tuple(int(r) for r in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--rank: expected comma-separated integers, got {text!r}") from exc
    if len(rank) != 5 or min(rank) < 1:
        raise argparse.ArgumentTypeError(f"--rank: expected 5 positive ranks (layer, in, out, kx, ky), got {text!r}")
    return rank


def compressed_overrides(width: int, rank: tuple[int, ...], levels: int) -> dict:
    """Config overrides of the compressed MG-TFNO (on top of ``bench_model_config("mg-tfno", ...)``)."""
    return {"width": width, "rank": list(rank), "multigrid": {"levels": levels, "overlap": 0.0625,
                                                              "boundary": "circular"}}


def runs(args, profile) -> list[tuple[str, str, dict, float, str]]:
    """``(label, model name, config overrides, lr, joint weight init)`` of every row."""
    shared = profile.trainer.lr if args.shared_lr is None else args.shared_lr
    rows = [("fno", "fno", {}, shared, "")]
    if args.lr != shared:
        rows.append(("fno", "fno", {}, args.lr, ""))
    one_level = {"multigrid": {"levels": 1, "overlap": 0.0625, "boundary": "circular"}}
    rows.append(("mg-tfno (rank 0.05, 1 level)", "mg-tfno", one_level, shared, "random"))
    rows.append(("mg-tfno (rank 0.05, 0 levels)", "mg-tfno", {"multigrid": {"levels": 0}}, shared, args.init))
    levels = [args.levels, 1] if args.with_patches and args.levels != 1 else [args.levels]
    for level in levels:
        overrides = compressed_overrides(args.width, args.rank, level)
        suffix = "" if level == 0 else f", {level} level"
        rows.append((f"mg-tfno 100x{suffix}", "mg-tfno", overrides, shared, args.init))
        if args.lr != shared:
            rows.append((f"mg-tfno 100x{suffix}", "mg-tfno", overrides, args.lr, args.init))
    return rows


def initialise(model, init: str) -> None:
    """Redraw an MG-TFNO's joint weights with ``init`` (``JointTucker`` init names); others untouched."""
    if init == "lowest-frequencies":
        model.joint_weight.init_lowest_frequencies()
    elif init != "random" and init:
        raise ValueError(f"init: expected 'random' or 'lowest-frequencies', got {init!r}")


def train_all(args) -> list[dict]:
    profile = bench_profile("navier-stokes", quick=True, epochs=args.epochs, n_train=args.n_train,
                            n_test=args.n_test, resolution=args.resolution, progress=False,
                            width=args.fno_width, modes=args.fno_modes, seed=args.seed)
    data = load_problem(profile.data, progress=False)
    tests = evaluation_sets(data, (1, 2) if args.zero_shot else (1,))
    normalizers = make_normalizers(data.train)
    grid = data.train.targets.on
    fno = make_model("fno", bench_model_config("fno", profile, grid), data.train.inputs.channels,
                     data.train.targets.channels)
    fno_params = sum(p.numel() for p in fno.parameters())          # the ratio's reference, run or not
    entries = []
    rows = runs(args, profile)
    if args.only:
        wanted = [w.strip() for w in args.only.split("|")]
        rows = [row for row in rows if row[0] in wanted]
        if not rows:
            raise SystemExit(f"--only: no row labelled {wanted}; labels: {sorted({r[0] for r in runs(args, profile)})}")
    for label, name, overrides, lr, init in rows:
        torch.manual_seed(profile.trainer.seed)
        config = {**bench_model_config(name, profile, grid), **overrides}
        model = make_model(name, config, data.train.inputs.channels, data.train.targets.channels)
        initialise(model, init)
        trainer = profile.trainer.replace(lr=lr)
        slug = "".join(c if c.isalnum() else "_" for c in label)
        out = Path(args.out) / f"{slug}_lr{lr:g}"
        entry = bench_model(label, model, data.train, tests, trainer, out, normalizers=normalizers)
        entry.pop("history", None)
        entry["init"] = init or None
        entry["fno_params"] = fno_params
        entries.append(entry)
        errors = ", ".join(f"{k} {v['rel_l2']:.3e}" for k, v in entry["errors"].items())
        print(f"{label} (lr {lr:g}): {entry['params']:,} params, {entry['seconds_per_epoch']:.2f} s/epoch, "
              f"rel L2 {errors}", flush=True)
    return entries


def table(entries: list[dict]) -> str:
    """Markdown table of the entries; the parameter ratio is against the bench's FNO at the same size."""
    keys = list(entries[0]["errors"])
    reference = entries[0].get("fno_params", entries[0]["params"])
    header = ["model", "params", "FNO params / params", "init", "lr", "s/epoch"] + [f"rel L2 {k}" for k in keys]
    return markdown_table(header, [[e["name"], f"{e['params']:,}", f"{reference / e['params']:.1f}x", e["init"] or "-",
                                    f"{e['lr']:g}", f"{e['seconds_per_epoch']:.2f}", *rel_l2_cells(e, keys)]
                                   for e in entries])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the quick profile's (5)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--n-train", type=int, default=None,
                        help="training trajectories (default: the quick profile's 20; fewer = the data-limited regime)")
    parser.add_argument("--n-test", type=int, default=None, help="test trajectories (default: the quick profile's)")
    parser.add_argument("--resolution", type=int, default=None, help="training grid (default: the quick profile's 32)")
    parser.add_argument("--fno-width", type=int, default=None,
                        help="width of FNO and of the rank-fraction MG-TFNO rows (default: the quick profile's 24)")
    parser.add_argument("--fno-modes", type=int, default=None,
                        help="modes per axis of every row (default: the quick profile's 8); the MG-TFNO paper's "
                        "FNO keeps many more modes than the quick profile")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the data draw and of training (default: the profile's)")
    parser.add_argument("--only", default=None, help="'|'-separated row labels to run, e.g. 'mg-tfno 100x|fno'")
    parser.add_argument("--json", default=None, help="write the entries (configs, params, errors) here")
    parser.add_argument("--out", default="runs/mg_tfno", help="checkpoints of every row")
    parser.add_argument("--width", type=int, default=12, help="width of the compressed MG-TFNO")
    parser.add_argument("--rank", type=parse_rank, default=(2, 5, 5, 6, 5),
                        help="joint Tucker ranks layer,in,out,kx,ky of the compressed MG-TFNO")
    parser.add_argument("--levels", type=int, default=0, help="multigrid levels of the compressed MG-TFNO")
    parser.add_argument("--lr", type=float, default=3e-2, help="peak one-cycle lr of the second FNO row and the "
                        "second compressed MG-TFNO row (the others use --shared-lr)")
    parser.add_argument("--shared-lr", type=float, default=None,
                        help="peak lr of the shared-rate rows (default: the quick profile's 5e-3)")
    parser.add_argument("--init", choices=("random", "lowest-frequencies"), default="lowest-frequencies",
                        help="joint weight init of the MG-TFNO rows other than the bench's")
    parser.add_argument("--with-patches", action="store_true", help="add the compressed MG-TFNO at one level")
    parser.add_argument("--no-zero-shot", dest="zero_shot", action="store_false", help="skip the 64² test set")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    entries = train_all(args)
    print(table(entries))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                                    "models": entries}, indent=2, default=str))


if __name__ == "__main__":
    main()
