"""Helpers shared by the readers: opening files with located errors, grids from coordinates, pairs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

import numpy as np
import torch

import sciml

from ..errors import DataFileError
from ..pairs import Pairing
from ..store import import_optional

__all__ = ["grid_from_coordinates", "h5_dataset", "open_h5", "operator_dataset", "trajectory_pairs", "unit_grid"]


@contextlib.contextmanager
def open_h5(path):
    """``h5py.File(path, "r")`` with errors that name the file (missing, truncated, not HDF5)."""
    h5py = import_optional("h5py")
    if not os.path.exists(path):
        raise FileNotFoundError(f"path: no file at {os.fspath(path)!r}")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DataFileError(path, f"not a readable HDF5 file (truncated or corrupt?): {exc}") from exc
    with handle:
        yield handle


def h5_dataset(handle, name: str, path, ndim: int | Sequence[int] | None = None, n: int | None = None) -> np.ndarray:
    """Read dataset ``name`` (first ``n`` entries along axis 0), checking presence, rank and readability."""
    h5py = import_optional("h5py")
    if name not in handle or not isinstance(handle[name], h5py.Dataset):
        raise DataFileError(path, f"missing dataset; found {sorted(handle.keys())}", name)
    data = handle[name]
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and data.ndim not in allowed:
        raise DataFileError(path, f"expected {' or '.join(map(str, allowed))} dimensions, got shape {data.shape}", name)
    try:
        return np.asarray(data[:n] if n is not None and data.ndim else data[()])
    except Exception as exc:  # h5py raises OSError/KeyError/RuntimeError on damaged data
        raise DataFileError(path, f"unreadable data ({type(exc).__name__}: {exc})", name) from exc


def _is_round(value: float, scale: float) -> bool:
    return abs(value - round(value)) <= 1e-6 * max(1.0, scale)


def _axis(coords: np.ndarray, periodic: bool, path, name: str) -> sciml.GridAxis:
    x = np.asarray(coords, dtype=float).ravel()
    if x.size < 2 or not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise DataFileError(path, f"expected at least 2 finite increasing coordinates, got {x[:5]}...", name)
    dx = np.diff(x)
    if np.allclose(dx, dx.mean(), rtol=1e-5, atol=0):
        h = float(dx.mean())
        node_lo, cell_lo = x[0], x[0] - h / 2
        if _is_round(node_lo, x[-1]) or not _is_round(cell_lo, x[-1]):
            hi = x[-1] + h if periodic else x[-1]
            return sciml.GridAxis("node", x.size, float(node_lo), float(hi), periodic)
        return sciml.GridAxis("cell", x.size, float(cell_lo), float(x[-1] + h / 2), periodic)
    hi = x[-1] + (x[-1] - x[-2]) if periodic else x[-1]
    return sciml.GridAxis("explicit", x.size, float(x[0]), float(hi), periodic, tuple(map(float, x)))


def grid_from_coordinates(coordinates: Sequence[np.ndarray], periodic: bool | Sequence[bool], path,
                          names: Sequence[str]) -> sciml.Grid:
    """A Grid from per-axis coordinates stored in a file.

    Equispaced coordinates become uniform axes: node-centred when the first coordinate is a
    round number (``0, 1/n, ...``: the domain starts there, and on a periodic axis ends one
    spacing after the last point), cell-centred when the first coordinate minus half a spacing
    is (``1/(2n), 3/(2n), ...`` on ``[0, 1]``, PDEBench's convention). Others stay explicit.
    """
    periodic = (bool(periodic),) * len(coordinates) if isinstance(periodic, (bool, np.bool_)) else tuple(periodic)
    if len(periodic) != len(coordinates):
        raise ValueError(f"periodic: expected {len(coordinates)} flags, got {len(periodic)}")
    return sciml.Grid([_axis(c, p, path, n) for c, p, n in zip(coordinates, periodic, names)])


def unit_grid(shape: Sequence[int], periodic: bool | Sequence[bool] = False) -> sciml.Grid:
    """Node-centred uniform grid on the unit box (the assumption when a file stores no coordinates)."""
    return sciml.Grid.uniform(tuple(shape), sciml.Domain.unit(len(shape), periodic=periodic))


def trajectory_pairs(states: np.ndarray, pairing: Pairing, static: np.ndarray | None = None):
    """Pairs from trajectories ``states [n, T, C, *space]`` (``static [n, S, *space]`` joins the inputs).

    ``final``: ``state(t_0) -> state(t_{T-1})``; ``trajectory``: ``state(t_0) -> states t_1..t_{T-1}``;
    ``steps``: windows over all ``T`` states (see :class:`~sciml.datasets.Pairing`).
    """
    channels = [states[:, :, c] for c in range(states.shape[2])]
    if pairing.mode == "steps":
        a, u = pairing.apply([], channels, has_time=True)
    else:
        a, u = pairing.apply([ch[:, 0] for ch in channels], [ch[:, 1:] for ch in channels], has_time=True)
    if static is not None:
        a = np.concatenate([a, np.repeat(static, len(a) // len(static), axis=0)], axis=1)
    return a, u


def operator_dataset(a: np.ndarray, u: np.ndarray, grid: sciml.Grid, path, names: tuple[list, list],
                     attrs: dict | None = None, dtype: torch.dtype = torch.float32) -> sciml.OperatorDataset:
    """An OperatorDataset from pair arrays ``[n, C, *grid.shape]`` (checked for finiteness by the reader)."""
    attrs = {"source": os.fspath(path), **(attrs or {})}
    inputs = sciml.Sampled(torch.from_numpy(np.ascontiguousarray(a)).to(dtype), grid, names[0], attrs, validate=False)
    targets = sciml.Sampled(torch.from_numpy(np.ascontiguousarray(u)).to(dtype), grid, names[1], attrs, validate=False)
    return sciml.OperatorDataset(inputs, targets)
