"""A batch of functions sampled on a discretization, with xarray interop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from ._checks import as_float_tensor, check_finite
from ._precision import real_dtype
from .discretization import Discretization
from .grid import Grid
from .pointcloud import PointCloud

__all__ = ["Sampled"]

DISC_ATTR = "sciml_discretization"
DTYPE_ATTR = "sciml_dtype"
AXIS_NAMES = ("x", "y", "z")


def axis_names(ndim: int) -> tuple[str, ...]:
    """Dimension names of spatial axes: ``x, y, z`` up to 3D, ``x0, x1, ...`` beyond."""
    return AXIS_NAMES[:ndim] if ndim <= 3 else tuple(f"x{i}" for i in range(ndim))


class Sampled:
    r"""Functions known at the points of a :class:`Discretization`.

    Parameters
    ----------
    values : tensor ``[batch, channels, *on.shape]``
        Samples; real or complex floating point. Integers are promoted.
    on : Discretization
        Where the values live.
    channel_names : sequence of str, optional
        Labels of the channels (kept through xarray round trips).
    attrs : dict, optional
        Free metadata (units, provenance) carried to ``xarray`` attributes.
    validate : bool
        Check shapes and finiteness (default). Internal code passing tensors it
        produced itself may skip the finiteness scan with ``validate=False``.

    Examples
    --------
    >>> grid = Grid.uniform((32, 32), Domain.unit(2, periodic=True))
    >>> x, y = grid.mesh().unbind(-1)
    >>> u = Sampled(torch.sin(2 * torch.pi * x)[None, None] ** 2, on=grid)
    >>> float(u.integrate())        # mean of sin² over the unit square
    0.5
    >>> u.to_xarray().dims
    ('batch', 'channel', 'x', 'y')
    """

    def __init__(self, values, on: Discretization, channel_names: Sequence[str] | None = None,
                 attrs: dict | None = None, validate: bool = True):
        if not isinstance(on, Discretization):
            raise TypeError(f"on: expected a Discretization (Grid, PointCloud, Mesh), got {type(on).__name__}")
        values = as_float_tensor(values, "values")
        want = 2 + len(on.shape)
        if values.ndim != want or tuple(values.shape[2:]) != tuple(on.shape):
            raise ValueError(
                f"values: expected shape [batch, channels, {', '.join(map(str, on.shape))}] "
                f"for {on!r}, got {tuple(values.shape)}"
            )
        if validate:
            check_finite(values.detach(), "values")
        if channel_names is not None:
            channel_names = tuple(str(c) for c in channel_names)
            if len(channel_names) != values.shape[1]:
                raise ValueError(f"channel_names: expected {values.shape[1]} names, got {len(channel_names)}")
        self.values = values
        self.on = on
        self.channel_names = channel_names
        self.attrs = dict(attrs or {})

    # -- basic properties --------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.values.shape[0]

    @property
    def channels(self) -> int:
        return self.values.shape[1]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def device(self) -> torch.device:
        return self.values.device

    def __len__(self) -> int:
        return self.batch_size

    def __repr__(self) -> str:
        return f"Sampled(values={tuple(self.values.shape)} {self.values.dtype}, on={self.on!r})"

    def __getitem__(self, index) -> Sampled:
        """Select along the batch dimension; the batch dimension is always kept."""
        if isinstance(index, (int, np.integer)):
            if not -self.batch_size <= index < self.batch_size:
                raise IndexError(f"index: expected a batch index in [-{self.batch_size}, {self.batch_size}), got {index}")
            index = slice(int(index), int(index) + 1 if index != -1 else None)
        return self.with_values(self.values[index])

    def with_values(self, values: torch.Tensor, validate: bool = False) -> Sampled:
        """Same discretization, channel names and attributes, new values."""
        names = self.channel_names if values.ndim > 1 and values.shape[1] == self.channels else None
        return Sampled(values, self.on, names, self.attrs, validate=validate)

    def to(self, *args, **kwargs) -> Sampled:
        """Move or cast the values like :meth:`torch.Tensor.to`."""
        return self.with_values(self.values.to(*args, **kwargs))

    def cpu(self) -> Sampled:
        return self.to("cpu")

    def detach(self) -> Sampled:
        return self.with_values(self.values.detach())

    # -- numerics ------------------------------------------------------------------------------
    def weights(self) -> torch.Tensor:
        """Quadrature weights shaped ``on.shape``, on the values' device and real dtype."""
        return self.on.weights_shaped(real_dtype(self.values), self.values.device)

    def integrate(self) -> torch.Tensor:
        r"""Integral of each function over the domain, ``[batch, channels]`` (float32 for half inputs)."""
        return self.on.integrate(self.values)

    def resample(self, to: Discretization, method: str = "auto") -> Sampled:
        """Values on another discretization; see :func:`sciml.resample`."""
        from .resample import resample

        return resample(self, to, method=method)

    def at_resolution(self, shape: int | Sequence[int], method: str = "auto") -> Sampled:
        """Resample onto the same kind of grid with another ``shape`` (grids only)."""
        if not isinstance(self.on, Grid):
            raise TypeError(f"at_resolution: needs values on a Grid, these are on {self.on!r}")
        if "explicit" in self.on.kinds:
            raise ValueError("shape: a grid with explicit coordinates has no other resolutions; "
                             "resample onto Grid.from_coordinates(...) instead")
        return self.resample(self.on.with_shape(shape), method=method)

    def plot(self, batch: int = 0, channel: int = 0, ax=None, **kwargs):
        """Draw one function; see :func:`sciml.plot_sampled`."""
        from .plots import plot_sampled

        return plot_sampled(self, batch, channel, ax, **kwargs)

    # -- xarray ---------------------------------------------------------------------------------
    def to_xarray(self, name: str | None = None) -> xr.DataArray:
        """Labelled copy: dims ``batch, channel, x[, y[, z]]`` on grids, ``batch, channel, point`` otherwise.

        The discretization is stored as JSON in ``attrs["sciml_discretization"]``
        so :meth:`from_xarray` restores it exactly (float16/32/64 and complex values
        round-trip bit for bit; bfloat16 is stored as float32 and cast back).
        """
        values = self.values.detach().cpu()
        attrs = dict(self.attrs)
        if values.dtype == torch.bfloat16:  # NumPy has no bfloat16: store float32 and remember
            values = values.float()
            attrs[DTYPE_ATTR] = "bfloat16"
        data = values.numpy()
        channel = list(self.channel_names) if self.channel_names else np.arange(self.channels)
        coords = {"batch": np.arange(self.batch_size), "channel": channel}
        if isinstance(self.on, Grid):
            dims = ("batch", "channel") + axis_names(self.on.ndim)
            coords.update({n: ax.coordinates for n, ax in zip(dims[2:], self.on.axes)})
        else:
            dims = ("batch", "channel", "point")
            pts = self.on.points().numpy()
            coords.update({n: ("point", pts[:, i]) for i, n in enumerate(axis_names(self.on.ndim))})
        attrs[DISC_ATTR] = self.on.to_json()
        return xr.DataArray(data, dims=dims, coords=coords, attrs=attrs, name=name)

    @classmethod
    def from_xarray(cls, array: xr.DataArray) -> Sampled:
        """Inverse of :meth:`to_xarray`; also accepts arrays made elsewhere.

        Without the ``sciml_discretization`` attribute, or when the array's dims
        or coordinates no longer match it (after ``transpose``, ``isel``, ``interp``),
        dims other than ``batch`` and ``channel`` are read as grid axes with explicit
        coordinates, or as a ``point`` dimension with per-point coordinates ``x, y, z``.
        """
        if not isinstance(array, xr.DataArray):
            raise TypeError(f"array: expected xarray.DataArray, got {type(array).__name__}")
        attrs = dict(array.attrs)
        disc_json = attrs.pop(DISC_ATTR, None)
        dtype_name = attrs.pop(DTYPE_ATTR, None)
        array = _with_batch_and_channel(array)
        disc = Discretization.from_json(disc_json) if disc_json else None
        if disc is not None and not _matches(array, disc):
            disc = None  # the array was transposed, sliced or interpolated since it was written
        if disc is None:
            disc = _infer_discretization(array)
        elif isinstance(disc, Grid):
            array = array.transpose("batch", "channel", *axis_names(disc.ndim))
        channel = array.coords["channel"].values if "channel" in array.coords else None
        names = [str(c) for c in channel] if channel is not None and channel.dtype.kind in "USO" else None
        values = torch.from_numpy(np.ascontiguousarray(array.values))
        if dtype_name == "bfloat16":
            values = values.to(torch.bfloat16)
        return cls(values, disc, channel_names=names, attrs=attrs)


def _matches(array: xr.DataArray, disc: Discretization) -> bool:
    """Whether the stored discretization still describes ``array``'s dims and coordinates."""
    if isinstance(disc, Grid):
        names = axis_names(disc.ndim)
        return set(array.dims[2:]) == set(names) and all(
            name in array.coords and np.array_equal(array.coords[name].values, ax.coordinates)
            for name, ax in zip(names, disc.axes))
    if array.dims[2:] != ("point",) or array.sizes["point"] != disc.num_points:
        return False
    points = disc.points().numpy()
    return all(np.array_equal(array.coords[name].values, points[:, i])
               for i, name in enumerate(axis_names(disc.ndim)) if name in array.coords)


def _with_batch_and_channel(array: xr.DataArray) -> xr.DataArray:
    if "batch" not in array.dims:
        array = array.expand_dims("batch")
    if "channel" not in array.dims:
        array = array.expand_dims("channel", axis=1)
    rest = [d for d in array.dims if d not in ("batch", "channel")]
    return array.transpose("batch", "channel", *rest)


def _infer_discretization(array: xr.DataArray) -> Discretization:
    spatial = [d for d in array.dims if d not in ("batch", "channel")]
    if spatial == ["point"]:
        names = [n for n in AXIS_NAMES if n in array.coords]
        if not names:
            raise ValueError("array: a 'point' dimension needs per-point coordinates named x, y or z")
        return PointCloud(np.stack([array.coords[n].values for n in names], axis=-1))
    missing = [d for d in spatial if d not in array.coords]
    if missing:
        raise ValueError(f"array: grid dimensions {missing} have no coordinates; cannot place the values")
    return Grid.from_coordinates([array.coords[d].values for d in spatial])
