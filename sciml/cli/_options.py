"""Options several subcommands share: CPU threads, figures, progress bars."""

from __future__ import annotations

THREADS_HELP = "torch CPU threads (default: torch's); 1 is often faster on a busy machine"


def add_run_options(parser, figures: str = "skip the PNG figures") -> None:
    """``--threads``, ``--no-figures`` and ``--no-progress``."""
    parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP)
    parser.add_argument("--no-figures", action="store_true", help=figures)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def apply_threads(args) -> None:
    """Set torch's CPU thread count from ``--threads`` (``ValueError`` below 1)."""
    if args.threads is None:
        return
    if args.threads < 1:
        raise ValueError(f"threads: expected an integer >= 1, got {args.threads}")
    import torch

    torch.set_num_threads(args.threads)
