"""``sciml data``: generate benchmark datasets with the package's solvers, list problems, inspect stores."""

from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="generate and inspect PDE datasets")
    verbs = parser.add_subparsers(dest="data_command", metavar="VERB", required=True)

    gen = verbs.add_parser("generate", help="solve N samples of a problem into a zarr/netCDF store")
    gen.add_argument("problem", metavar="PROBLEM", help="registered problem name (see `sciml data list`)")
    gen.add_argument("--n", type=int, required=True, help="number of samples")
    gen.add_argument("--resolution", type=int, default=None, help="grid resolution (problem default if omitted)")
    gen.add_argument("--out", required=True, help="output store: *.zarr (default format) or *.nc")
    gen.add_argument("--workers", type=int, default=1, help="worker processes (results do not depend on it)")
    gen.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="problem parameter (repeatable); VALUE is JSON when it parses, else a string")
    gen.add_argument("--chunk-size", type=int, default=None, help="samples per chunk (default: about n/8)")
    gen.add_argument("--seed", type=int, default=0, help="seed of the run; sample i uses a seed derived from (seed, i)")
    gen.add_argument("--dtype", default="float32", help="storage dtype (default float32)")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing store")
    gen.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    gen.set_defaults(run=run)

    listing = verbs.add_parser("list", help="registered problems and their default parameters")
    listing.set_defaults(run=run)

    info = verbs.add_parser("info", help="describe a stored dataset")
    info.add_argument("path", help="zarr or netCDF store")
    info.set_defaults(run=run)


def run(args) -> int:
    from sciml.workflows import data as workflow

    if args.data_command == "generate":
        report = workflow.generate_dataset(
            args.problem, args.n, args.out, resolution=args.resolution, params=workflow.parse_params(args.param),
            workers=args.workers, chunk_size=args.chunk_size, seed=args.seed, dtype=args.dtype,
            progress=not args.no_progress, overwrite=args.overwrite)
    elif args.data_command == "list":
        report = workflow.list_problems()
    else:
        report = workflow.describe_dataset(args.path)
    print(json.dumps(report, indent=2, default=str))
    return 0
