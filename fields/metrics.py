r"""Reconstruction metrics: surfaces (Chamfer, IoU, normal consistency, F-score) and images (PSNR, SSIM).

Surface metrics compare a reconstruction :math:`A` with a reference :math:`B`
(a :class:`~sciml.Mesh` or :class:`~sciml.fields.geometry.TriangleSurface`)
from ``n_points`` points drawn uniformly by area on each, measuring exact
point-to-triangle distances to the other surface (libigl AABB tree), so no
second sampling error enters:

.. math::

    \mathrm{CD}(A, B) = \tfrac12 \big( \mathbb E_{a \in A} d(a, B) + \mathbb E_{b \in B} d(b, A) \big),

    \mathrm{NC}(A, B) = \tfrac12 \big( \mathbb E_{a} |n_A(a) \cdot n_B(\pi_B a)|
                        + \mathbb E_{b} |n_B(b) \cdot n_A(\pi_A b)| \big),

    \mathrm{F}_\tau = \frac{2PR}{P + R}, \quad P = \Pr_a[d(a, B) < \tau], \quad R = \Pr_b[d(b, A) < \tau],

with :math:`\pi_B a` the closest point of :math:`B` and normals taken per
triangle (NC ignores orientation, as in Occupancy Networks). The volumetric IoU
draws uniform points in a box and classifies them by generalised winding number:
:math:`|A \cap B| / |A \cup B|`.

Image metrics wrap :mod:`skimage.metrics` with argument checks: PSNR
:math:`10 \log_{10}(R^2 / \mathrm{MSE})` and SSIM (Wang et al., 2004) with
data range :math:`R`.
"""

from __future__ import annotations

import igl
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sciml.domain import Domain
from sciml.mesh import Mesh

from .geometry import TriangleSurface, _points_on_surface, occupancy

__all__ = ["chamfer_distance", "fscore", "normal_consistency", "psnr", "ssim", "surface_metrics", "volumetric_iou"]


def _as_surface(value, name: str) -> TriangleSurface:
    if isinstance(value, TriangleSurface):
        return value
    if isinstance(value, Mesh):
        return TriangleSurface.from_mesh(value)
    raise TypeError(f"{name}: expected a sciml.Mesh or TriangleSurface, got {type(value).__name__}")


def _check_count(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name}: expected a positive int, got {n!r}")
    return int(n)


def _closest(points: np.ndarray, surface: TriangleSurface) -> tuple[np.ndarray, np.ndarray]:
    """Distance ``[n]`` to the surface and the index ``[n]`` of the closest triangle."""
    squared, face, _ = igl.point_mesh_squared_distance(points, surface.vertices, surface.faces)
    return np.sqrt(np.maximum(squared, 0.0)), face


def _two_way(a, b, n_points: int, seed: int) -> dict:
    """Samples on each surface with their distance to, and closest triangle on, the other."""
    a, b = _as_surface(a, "a"), _as_surface(b, "b")
    n_points = _check_count(n_points, "n_points")
    rng = np.random.default_rng(seed)
    out = {}
    for key, this, other in (("a", a, b), ("b", b, a)):
        points, face = _points_on_surface(this, n_points, rng, return_faces=True)
        distance, other_face = _closest(points, other)
        cos = np.abs(np.einsum("ij,ij->i", this.face_normals()[face], other.face_normals()[other_face]))
        out[key] = (distance, cos)
    return out


def surface_metrics(a, b, threshold: float = 0.01, n_points: int = 100_000, seed: int = 0) -> dict:
    """Chamfer distance, normal consistency and F-score from one draw of samples (see the module docs).

    Returns
    -------
    dict
        ``{"chamfer", "normal_consistency", "fscore", "precision", "recall"}``.
    """
    threshold = _check_threshold(threshold)
    s = _two_way(a, b, n_points, seed)
    (da, ca), (db, cb) = s["a"], s["b"]
    precision, recall = float((da < threshold).mean()), float((db < threshold).mean())
    f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {"chamfer": 0.5 * float(da.mean() + db.mean()), "normal_consistency": 0.5 * float(ca.mean() + cb.mean()),
            "fscore": f, "precision": precision, "recall": recall}


def chamfer_distance(a, b, n_points: int = 100_000, seed: int = 0) -> float:
    r"""Symmetric mean point-to-surface distance :math:`\tfrac12(\mathbb E_a d(a,B) + \mathbb E_b d(b,A))`.

    Examples
    --------
    >>> from sciml.fields.geometry import icosphere
    >>> round(chamfer_distance(icosphere(2), icosphere(2), n_points=1000), 12)
    0.0
    >>> round(chamfer_distance(icosphere(4, radius=1.0), icosphere(4, radius=1.1), n_points=2000), 3)
    0.1
    """
    return surface_metrics(a, b, n_points=n_points, seed=seed)["chamfer"]


def normal_consistency(a, b, n_points: int = 100_000, seed: int = 0) -> float:
    """Mean absolute cosine between each sample's normal and the normal at its closest point on the other surface."""
    return surface_metrics(a, b, n_points=n_points, seed=seed)["normal_consistency"]


def fscore(a, b, threshold: float = 0.01, n_points: int = 100_000, seed: int = 0) -> float:
    """Harmonic mean of precision and recall of samples within ``threshold`` of the other surface."""
    return surface_metrics(a, b, threshold=threshold, n_points=n_points, seed=seed)["fscore"]


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise ValueError(f"threshold: expected a positive distance, got {threshold!r}")
    return float(threshold)


def volumetric_iou(a, b, n_points: int = 200_000, domain: Domain | None = None, seed: int = 0) -> float:
    r"""Intersection over union :math:`|A\cap B| / |A\cup B|` of the enclosed volumes (Monte Carlo).

    Parameters
    ----------
    a, b : Mesh, TriangleSurface or callable
        Closed surfaces (inside by generalised winding number), or callables
        mapping points ``[n, 3]`` to a boolean inside mask ``[n]``.
    n_points : int
        Uniform samples in ``domain``; the standard error of the IoU is about
        :math:`\sqrt{\mathrm{IoU}(1-\mathrm{IoU}) / n_\cup}`, with :math:`n_\cup` the samples in the union.
    domain : Domain, optional
        Sampling box (default: the bounding box of both surfaces, 5% padding; required for two callables).
    seed : int

    Examples
    --------
    >>> from sciml.fields.geometry import icosphere
    >>> volumetric_iou(icosphere(3), icosphere(3), n_points=2000)
    1.0
    """
    n_points = _check_count(n_points, "n_points")
    inside = [_inside_function(x, name) for x, name in ((a, "a"), (b, "b"))]
    if domain is None:
        boxes = [_as_surface(x, name).vertices for x, name in ((a, "a"), (b, "b")) if not callable(x)]
        if not boxes:
            raise ValueError("domain: required when both a and b are callables")
        domain = Domain.bounding(np.concatenate(boxes), pad=0.05)
    if not isinstance(domain, Domain) or domain.ndim != 3:
        raise ValueError(f"domain: expected a 3D sciml.Domain, got {domain!r}")
    rng = np.random.default_rng(seed)
    lower, lengths = np.asarray(domain.lower), np.asarray(domain.lengths)
    points = lower + lengths * rng.random((n_points, 3))
    in_a, in_b = (np.asarray(f(points), dtype=bool).reshape(-1) for f in inside)
    union = int((in_a | in_b).sum())
    if union == 0:
        raise ValueError(f"a, b: no sample of {n_points} falls inside either shape; the IoU is undefined")
    return float((in_a & in_b).sum() / union)


def _inside_function(x, name: str):
    if callable(x) and not isinstance(x, (Mesh, TriangleSurface)):
        return x
    surface = _as_surface(x, name)
    return lambda points: occupancy(points, surface, fast=True)


# ---------------------------------------------------------------------------------------- images
def _image_pair(target, prediction) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for name, value in (("target", target), ("prediction", prediction)):
        arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"{name}: expected a real numeric image, got dtype {arr.dtype}")
        if arr.ndim not in (2, 3):
            raise ValueError(f"{name}: expected an image [H, W] or [H, W, C], got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: expected finite values, found {int((~np.isfinite(arr)).sum())} NaN/inf")
        arrays.append(arr.astype(np.float64))
    if arrays[0].shape != arrays[1].shape:
        raise ValueError(f"prediction: expected the target's shape {arrays[0].shape}, got {arrays[1].shape}")
    return arrays[0], arrays[1]


def _data_range(data_range) -> float:
    if isinstance(data_range, bool) or not isinstance(data_range, (int, float)) or not data_range > 0:
        raise ValueError(f"data_range: expected a positive number, got {data_range!r}")
    return float(data_range)


def psnr(target, prediction, data_range: float = 1.0) -> float:
    r"""Peak signal-to-noise ratio :math:`10\log_{10}(R^2/\mathrm{MSE})` in dB (``inf`` for identical images).

    Images are ``[H, W]`` or ``[H, W, C]`` arrays or tensors (float images in ``[0, 1]`` by default).

    Examples
    --------
    >>> round(psnr(np.zeros((4, 4)), np.full((4, 4), 0.1)), 6)
    20.0
    """
    t, p = _image_pair(target, prediction)
    data_range = _data_range(data_range)
    if np.array_equal(t, p):
        return float("inf")
    return float(peak_signal_noise_ratio(t, p, data_range=data_range))


def ssim(target, prediction, data_range: float = 1.0) -> float:
    """Structural similarity (mean over the image; channels last) via :func:`skimage.metrics.structural_similarity`.

    Images need at least 7 pixels per side (the default 7x7 window).

    Examples
    --------
    >>> image = np.random.default_rng(0).random((16, 16))
    >>> ssim(image, image)
    1.0
    """
    t, p = _image_pair(target, prediction)
    data_range = _data_range(data_range)
    if min(t.shape[:2]) < 7:
        raise ValueError(f"target: SSIM needs images of at least 7x7 pixels, got {t.shape[:2]}")
    channel_axis = -1 if t.ndim == 3 else None
    if t.ndim == 3 and t.shape[-1] == 1:
        t, p, channel_axis = t[..., 0], p[..., 0], None
    return float(structural_similarity(t, p, data_range=data_range, channel_axis=channel_axis))
