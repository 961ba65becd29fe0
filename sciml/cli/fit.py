"""``sciml fit INPUT --field NAME``: fit a field to a mesh, an image or gridded data (metrics, mesh, figures)."""

from __future__ import annotations

from ._options import add_run_options, apply_threads


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("fit", help="fit a neural or tensor field to a mesh, image or .nc dataset")
    parser.add_argument("input", metavar="INPUT",
                        help="mesh (any format meshio reads), image (.png, .jpg, .tif, ...) or gridded .nc dataset")
    parser.add_argument("--field", default="siren",
                        help="registered field: siren, grid, triplane, neurbf (meshes, images); "
                             "tucker, chebyshev-tucker, funbat (.nc data). Default: siren")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (default 2000)")
    parser.add_argument("--params", type=int, default=None,
                        help="parameter budget of the neural field (fields built with for_budget, for fair comparisons)")
    parser.add_argument("--out", default="fit", help="output directory (default: ./fit)")
    parser.add_argument("--mode", choices=("sdf", "occupancy"), default="sdf",
                        help="mesh objective: signed distance (L1 + eikonal) or occupancy (BCE)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: per field type)")
    parser.add_argument("--batch-size", type=int, default=None, help="points (pixels) per step")
    parser.add_argument("--points", type=int, default=200_000, help="mesh: size of the pool of target points")
    parser.add_argument("--resolution", type=int, default=128, help="mesh: marching-cubes nodes per axis")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop the optimisation after this time")
    parser.add_argument("--rank", type=int, default=None, help=".nc data: rank of the tensor format")
    parser.add_argument("--tol", type=float, default=None, help=".nc data: relative error target (Tucker formats)")
    parser.add_argument("--sign", choices=("auto", "winding", "unsigned"), default="auto",
                        help="mesh SDF: auto (signed if watertight, else unsigned), winding (sign by the "
                             "generalised winding number even with holes), unsigned")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampling and the batches")
    add_run_options(parser, figures="skip figure.png")
    parser.set_defaults(run=run)


def run(args) -> int:
    from sciml.workflows.fit import run_fit

    apply_threads(args)
    report = run_fit(args.input, args.field, out=args.out, steps=args.steps, params=args.params, mode=args.mode,
                     lr=args.lr, resolution=args.resolution, batch_size=args.batch_size, n_points=args.points,
                     max_seconds=args.max_seconds, seed=args.seed, rank=args.rank, tol=args.tol,
                     signed={"auto": None, "winding": True, "unsigned": False}[args.sign],
                     progress=not args.no_progress, figures=not args.no_figures, echo=print)
    metrics = report.get("metrics", {})
    shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                      if isinstance(v, float) and k in ("chamfer", "iou", "normal_consistency", "fscore", "psnr",
                                                        "ssim", "relative_error"))
    print(f"{report['field']}: {report.get('params')} parameters, {report.get('seconds', 0.0):.1f} s; {shown}")
    return 0
