"""``sciml bench PROBLEM``: train operators under one budget and compare them (table, results.json, figures)."""

from __future__ import annotations

from ._options import add_run_options, apply_threads


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="train and compare operators on a PDE benchmark")
    parser.add_argument("problem", metavar="PROBLEM", help="registered problem: darcy, burgers, navier-stokes, ...")
    parser.add_argument("--models", default="fno,tfno,mg-tfno", help="comma-separated registered models")
    parser.add_argument("--quick", action="store_true", help="small data and budget (minutes on a laptop CPU)")
    parser.add_argument("--epochs", type=int, default=None, help="override the profile's epochs")
    parser.add_argument("--n-train", type=int, default=None, help="override the number of training samples")
    parser.add_argument("--n-test", type=int, default=None, help="override the number of test samples")
    parser.add_argument("--resolution", type=int, default=None, help="training resolution (points per axis)")
    parser.add_argument("--width", type=int, default=None, help="override the models' width")
    parser.add_argument("--modes", type=int, default=None, help="override the retained modes per axis")
    parser.add_argument("--oversampling", type=int, default=None,
                        help="run fno/tfno on a grid this many times finer (zero-shot super-resolution on darcy)")
    parser.add_argument("--out", default="bench", help="output directory (default: ./bench)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the data splits and the training")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, ...")
    parser.add_argument("--workers", type=int, default=1, help="processes generating data")
    add_run_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from sciml.workflows import format_results_table, run_bench

    apply_threads(args)

    results = run_bench(args.problem, args.models, quick=args.quick, out=args.out, epochs=args.epochs,
                        n_train=args.n_train, n_test=args.n_test, resolution=args.resolution, seed=args.seed,
                        device=args.device, width=args.width, modes=args.modes, oversampling=args.oversampling,
                        workers=args.workers, progress=not args.no_progress,
                        figures=not args.no_figures, echo=print)
    print(format_results_table(results))
    print(f"results: {args.out}/results.json")
    return 0
