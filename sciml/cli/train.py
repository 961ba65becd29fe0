"""``sciml train CONFIG``: train one model from a YAML/JSON run config (see sciml.workflows.train)."""

from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train one model from a config file")
    parser.add_argument("config", metavar="CONFIG", help="YAML or JSON run config: problem, model, trainer")
    parser.add_argument("--out", default=None, help="output directory (default: runs/<config file stem>)")
    parser.add_argument("--device", default=None, help="override trainer.device (auto, cpu, cuda, ...)")
    parser.add_argument("--workers", type=int, default=1, help="processes generating data")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from sciml.workflows import train_from_config

    out = args.out if args.out is not None else Path("runs") / Path(args.config).stem
    summary = train_from_config(args.config, out, workers=args.workers, device=args.device,
                                progress=not args.no_progress)
    print(json.dumps(summary, indent=2))
    return 0
