"""Data pipeline benchmark (issue 4): end-to-end ``generate`` and read throughput.

Run: ``python benchmarks/datasets_io.py [--n 1000] [--workers 1 2]``. Prints markdown tables:
wall time of ``sciml.datasets.generate`` (solve, check, chunk parts, final zarr) for Darcy at 64²
and Burgers at 1024 points per worker count, and the time to read the train pairs back eagerly
(``from_store``) and by streaming (``LazyOperatorDataset`` in a ``DataLoader``). Includes process
start-up of the workers (each imports torch through sciml).
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time
from pathlib import Path

from torch.utils.data import DataLoader

from sciml.datasets import from_store, generate


def _size_mib(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def _generation(root: Path, problem: str, params: dict, n: int, workers: list[int]) -> list[list[str]]:
    rows = []
    for w in workers:
        out = root / f"{problem}-w{w}.zarr"
        start = time.perf_counter()
        generate(problem, n, out, params=params, workers=w, progress=False)
        seconds = time.perf_counter() - start
        rows.append([problem, str(params), str(n), str(w), f"{seconds:.1f}", f"{n / seconds:.1f}", f"{_size_mib(out):.1f}"])
    return rows


def _reading(path: Path, batch_size: int = 64) -> list[str]:
    start = time.perf_counter()
    eager = from_store(path)
    eager_s = time.perf_counter() - start
    lazy = from_store(path, lazy=True)
    start = time.perf_counter()
    for _ in DataLoader(lazy, batch_size=batch_size, sampler=lazy.chunk_sampler(seed=0), collate_fn=lazy.collate):
        pass
    lazy_s = time.perf_counter() - start
    return [path.name, str(len(eager)), f"{eager_s:.2f}", f"{lazy_s:.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sciml-bench-"))
    try:
        rows = _generation(root, "darcy", {"resolution": 64}, args.n, args.workers)
        rows += _generation(root, "burgers", {"resolution": 1024}, args.n, args.workers)
        print(f"\nGeneration ({platform.processor() or platform.machine()}, wall time incl. worker start-up)\n")
        print("| problem | params | n | workers | seconds | samples/s | zarr MiB |\n|---|---|---|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print("\nReading the stores back (eager from_store vs one streamed DataLoader epoch, batch 64)\n")
        print("| store | pairs | eager s | lazy epoch s |\n|---|---|---|---|")
        for path in sorted(root.glob("*-w1.zarr")):
            print("| " + " | ".join(_reading(path)) + " |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
