"""The ``sciml`` command line: argument parsing only, one module per subcommand."""

from .main import main

__all__ = ["main"]
