"""Unstructured meshes (lines, triangles, quads, tetrahedra) backed by meshio."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import meshio
import numpy as np
import torch

from ._checks import check_finite
from .discretization import Discretization, register_discretization
from .domain import Domain

__all__ = ["Mesh"]

#: cell type -> (topological dimension, vertices per cell)
CELL_TYPES = {"line": (1, 2), "triangle": (2, 3), "quad": (2, 4), "tetra": (3, 4)}


@register_discretization
class Mesh(Discretization):
    r"""Points and cells; functions live on the vertices.

    Quadrature uses the lumped mass matrix: every cell gives an equal share
    of its measure (length, area or volume; a quad's area is that of its two
    triangles on the 0-2 diagonal) to each of its vertices,
    :math:`w_i = \sum_{c \ni i} |c| / n_c`. Cells of the highest topological
    dimension present define the measure (a surface mesh in 3D integrates
    over the surface).

    Parameters
    ----------
    points : array-like ``[n, d]``
        Vertex coordinates, ``d`` in 1..3.
    cells : dict of str -> array ``[m, k]``
        Connectivity per cell type (``line``, ``triangle``, ``quad``, ``tetra``).

    Examples
    --------
    >>> square = Mesh([[0, 0], [1, 0], [1, 1], [0, 1]], {"triangle": [[0, 1, 2], [0, 2, 3]]})
    >>> square.weights().tolist()
    [0.3333333333333333, 0.16666666666666666, 0.3333333333333333, 0.16666666666666666]
    >>> Mesh([[0, 0], [1, 0], [1, 1], [0, 1]], {"quad": [[0, 1, 2, 3]]}).weights().tolist()
    [0.25, 0.25, 0.25, 0.25]
    """

    def __init__(self, points, cells: dict):
        pts = np.array(points, dtype=float)  # a private, writable copy (read-only input is fine)
        if pts.ndim != 2 or pts.shape[0] == 0 or not 1 <= pts.shape[1] <= 3:
            raise ValueError(f"points: expected a non-empty [n, d] array with d in 1..3, got shape {pts.shape}")
        check_finite(torch.from_numpy(pts), "points")
        self._points = pts
        self.cells = _check_cells(cells, len(pts))
        self.domain = Domain.bounding(pts)
        self._weights = _lumped_mass(self._points, self.cells)
        for array in (self._points, self._weights, *self.cells.values()):
            array.setflags(write=False)

    @classmethod
    def structured(cls, shape, domain: Domain | None = None) -> Mesh:
        """Simplicial mesh of a box: lines (1D), triangles (2D) or Kuhn tetrahedra (3D).

        ``shape`` counts vertices per axis; every grid cell is split into ``d!``
        simplices sharing its main diagonal, so the mesh is conforming.

        Examples
        --------
        >>> Mesh.structured((3, 3)).cells["triangle"].shape
        (8, 3)
        """
        shape = tuple(int(n) for n in np.atleast_1d(shape))
        domain = domain if domain is not None else Domain.unit(len(shape))
        if domain.ndim != len(shape) or not 1 <= len(shape) <= 3 or min(shape) < 2:
            raise ValueError(f"shape: expected 1 to 3 sizes >= 2 matching the domain ({domain.ndim}D), got {shape}")
        axes = [np.linspace(lo, hi, n) for n, (lo, hi) in zip(shape, domain.bounds)]
        points = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, len(shape))
        index = np.arange(points.shape[0]).reshape(shape)
        corner = index[tuple(slice(0, n - 1) for n in shape)].reshape(-1)
        strides = np.array(index.strides) // index.itemsize
        simplices = [np.stack([corner + offset for offset in np.cumsum([0, *strides[list(perm)]])], -1)
                     for perm in itertools.permutations(range(len(shape)))]
        kind = {1: "line", 2: "triangle", 3: "tetra"}[len(shape)]
        return cls(points, {kind: np.concatenate(simplices)})

    # -- meshio interop ----------------------------------------------------------------------
    @classmethod
    def from_meshio(cls, mesh: meshio.Mesh, drop_flat_z: bool = True) -> Mesh:
        """Build from a ``meshio.Mesh``; unsupported cell blocks (vertex, ...) are ignored.

        With ``drop_flat_z`` a third coordinate that is zero everywhere is dropped,
        so planar meshes stored in 3D files become 2D meshes.
        """
        if not isinstance(mesh, meshio.Mesh):
            raise TypeError(f"mesh: expected meshio.Mesh, got {type(mesh).__name__}")
        cells: dict[str, list[np.ndarray]] = {}
        for block in mesh.cells:
            if block.type in CELL_TYPES:
                cells.setdefault(block.type, []).append(np.asarray(block.data))
        points = np.asarray(mesh.points, dtype=float)
        if drop_flat_z and points.ndim == 2 and points.shape[1] == 3 and not np.any(points[:, 2]):
            points = points[:, :2]
        return cls(points, {k: np.concatenate(v) for k, v in cells.items()})

    def to_meshio(self, point_data: dict | None = None, pad_to_3d: bool = False) -> meshio.Mesh:
        """Convert to ``meshio.Mesh``, optionally attaching ``point_data`` arrays ``[n, ...]``.

        With ``pad_to_3d`` 1D/2D points get zero trailing coordinates (formats such
        as PLY, OBJ and STL store 3D points only).
        """
        points = self._points
        if pad_to_3d and points.shape[1] < 3:
            points = np.pad(points, ((0, 0), (0, 3 - points.shape[1])))
        return meshio.Mesh(points, [(k, v) for k, v in self.cells.items()], point_data=point_data or {})

    @classmethod
    def read(cls, path: str | os.PathLike, **kwargs) -> Mesh:
        """Read any file format meshio reads (``.ply``, ``.obj``, ``.stl``, ``.vtu``, ``.msh``, ...)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"path: no mesh file at {str(path)!r}")
        try:
            # meshio's format sniffing (binary STL size check) overflows on purpose
            with np.errstate(all="ignore"):
                mesh = meshio.read(path, **kwargs)
        except (Exception, SystemExit) as exc:  # some meshio readers call sys.exit on bad input
            raise ValueError(f"path: could not read {str(path)!r} as a mesh ({type(exc).__name__}: {exc})") from exc
        return cls.from_meshio(mesh)

    def write(self, path: str | os.PathLike, point_data: dict | None = None, **kwargs) -> Path:
        """Write atomically in the format implied by the suffix (temporary file, then rename).

        Points are written with three coordinates (zeros appended in 1D/2D);
        :meth:`read` drops a third coordinate that is zero everywhere.
        Formats that spread one mesh over several files (XDMF + HDF5) are not atomic.
        """
        path = Path(path)
        if "file_format" not in kwargs:
            suffix = "".join(path.suffixes[-2:]) if path.suffix.lower() == ".gz" else path.suffix
            if suffix.lower() not in meshio.extension_to_filetypes:
                raise ValueError(f"path: expected a suffix meshio writes ({', '.join(sorted(meshio.extension_to_filetypes))}) "
                                 f"or file_format=..., got {str(path)!r}")
            kwargs["file_format"] = meshio.extension_to_filetypes[suffix.lower()][0]
        tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
        try:
            meshio.write(tmp, self.to_meshio(point_data, pad_to_3d=True), **kwargs)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    # -- geometry -----------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return (self._points.shape[0],)

    @property
    def topological_dim(self) -> int:
        return max(CELL_TYPES[k][0] for k in self.cells)

    def points(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        return torch.tensor(self._points, dtype=dtype or torch.float64, device=device)

    def weights(self, dtype: torch.dtype | None = None, device=None) -> torch.Tensor:
        return torch.tensor(self._weights, dtype=dtype or torch.float64, device=device)

    def simplices(self) -> np.ndarray:
        """Cells of the top dimension as simplices ``[m, tdim + 1]`` (quads split in two triangles)."""
        return _top_simplices(self.cells)

    def cell_measures(self) -> np.ndarray:
        """Measure (length, area or volume) of each top-dimensional simplex of :meth:`simplices`."""
        return _simplex_measures(self._points, self.simplices())

    def __eq__(self, other) -> bool:
        return (isinstance(other, Mesh) and np.array_equal(self._points, other._points)
                and self.cells.keys() == other.cells.keys()
                and all(np.array_equal(v, other.cells[k]) for k, v in self.cells.items()))

    __hash__ = None

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.cells.items())
        return f"Mesh(points={self.shape[0]}, ndim={self.ndim}, {counts})"

    def to_dict(self) -> dict:
        return {"type": "Mesh", "points": self._points.tolist(),
                "cells": {k: v.tolist() for k, v in self.cells.items()}}

    @classmethod
    def _from_dict(cls, data: dict) -> Mesh:
        return cls(data["points"], data["cells"])


def _check_cells(cells, n_points: int) -> dict[str, np.ndarray]:
    if not isinstance(cells, dict):
        raise TypeError(f"cells: expected a dict of cell type -> connectivity, got {type(cells).__name__}")
    out = {}
    for kind, conn in cells.items():
        if kind not in CELL_TYPES:
            raise ValueError(f"cells: expected cell types among {sorted(CELL_TYPES)}, got {kind!r}")
        arr = np.asarray(conn)
        k = CELL_TYPES[kind][1]
        if arr.size == 0:
            continue
        if arr.ndim != 2 or arr.shape[1] != k or arr.dtype.kind not in "iu":
            raise ValueError(f"cells[{kind!r}]: expected integer connectivity [m, {k}], got {arr.dtype} {arr.shape}")
        if arr.min() < 0 or arr.max() >= n_points:
            raise ValueError(f"cells[{kind!r}]: vertex indices must lie in [0, {n_points}), got [{arr.min()}, {arr.max()}]")
        out[kind] = arr.astype(np.int64)
    if not out:
        raise ValueError(f"cells: the mesh has no cells of a supported type ({sorted(CELL_TYPES)})")
    return out


def _top_simplices(cells: dict[str, np.ndarray]) -> np.ndarray:
    top = max(CELL_TYPES[k][0] for k in cells)
    blocks = []
    for kind, conn in cells.items():
        if CELL_TYPES[kind][0] != top:
            continue
        if kind == "quad":
            blocks.append(np.concatenate([conn[:, [0, 1, 2]], conn[:, [0, 2, 3]]]))
        else:
            blocks.append(conn)
    return np.concatenate(blocks)


def _simplex_measures(points: np.ndarray, simplices: np.ndarray) -> np.ndarray:
    edges = points[simplices[:, 1:]] - points[simplices[:, :1]]  # [m, k, d]
    gram = np.einsum("mkd,mld->mkl", edges, edges)
    factorial = np.prod(np.arange(1, simplices.shape[1]))
    return np.sqrt(np.clip(np.linalg.det(gram), 0.0, None)) / factorial


def _lumped_mass(points: np.ndarray, cells: dict[str, np.ndarray]) -> np.ndarray:
    """Each top-dimensional cell gives ``|cell| / n_vertices`` to each of its vertices."""
    top = max(CELL_TYPES[k][0] for k in cells)
    scale = float(np.ptp(points, axis=0).max()) or 1.0
    weights = np.zeros(len(points))
    for kind, conn in cells.items():
        if CELL_TYPES[kind][0] != top:
            continue
        if kind == "quad":  # area of the two triangles sharing the 0-2 diagonal
            measures = (_simplex_measures(points, conn[:, [0, 1, 2]])
                        + _simplex_measures(points, conn[:, [0, 2, 3]]))
        else:
            measures = _simplex_measures(points, conn)
        _check_not_degenerate(measures, conn, kind, scale**top)
        np.add.at(weights, conn.ravel(), np.repeat(measures / conn.shape[1], conn.shape[1]))
    return weights


def _check_not_degenerate(measures: np.ndarray, conn: np.ndarray, kind: str, reference: float) -> None:
    degenerate = measures <= 1e-12 * reference
    if degenerate.any():
        first = int(np.flatnonzero(degenerate)[0])
        raise ValueError(
            f"cells: {int(degenerate.sum())} of {len(measures)} {kind} cells are degenerate (zero measure), "
            f"first at cell {first} with vertices {conn[first].tolist()}; remove them (a Delaunay "
            f"triangulation of points on a lattice adds flat slivers) or build boxes with Mesh.structured"
        )
