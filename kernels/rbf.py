r"""Radial basis functions: exact nearest kernels, anisotropic kernel values, normalised weights.

A kernel :math:`i` has a centre :math:`c_i \in \mathbb{R}^d` and a shape :math:`A_i`; at a
point :math:`x` its *projected offset* is :math:`u_i(x) = A_i (x - c_i)` and its squared
Mahalanobis distance is

.. math::
    q_i(x) = \lVert u_i(x) \rVert^2 = (x - c_i)^\top \Sigma_i^{-1} (x - c_i),
    \qquad \Sigma_i^{-1} = A_i^\top A_i .

``shapes`` is ``[K]`` (isotropic, :math:`A_i = a_i I`), ``[K, d]`` (diagonal, per-axis inverse
length scales) or ``[K, d, d]`` (a full factor, e.g. lower triangular: the inverse of the
Cholesky factor of :math:`\Sigma_i`). Writing the inverse covariance through a factor keeps it
positive semi-definite whatever values an optimiser gives ``shapes``.

Kernel families (the profiles NeuRBF, Chen et al., ICCV 2023, compares; its default for
images and SDFs is the inverse quadric):

========================  ==================================================  =============
``family``                :math:`\varphi(x)`                                  smooth
========================  ==================================================  =============
``"gaussian"``            :math:`\exp(-q/2)`                                  yes
``"inverse_quadric"``     :math:`1 / (1 + q)`                                 yes
``"inverse_multiquadric"``  :math:`(1 + q)^{-1/2}`                            yes
``"super_gaussian"``      :math:`\exp(-(q/2)^2)`                              yes
``"exponential"``         :math:`\exp(-\sqrt{q})` (Markov)                    not at ``c_i``
``"d_linear"``            :math:`\prod_j \max(0, 1 - \lvert u_{ij} \rvert)`   piecewise linear
========================  ==================================================  =============

Normalised weights over the :math:`k` kernels nearest to :math:`x` (Euclidean distance to
the centres, as in NeuRBF) are :math:`w_i = \varphi_i / \sum_{l \in N_k(x)} \varphi_l`; they
are computed as a softmax of :math:`\log\varphi`, so far from every centre (where the
Gaussian underflows) they stay finite and sum to one. For the compactly supported
``"d_linear"`` they are zero where no neighbour covers :math:`x`.

Paths, the same maps (tested against each other, values and gradients):

* k nearest centres: ``"brute"`` (chunked exact distances + ``topk``; the reference, and the
  only path for CUDA tensors) and ``"kdtree"`` (``scipy.spatial.cKDTree`` on the centres,
  CPU); ``"auto"`` takes the tree on CPU from :data:`KDTREE_FROM` centres on (measured in
  ``benchmarks/neurbf_images.py``).
* kernel values at given neighbours: ``"dense"`` evaluates every kernel at every point and
  picks the neighbours (the readable reference, ``O(nK)``), ``"gather"`` gathers the
  neighbours' centres and shapes first (``O(nk)``, the default; ``index_select``, whose
  backward is an ``index_add``, rather than advanced indexing, whose backward sorts).

The inverse quadric and inverse multiquadric (which never underflow) are normalised by their
sum directly, the other smooth families through a softmax of :math:`\log\varphi`.

Neighbour indices carry no gradient; values and weights are differentiable (twice, for the
smooth families) in the points, the centres and the shapes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = [
    "KDTREE_FROM",
    "RBF_FAMILIES",
    "KMeansResult",
    "gather_rows",
    "nearest_kernels",
    "normalized_rbf_weights",
    "rbf_values",
    "weighted_kmeans",
]

RBF_FAMILIES = ("gaussian", "inverse_quadric", "inverse_multiquadric", "super_gaussian", "exponential", "d_linear")
KNN_PATHS = ("auto", "brute", "kdtree")
VALUE_PATHS = ("auto", "gather", "dense")
KDTREE_FROM = 32
"""Number of centres from which ``path="auto"`` finds neighbours with a k-d tree (CPU)."""
_CHUNK_ELEMENTS = 1 << 22


# ----------------------------------------------------------------------------- checks
def _check_points(x, name: str, d: int | None = None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape [n, d], got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating tensor, got dtype {x.dtype}")
    if x.ndim != 2 or (d is not None and x.shape[1] != d):
        want = f"[n, {d}]" if d is not None else "[n, d]"
        raise ValueError(f"{name}: expected shape {want}, got {tuple(x.shape)}")
    return x


def _check_finite(x: torch.Tensor, name: str) -> None:
    with torch.no_grad():
        if x.numel() and not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).sum())
            raise ValueError(f"{name}: expected finite values, found {bad} NaN or infinite entries")


def _check_k(k, num_centres: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k: expected an int, got {type(k).__name__} {k!r}")
    if not 1 <= k <= num_centres:
        raise ValueError(f"k: expected 1 <= k <= number of centres ({num_centres}), got {k}")
    return int(k)


def _check_shapes(shapes, centres: torch.Tensor) -> torch.Tensor:
    num, d = centres.shape
    if not isinstance(shapes, torch.Tensor):
        raise TypeError(f"shapes: expected a torch.Tensor, got {type(shapes).__name__}")
    if shapes.shape not in ((num,), (num, d), (num, d, d)):
        raise ValueError(
            f"shapes: expected [K]={[num]}, [K, d]={[num, d]} or [K, d, d]={[num, d, d]} "
            f"(K centres in d={d} dimensions), got {list(shapes.shape)}"
        )
    if shapes.dtype != centres.dtype or shapes.device != centres.device:
        raise TypeError(f"shapes: expected dtype {centres.dtype} on {centres.device} like centres, "
                        f"got {shapes.dtype} on {shapes.device}")
    return shapes


def _check_family(family) -> str:
    if family not in RBF_FAMILIES:
        raise ValueError(f"family: expected one of {RBF_FAMILIES}, got {family!r}")
    return family


def _check_pair(x: torch.Tensor, centres: torch.Tensor) -> None:
    _check_points(centres, "centres")
    _check_points(x, "x", centres.shape[1])
    if x.dtype != centres.dtype or x.device != centres.device:
        raise TypeError(f"x: expected dtype {centres.dtype} on {centres.device} like centres, "
                        f"got {x.dtype} on {x.device}")
    if centres.shape[0] == 0:
        raise ValueError("centres: expected at least one centre, got shape [0, d]")


# ----------------------------------------------------------------------------- nearest kernels
def nearest_kernels(x: torch.Tensor, centres: torch.Tensor, k: int, path: str = "auto",
                    workers: int = 1) -> torch.Tensor:
    r"""Indices of the ``k`` centres nearest to each point (exact, Euclidean), nearest first.

    Parameters
    ----------
    x : Tensor ``[n, d]``
        Query points.
    centres : Tensor ``[K, d]``
        Kernel centres (same dtype and device as ``x``).
    k : int
        Neighbours per point, ``1 <= k <= K``.
    path : {"auto", "brute", "kdtree"}
        ``"brute"``: exact pairwise distances in chunks of queries + ``torch.topk``;
        ``"kdtree"``: ``scipy.spatial.cKDTree`` built on the centres (CPU tensors only);
        ``"auto"``: the tree on CPU when ``K >= KDTREE_FROM``, brute force otherwise.
    workers : int
        Threads of the tree query (``-1``: all cores).

    Returns
    -------
    LongTensor ``[n, k]``
        Sorted by increasing distance. Not differentiable (computed on detached inputs).

    Examples
    --------
    >>> centres = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    >>> nearest_kernels(torch.tensor([[0.9, 0.1], [0.1, 1.5]]), centres, k=2)
    tensor([[1, 0],
            [2, 0]])
    """
    _check_pair(x, centres)
    k = _check_k(k, centres.shape[0])
    if path not in KNN_PATHS:
        raise ValueError(f"path: expected one of {KNN_PATHS}, got {path!r}")
    x, centres = x.detach(), centres.detach()
    _check_finite(centres, "centres")
    _check_finite(x, "x")
    if path == "auto":
        path = "kdtree" if (x.device.type == "cpu" and centres.shape[0] >= KDTREE_FROM) else "brute"
    if path == "kdtree":
        return _nearest_kdtree(x, centres, k, workers)
    return _nearest_brute(x, centres, k)


def _nearest_brute(x: torch.Tensor, centres: torch.Tensor, k: int) -> torch.Tensor:
    chunk = max(1, _CHUNK_ELEMENTS // max(1, centres.shape[0]))
    out = []
    for start in range(0, x.shape[0], chunk):
        dist = torch.cdist(x[start:start + chunk], centres, compute_mode="donot_use_mm_for_euclid_dist")
        out.append(dist.topk(k, dim=1, largest=False, sorted=True).indices)
    return torch.cat(out) if out else torch.zeros(0, k, dtype=torch.long, device=x.device)


def _nearest_kdtree(x: torch.Tensor, centres: torch.Tensor, k: int, workers: int) -> torch.Tensor:
    if x.device.type != "cpu":
        raise ValueError(f"path: 'kdtree' needs CPU tensors, got x on {x.device}; use path='brute'")
    from scipy.spatial import cKDTree

    tree = cKDTree(centres.to(torch.float64).numpy())
    if x.shape[0] == 0:
        return torch.zeros(0, k, dtype=torch.long)
    _, index = tree.query(x.to(torch.float64).numpy(), k=k, workers=workers)
    return torch.from_numpy(np.asarray(index, dtype=np.int64).reshape(x.shape[0], k))


# ----------------------------------------------------------------------------- kernel values
def _project(offset: torch.Tensor, shapes: torch.Tensor) -> torch.Tensor:
    """``u = A (x - c)`` for offsets ``[..., d]`` and shapes ``[...]``, ``[..., d]`` or ``[..., d, d]``."""
    if shapes.ndim == offset.ndim + 1:
        return (shapes @ offset.unsqueeze(-1)).squeeze(-1)
    if shapes.ndim == offset.ndim:
        return shapes * offset
    return shapes.unsqueeze(-1) * offset


def _safe_sqrt(q: torch.Tensor) -> torch.Tensor:
    """``sqrt(q)`` with gradient 0 (not NaN) at ``q = 0``."""
    positive = q > 0
    return torch.where(positive, torch.where(positive, q, torch.ones_like(q)).sqrt(), torch.zeros_like(q))


def _log_profile(u: torch.Tensor, family: str) -> torch.Tensor:
    r""":math:`\log\varphi` from projected offsets ``u [..., d]`` (smooth, radial families)."""
    return _log_profile_of_q((u * u).sum(-1), family)


def _profile(u: torch.Tensor, family: str) -> torch.Tensor:
    r""":math:`\varphi` from projected offsets ``u [..., d]``."""
    if family == "d_linear":
        return (1.0 - u.abs()).clamp(min=0.0).prod(-1)
    if family == "inverse_quadric":
        return 1.0 / (1.0 + (u * u).sum(-1))
    return torch.exp(_log_profile(u, family))


def gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` (``[n, k, ...]``) through ``index_select``, whose backward is an ``index_add``.

    Examples
    --------
    >>> table, index = torch.randn(5, 3), torch.tensor([[4, 0], [2, 2]])
    >>> torch.equal(gather_rows(table, index), table[index])
    True
    """
    return table.index_select(0, index.reshape(-1)).reshape(*index.shape, *table.shape[1:])


def _projected_offsets(x, centres, shapes, index, path):
    """``u [n, k, d]`` for the neighbours ``index`` (or ``[n, K, d]`` for all kernels)."""
    if index is None:
        return _project(x[:, None, :] - centres[None], shapes[None])
    if path == "dense":  # reference: every kernel at every point, then pick the neighbours
        every = _project(x[:, None, :] - centres[None], shapes[None])
        return torch.take_along_dim(every, index[..., None], dim=1)
    return _project(x[:, None, :] - gather_rows(centres, index), gather_rows(shapes, index))


def _log_profile_of_q(q: torch.Tensor, family: str) -> torch.Tensor:
    r""":math:`\log\varphi` as a function of the squared distance ``q`` (radial families)."""
    if family == "gaussian":
        return -0.5 * q
    if family == "inverse_quadric":
        return -torch.log1p(q)
    if family == "inverse_multiquadric":
        return -0.5 * torch.log1p(q)
    if family == "super_gaussian":
        return -(0.5 * q) ** 2
    if family == "exponential":
        return -_safe_sqrt(q)
    raise AssertionError(family)


def _normalized_from_q(q: torch.Tensor, family: str) -> torch.Tensor:
    """Weights ``phi / sum(phi)`` over the last axis from squared distances ``q [n, k]``."""
    if family == "inverse_quadric":  # 1 / (1 + q) never underflows: normalise directly
        phi = torch.reciprocal(1.0 + q)
        return phi / phi.sum(-1, keepdim=True)
    if family == "inverse_multiquadric":
        phi = torch.rsqrt(1.0 + q)
        return phi / phi.sum(-1, keepdim=True)
    return torch.softmax(_log_profile_of_q(q, family), dim=-1)


def _check_index(index, n: int, num_centres: int) -> torch.Tensor:
    if not isinstance(index, torch.Tensor) or index.dtype != torch.long:
        got = index.dtype if isinstance(index, torch.Tensor) else type(index).__name__
        raise TypeError(f"index: expected a torch.long tensor [n, k], got {got}")
    if index.ndim != 2 or index.shape[0] != n:
        raise ValueError(f"index: expected shape [n={n}, k], got {tuple(index.shape)}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= num_centres):
        raise ValueError(f"index: expected entries in [0, {num_centres}), got range "
                         f"[{int(index.min())}, {int(index.max())}]")
    return index


def rbf_values(x: torch.Tensor, centres: torch.Tensor, shapes: torch.Tensor, family: str = "inverse_quadric",
               index: torch.Tensor | None = None, path: str = "auto") -> torch.Tensor:
    r"""Kernel values :math:`\varphi_i(x)` of the kernels ``index`` (or of all kernels).

    Parameters
    ----------
    x : Tensor ``[n, d]``
    centres : Tensor ``[K, d]``
    shapes : Tensor ``[K]``, ``[K, d]`` or ``[K, d, d]``
        Shape factors :math:`A_i` (see the module docstring).
    family : str
        One of :data:`RBF_FAMILIES`.
    index : LongTensor ``[n, k]``, optional
        Kernels to evaluate per point (e.g. from :func:`nearest_kernels`); all ``K`` if omitted.
    path : {"auto", "gather", "dense"}
        How to evaluate at ``index``: ``"gather"`` (default for ``"auto"``) or ``"dense"``
        (every kernel, then picked; the reference).

    Returns
    -------
    Tensor ``[n, k]`` (or ``[n, K]``)

    Examples
    --------
    >>> x = torch.tensor([[1.0, 0.0]])
    >>> centres = torch.zeros(1, 2)
    >>> rbf_values(x, centres, torch.tensor([2.0]), "inverse_quadric")   # q = |2 (x - 0)|^2 = 4
    tensor([[0.2000]])
    >>> rbf_values(x, centres, torch.tensor([[0.5, 1.0]]), "gaussian")   # q = 0.25
    tensor([[0.8825]])
    """
    _check_pair(x, centres)
    _check_shapes(shapes, centres)
    _check_family(family)
    if path not in VALUE_PATHS:
        raise ValueError(f"path: expected one of {VALUE_PATHS}, got {path!r}")
    if index is not None:
        _check_index(index, x.shape[0], centres.shape[0])
    u = _projected_offsets(x, centres, shapes, index, path)
    return _profile(u, family)


def normalized_rbf_weights(x: torch.Tensor, centres: torch.Tensor, shapes: torch.Tensor, k: int,
                           family: str = "inverse_quadric", knn_path: str = "auto",
                           path: str = "auto", index: torch.Tensor | None = None):
    r"""Weights :math:`w_i = \varphi_i / \sum_{l \in N_k(x)} \varphi_l` over the ``k`` nearest kernels.

    Parameters
    ----------
    x, centres, shapes, family, path
        As in :func:`rbf_values`.
    k : int
        Neighbours per point.
    knn_path : str
        Passed to :func:`nearest_kernels` as ``path``.
    index : LongTensor ``[n, k]``, optional
        Precomputed neighbours (e.g. cached for fixed training points); found if omitted.

    Returns
    -------
    weights : Tensor ``[n, k]``
        Non-negative, summing to 1 over the last axis (0 for ``"d_linear"`` where no
        neighbour covers the point).
    index : LongTensor ``[n, k]``
        The neighbours, nearest first.

    Examples
    --------
    >>> x = torch.tensor([[0.25, 0.0]])
    >>> centres = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    >>> w, index = normalized_rbf_weights(x, centres, torch.ones(3), k=2, family="inverse_quadric")
    >>> index, w    # phi = 1/(1 + 1/16), 1/(1 + 9/16)
    (tensor([[0, 1]]), tensor([[0.5952, 0.4048]]))
    """
    _check_pair(x, centres)
    k = _check_k(k, centres.shape[0])
    _check_shapes(shapes, centres)
    _check_family(family)
    if path not in VALUE_PATHS:
        raise ValueError(f"path: expected one of {VALUE_PATHS}, got {path!r}")
    if index is None:
        index = nearest_kernels(x, centres, k, path=knn_path)
    _check_index(index, x.shape[0], centres.shape[0])
    if index.shape[1] != k:
        raise ValueError(f"index: expected shape [n, k={k}], got {tuple(index.shape)}")
    u = _projected_offsets(x, centres, shapes, index, path)
    if family == "d_linear":
        phi = _profile(u, family)
        total = phi.sum(-1, keepdim=True)
        return phi / torch.where(total > 0, total, torch.ones_like(total)), index
    return _normalized_from_q((u * u).sum(-1), family), index


# ----------------------------------------------------------------------------- weighted k-means
class KMeansResult(NamedTuple):
    """Result of :func:`weighted_kmeans`.

    Attributes
    ----------
    centres : Tensor ``[K, d]``
    labels : LongTensor ``[n]``
        Index of the nearest centre of each point.
    objective : list of float
        :math:`J = \\sum_j w_j \\lVert p_j - c_{l(j)} \\rVert^2` after seeding and after each
        Lloyd iteration (non-increasing).
    """

    centres: torch.Tensor
    labels: torch.Tensor
    objective: list


def weighted_kmeans(points: torch.Tensor, weights: torch.Tensor | None, num_clusters: int, iterations: int = 20,
                    seed: int = 0, seeding: str = "auto", tol: float = 1e-5, progress: bool = True) -> KMeansResult:
    r"""Weighted k-means: centres minimising :math:`J = \sum_j w_j \min_i \lVert p_j - c_i \rVert^2`.

    Seeding is weighted k-means++ (Arthur & Vassilvitskii, 2007: each new centre drawn with
    probability :math:`\propto w_j D_j^2`, :math:`D_j` the distance to the nearest chosen
    centre); then Lloyd iterations alternate exact nearest-centre assignment
    (:func:`nearest_kernels`) and weighted means :math:`c_i = \sum_{l(j)=i} w_j p_j /
    \sum_{l(j)=i} w_j`. A centre left without weight moves to the point of largest
    :math:`w_j D_j^2`, so every centre ends up used. Each step does not increase :math:`J`.

    Parameters
    ----------
    points : Tensor ``[n, d]``
    weights : Tensor ``[n]`` or None
        Non-negative importance of each point (None: all ones); at least ``num_clusters``
        must be positive.
    num_clusters : int
    iterations : int
        Maximum number of Lloyd iterations.
    seed : int
        Seed of the k-means++ draws (a local generator; global RNG state is untouched).
    seeding : {"auto", "kmeans++", "random"}
        ``"random"`` draws distinct points with probability :math:`\propto w_j` (``O(n)``
        instead of ``O(nK)``); ``"auto"`` uses k-means++ when ``n * K <= 2e8``.
    tol : float
        Stop when :math:`J` decreases by less than ``tol`` relative to itself.
    progress : bool
        Show a tqdm bar over the iterations.

    Returns
    -------
    KMeansResult

    Examples
    --------
    >>> p = torch.tensor([[0.0], [0.1], [1.0], [1.1], [5.0]], dtype=torch.float64)
    >>> w = torch.tensor([1.0, 1.0, 1.0, 3.0, 0.0], dtype=torch.float64)
    >>> result = weighted_kmeans(p, w, 2, progress=False)
    >>> result.centres.sort(0).values.squeeze(1)
    tensor([0.0500, 1.0750], dtype=torch.float64)
    """
    points = _check_points(points, "points")
    _check_finite(points, "points")
    points = points.detach()
    n = points.shape[0]
    if weights is None:
        weights = torch.ones(n, dtype=points.dtype, device=points.device)
    if not isinstance(weights, torch.Tensor) or weights.shape != (n,):
        raise ValueError(f"weights: expected a tensor of shape [n={n}], got "
                         f"{tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__}")
    weights = weights.detach().to(points)
    _check_finite(weights, "weights")
    if bool((weights < 0).any()):
        raise ValueError(f"weights: expected non-negative values, got minimum {float(weights.min())}")
    if isinstance(num_clusters, bool) or not isinstance(num_clusters, (int, np.integer)) or num_clusters < 1:
        raise ValueError(f"num_clusters: expected a positive int, got {num_clusters!r}")
    if int((weights > 0).sum()) < num_clusters:
        raise ValueError(f"weights: expected at least num_clusters={num_clusters} positive weights, "
                         f"got {int((weights > 0).sum())}")
    if seeding not in ("auto", "kmeans++", "random"):
        raise ValueError(f"seeding: expected 'auto', 'kmeans++' or 'random', got {seeding!r}")
    if seeding == "auto":
        seeding = "kmeans++" if n * num_clusters <= 2e8 else "random"
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    centres = _seed(points, weights, int(num_clusters), seeding, generator, progress)
    labels, dist2 = _assign(points, centres)
    objective = [float((weights * dist2).sum())]
    for _ in tqdm(range(iterations), desc="weighted k-means", disable=not progress, leave=False):
        centres = _lloyd_update(points, weights, centres, labels, dist2)
        labels, dist2 = _assign(points, centres)
        objective.append(float((weights * dist2).sum()))
        if not math.isfinite(objective[-1]):
            raise FloatingPointError(f"weighted_kmeans: objective became {objective[-1]}")
        if objective[-2] - objective[-1] <= tol * objective[-2]:
            break
    return KMeansResult(centres, labels, objective)


def _assign(points: torch.Tensor, centres: torch.Tensor):
    labels = nearest_kernels(points, centres, 1)[:, 0]
    dist2 = ((points - centres[labels]) ** 2).sum(-1)
    return labels, dist2


def _draw(probability: torch.Tensor, generator: torch.Generator) -> int:
    cumulative = probability.double().cpu().cumsum(0)
    u = float(torch.rand((), generator=generator, dtype=torch.float64)) * float(cumulative[-1])
    return min(int(torch.searchsorted(cumulative, torch.tensor([u], dtype=torch.float64)).item()),
               probability.shape[0] - 1)


def _seed(points, weights, num, seeding, generator, progress):
    if seeding == "random":
        chosen = torch.multinomial(weights.double().cpu(), num, replacement=False, generator=generator)
        return points[chosen.to(points.device)].clone()
    chosen = [_draw(weights, generator)]
    dist2 = ((points - points[chosen[0]]) ** 2).sum(-1)
    for _ in tqdm(range(1, num), desc="k-means++ seeding", disable=not progress, leave=False):
        score = weights * dist2
        i = _draw(score if float(score.sum()) > 0 else weights, generator)
        chosen.append(i)
        dist2 = torch.minimum(dist2, ((points - points[i]) ** 2).sum(-1))
    return points[torch.tensor(chosen, device=points.device)].clone()


def _lloyd_update(points, weights, centres, labels, dist2):
    num, d = centres.shape
    mass = points.new_zeros(num).index_add_(0, labels, weights)
    sums = points.new_zeros(num, d).index_add_(0, labels, weights[:, None] * points)
    updated = torch.where(mass[:, None] > 0, sums / mass.clamp(min=torch.finfo(points.dtype).tiny)[:, None], centres)
    empty = (mass <= 0).nonzero().flatten()
    if empty.numel():  # move unused centres to the worst-served points (distinct ones)
        worst = (weights * dist2).topk(min(empty.numel(), points.shape[0])).indices
        updated[empty[: worst.numel()]] = points[worst]
    return updated
