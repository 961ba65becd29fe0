r"""Parametric 3D shapes with exact signed distance functions, and labelled shape datasets.

Each shape is a small frozen dataclass with a rigid placement (``center``, ``rotation``
:math:`Q`, body coordinates :math:`p = Q^\top (x - c)`) and exact SDFs (negative inside):

* :class:`Sphere`: :math:`|p| - r`;
* :class:`Box` (half sizes :math:`b`): with :math:`q = |p| - b`,
  :math:`|\max(q, 0)| + \min(\max_i q_i, 0)`;
* :class:`Torus` (radii :math:`R > r`, axis :math:`z`): :math:`\big|(\,|p_{xy}| - R,\ p_z)\big| - r`.

:func:`random_shape` draws a shape of a class with random size, orientation and position inside
:math:`[-1, 1]^3`; :func:`make_shape_dataset` samples SDF values of many of them (uniform points
plus near-surface points) with class labels, the input of tri-plane fitting and classification.

Examples
--------
>>> sphere = Sphere(center=(0.0, 0.0, 0.0), radius=0.5)
>>> sphere.sdf(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
tensor([ 0.5000, -0.5000])
>>> data = make_shape_dataset(n_per_class=2, n_points=64, seed=0, progress=False)
>>> data.points.shape, data.sdf.shape, data.labels.tolist()
(torch.Size([6, 64, 3]), torch.Size([6, 64]), [0, 0, 1, 1, 2, 2])
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from tqdm.auto import tqdm

from .mlp import _check_int, _check_positive

__all__ = ["Box", "SHAPE_CLASSES", "ShapeDataset", "Sphere", "Torus", "make_shape_dataset", "random_shape"]

#: Class names of :func:`random_shape`, in label order.
SHAPE_CLASSES = ("sphere", "box", "torus")
_IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


@dataclasses.dataclass(frozen=True)
class _Placed:
    center: tuple = (0.0, 0.0, 0.0)
    rotation: tuple = _IDENTITY

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """Body coordinates :math:`Q^\\top (x - c)` of points ``[n, 3]``."""
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"x: expected points [n, 3], got {tuple(getattr(x, 'shape', ()))}")
        c = torch.tensor(self.center, dtype=x.dtype, device=x.device)
        q = torch.tensor(self.rotation, dtype=x.dtype, device=x.device)
        return (x - c) @ q

    def world(self, p: np.ndarray) -> np.ndarray:
        return p @ np.asarray(self.rotation).T + np.asarray(self.center)


@dataclasses.dataclass(frozen=True)
class Sphere(_Placed):
    """A ball of ``radius`` around ``center``."""

    radius: float = 0.5

    @property
    def bounding_radius(self) -> float:
        return self.radius

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distance ``[n]`` at points ``[n, 3]``."""
        return torch.linalg.vector_norm(self.body(x), dim=-1) - self.radius

    def sample_surface(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points ``[n, 3]`` uniform (by area) on the surface."""
        v = rng.standard_normal((n, 3))
        return self.world(self.radius * v / np.linalg.norm(v, axis=1, keepdims=True))


@dataclasses.dataclass(frozen=True)
class Box(_Placed):
    """A rotated box with half side lengths ``half_sizes``."""

    half_sizes: tuple = (0.3, 0.3, 0.3)

    @property
    def bounding_radius(self) -> float:
        return float(np.linalg.norm(self.half_sizes))

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distance ``[n]`` at points ``[n, 3]``."""
        q = self.body(x).abs() - torch.tensor(self.half_sizes, dtype=x.dtype, device=x.device)
        outside = torch.linalg.vector_norm(q.clamp_min(0), dim=-1)
        return outside + q.max(-1).values.clamp_max(0)

    def sample_surface(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points ``[n, 3]`` uniform (by area) on the six faces."""
        b = np.asarray(self.half_sizes)
        areas = np.array([b[1] * b[2], b[0] * b[2], b[0] * b[1]])
        axis = rng.choice(3, size=n, p=areas / areas.sum())
        p = rng.uniform(-1, 1, (n, 3)) * b
        p[np.arange(n), axis] = b[axis] * rng.choice((-1.0, 1.0), size=n)
        return self.world(p)


@dataclasses.dataclass(frozen=True)
class Torus(_Placed):
    """A ring torus around the body ``z`` axis: tube radius ``minor_radius`` < ``major_radius``."""

    major_radius: float = 0.5
    minor_radius: float = 0.15

    @property
    def bounding_radius(self) -> float:
        return self.major_radius + self.minor_radius

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distance ``[n]`` at points ``[n, 3]``."""
        p = self.body(x)
        ring = torch.linalg.vector_norm(p[:, :2], dim=-1) - self.major_radius
        return torch.sqrt(ring ** 2 + p[:, 2] ** 2) - self.minor_radius

    def sample_surface(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` points ``[n, 3]`` uniform (by area, by rejection in the tube angle) on the surface."""
        big, small = self.major_radius, self.minor_radius
        out = np.empty((0, 3))
        while out.shape[0] < n:
            u, v = rng.uniform(0, 2 * math.pi, (2, 2 * n))
            keep = rng.uniform(0, big + small, 2 * n) < big + small * np.cos(v)   # area element R + r cos v
            u, v = u[keep], v[keep]
            ring = big + small * np.cos(v)
            out = np.concatenate([out, np.stack([ring * np.cos(u), ring * np.sin(u), small * np.sin(v)], 1)])
        return self.world(out[:n])


def random_shape(kind: str, rng: np.random.Generator, extent: float = 0.9):
    """A shape of class ``kind`` with random size, orientation and position inside ``[-extent, extent]^3``.

    Sizes: sphere radius in [0.25, 0.6]; box half sizes in [0.12, 0.5]; torus major radius in
    [0.3, 0.55] and minor radius in [0.08, 0.45 R]. Orientations are uniform on SO(3).
    """
    if kind not in SHAPE_CLASSES:
        raise ValueError(f"kind: expected one of {SHAPE_CLASSES}, got {kind!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    rotation = tuple(map(tuple, Rotation.random(random_state=rng).as_matrix()))
    if kind == "sphere":
        shape = Sphere(radius=float(rng.uniform(0.25, 0.6)))
    elif kind == "box":
        shape = Box(rotation=rotation, half_sizes=tuple(float(s) for s in rng.uniform(0.12, 0.5, 3)))
    else:
        major = float(rng.uniform(0.3, 0.55))
        shape = Torus(rotation=rotation, major_radius=major, minor_radius=float(rng.uniform(0.08, 0.45 * major)))
    room = max(extent - shape.bounding_radius, 0.0)
    return dataclasses.replace(shape, center=tuple(float(c) for c in rng.uniform(-room, room, 3)))


@dataclasses.dataclass
class ShapeDataset:
    """Signed-distance samples of labelled shapes in :math:`[-1, 1]^3`.

    Attributes
    ----------
    points : Tensor ``[N, n, 3]``
    sdf : Tensor ``[N, n]``
    labels : Tensor ``[N]`` (int64, index into ``classes``)
    classes : tuple of str
    shapes : list
        The shape objects, for exact SDFs anywhere.
    """

    points: torch.Tensor
    sdf: torch.Tensor
    labels: torch.Tensor
    classes: tuple
    shapes: list

    def __len__(self) -> int:
        return len(self.shapes)


def make_shape_dataset(n_per_class: int, n_points: int = 4096, classes=SHAPE_CLASSES, near_surface: float = 0.5,
                       noise: float = 0.02, seed: int = 0, dtype: torch.dtype = torch.float32,
                       progress: bool = True) -> ShapeDataset:
    r"""Random shapes of each class with SDF samples, labels in class order.

    For each shape, ``near_surface * n_points`` points are surface samples displaced by
    :math:`\mathcal N(0, \text{noise}^2)` per coordinate (clipped to the box) and the rest are
    uniform in :math:`[-1, 1]^3`; ``sdf`` holds the exact signed distances.

    Parameters
    ----------
    n_per_class, n_points : int
    classes : sequence of str
        Subset of :data:`SHAPE_CLASSES`; label ``i`` is ``classes[i]``.
    near_surface : float
        Fraction of near-surface points, in ``[0, 1]``.
    noise : float
        Standard deviation of the near-surface displacement.
    seed : int
    dtype : torch.dtype
    progress : bool
    """
    _check_int("n_per_class", n_per_class, 1)
    _check_int("n_points", n_points, 1)
    _check_positive("noise", noise)
    classes = tuple(classes)
    if not classes or any(c not in SHAPE_CLASSES for c in classes):
        raise ValueError(f"classes: expected a non-empty subset of {SHAPE_CLASSES}, got {classes}")
    if isinstance(near_surface, bool) or not isinstance(near_surface, (int, float)) or not 0 <= near_surface <= 1:
        raise ValueError(f"near_surface: expected a fraction in [0, 1], got {near_surface!r}")
    rng = np.random.default_rng(seed)
    n_near = int(round(near_surface * n_points))
    points, sdf, labels, shapes = [], [], [], []
    jobs = [(label, kind) for label, kind in enumerate(classes) for _ in range(n_per_class)]
    for label, kind in tqdm(jobs, disable=not progress, desc="shapes", leave=False):
        shape = random_shape(kind, rng)
        near = shape.sample_surface(n_near, rng) + noise * rng.standard_normal((n_near, 3))
        x = np.concatenate([np.clip(near, -1, 1), rng.uniform(-1, 1, (n_points - n_near, 3))])
        x = torch.from_numpy(x)
        points.append(x)
        sdf.append(shape.sdf(x))
        labels.append(label)
        shapes.append(shape)
    return ShapeDataset(torch.stack(points).to(dtype), torch.stack(sdf).to(dtype), torch.tensor(labels),
                        classes, shapes)
