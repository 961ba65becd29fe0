"""``sciml insr PROBLEM``: solve a time-dependent PDE with an evolving neural field (INSR)."""

from __future__ import annotations

from ._options import add_run_options, apply_threads


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("insr", help="solve a time-dependent PDE with an evolving neural field (INSR)")
    parser.add_argument("problem", metavar="PROBLEM",
                        help="advection-1d, advection-2d, advection-multiscale, taylor-green, vortex-sheet, "
                             "elasticity-2d, elasticity-3d (the last two need scikit-fem for the FEM reference)")
    parser.add_argument("--steps", type=int, default=None, help="number of time steps (default: the problem's)")
    parser.add_argument("--dt", type=float, default=None, help="time step (default: the problem's)")
    parser.add_argument("--out", default="insr", help="output directory (default: ./insr)")
    parser.add_argument("--width", type=int, default=None, help="units per SIREN layer")
    parser.add_argument("--depth", type=int, default=None, help="sine layers of the SIREN")
    parser.add_argument("--max-iters", type=int, default=None, help="optimiser budget per step and stage")
    parser.add_argument("--points", type=int, default=None, help="collocation points per step")
    parser.add_argument("--initial-iters", type=int, default=None, help="Adam iterations fitting the initial condition")
    parser.add_argument("--snapshot-every", type=int, default=None, help="steps between snapshots/checkpoints")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the point draws")
    add_run_options(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    from sciml.workflows.insr import run_insr

    apply_threads(args)
    run_insr(args.problem, args.out, steps=args.steps, dt=args.dt, width=args.width, depth=args.depth,
             max_iters=args.max_iters, points=args.points, initial_iters=args.initial_iters,
             snapshot_every=args.snapshot_every, seed=args.seed, progress=not args.no_progress,
             figures=not args.no_figures, echo=print)
    print(f"results: {args.out}/metrics.json")
    return 0
