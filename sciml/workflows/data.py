"""Dataset generation and inspection: the functions behind ``sciml data``."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

__all__ = ["describe_dataset", "generate_dataset", "list_problems", "parse_params"]


def parse_params(items: list[str] | None) -> dict:
    """``["viscosity=1e-3", "name=gauss", "modes=[8, 8]"]`` -> dict; values are JSON when they parse, else strings.

    Examples
    --------
    >>> parse_params(["viscosity=1e-3", "kind=lognormal", "periodic=true"])
    {'viscosity': 0.001, 'kind': 'lognormal', 'periodic': True}
    """
    params = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"param: expected KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        params[key.strip()] = value
    return params


def generate_dataset(problem: str, n: int, out, *, resolution: int | None = None, params: dict | None = None,
                     workers: int = 1, chunk_size: int | None = None, seed: int = 0, dtype: str = "float32",
                     progress: bool = True, overwrite: bool = False) -> dict:
    """Generate ``n`` samples of registered problem ``problem`` into ``out``; return a summary.

    Examples
    --------
    >>> summary = generate_dataset("darcy", 100, "darcy64.zarr", resolution=64, workers=2)  # doctest: +SKIP
    >>> summary["variables"]["u"]  # doctest: +SKIP
    [100, 64, 64]
    """
    from sciml.datasets import generate

    params = dict(params or {})
    if resolution is not None:
        params["resolution"] = resolution
    start = time.perf_counter()
    path = generate(problem, n, out, params=params, seed=seed, workers=workers, chunk_size=chunk_size,
                    dtype=dtype, progress=progress, overwrite=overwrite)
    summary = describe_dataset(path)
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return summary


def describe_dataset(path) -> dict:
    """Problem, parameters, dimensions and variables of a stored dataset (nothing is loaded)."""
    from sciml.datasets import open_dataset

    with open_dataset(path) as ds:
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items()}
        return {
            "path": str(Path(path)),
            "problem": attrs.get("problem"),
            "config": json.loads(attrs["config"]) if isinstance(attrs.get("config"), str) else attrs.get("config"),
            "seed": attrs.get("seed"),
            "sciml_version": attrs.get("sciml_version"),
            "dims": {str(k): int(v) for k, v in ds.sizes.items()},
            "variables": {str(k): [int(s) for s in v.shape] for k, v in ds.data_vars.items()},
            "units": {str(k): v.attrs["units"] for k, v in ds.variables.items() if "units" in v.attrs},
        }


def list_problems() -> dict:
    """Registered problems: their inputs, outputs and default configuration."""
    from sciml.datasets import registered_problems

    table = {}
    for name, cls in sorted(registered_problems().items()):
        defaults = {f.name: f.default for f in dataclasses.fields(cls.config_class)
                    if f.default is not dataclasses.MISSING}
        table[name] = {"inputs": list(cls.input_names), "outputs": list(cls.output_names),
                       "trajectory": cls.output_time_dim is not None, "defaults": defaults}
    return table
