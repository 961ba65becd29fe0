r"""Level sets of 3D fields as triangle meshes (marching cubes).

:func:`extract_surface` samples a scalar field on a uniform node grid of its
box, chunk by chunk and without gradients, runs scikit-image's marching cubes
(Lewiner et al., 2003) on the level :math:`f = \ell` and maps the vertices back
to the field's coordinates, or through a :class:`~sciml.fields.geometry.UnitBoxTransform`
back to the coordinates of the original shape. Triangles are oriented so that
their normals point towards increasing values (outwards for a signed distance
negative inside).
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.measure import marching_cubes

from sciml.domain import Domain
from sciml.grid import Grid
from sciml.mesh import Mesh

from .geometry import TriangleSurface, UnitBoxTransform

__all__ = ["extract_surface", "sample_volume"]


def sample_volume(field, resolution: int = 128, domain: Domain | None = None, chunk: int = 65536,
                  channel: int = 0) -> tuple[np.ndarray, Grid]:
    """Values ``[r, r, r]`` of one channel of a 3D field on a node-centred uniform grid, without gradients.

    Parameters
    ----------
    field : Field
        Any field with ``in_dim == 3``.
    resolution : int
        Grid nodes per axis (``>= 2``).
    domain : Domain, optional
        Box to sample (default: the field's domain).
    chunk : int
        Points evaluated per call (bounds the memory).
    channel : int
        Output channel to return.

    Returns
    -------
    values : ndarray ``[r, r, r]`` (float64)
    grid : Grid
    """
    if getattr(field, "in_dim", None) != 3:
        raise ValueError(f"field: expected a 3D field (in_dim 3), got {type(field).__name__} with "
                         f"in_dim {getattr(field, 'in_dim', None)!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution: expected an int >= 2, got {resolution!r}")
    domain = domain if domain is not None else field.domain
    if not isinstance(domain, Domain) or domain.ndim != 3:
        raise ValueError(f"domain: expected a 3D sciml.Domain, got {domain!r}")
    if not 0 <= channel < field.out_channels:
        raise ValueError(f"channel: expected an index in [0, {field.out_channels}), got {channel!r}")
    grid = Grid.uniform((resolution,) * 3, domain)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk: expected a positive int, got {chunk!r}")
    points = grid.points(dtype=field._param_dtype(), device=field._param_device())
    with torch.no_grad():
        values = torch.cat([field(points[i:i + chunk])[:, channel] for i in range(0, len(points), chunk)])
    values = values.cpu().double().numpy().reshape(grid.shape)
    if not np.isfinite(values).all():
        raise FloatingPointError(f"field: {int((~np.isfinite(values)).sum())} of {values.size} sampled values are "
                                 "NaN or infinite; the field has diverged")
    return values, grid


def extract_surface(field, resolution: int = 128, level: float = 0.0, domain: Domain | None = None,
                    transform: UnitBoxTransform | None = None, chunk: int = 65536, channel: int = 0) -> Mesh:
    r"""Triangle mesh of the level set :math:`\{x : f(x) = \ell\}` of a 3D field.

    Parameters
    ----------
    field : Field
        A 3D field (an SDF, negative inside; or occupancy logits at ``level=0``).
    resolution : int
        Marching-cubes grid nodes per axis; the surface is resolved to about
        one cell, :math:`h = L / (r - 1)`.
    level : float
        Iso-value :math:`\ell`.
    domain : Domain, optional
        Box to search (default: the field's domain).
    transform : UnitBoxTransform, optional
        If given, vertices are mapped by ``transform.inverse`` (from the unit
        box the field was fitted in back to the original shape's coordinates).
    chunk : int
        Points evaluated per call.
    channel : int
        Output channel holding the scalar.

    Returns
    -------
    Mesh
        Triangles (normals towards increasing values), degenerate ones removed.

    Raises
    ------
    ValueError
        When the sampled values do not cross ``level`` (no surface in the box).

    Examples
    --------
    >>> from sciml.fields.base import Field
    >>> class Ball(Field):
    ...     def evaluate(self, x):
    ...         return (x - 0.5).norm(dim=-1, keepdim=True) - 0.3
    >>> mesh = extract_surface(Ball(Domain.unit(3)), resolution=32)
    >>> surface = TriangleSurface.from_mesh(mesh)
    >>> round(surface.volume / (4 / 3 * np.pi * 0.3 ** 3), 2)
    0.99
    """
    if transform is not None and not isinstance(transform, UnitBoxTransform):
        raise TypeError(f"transform: expected a UnitBoxTransform, got {type(transform).__name__}")
    values, grid = sample_volume(field, resolution, domain, chunk, channel)
    level = float(level)
    lo, hi = float(values.min()), float(values.max())
    if not lo < level < hi:
        raise ValueError(f"level: the field's values on the {resolution}^3 grid lie in [{lo:.4g}, {hi:.4g}] and do not "
                         f"cross the level {level:g}; there is no surface to extract")
    spacing = tuple(float(h) for h in grid.spacing)
    vertices, faces, _, _ = marching_cubes(values, level, spacing=spacing, gradient_direction="descent",
                                           allow_degenerate=False)
    vertices = vertices + np.asarray(grid.domain.lower)
    if transform is not None:
        vertices = transform.inverse(vertices)
    surface = TriangleSurface.from_arrays(vertices, faces.astype(np.int64), drop_degenerate=False)
    surface = _drop_slivers(surface)
    return surface.to_mesh()


def _drop_slivers(surface: TriangleSurface) -> TriangleSurface:
    """Remove triangles too thin for :class:`sciml.Mesh` (area <= 1e-12 of the box size squared)."""
    scale = float(np.ptp(surface.vertices, axis=0).max()) or 1.0
    keep = surface.face_areas() > 2e-12 * scale**2
    if keep.all():
        return surface
    return TriangleSurface.from_arrays(surface.vertices, surface.faces[keep], drop_degenerate=False)
