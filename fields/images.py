"""Images as 2D fields' targets: reading, dtype checks, and conversion to and from :class:`~sciml.Sampled`.

An image ``[H, W]`` or ``[H, W, C]`` (``C`` in 1..4) becomes a :class:`~sciml.Sampled`
with values ``[1, C, H, W]`` in ``[0, 1]`` on a cell-centred uniform
:class:`~sciml.Grid` of the unit square: axis 0 (``x``) runs down the rows,
axis 1 (``y``) along the columns, pixel ``(i, j)`` sits at
``((i + 1/2) / H, (j + 1/2) / W)``.

Integer images are scaled by their dtype's maximum (``uint8`` by 255,
``uint16`` by 65535), booleans become 0/1, float images must already lie in
``[0, 1]``; other dtypes (signed integers, complex, objects) are refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from sciml.domain import Domain
from sciml.grid import Grid
from sciml.sampled import Sampled

__all__ = ["IMAGE_SUFFIXES", "image_to_sampled", "read_image", "sampled_to_image", "to_unit_float"]

#: file suffixes :func:`read_image` reads (through scikit-image / imageio)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")


def to_unit_float(image, name: str = "image") -> np.ndarray:
    """``image`` as float64 ``[H, W, C]`` in ``[0, 1]``, checking dtype, shape and values.

    Examples
    --------
    >>> to_unit_float(np.array([[0, 255], [51, 102]], dtype=np.uint8))[..., 0].tolist()
    [[0.0, 1.0], [0.2, 0.4]]
    """
    arr = np.asarray(image)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.float64)
    elif arr.dtype.kind == "u":
        arr = arr.astype(np.float64) / np.iinfo(arr.dtype).max
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name}: expected finite pixel values, found {int((~np.isfinite(arr)).sum())} NaN/inf")
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise ValueError(f"{name}: expected float pixel values in [0, 1], got [{arr.min():.4g}, {arr.max():.4g}]")
    else:
        raise TypeError(f"{name}: unsupported pixel dtype {arr.dtype}; expected bool, unsigned integers "
                        "(uint8, uint16, ...) or floats in [0, 1]")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or not 1 <= arr.shape[-1] <= 4:
        raise ValueError(f"{name}: expected an image [H, W] or [H, W, C] with C in 1..4, got shape {np.shape(image)}")
    if min(arr.shape[:2]) < 2:
        raise ValueError(f"{name}: expected at least 2x2 pixels, got {arr.shape[:2]}")
    return arr


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file (through imageio, as scikit-image does) as float64 ``[H, W, C]`` in ``[0, 1]`` (see :func:`to_unit_float`)."""
    from imageio import (
        v3 as iio,  # scikit-image's reader; given bytes, it leaves no file open on errors
    )

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no image file at {str(path)!r}")
    try:
        image = iio.imread(path.read_bytes(), extension=path.suffix.lower())
    except Exception as exc:  # imageio/PIL raise many types for unreadable files
        raise ValueError(f"path: could not read {str(path)!r} as an image ({type(exc).__name__}: {exc})") from exc
    return to_unit_float(image, name=f"image {path.name}")


def image_to_sampled(image) -> Sampled:
    """An image (array or path) as a :class:`~sciml.Sampled` ``[1, C, H, W]`` on a cell-centred unit-square grid.

    Examples
    --------
    >>> s = image_to_sampled(np.zeros((4, 6), dtype=np.uint8))
    >>> s.values.shape, s.on.points()[0].tolist()
    (torch.Size([1, 1, 4, 6]), [0.125, 0.08333333333333333])
    """
    arr = read_image(image) if isinstance(image, (str, os.PathLike)) else to_unit_float(image)
    grid = Grid.uniform(arr.shape[:2], Domain.unit(2), centring="cell")
    values = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]
    return Sampled(values, grid)


def sampled_to_image(sampled: Sampled, clip: bool = True) -> np.ndarray:
    """The first function of a 2D grid :class:`~sciml.Sampled` as float64 ``[H, W, C]`` (clipped to ``[0, 1]``)."""
    if not isinstance(sampled, Sampled):
        raise TypeError(f"sampled: expected a sciml.Sampled, got {type(sampled).__name__}")
    if not isinstance(sampled.on, Grid) or sampled.on.ndim != 2:
        raise ValueError(f"sampled: expected values on a 2D Grid, got {sampled.on!r}")
    image = sampled.values[0].detach().cpu().double().numpy().transpose(1, 2, 0)
    return np.clip(image, 0.0, 1.0) if clip else image
