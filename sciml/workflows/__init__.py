"""Public functions behind the command line: scripts call these directly.

Nothing in the core imports this package; it stands on top of everything.
"""

from .data import describe_dataset, generate_dataset, list_problems, parse_params
from .environment import environment_report, format_environment_report

__all__ = [
    "describe_dataset",
    "environment_report",
    "format_environment_report",
    "generate_dataset",
    "list_problems",
    "parse_params",
]
