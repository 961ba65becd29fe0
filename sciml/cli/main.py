"""Entry point of the ``sciml`` command.

Each subcommand is a module in this package exposing ``add_parser(subparsers)``
and ``run(args) -> int``; add its module name to :data:`SUBCOMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand modules, in the order ``sciml --help`` lists them
SUBCOMMANDS = ("info", "data", "bench", "train", "evaluate", "fit", "insr")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sciml", description="Operator learning and neural fields.")
    parser.add_argument("--version", action="store_true", help="print the sciml version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__package__}.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import sciml

        print(sciml.__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (ValueError, TypeError, OSError, ImportError, ArithmeticError) as exc:
        # bad input, missing files or optional packages, diverging numerics: a message, not a traceback
        print(f"sciml {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
