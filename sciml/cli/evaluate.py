"""``sciml evaluate CHECKPOINT --resolution R``: errors of a saved model on its problem's test set."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate a checkpoint on a test set at some resolution")
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint directory, pointer or run directory")
    parser.add_argument("--resolution", type=int, default=None, help="test resolution (default: the training one)")
    parser.add_argument("--problem", default=None, help="problem name (default: from run.json beside the checkpoint)")
    parser.add_argument("--n-test", type=int, default=None, help="number of test samples (default: the run's)")
    parser.add_argument("--seed", type=int, default=None, help="split seed (default: the run's)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="problem parameter (repeatable; replaces the run's parameters)")
    parser.add_argument("--out", default=None, help="JSON report (default: <checkpoint>/evaluation-<R>.json)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    parser.add_argument("--workers", type=int, default=1, help="processes generating data")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from sciml.training import resolve_checkpoint
    from sciml.workflows import evaluate_checkpoint, parse_params
    from sciml.workflows.train import find_run_config, write_json

    params = parse_params(args.param) if args.param else None
    report = evaluate_checkpoint(args.checkpoint, args.resolution, problem=args.problem, n_test=args.n_test,
                                 params=params, seed=args.seed, workers=args.workers, device=args.device,
                                 progress=not args.no_progress)
    if args.out:
        out = Path(args.out)
    else:
        run_file = find_run_config(args.checkpoint)
        folder = run_file.parent if run_file is not None else resolve_checkpoint(args.checkpoint)
        out = folder / f"evaluation-{report['resolution']}.json"
    write_json(report, out)
    print(f"{report['model']} on {report['problem']} at {report['resolution']} ({report['n_test']} samples): "
          f"rel L2 {report['rel_l2']:.3e}, H1 {report['h1']:.3e}")
    print(f"report: {out}")
    return 0
