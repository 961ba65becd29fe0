"""``sciml info``: versions, devices and usable optional backends."""

from __future__ import annotations

import json


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("info", help="versions, devices, optional backends usable here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    from sciml.workflows import environment_report, format_environment_report

    report = environment_report()
    print(json.dumps(report, indent=2) if args.json else format_environment_report(report))
    return 0
