r"""Triangle surfaces for field fitting: reading, normalisation, watertightness, sampling, distances.

A :class:`TriangleSurface` is the geometry-processing view of a closed or open
surface in 3D: vertices ``[n, 3]`` (float64) and triangles ``[m, 3]`` (int64).
It is read from any file meshio reads, or from a :class:`sciml.Mesh`
(triangles and quads; the boundary of a tetrahedral mesh).

Distances and inside/outside tests use libigl: the unsigned distance to the
nearest triangle through an AABB tree, and the sign from the generalised
winding number (Jacobson et al., 2013),

.. math::

    w(x) = \frac{1}{4\pi} \sum_{f} \Omega_f(x),

the sum of the signed solid angles of the triangles seen from ``x``: ``1``
inside and ``0`` outside a closed, consistently oriented surface, and a
smooth, robust inside/outside indicator (``w > 1/2``) for surfaces with small
holes. A surface that is not watertight gets no sign: :func:`signed_distance`
then falls back to the unsigned distance with a warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import warnings
from pathlib import Path

import igl
import meshio
import numpy as np

from sciml.domain import Domain
from sciml.mesh import Mesh

__all__ = [
    "NotWatertightWarning",
    "TriangleSurface",
    "UnitBoxTransform",
    "WatertightReport",
    "icosphere",
    "occupancy",
    "sample_near_surface",
    "signed_distance",
    "unsigned_distance",
    "watertight_report",
    "winding_number",
]


class NotWatertightWarning(UserWarning):
    """A surface with boundary, non-manifold or inconsistently oriented edges: no reliable sign."""


# ---------------------------------------------------------------------------------- the surface
@dataclasses.dataclass(frozen=True)
class TriangleSurface:
    """Vertices ``[n, 3]`` and triangles ``[m, 3]``; checked, finite, no degenerate triangles.

    Parameters
    ----------
    vertices : array ``[n, 3]``
        Finite coordinates.
    faces : integer array ``[m, 3]``
        Vertex indices per triangle, ``m >= 1``.

    Examples
    --------
    >>> sphere = icosphere(2)
    >>> sphere.faces.shape, round(sphere.area / (4 * np.pi), 2)
    ((320, 3), 0.98)
    """

    vertices: np.ndarray
    faces: np.ndarray

    def __post_init__(self):
        v = np.asarray(self.vertices)
        f = np.asarray(self.faces)
        if v.dtype.kind not in "iuf" or v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 3:
            raise ValueError(f"vertices: expected a numeric [n, 3] array with n >= 3, got {v.dtype} {v.shape}")
        if not np.isfinite(v).all():
            bad = int((~np.isfinite(v)).any(1).sum())
            raise ValueError(f"vertices: expected finite coordinates, found {bad} vertices with NaN or infinite entries")
        if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] == 0 or (f.dtype.kind not in "iu"):
            raise ValueError(f"faces: expected a non-empty integer [m, 3] array of triangles, got {f.dtype} {f.shape}")
        if f.min() < 0 or f.max() >= v.shape[0]:
            raise ValueError(f"faces: vertex indices must lie in [0, {v.shape[0]}), got [{f.min()}, {f.max()}]")
        v = np.ascontiguousarray(v, dtype=np.float64)
        f = np.ascontiguousarray(f, dtype=np.int64)
        v.setflags(write=False)
        f.setflags(write=False)
        object.__setattr__(self, "vertices", v)
        object.__setattr__(self, "faces", f)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, vertices, faces, drop_degenerate: bool = True) -> TriangleSurface:
        """Build from arrays, dropping zero-area triangles and unreferenced vertices.

        Dropped triangles are reported with a ``UserWarning``; a surface with no
        triangle of positive area raises ``ValueError``.
        """
        v = np.asarray(vertices, dtype=np.float64)
        f = np.asarray(faces)
        surface = cls(v, f)  # shape, dtype and finiteness checks
        if drop_degenerate:
            area = surface.face_areas()
            scale = float(np.ptp(surface.vertices, axis=0).max()) or 1.0
            keep = area > 1e-14 * scale**2
            if not keep.any():
                raise ValueError(f"faces: all {len(keep)} triangles are degenerate (zero area); the surface is empty")
            if not keep.all():
                warnings.warn(f"dropped {int((~keep).sum())} of {len(keep)} degenerate (zero-area) triangles",
                              UserWarning, stacklevel=2)
                f = surface.faces[keep]
        used = np.unique(f)
        remap = np.full(len(v), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return cls(v[used], remap[f])

    @classmethod
    def from_mesh(cls, mesh: Mesh) -> TriangleSurface:
        """Triangles of a 3D :class:`sciml.Mesh` (quads split; a tetrahedral mesh gives its boundary)."""
        if not isinstance(mesh, Mesh):
            raise TypeError(f"mesh: expected a sciml.Mesh, got {type(mesh).__name__}")
        if mesh.ndim != 3:
            raise ValueError(f"mesh: expected a mesh in 3D, got {mesh.ndim}D points")
        return cls._from_points_cells(mesh.points().numpy(), mesh.cells)

    @classmethod
    def read(cls, path: str | os.PathLike) -> TriangleSurface:
        """Read any surface or volume mesh meshio reads (``.ply``, ``.obj``, ``.stl``, ``.vtk``, ``.off``, ...)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"path: no mesh file at {str(path)!r}")
        chatter = io.StringIO()
        try:
            # meshio's binary STL sniffing overflows on purpose; its readers print, and some call sys.exit
            with np.errstate(all="ignore"), contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
                raw = meshio.read(path)
        except (Exception, SystemExit) as exc:
            said = " ".join(chatter.getvalue().split())
            raise ValueError(f"path: could not read {str(path)!r} as a mesh ({type(exc).__name__}: {exc}"
                             f"{'; ' + said if said else ''})") from None
        cells: dict[str, list[np.ndarray]] = {}
        for block in raw.cells:
            cells.setdefault(block.type, []).append(np.asarray(block.data))
        points = np.asarray(raw.points, dtype=np.float64)
        if points.ndim != 2 or points.shape[0] == 0:
            raise ValueError(f"path: {str(path)!r} holds no vertices")
        if points.shape[1] != 3:
            raise ValueError(f"path: expected 3D vertices in {str(path)!r}, got {points.shape[1]} coordinates")
        return cls._from_points_cells(points, {k: np.concatenate(v) for k, v in cells.items()}, str(path))

    @classmethod
    def _from_points_cells(cls, points, cells: dict, where: str = "mesh") -> TriangleSurface:
        if not np.isfinite(points).all():
            bad = int((~np.isfinite(points)).any(1).sum())
            raise ValueError(f"{where}: {bad} vertices have NaN or infinite coordinates")
        blocks = []
        if "triangle" in cells:
            blocks.append(np.asarray(cells["triangle"]))
        if "quad" in cells:
            quads = np.asarray(cells["quad"])
            blocks += [quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]
        if not blocks and "tetra" in cells:
            blocks.append(_tetra_boundary(points, np.asarray(cells["tetra"], dtype=np.int64)))
        if not blocks or sum(len(b) for b in blocks) == 0:
            raise ValueError(f"{where}: no triangles, quads or tetrahedra to build a surface from "
                             f"(cell types: {sorted(cells) or 'none'})")
        return cls.from_arrays(points, np.concatenate(blocks).astype(np.int64))

    def to_mesh(self) -> Mesh:
        """As a :class:`sciml.Mesh` of triangles (for writing with meshio)."""
        # copies: Mesh wraps its input with torch.from_numpy, which warns on read-only arrays
        return Mesh(self.vertices.copy(), {"triangle": self.faces.copy()})

    def write(self, path: str | os.PathLike) -> Path:
        """Write atomically (temporary file, then rename) in the format implied by the suffix, via meshio.

        Indices are stored as 32-bit integers where they fit (PLY and others hold no 64-bit indices).
        """
        path = Path(path)
        faces = self.faces.astype(np.int32) if len(self.vertices) < 2**31 else self.faces
        tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
        try:
            meshio.write(tmp, meshio.Mesh(self.vertices.copy(), [("triangle", faces)]))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    # -- geometry -----------------------------------------------------------------------------
    def face_areas(self) -> np.ndarray:
        """Area of each triangle ``[m]``."""
        v = self.vertices[self.faces]
        return 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)

    def face_normals(self) -> np.ndarray:
        """Unit normal of each triangle ``[m, 3]`` (right-hand rule on the vertex order)."""
        v = self.vertices[self.faces]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        return n / np.linalg.norm(n, axis=1, keepdims=True)

    @property
    def area(self) -> float:
        """Total area :math:`\\sum_f |f|`."""
        return float(self.face_areas().sum())

    @property
    def volume(self) -> float:
        r"""Enclosed volume by the divergence theorem, :math:`\frac16 \sum_f v_0 \cdot (v_1 \times v_2)`.

        Positive for a closed surface with outward normals; meaningless for an open one.
        """
        v = self.vertices[self.faces]
        return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)

    @property
    def domain(self) -> Domain:
        """The bounding box."""
        return Domain.bounding(self.vertices)

    def transformed(self, transform: UnitBoxTransform, inverse: bool = False) -> TriangleSurface:
        """The surface with vertices mapped by ``transform`` (or its inverse)."""
        mapped = transform.inverse(self.vertices) if inverse else transform(self.vertices)
        return TriangleSurface(mapped, self.faces)

    def __repr__(self) -> str:
        return f"TriangleSurface(vertices={len(self.vertices)}, faces={len(self.faces)})"


def _tetra_boundary(points: np.ndarray, tetra: np.ndarray) -> np.ndarray:
    """Boundary triangles of a tetrahedral mesh, oriented outwards (tetrahedra first made positive)."""
    edges = points[tetra[:, 1:]] - points[tetra[:, :1]]
    negative = np.linalg.det(edges) < 0
    tetra = tetra.copy()
    tetra[negative] = tetra[negative][:, [1, 0, 2, 3]]
    boundary, _, _ = igl.boundary_facets(np.ascontiguousarray(tetra))
    v = points[boundary]
    if np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() < 0:
        boundary = boundary[:, ::-1]
    return np.ascontiguousarray(boundary)


def icosphere(subdivisions: int = 2, radius: float = 1.0, center=(0.0, 0.0, 0.0)) -> TriangleSurface:
    """A closed, outward-oriented sphere: an icosahedron subdivided ``subdivisions`` times (``20 * 4**s`` faces).

    Examples
    --------
    >>> s = icosphere(3, radius=0.5)
    >>> len(s.faces), watertight_report(s).watertight
    (1280, True)
    """
    if isinstance(subdivisions, bool) or not isinstance(subdivisions, int) or not 0 <= subdivisions <= 8:
        raise ValueError(f"subdivisions: expected an int in 0..8, got {subdivisions!r}")
    if not radius > 0:
        raise ValueError(f"radius: expected a positive number, got {radius!r}")
    t = (1.0 + 5.0**0.5) / 2.0
    v = np.array([[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t],
                  [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], dtype=np.float64)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                  [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
                  [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]], dtype=np.int64)
    for _ in range(subdivisions):
        edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        unique, inverse = np.unique(edges, axis=0, return_inverse=True)
        mid = len(v) + inverse.reshape(3, -1).T  # midpoint vertex of edges 01, 12, 20 per face
        v = np.concatenate([v, 0.5 * (v[unique[:, 0]] + v[unique[:, 1]])])
        a, b, c = f.T
        ab, bc, ca = mid.T
        f = np.concatenate([np.stack(s, 1) for s in ((a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca))])
    v = v / np.linalg.norm(v, axis=1, keepdims=True) * radius + np.asarray(center, dtype=np.float64)
    return TriangleSurface(v, f)


# ---------------------------------------------------------------------------------- normalisation
@dataclasses.dataclass(frozen=True)
class UnitBoxTransform:
    r"""Similarity map into the unit box, :math:`u = (x - c)\,s + \tfrac12`, and back.

    ``from_bounds`` centres the bounding box and scales its longest side to
    ``1 - 2 * padding`` (one scale for all axes, so distances scale by ``s``
    and shapes are not distorted): a distance :math:`d_u` measured in the unit
    box is :math:`d_u / s` in the original coordinates.

    Examples
    --------
    >>> t = UnitBoxTransform.from_bounds([[0, 0, 0], [4, 2, 2]], padding=0.1)
    >>> t(np.array([[4.0, 2.0, 2.0]])).round(3).tolist()
    [[0.9, 0.7, 0.7]]
    >>> t.inverse(t(np.array([[1.0, 2.0, 3.0]]))).round(12).tolist()
    [[1.0, 2.0, 3.0]]
    """

    center: tuple
    scale: float

    @classmethod
    def from_bounds(cls, points, padding: float = 0.1) -> UnitBoxTransform:
        """The transform fitting the bounding box of ``points`` ``[n, 3]`` into ``[padding, 1 - padding]^3``."""
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[0] == 0 or not np.isfinite(pts).all():
            raise ValueError(f"points: expected a non-empty finite [n, d] array, got shape {pts.shape}")
        if not 0.0 <= padding < 0.5:
            raise ValueError(f"padding: expected a number in [0, 0.5), got {padding!r}")
        lo, hi = pts.min(0), pts.max(0)
        extent = float((hi - lo).max())
        if extent <= 0:
            raise ValueError("points: all points coincide; a degenerate shape cannot be normalised")
        return cls(tuple(float(c) for c in 0.5 * (lo + hi)), (1.0 - 2.0 * padding) / extent)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - np.asarray(self.center)) * self.scale + 0.5

    def inverse(self, u: np.ndarray) -> np.ndarray:
        """Map unit-box coordinates back to the original ones."""
        return (np.asarray(u, dtype=np.float64) - 0.5) / self.scale + np.asarray(self.center)

    def to_dict(self) -> dict:
        return {"center": list(self.center), "scale": self.scale}

    @classmethod
    def from_dict(cls, data: dict) -> UnitBoxTransform:
        return cls(tuple(float(c) for c in data["center"]), float(data["scale"]))


# ---------------------------------------------------------------------------------- watertightness
@dataclasses.dataclass(frozen=True)
class WatertightReport:
    """Edge topology of a triangle surface.

    Attributes
    ----------
    boundary_edges : int
        Edges used by one triangle (holes).
    nonmanifold_edges : int
        Edges used by three or more triangles.
    misoriented_edges : int
        Edges shared by two triangles that traverse it in the same direction
        (inconsistent orientation: a Möbius band or flipped faces).
    nonmanifold_vertices : int
        Vertices whose incident triangles form more than one fan (pinched).
    """

    boundary_edges: int
    nonmanifold_edges: int
    misoriented_edges: int
    nonmanifold_vertices: int

    @property
    def watertight(self) -> bool:
        """Closed, manifold and consistently oriented: every edge shared by exactly two triangles in opposite directions."""
        return self.boundary_edges == self.nonmanifold_edges == self.misoriented_edges == self.nonmanifold_vertices == 0

    def describe(self) -> str:
        """A sentence listing what is wrong (or ``"watertight"``)."""
        problems = [f"{n} {what}" for n, what in (
            (self.boundary_edges, "boundary edges (holes)"),
            (self.nonmanifold_edges, "edges shared by more than two triangles"),
            (self.misoriented_edges, "edges with inconsistently oriented triangles"),
            (self.nonmanifold_vertices, "non-manifold (pinched) vertices")) if n]
        return "watertight" if not problems else "not watertight: " + ", ".join(problems)


def watertight_report(surface: TriangleSurface) -> WatertightReport:
    """Count the edges and vertices that keep ``surface`` from being a closed oriented manifold.

    Every directed half-edge ``(a, b)`` of a triangle must be matched by
    exactly one opposite half-edge ``(b, a)`` and by no other ``(a, b)``.

    Examples
    --------
    >>> closed = icosphere(1)
    >>> watertight_report(closed).watertight
    True
    >>> opened = TriangleSurface.from_arrays(closed.vertices, closed.faces[1:])
    >>> watertight_report(opened).describe()
    'not watertight: 3 boundary edges (holes)'
    """
    _check_surface(surface)
    f = surface.faces
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    undirected, inverse, uses = np.unique(np.sort(directed, 1), axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    forward = np.zeros(len(undirected), dtype=np.int64)  # half-edges running from the smaller index
    np.add.at(forward, inverse, (directed[:, 0] < directed[:, 1]).astype(np.int64))
    pairs = uses == 2
    vertex_ok = igl.is_vertex_manifold(f)[np.unique(f)]  # unreferenced vertices would count as non-manifold
    return WatertightReport(
        boundary_edges=int((uses == 1).sum()),
        nonmanifold_edges=int((uses > 2).sum()),
        misoriented_edges=int((pairs & (forward != 1)).sum()),
        nonmanifold_vertices=int((~vertex_ok).sum()),
    )


# ---------------------------------------------------------------------------------- distances
def _check_surface(surface) -> None:
    if not isinstance(surface, TriangleSurface):
        raise TypeError(f"surface: expected a TriangleSurface, got {type(surface).__name__}")


def _check_points(points, name: str = "points") -> np.ndarray:
    arr = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points)
    if arr.dtype.kind not in "iuf" or arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name}: expected a numeric [n, 3] array of coordinates, got {arr.dtype} {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(1).sum())
        raise ValueError(f"{name}: expected finite coordinates, found {bad} points with NaN or infinite entries")
    return np.ascontiguousarray(arr, dtype=np.float64)


def unsigned_distance(points, surface: TriangleSurface) -> np.ndarray:
    """Euclidean distance ``[n]`` from each point ``[n, 3]`` to the nearest point of the surface (AABB tree)."""
    _check_surface(surface)
    p = _check_points(points)
    squared, _, _ = igl.point_mesh_squared_distance(p, surface.vertices, surface.faces)
    return np.sqrt(np.maximum(squared, 0.0))


def winding_number(points, surface: TriangleSurface, fast: bool = False) -> np.ndarray:
    """Generalised winding number ``[n]`` of the surface around each point (1 inside, 0 outside if closed).

    ``fast=True`` uses libigl's Barnes–Hut approximation (much faster for many points on large meshes).

    Examples
    --------
    >>> winding_number(np.array([[0.0, 0, 0], [2.0, 0, 0]]), icosphere(2)).round(6).tolist()
    [1.0, 0.0]
    """
    _check_surface(surface)
    p = _check_points(points)
    if fast:
        return igl.fast_winding_number(surface.vertices, surface.faces, p)
    return igl.winding_number(surface.vertices, surface.faces, p)


def occupancy(points, surface: TriangleSurface, fast: bool = True) -> np.ndarray:
    """Inside indicator ``[n]`` (bool): generalised winding number above 1/2."""
    return winding_number(points, surface, fast=fast) > 0.5


def signed_distance(points, surface: TriangleSurface, signed: bool | None = None, fast: bool = True) -> np.ndarray:
    r"""Distance ``[n]`` to the surface, negative inside (sign from the generalised winding number).

    Parameters
    ----------
    points : array ``[n, 3]``
    surface : TriangleSurface
    signed : bool, optional
        ``None`` (default): signed if the surface is watertight, otherwise the
        unsigned distance with a :class:`NotWatertightWarning`. ``True`` forces
        the winding-number sign (it degrades gracefully on small holes);
        ``False`` returns the unsigned distance.
    fast : bool
        Fast (Barnes–Hut) winding number instead of the exact hierarchical one.

    Examples
    --------
    >>> d = signed_distance(np.array([[0.0, 0, 0], [2.0, 0, 0]]), icosphere(4))
    >>> d.round(2).tolist()
    [-1.0, 1.0]
    """
    _check_surface(surface)
    p = _check_points(points)
    if signed is None:
        report = watertight_report(surface)
        signed = report.watertight
        if not signed:
            warnings.warn(f"the surface is {report.describe()}; the sign of the distance is unreliable, "
                          "returning the unsigned distance", NotWatertightWarning, stacklevel=2)
    distance = unsigned_distance(p, surface)
    if signed:
        distance = np.where(winding_number(p, surface, fast=fast) > 0.5, -distance, distance)
    return distance


def sample_near_surface(surface: TriangleSurface, n_surface: int, n_uniform: int, sigmas=(0.01, 0.05),
                        bounds=((0.0, 1.0),) * 3, seed: int = 0) -> np.ndarray:
    r"""Training points ``[n_surface + n_uniform, 3]``: jittered surface samples plus uniform ones in ``bounds``.

    Surface points are drawn uniformly by area and moved by Gaussian noise
    :math:`\mathcal N(0, \sigma^2 I)`, the ``sigmas`` taking equal shares
    (coarse and fine bands around the surface); jittered points are clipped to
    ``bounds``. Uniform points cover the whole box, so the field learns the far
    field and the eikonal term sees everywhere.

    Examples
    --------
    >>> pts = sample_near_surface(icosphere(2, 0.3, (0.5, 0.5, 0.5)), 100, 50)
    >>> pts.shape, bool(((pts >= 0) & (pts <= 1)).all())
    ((150, 3), True)
    """
    _check_surface(surface)
    for name, n in (("n_surface", n_surface), ("n_uniform", n_uniform)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{name}: expected an integer >= 0, got {n!r}")
    sigmas = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    if sigmas.size == 0 or not (sigmas >= 0).all():
        raise ValueError(f"sigmas: expected non-negative noise scales, got {sigmas.tolist()}")
    box = np.asarray(bounds, dtype=np.float64)
    rng = np.random.default_rng(seed)
    pieces = []
    if n_surface:
        on_surface = _points_on_surface(surface, int(n_surface), rng)
        scale = sigmas[np.arange(n_surface) % sigmas.size][:, None]
        pieces.append(np.clip(on_surface + scale * rng.standard_normal((n_surface, 3)), box[:, 0], box[:, 1]))
    if n_uniform:
        pieces.append(box[:, 0] + (box[:, 1] - box[:, 0]) * rng.random((n_uniform, 3)))
    return np.concatenate(pieces) if pieces else np.zeros((0, 3))


def _points_on_surface(surface: TriangleSurface, n: int, rng: np.random.Generator, return_faces: bool = False):
    """``n`` points uniform by area on the surface (and the triangle each lies on)."""
    area = surface.face_areas()
    face = rng.choice(len(area), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    bary = np.stack([1.0 - s, s * (1.0 - r2), s * r2], 1)
    points = np.einsum("nk,nkd->nd", bary, surface.vertices[surface.faces[face]])
    return (points, face) if return_faces else points
