"""Markdown tables of bench results, shared by the scripts in ``benchmarks/``."""

from __future__ import annotations


def markdown_table(header: list[str], rows: list[list]) -> str:
    """``| a | b |`` lines: the header, the separator and one line per row (cells as given, str()-ed)."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def rel_l2_cells(entry: dict, keys: list[str]) -> list[str]:
    """The ``rel_l2`` of ``entry["errors"][key]`` for each key (a ``results.json`` model entry), as ``1.234e-02``."""
    return [f"{entry['errors'][key]['rel_l2']:.3e}" for key in keys]
