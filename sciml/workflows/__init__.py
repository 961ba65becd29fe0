"""Public functions behind the command line: scripts call these directly.

Nothing in the core imports this package; it stands on top of everything.
"""

from .environment import environment_report, format_environment_report

__all__ = ["environment_report", "format_environment_report"]
