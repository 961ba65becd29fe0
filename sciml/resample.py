r"""Resampling: values known on one discretization, evaluated on another.

Every method is a linear map :math:`v_{\text{to}} = R\, v_{\text{from}}` applied to each
function of the batch and each channel; :math:`R` depends on the geometry only, so the
result is differentiable with respect to the values.

==============  =====================================  ======================================
method          from -> to                             exact for
==============  =====================================  ======================================
``fourier``     periodic uniform Grid -> periodic      trigonometric polynomials resolved by
                uniform Grid (node or cell centred)    both grids
                on the same domain
``polynomial``  Chebyshev Grid -> any discretization   polynomials of the grid's degree
``linear``      any Grid -> any discretization         multilinear functions
``scattered``   Mesh / PointCloud -> any               linear functions (inside the mesh /
                                                       the convex hull of the points)
``nearest``     any -> any                             constants
``auto``        ``fourier`` when possible, ``polynomial`` from Chebyshev grids, ``linear`` from
                other grids, ``scattered`` otherwise
==============  =====================================  ======================================

Outside the source, ``linear`` clamps each coordinate to the source grid's coordinate range
(constant extrapolation) on bounded axes and wraps on periodic axes; ``scattered`` gives points
outside the mesh (or the convex hull of a point cloud) the value of the nearest source point.

Geometry (the indices and weights of :math:`R`) is computed in float64 NumPy on the CPU;
the values stay in their dtype and on their device. Complex values are resampled as real and
imaginary parts (every :math:`R` here is real). Nothing is cached between calls.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import Delaunay, QhullError, cKDTree

from ._precision import upcast_half
from .discretization import Discretization
from .grid import Grid, GridAxis
from .mesh import Mesh
from .sampled import Sampled

__all__ = ["resample"]

METHODS = ("auto", "fourier", "polynomial", "linear", "scattered", "nearest")

#: barycentric coordinates down to this (negative) value still count as inside a simplex
INSIDE_TOLERANCE = 1e-9


def resample(sampled: Sampled, to: Discretization, method: str = "auto") -> Sampled:
    r"""Values of ``sampled`` on the points of another discretization ``to``.

    Parameters
    ----------
    sampled : Sampled
        Values ``[batch, channels, *sampled.on.shape]``, real or complex.
    to : Discretization
        Target points, in as many dimensions as ``sampled.on``.
    method : {"auto", "fourier", "polynomial", "linear", "scattered", "nearest"}
        ``fourier``: truncate or zero-pad the discrete Fourier series per axis,

        .. math::
            u(x) = \sum_{|k| < n/2} \hat u_k e^{2\pi i k (x - x_0)/L}
                   + \hat u_{n/2} \cos\big(\pi n (x - x_0)/L\big) \quad (n \text{ even}),

        evaluated on the target nodes (a Nyquist mode is split evenly between
        :math:`\pm n/2` when refining and folded back when coarsening, so real
        data stay real and up-then-down sampling is the identity).
        ``polynomial``: tensor-product polynomial interpolation through the points
        of a Chebyshev grid (barycentric formula); spectrally accurate for smooth data.
        ``linear``: multilinear interpolation on the source grid cells.
        ``scattered``: barycentric (piecewise-linear) interpolation on the mesh
        simplices, or on the Delaunay triangulation of a point cloud.
        ``nearest``: value of the nearest source point (periodic axes wrap).
        ``auto`` picks ``fourier`` between periodic uniform grids of one domain,
        ``polynomial`` from Chebyshev grids, ``linear`` from other grids and ``scattered`` from meshes and point clouds;
        values already on ``to`` are returned as they are (shared, not copied).

    Returns
    -------
    Sampled
        Values ``[batch, channels, *to.shape]`` on ``to``, same dtype and device,
        same channel names and attributes.

    Raises
    ------
    TypeError
        ``sampled`` is not a :class:`Sampled` or ``to`` not a :class:`Discretization`.
    ValueError
        Unknown ``method``, dimension mismatch, or a method that does not apply
        to these discretizations (the message says which argument and why).

    Examples
    --------
    >>> grid = Grid.uniform((16, 16), Domain.unit(2, periodic=True))
    >>> x, y = grid.mesh().unbind(-1)
    >>> u = Sampled(torch.sin(2 * torch.pi * x)[None, None], on=grid)
    >>> fine = resample(u, grid.with_shape((64, 48)))      # auto: Fourier
    >>> fine.shape
    (1, 1, 64, 48)
    >>> cloud = PointCloud([[0.125, 0.5]], domain=grid.domain)
    >>> round(float(resample(u, cloud, "linear").values), 12)
    0.707106781187
    """
    method = _check_arguments(sampled, to, method)
    if to == sampled.on:
        return Sampled(sampled.values, to, sampled.channel_names, sampled.attrs, validate=False)
    apply = {"fourier": _fourier, "polynomial": _polynomial, "linear": _linear, "scattered": _scattered,
             "nearest": _nearest}[method]
    values = _per_real_part(lambda v: apply(v, sampled.on, to), sampled.values)
    return Sampled(values, to, sampled.channel_names, sampled.attrs, validate=False)


# -- argument checks and dispatch ---------------------------------------------------------------
def _check_arguments(sampled, to, method) -> str:
    """Validate the inputs of :func:`resample`; return the concrete method."""
    if not isinstance(sampled, Sampled):
        raise TypeError(f"sampled: expected a Sampled, got {type(sampled).__name__}")
    if not isinstance(to, Discretization):
        raise TypeError(f"to: expected a Discretization (Grid, PointCloud, Mesh), got {type(to).__name__}")
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    source = sampled.on
    if to.ndim != source.ndim:
        raise ValueError(f"to: expected a discretization in {source.ndim}D like sampled.on ({source!r}), "
                         f"got {to.ndim}D ({to!r})")
    if method == "auto":
        return _auto_method(source, to)
    if method == "polynomial" and not (isinstance(source, Grid) and all(a.kind == "chebyshev" for a in source.axes)):
        raise ValueError(f"sampled.on: method 'polynomial' needs a Chebyshev Grid, got {source!r}")
    if method == "fourier":
        _check_fourier(source, to)
    if method == "linear" and not isinstance(source, Grid):
        raise ValueError(f"sampled.on: method 'linear' needs values on a Grid, got {source!r}; "
                         "use 'scattered' or 'nearest'")
    return method


def _auto_method(source: Discretization, target: Discretization) -> str:
    if not isinstance(source, Grid):
        return "scattered"
    if _is_periodic_uniform_grid(source) and _is_periodic_uniform_grid(target) and _same_domain(source, target):
        return "fourier"
    if all(a.kind == "chebyshev" for a in source.axes):
        return "polynomial"
    return "linear"


def _is_periodic_uniform_grid(disc: Discretization) -> bool:
    return isinstance(disc, Grid) and all(a.is_periodic_uniform for a in disc.axes)


def _same_domain(a: Discretization, b: Discretization) -> bool:
    return (a.domain.periodic == b.domain.periodic
            and np.allclose(a.domain.bounds, b.domain.bounds, rtol=1e-12, atol=0.0))


def _check_fourier(source: Discretization, target: Discretization) -> None:
    need = "method 'fourier' needs a Grid whose axes are all uniform (node- or cell-centred) and periodic"
    if not _is_periodic_uniform_grid(source):
        raise ValueError(f"sampled.on: {need}, got {source!r}; use method 'linear'")
    if not _is_periodic_uniform_grid(target):
        raise ValueError(f"to: {need}, got {target!r}; use method 'linear'")
    if not _same_domain(source, target):
        raise ValueError(f"to: method 'fourier' needs the domain of sampled.on {source.domain.bounds}, "
                         f"got {target.domain.bounds}")


def _per_real_part(apply, values: torch.Tensor) -> torch.Tensor:
    """Apply a real linear map to real values, or to the real and imaginary parts of complex ones."""
    if values.is_complex():
        return torch.complex(apply(values.real), apply(values.imag))
    return apply(values)


# -- fourier --------------------------------------------------------------------------------------
def _fourier(values: torch.Tensor, source: Grid, target: Grid) -> torch.Tensor:
    """Band-limited resampling, one axis after the other (the map is a tensor product)."""
    out = upcast_half(values)
    for axis, (a, b) in enumerate(zip(source.axes, target.axes)):
        out = _fourier_axis(out, 2 + axis, b.size, a.offset, b.offset)
    return out.to(values.dtype)


def _fourier_axis(values: torch.Tensor, dim: int, size: int, shift: float = 0.0,
                  target_shift: float = 0.0) -> torch.Tensor:
    r"""Resample real ``values`` along ``dim`` from ``n`` to ``size`` equispaced periodic points.

    The source points sit at ``(j + shift) L / n`` and the target points at
    ``(m + target_shift) L / size`` (shift 0 for nodes, 1/2 for cell centres).
    With :math:`c_k = \frac1n e^{-2\pi i k s/n} \sum_j u_j e^{-2\pi i jk/n}`, the coefficients
    of the trigonometric interpolant, modes below both Nyquist frequencies are kept and
    evaluated at the targets, the rest are dropped or zero-padded. Refining an even ``n``:
    its Nyquist mode becomes the pair :math:`\pm n/2`, each with :math:`c_{n/2}/2`.
    Coarsening to an even ``size``: the new Nyquist mode gathers :math:`c_{s/2} + c_{-s/2}`,
    whose real samples are :math:`2\,\mathrm{Re}(c_{s/2} e^{i\pi t})(-1)^m`.
    """
    n = values.shape[dim]
    if n == size and shift == target_shift:
        return values
    spectrum = _shifted(torch.fft.rfft(values, dim=dim, norm="forward"), dim, -shift / n)
    kept = (min(n, size) + 1) // 2  # modes 0 .. kept-1 lie strictly below both Nyquist frequencies
    parts = [spectrum.narrow(dim, 0, kept)]
    if size > n and n % 2 == 0:
        parts.append(spectrum.narrow(dim, n // 2, 1) / 2)
    spectrum_out = _shifted(torch.cat(parts, dim=dim), dim, target_shift / size)
    if size <= n and size % 2 == 0:  # the target's Nyquist mode: real samples of the folded pair
        fold = 2.0 if size < n else 1.0
        nyquist = _shifted(spectrum.narrow(dim, size // 2, 1), dim, target_shift / size, start=size // 2)
        spectrum_out = torch.cat([spectrum_out, torch.complex(fold * nyquist.real, torch.zeros_like(nyquist.real))], dim)
    missing = size // 2 + 1 - spectrum_out.shape[dim]
    if missing > 0:
        pad_shape = list(spectrum_out.shape)
        pad_shape[dim] = missing
        spectrum_out = torch.cat([spectrum_out, spectrum_out.new_zeros(pad_shape)], dim=dim)
    return torch.fft.irfft(spectrum_out, n=size, dim=dim, norm="forward")


def _shifted(spectrum: torch.Tensor, dim: int, fraction: float, start: int = 0) -> torch.Tensor:
    """Multiply mode ``k = start, start + 1, ...`` along ``dim`` by ``exp(2 pi i k fraction)``."""
    if fraction == 0.0:
        return spectrum
    k = torch.arange(start, start + spectrum.shape[dim], device=spectrum.device, dtype=spectrum.real.dtype)
    phase = torch.polar(torch.ones_like(k), 2 * math.pi * fraction * k)
    shape = [1] * spectrum.ndim
    shape[dim] = -1
    return spectrum * phase.reshape(shape)


# -- polynomial (from Chebyshev grids) -------------------------------------------------------------
def _polynomial(values: torch.Tensor, source: Grid, target: Discretization) -> torch.Tensor:
    """Tensor-product polynomial interpolation through the Chebyshev points, per axis (barycentric)."""
    dtype, values = values.dtype, upcast_half(values)
    return _polynomial_work(values, source, target).to(dtype)


def _polynomial_work(values: torch.Tensor, source: Grid, target: Discretization) -> torch.Tensor:
    if isinstance(target, Grid):
        for axis, (src, dst) in enumerate(zip(source.axes, target.axes)):
            if src != dst:
                matrix = _as(values, _barycentric_matrix(src, dst.coordinates))
                values = torch.movedim(torch.movedim(values, 2 + axis, -1) @ matrix.T, -1, 2 + axis)
        return values
    points = target.points().numpy()
    letters = "ijk"[:source.ndim]
    out = values.unsqueeze(2)  # [B, C, 1, *shape]: the point index broadcasts through the contraction
    for axis, src in enumerate(source.axes):
        rest = letters[axis + 1:]
        matrix = _as(values, _barycentric_matrix(src, points[:, axis]))
        out = torch.einsum(f"bcp{letters[axis]}{rest},p{letters[axis]}->bcp{rest}", out, matrix)
    return out.reshape(*values.shape[:2], *target.shape)


def _barycentric_matrix(axis: GridAxis, targets: np.ndarray) -> np.ndarray:
    r"""Rows ``[m, n]`` of the polynomial interpolant through Chebyshev–Lobatto points.

    :math:`p(t) = \sum_j \frac{w_j}{t - x_j} u_j \big/ \sum_j \frac{w_j}{t - x_j}` with
    :math:`w_j = (-1)^j`, halved at both ends (the second barycentric formula); targets
    are clamped to the axis (no polynomial extrapolation) and nodes hit exactly give
    unit rows.
    """
    x = axis.coordinates
    w = (-1.0) ** np.arange(x.size)
    w[[0, -1]] *= 0.5
    t = np.clip(targets, x[0], x[-1])
    gaps = t[:, None] - x[None, :]
    hit = gaps == 0.0
    terms = w / np.where(hit, 1.0, gaps)
    rows = terms / terms.sum(axis=1, keepdims=True)
    on_node = hit.any(axis=1)
    rows[on_node] = hit[on_node].astype(float)
    return rows


def _as(values: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(matrix, dtype=values.real.dtype, device=values.device)


# -- linear (from grids) --------------------------------------------------------------------------
def _linear(values: torch.Tensor, source: Grid, target: Discretization) -> torch.Tensor:
    if isinstance(target, Grid):
        return _linear_grid_to_grid(values, source, target)
    index, weight = _grid_stencil(source, target.points().numpy())
    return _apply_stencil(values, index, weight, target.shape)


def _linear_grid_to_grid(values: torch.Tensor, source: Grid, target: Grid) -> torch.Tensor:
    """Separable interpolation: one 1D interpolation per axis instead of ``2^d`` gathers per point."""
    for axis, (src, dst) in enumerate(zip(source.axes, target.axes)):
        if src == dst:
            continue
        first, second, weight = _axis_stencil(src, dst.coordinates)
        dim = 2 + axis
        shape = [1] * values.ndim
        shape[dim] = -1
        w = torch.as_tensor(weight, dtype=values.dtype, device=values.device).reshape(shape)
        a = values.index_select(dim, torch.as_tensor(first, device=values.device))
        b = values.index_select(dim, torch.as_tensor(second, device=values.device))
        values = (1 - w) * a + w * b
    return values


def _axis_stencil(axis: GridAxis, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Indices ``i0, i1`` and weights ``w`` ``[m]`` with :math:`u(t) \approx (1-w)\,u_{i0} + w\,u_{i1}`.

    Bounded axes clamp ``t`` to ``[x_0, x_{n-1}]``; periodic axes wrap ``t`` into
    ``[x_0, x_0 + L)`` and interpolate between the last node and the first one shifted by ``L``.
    """
    x = axis.coordinates
    if axis.periodic:
        nodes = np.append(x, x[0] + axis.length)
        t = x[0] + np.mod(targets - x[0], axis.length)
    else:
        nodes = x
        t = np.clip(targets, x[0], x[-1])
    if nodes.size == 1:
        zero = np.zeros(t.shape, dtype=np.int64)
        return zero, zero, np.zeros(t.shape)
    first = np.clip(np.searchsorted(nodes, t, side="right") - 1, 0, nodes.size - 2)
    weight = (t - nodes[first]) / (nodes[first + 1] - nodes[first])
    return first, (first + 1) % x.size, weight


def _grid_stencil(source: Grid, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multilinear stencil ``[p, 2^d]`` (flat indices into the grid, weights) at ``points`` ``[p, d]``."""
    strides = np.cumprod((1,) + source.shape[:0:-1])[::-1]
    index = np.zeros((points.shape[0], 1), dtype=np.int64)
    weight = np.ones((points.shape[0], 1))
    for column, (axis, stride) in enumerate(zip(source.axes, strides)):
        first, second, w = _axis_stencil(axis, points[:, column])
        index = np.concatenate([index + stride * first[:, None], index + stride * second[:, None]], axis=1)
        weight = np.concatenate([weight * (1 - w[:, None]), weight * w[:, None]], axis=1)
    return index, weight


def _apply_stencil(values: torch.Tensor, index: np.ndarray, weight: np.ndarray, shape) -> torch.Tensor:
    r"""Sparse matrix product :math:`v^{\text{to}}_p = \sum_k w_{pk}\, v_{i_{pk}}` over batch and channels.

    ``index`` and ``weight`` are ``[p, k]``; ``values`` ``[batch, channels, *spatial]`` is
    flattened over space; the result is reshaped to ``[batch, channels, *shape]``.
    """
    flat = values.reshape(*values.shape[:2], -1)
    index = torch.as_tensor(index, device=values.device)
    weight = torch.as_tensor(weight, dtype=values.dtype, device=values.device)
    out = flat.index_select(-1, index[:, 0]) * weight[:, 0]
    for k in range(1, index.shape[1]):
        out = out + flat.index_select(-1, index[:, k]) * weight[:, k]
    return out.reshape(*values.shape[:2], *shape)


# -- scattered (from meshes and point clouds) -----------------------------------------------------
def _scattered(values: torch.Tensor, source: Discretization, target: Discretization) -> torch.Tensor:
    points, targets = source.points().numpy(), target.points().numpy()
    if isinstance(source, Mesh):
        index, weight = _simplex_stencil(points, source.simplices(), targets)
    else:
        index, weight = _delaunay_stencil(points, targets)
    missing = index[:, 0] < 0
    if missing.any():
        _, nearest = cKDTree(points).query(targets[missing])
        index[missing] = nearest[:, None]
        weight[missing] = np.eye(1, index.shape[1])
    return _apply_stencil(values, index, weight, target.shape)


def _simplex_stencil(points: np.ndarray, simplices: np.ndarray, targets: np.ndarray):
    r"""Barycentric stencil ``[p, t+1]`` on given simplices; index ``-1`` where no simplex holds the point.

    A simplex with vertices :math:`v_0..v_t` and edges :math:`E = [v_1 - v_0, ..., v_t - v_0]`
    gives :math:`\lambda_{1..t} = E^{+}(x - v_0)`, :math:`\lambda_0 = 1 - \sum \lambda_i`; the point
    is inside when all :math:`\lambda \ge -\epsilon`. Candidates are first the simplices with the
    nearest centroids (fast, accepted only for points lying on the simplex), then, for the points
    left, every simplex whose centroid ball reaches them; of several, the smallest residual
    :math:`|E\lambda - (x - v_0)|` wins (it matters for surfaces and curves in space).
    """
    frame = _barycentric_frame(points[simplices])
    index = np.full((targets.shape[0], simplices.shape[1]), -1, dtype=np.int64)
    weight = np.zeros(index.shape)
    nearest_pairs = _nearest_centroid_pairs(frame["centroid"], targets)
    for pairs, on_simplex_only in ((nearest_pairs, True), (None, False)):
        todo = np.flatnonzero(index[:, 0] < 0)
        if todo.size == 0:
            break
        if pairs is None:
            pairs = _ball_pairs(frame, targets[todo])
            pairs = (todo[pairs[0]], pairs[1])
        found, simplex, bary = _locate(frame, targets, *pairs, on_simplex_only)
        index[found] = simplices[simplex]
        weight[found] = bary
    return index, weight


def _barycentric_frame(corners: np.ndarray) -> dict[str, np.ndarray]:
    """Per simplex ``[m, t+1, d]``: origin, edges ``[m, d, t]``, left inverse of the edges, centroid, radius."""
    origin = corners[:, 0]
    edges = np.swapaxes(corners[:, 1:] - origin[:, None], 1, 2)
    if edges.shape[1] == edges.shape[2]:
        inverse = np.linalg.inv(edges)
    else:  # simplices of lower dimension than the space: least squares, (E^T E)^{-1} E^T
        transpose = np.swapaxes(edges, 1, 2)
        inverse = np.linalg.inv(transpose @ edges) @ transpose
    centroid = corners.mean(axis=1)
    radius = np.linalg.norm(corners - centroid[:, None], axis=-1).max(axis=1)
    return {"origin": origin, "edges": edges, "inverse": inverse, "centroid": centroid, "radius": radius}


def _locate(frame, targets, point_id, simplex_id, on_simplex_only):
    """Best candidate simplex per point: ``(point ids, simplex ids, barycentric weights)``."""
    offset = targets[point_id] - frame["origin"][simplex_id]
    local = np.einsum("ptd,pd->pt", frame["inverse"][simplex_id], offset)
    bary = np.concatenate([1 - local.sum(axis=1, keepdims=True), local], axis=1)
    residual = np.linalg.norm(np.einsum("pdt,pt->pd", frame["edges"][simplex_id], local) - offset, axis=1)
    keep = bary.min(axis=1) >= -INSIDE_TOLERANCE
    if on_simplex_only:
        keep &= residual <= INSIDE_TOLERANCE * frame["radius"][simplex_id]
    point_id, simplex_id, bary, residual = point_id[keep], simplex_id[keep], bary[keep], residual[keep]
    order = np.lexsort((residual, point_id))
    best = order[np.unique(point_id[order], return_index=True)[1]]
    bary = np.clip(bary[best], 0.0, None)
    return point_id[best], simplex_id[best], bary / bary.sum(axis=1, keepdims=True)


def _nearest_centroid_pairs(centroids: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(point, simplex) pairs for the simplices with the ``4 (d + 1)`` nearest centroids of each point."""
    k = min(4 * (centroids.shape[1] + 1), centroids.shape[0])
    _, nearest = cKDTree(centroids).query(targets, k=k)
    nearest = nearest.reshape(targets.shape[0], k)
    return np.repeat(np.arange(targets.shape[0]), k), nearest.ravel()


def _ball_pairs(frame, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (point, simplex) pairs with the point within the ball about the simplex centroid holding it.

    Any point of a simplex lies within its centroid-to-vertex radius of the centroid, so no
    holder is missed. Simplices are grouped by radius (factors of two), one KD-tree query
    per group, so meshes with cells of very different sizes still yield few candidates.
    """
    radius = frame["radius"]
    level = np.floor(np.log2(radius / radius.min())).astype(np.int64)
    query = cKDTree(targets)
    point_ids, simplex_ids = [], []
    for group in np.unique(level):
        members = np.flatnonzero(level == group)
        reach = radius[members].max() * (1 + 1e-9)
        found = query.sparse_distance_matrix(cKDTree(frame["centroid"][members]), reach, output_type="ndarray")
        point_ids.append(found["i"])
        simplex_ids.append(members[found["j"]])
    return np.concatenate(point_ids), np.concatenate(simplex_ids)


def _delaunay_stencil(points: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Barycentric stencil on the Delaunay triangulation (as ``scipy.interpolate.LinearNDInterpolator``)."""
    if points.shape[1] == 1:
        return _interval_stencil(points[:, 0], targets[:, 0])
    try:
        triangulation = Delaunay(points)
    except QhullError as exc:
        raise ValueError(f"sampled.on: the {len(points)} points admit no Delaunay triangulation "
                         f"(too few or all in a hyperplane); use method 'nearest' ({exc})") from exc
    simplex = _find_simplex_in_order(triangulation, targets)
    inside = simplex >= 0
    transform = triangulation.transform[simplex[inside]]  # [p, d+1, d]; flat simplices are never found
    local = np.einsum("pij,pj->pi", transform[:, :-1], targets[inside] - transform[:, -1])
    index = np.full((targets.shape[0], points.shape[1] + 1), -1, dtype=np.int64)
    weight = np.zeros(index.shape)
    index[inside] = triangulation.simplices[simplex[inside]]
    weight[inside] = np.concatenate([local, 1 - local.sum(axis=1, keepdims=True)], axis=1)
    return index, weight


def _find_simplex_in_order(triangulation: Delaunay, targets: np.ndarray) -> np.ndarray:
    """``triangulation.find_simplex`` on targets visited cell by cell (its walk starts where the last ended)."""
    lower, upper = targets.min(axis=0), targets.max(axis=0)
    bins = max(1, round(targets.shape[0] ** (1 / targets.shape[1]) / 4))
    cell = np.floor((targets - lower) / np.where(upper > lower, upper - lower, 1.0) * (bins - 1e-9))
    order = np.lexsort(cell.T[::-1])
    simplex = np.empty(targets.shape[0], dtype=np.int64)
    simplex[order] = triangulation.find_simplex(targets[order])
    return simplex


def _interval_stencil(x: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """1D piecewise-linear stencil between sorted distinct points (as ``np.interp``, constant outside)."""
    coords, first_of = np.unique(x, return_index=True)
    if coords.size == 1:
        return np.full((targets.size, 1), first_of[0], dtype=np.int64), np.ones((targets.size, 1))
    t = np.clip(targets, coords[0], coords[-1])
    left = np.clip(np.searchsorted(coords, t, side="right") - 1, 0, coords.size - 2)
    w = (t - coords[left]) / (coords[left + 1] - coords[left])
    return np.stack([first_of[left], first_of[left + 1]], axis=1), np.stack([1 - w, w], axis=1)


# -- nearest --------------------------------------------------------------------------------------
def _nearest(values: torch.Tensor, source: Discretization, target: Discretization) -> torch.Tensor:
    """Value of the nearest source point; distances wrap around the periodic axes of ``source``."""
    points, targets = source.points().numpy(), target.points().numpy()
    points, targets, box = _torus_coordinates(source, points, targets)
    _, nearest = cKDTree(points, boxsize=box).query(targets)
    return _apply_stencil(values, nearest[:, None], np.ones((len(nearest), 1)), target.shape)


def _torus_coordinates(source: Discretization, points: np.ndarray, targets: np.ndarray):
    """Shift coordinates into ``[0, box)`` for ``cKDTree(boxsize=box)``; bounded axes get a box too wide to wrap."""
    if not any(source.domain.periodic):
        return points, targets, None
    lower = np.minimum(points.min(axis=0), targets.min(axis=0))
    span = np.maximum(points.max(axis=0), targets.max(axis=0)) - lower
    period = np.asarray(source.domain.lengths)
    periodic = np.asarray(source.domain.periodic)
    lower = np.where(periodic, source.domain.lower, lower)
    box = np.where(periodic, period, 2 * span + 1.0)

    def wrap(x):
        shifted = np.where(periodic, np.mod(x - lower, box), x - lower)
        return np.where(shifted >= box, shifted - box, shifted)

    return wrap(points), wrap(targets), box
