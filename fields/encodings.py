r"""Feature-grid encodings of coordinates, and the :class:`GridField` built on them.

* :func:`multilinear_interpolate` -- values of node grids ``[*batch, C, *R]`` at points
  ``[*batch, n, d]`` in :math:`[0, 1]^d`, by gather + weights.
* :class:`DenseGridEncoding` -- ``L`` dense feature grids at geometrically growing resolutions
  :math:`N_l = \lfloor N_{\min} b^l \rfloor`, :math:`b = (N_{\max}/N_{\min})^{1/(L-1)}`,
  interpolated multilinearly and concatenated, ``[..., L F]``.
* :class:`HashGridEncoding` -- the same levels stored in hash tables of at most ``T`` entries
  (Instant-NGP, Müller et al. 2022): a level with more than ``T`` nodes indexes its table by the
  spatial hash :math:`h(c) = (\bigoplus_i c_i \pi_i) \bmod T`, :math:`\pi = (1, 2654435761,
  805459861, \dots)`; coarser levels keep a one-to-one (dense) index.
* :class:`GridField` -- an encoding followed by a small :class:`~sciml.fields.mlp.MLP` decoder.

All encodings take unit coordinates :math:`u \in [0, 1]^d` (:meth:`Field.to_unit`), with the
grid nodes of level ``l`` at :math:`u = k / N_l`. The interpolation is written with index
arithmetic, ``index_select`` and products of the fractional coordinates, so autograd gives exact
first *and* second derivatives in both the coordinates and the features (``grid_sample`` has no
double backward). Note that multilinear interpolation is affine along each axis inside a cell:
:math:`\partial^2/\partial u_i^2` is zero there (mixed derivatives :math:`\partial^2/\partial u_i
\partial u_j` are not), and the first derivatives jump across cell faces. Second derivatives of a
:class:`GridField` therefore come from the decoder's curvature, not from the grid.

Examples
--------
>>> grid = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])        # C=1, 2x2 nodes: f(u) = 2 u_0 + u_1
>>> multilinear_interpolate(grid, torch.tensor([[0.5, 0.25]]))
tensor([[1.2500]])
>>> enc = HashGridEncoding(3, n_levels=4, features_per_level=2, hashmap_size=2 ** 10)
>>> enc(torch.rand(5, 3)).shape
torch.Size([5, 8])
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

import sciml
from sciml.domain import Domain

from .base import Field, FieldConfig
from .mlp import (
    ACTIVATIONS,
    MLP,
    _check_choice,
    _check_int,
    _check_positive,
    largest_within_budget,
    seeded,
)

__all__ = ["DenseGridEncoding", "GridField", "GridFieldConfig", "HashGridEncoding", "level_resolutions",
           "multilinear_interpolate"]

HASH_PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)


# ---------------------------------------------------------------------------- interpolation core
def _corner_offsets(d: int, device) -> torch.Tensor:
    """The ``2^d`` corners of a unit cell, ``[2^d, d]`` in {0, 1} (axis 0 slowest)."""
    bits = torch.arange(2 ** d, device=device)
    return torch.stack([(bits >> (d - 1 - i)) & 1 for i in range(d)], -1)


def _cell_and_weights(pos: torch.Tensor, cells: torch.Tensor):
    """Lower cell corner ``[..., d]`` (int64) and the ``2^d`` multilinear weights ``[..., 2^d]``.

    ``pos`` are positions in cell units (node ``k`` at ``k``); ``cells`` the number of cells per
    axis (broadcast against ``pos``). Points just outside ``[0, cells]`` use the border cell
    (linear extrapolation). The weights are products of ``t`` and ``1 - t`` with
    ``t = pos - floor(pos)``, differentiable to any order.
    """
    lower = torch.minimum(torch.floor(pos.detach()).clamp_min(0), (cells - 1).to(pos.dtype))
    t = pos - lower
    weights = None
    for i in range(pos.shape[-1]):  # outer products, axis 0 slowest like _corner_offsets
        pair = torch.stack([1 - t[..., i], t[..., i]], -1)                # [..., 2]
        weights = pair if weights is None else (weights.unsqueeze(-1) * pair.unsqueeze(-2)).flatten(-2)
    return lower.long(), weights


def multilinear_interpolate(grid: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    r"""Multilinear interpolation of node grids at unit coordinates.

    .. math::
        f(u) = \sum_{c \in \{0,1\}^d} \Big(\prod_i t_i^{c_i} (1 - t_i)^{1 - c_i}\Big)\, G[k + c],
        \qquad k = \lfloor u (R - 1) \rfloor,\ t = u (R - 1) - k,

    with node ``j`` of an axis of ``R`` nodes at :math:`u = j / (R - 1)`.

    Parameters
    ----------
    grid : Tensor ``[*batch, C, R_1, ..., R_d]``
        Values at the nodes, every ``R_i >= 2``.
    u : Tensor ``[*batch, n, d]``
        Points in :math:`[0, 1]^d` (slightly outside extrapolates the border cell).

    Returns
    -------
    Tensor ``[*batch, n, C]``
        Exact first and second derivatives in ``u`` and ``grid`` by autograd.

    Examples
    --------
    >>> grid = torch.arange(3.0).reshape(1, 3)                 # C=1, nodes 0, 1, 2 on [0, 1]
    >>> multilinear_interpolate(grid, torch.tensor([[0.25], [0.75]]))
    tensor([[0.5000],
            [1.5000]])
    """
    if not isinstance(grid, torch.Tensor) or not isinstance(u, torch.Tensor):
        raise TypeError(f"grid, u: expected tensors, got {type(grid).__name__} and {type(u).__name__}")
    if u.ndim < 2:
        raise ValueError(f"u: expected points of shape [*batch, n, d], got {tuple(u.shape)}")
    d = u.shape[-1]
    batch = u.shape[:-2]
    if grid.ndim != len(batch) + 1 + d or tuple(grid.shape[:len(batch)]) != tuple(batch):
        raise ValueError(f"grid: expected shape [*batch, C, R_1..R_{d}] with batch {tuple(batch)} for "
                         f"u of shape {tuple(u.shape)}, got {tuple(grid.shape)}")
    sizes = grid.shape[len(batch) + 1:]
    if min(sizes) < 2:
        raise ValueError(f"grid: expected at least 2 nodes per axis, got spatial shape {tuple(sizes)}")
    channels = grid.shape[len(batch)]
    n_batch = math.prod(batch)
    cells = torch.tensor([s - 1 for s in sizes], device=u.device)
    lower, weights = _cell_and_weights(u * cells.to(u.dtype), cells)     # [*b, n, d], [*b, n, 2^d]
    strides = torch.tensor([math.prod(sizes[i + 1:]) for i in range(d)], device=u.device)
    corner_shift = (_corner_offsets(d, u.device) * strides).sum(-1)     # [2^d]
    index = ((lower * strides).sum(-1, keepdim=True) + corner_shift).reshape(n_batch, -1)
    index = index + torch.arange(n_batch, device=u.device)[:, None] * math.prod(sizes)
    table = grid.reshape(n_batch, channels, -1).transpose(1, 2).reshape(-1, channels)
    values = table.index_select(0, index.reshape(-1)).reshape(*weights.shape, channels)
    return (values * weights.unsqueeze(-1)).sum(-2)


def level_resolutions(n_levels: int, base_resolution: int, max_resolution: int) -> list[int]:
    r"""Cells per axis of each level: :math:`N_l = \lfloor N_{\min} b^l \rfloor`, :math:`N_{L-1} = N_{\max}`.

    Examples
    --------
    >>> level_resolutions(4, 4, 32)
    [4, 8, 16, 32]
    """
    _check_int("n_levels", n_levels, 1)
    _check_int("base_resolution", base_resolution, 1)
    _check_int("max_resolution", max_resolution, base_resolution)
    if n_levels == 1:
        return [max_resolution]
    growth = math.exp((math.log(max_resolution) - math.log(base_resolution)) / (n_levels - 1))
    return [min(max_resolution, math.floor(base_resolution * growth ** l + 1e-9)) for l in range(n_levels)]


# ---------------------------------------------------------------------------- multi-resolution grids
class _MultiResolutionGrid(nn.Module):
    """Shared machinery: levels stored in one table ``[sum_l T_l, F]``, dense or hashed indices."""

    def __init__(self, in_dim, n_levels, features_per_level, base_resolution, max_resolution,
                 hashmap_size, init_scale, seed):
        super().__init__()
        self.in_dim = _check_int("in_dim", in_dim, 1)
        if in_dim > len(HASH_PRIMES):
            raise ValueError(f"in_dim: expected at most {len(HASH_PRIMES)} coordinates, got {in_dim}")
        self.features_per_level = _check_int("features_per_level", features_per_level, 1)
        self.resolutions = level_resolutions(n_levels, base_resolution, max_resolution)
        self.init_scale = _check_positive("init_scale", init_scale)
        dense_sizes = [(n + 1) ** in_dim for n in self.resolutions]
        sizes = [min(s, hashmap_size) for s in dense_sizes] if hashmap_size else dense_sizes
        self.level_sizes = sizes
        self.hashed = [s < full for s, full in zip(sizes, dense_sizes)]
        gen = torch.Generator().manual_seed(int(seed))
        table = (torch.rand(sum(sizes), features_per_level, generator=gen, dtype=torch.float64) * 2 - 1) * init_scale
        self.table = nn.Parameter(table.to(torch.get_default_dtype()))
        self.register_buffer("_cells", torch.tensor(self.resolutions), persistent=False)
        self.register_buffer("_offsets", torch.tensor([0] + sizes[:-1]).cumsum(0), persistent=False)
        self.register_buffer("_sizes", torch.tensor(sizes), persistent=False)
        self.register_buffer("_hashed", torch.tensor(self.hashed), persistent=False)
        strides = torch.stack([(self._cells + 1) ** (in_dim - 1 - i) for i in range(in_dim)], -1)
        self.register_buffer("_strides", strides, persistent=False)   # [L, d], axis 0 slowest
        self.register_buffer("_primes", torch.tensor(HASH_PRIMES[:in_dim]), persistent=False)
        # level sizes grow with the resolution, so the hashed levels are the last ones
        self.n_dense = sum(not h for h in self.hashed)

    @property
    def n_levels(self) -> int:
        return len(self.resolutions)

    @property
    def out_features(self) -> int:
        """Features per point, ``n_levels * features_per_level``."""
        return self.n_levels * self.features_per_level

    @staticmethod
    def count_parameters(in_dim, n_levels, features_per_level, base_resolution, max_resolution, hashmap_size=None):
        """Number of table entries times features, without building the tables."""
        dense = [(n + 1) ** in_dim for n in level_resolutions(n_levels, base_resolution, max_resolution)]
        return features_per_level * sum(min(s, hashmap_size) if hashmap_size else s for s in dense)

    def level_index(self, corners: torch.Tensor) -> torch.Tensor:
        """Row of the table holding each integer corner ``[..., L, d]`` of each level, ``[..., L]``."""
        dense = (corners * self._strides).sum(-1)
        hashed = corners[..., 0] * self._primes[0]
        for i in range(1, self.in_dim):
            hashed = torch.bitwise_xor(hashed, corners[..., i] * self._primes[i])
        local = torch.where(self._hashed, torch.remainder(hashed, self._sizes), dense)
        return local + self._offsets

    def _corner_rows(self, lower: torch.Tensor) -> torch.Tensor:
        r"""Table rows of the ``2^d`` corners of the cells with lower corners ``[n, L, d]``, ``[n, L, 2^d]``.

        The rows :meth:`level_index` gives each corner, built from per-axis terms (a dense row is a
        sum of ``c_i s_i``, a hash an XOR of ``c_i \pi_i``, with ``c_i`` the lower or upper node of
        axis ``i``) combined by broadcasting: ``O(2^d)`` integer operations per level instead of
        ``O(d 2^d)``. Hashed levels all have ``T`` rows; a power of two ``T`` takes a bit mask.
        """
        nodes = lower.unsqueeze(-1) + torch.arange(2, device=lower.device)           # [n, L, d, 2]
        parts = []
        if self.n_dense:
            terms = nodes[:, :self.n_dense] * self._strides[:self.n_dense, :, None]   # [n, Ld, d, 2]
            rows = terms[..., 0, :]
            for i in range(1, self.in_dim):
                rows = (rows.unsqueeze(-1) + terms[..., i, None, :]).flatten(-2)
            parts.append(rows)
        if self.n_dense < self.n_levels:
            terms = nodes[:, self.n_dense:] * self._primes[:, None]                 # [n, Lh, d, 2]
            rows = terms[..., 0, :]
            for i in range(1, self.in_dim):
                rows = torch.bitwise_xor(rows.unsqueeze(-1), terms[..., i, None, :]).flatten(-2)
            size = self.level_sizes[-1]  # every hashed level has the full table of T rows
            parts.append(torch.bitwise_and(rows, size - 1) if size & (size - 1) == 0 else torch.remainder(rows, size))
        rows = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        return rows + self._offsets[:, None]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        if not isinstance(u, torch.Tensor) or u.ndim < 1 or u.shape[-1] != self.in_dim:
            raise ValueError(f"u: expected unit coordinates of shape [..., {self.in_dim}], "
                             f"got {tuple(getattr(u, 'shape', ()))}")
        lead = u.shape[:-1]
        u = u.reshape(-1, 1, self.in_dim)                                       # [n, 1, d]
        pos = u * self._cells[:, None].to(u.dtype)                              # [n, L, d]
        lower = torch.minimum(torch.floor(pos.detach()).clamp_min(0), (self._cells[:, None] - 1).to(u.dtype))
        t = pos - lower
        pair = torch.stack([1 - t, t], -1)                                      # [n, L, d, 2]
        weights = pair[..., 0, :]
        for i in range(1, self.in_dim):  # outer product over axes, axis 0 slowest like _corner_offsets
            weights = (weights.unsqueeze(-1) * pair[..., i, None, :]).flatten(-2)   # [n, L, 2^d]
        rows = self._corner_rows(lower.long())                                  # [n, L, 2^d]
        values = self.table.index_select(0, rows.reshape(-1)).reshape(*rows.shape, -1)
        out = (values * weights.unsqueeze(-1)).sum(-2)                          # [n, L, F]
        return out.reshape(*lead, self.out_features)


class DenseGridEncoding(_MultiResolutionGrid):
    r"""Dense multi-resolution feature grids, multilinearly interpolated and concatenated.

    Level ``l`` is a grid of :math:`(N_l + 1)^d` nodes with ``F`` features each
    (:func:`level_resolutions`); the output is
    :math:`[\mathrm{interp}_0(u), \dots, \mathrm{interp}_{L-1}(u)] \in \mathbb R^{L F}`.
    Features start uniform in ``[-init_scale, init_scale]``.

    Parameters
    ----------
    in_dim : int
        Coordinates ``d``.
    n_levels, features_per_level : int
    base_resolution, max_resolution : int
        Cells per axis of the coarsest and finest levels.
    init_scale : float
    seed : int

    Examples
    --------
    >>> enc = DenseGridEncoding(2, n_levels=3, features_per_level=4, base_resolution=2, max_resolution=8)
    >>> enc.resolutions, enc.out_features, enc.table.shape
    ([2, 4, 8], 12, torch.Size([115, 4]))
    """

    def __init__(self, in_dim: int, n_levels: int = 4, features_per_level: int = 2, base_resolution: int = 4,
                 max_resolution: int = 32, init_scale: float = 1e-4, seed: int = 0):
        super().__init__(in_dim, n_levels, features_per_level, base_resolution, max_resolution, None,
                         init_scale, seed)


class HashGridEncoding(_MultiResolutionGrid):
    r"""Multi-resolution hash encoding (Müller et al., Instant-NGP, 2022), in plain torch.

    Like :class:`DenseGridEncoding`, but level ``l`` stores at most ``hashmap_size`` feature
    vectors: when :math:`(N_l+1)^d` exceeds it, node :math:`c` reads row
    :math:`(\bigoplus_i c_i \pi_i) \bmod T`, so distinct nodes may share (collide on) a row and
    the decoder has to disambiguate them from the other levels.

    Parameters
    ----------
    in_dim, n_levels, features_per_level, base_resolution, max_resolution, init_scale, seed
        As in :class:`DenseGridEncoding`.
    hashmap_size : int
        Maximum rows per level ``T``.

    Examples
    --------
    >>> enc = HashGridEncoding(2, n_levels=2, base_resolution=4, max_resolution=64, hashmap_size=256)
    >>> enc.level_sizes, enc.hashed
    ([25, 256], [False, True])
    """

    def __init__(self, in_dim: int, n_levels: int = 8, features_per_level: int = 2, base_resolution: int = 4,
                 max_resolution: int = 256, hashmap_size: int = 2 ** 14, init_scale: float = 1e-4,
                 seed: int = 0):
        _check_int("hashmap_size", hashmap_size, 1)
        super().__init__(in_dim, n_levels, features_per_level, base_resolution, max_resolution, hashmap_size,
                         init_scale, seed)
        self.hashmap_size = hashmap_size


# ---------------------------------------------------------------------------- field
@dataclasses.dataclass
class GridFieldConfig(FieldConfig):
    """Configuration of :class:`GridField`.

    Attributes
    ----------
    encoding : {"hash", "dense"}
        :class:`HashGridEncoding` or :class:`DenseGridEncoding`.
    n_levels, features_per_level, base_resolution, max_resolution : int
        Levels, features per level, cells per axis of the coarsest and finest level.
    hashmap_size : int
        Rows per level of the hash tables (hash encoding only).
    width, depth : int
        Hidden units and hidden layers of the decoder :class:`~sciml.fields.mlp.MLP`.
    activation : str
        Decoder activation (smooth by default).
    init_scale : float
        Features start uniform in ``[-init_scale, init_scale]``.
    seed : int
        Seed of the features and of the decoder weights.
    """

    encoding: str = "hash"
    n_levels: int = 8
    features_per_level: int = 2
    base_resolution: int = 4
    max_resolution: int = 128
    hashmap_size: int = 2 ** 14
    width: int = 32
    depth: int = 2
    activation: str = "softplus"
    init_scale: float = 1e-4
    seed: int = 0

    def __post_init__(self):
        _check_choice("encoding", self.encoding, ("hash", "dense"))
        for name in ("n_levels", "features_per_level", "base_resolution", "hashmap_size", "width"):
            _check_int(name, getattr(self, name), 1)
        _check_int("max_resolution", self.max_resolution, self.base_resolution)
        _check_int("depth", self.depth, 0)
        _check_int("seed", self.seed, 0)
        _check_int("out_channels", self.out_channels, 1)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_positive("init_scale", self.init_scale)

    def count_parameters(self, in_dim: int) -> int:
        """Parameters of the field this config builds on ``in_dim`` coordinates."""
        table = _MultiResolutionGrid.count_parameters(
            in_dim, self.n_levels, self.features_per_level, self.base_resolution, self.max_resolution,
            self.hashmap_size if self.encoding == "hash" else None)
        return table + MLP.count_parameters(self.n_levels * self.features_per_level, self.out_channels,
                                            self.width, self.depth)


@sciml.register_model("grid")
class GridField(Field):
    r"""Feature-grid field: :math:`f(x) = \mathrm{MLP}(\mathrm{enc}(\mathrm{to\_unit}(x)))`.

    ``enc`` is a :class:`HashGridEncoding` or :class:`DenseGridEncoding` (multilinear, exact
    first and second derivatives; see the module notes on second derivatives) and the decoder a
    small :class:`~sciml.fields.mlp.MLP`. Train with a large learning rate (``1e-2``): the
    features start near zero.

    Parameters
    ----------
    config : GridFieldConfig

    Examples
    --------
    >>> field = GridField.for_domain(sciml.Domain.unit(2), encoding="dense", n_levels=2, max_resolution=8)
    >>> field(torch.rand(4, 2)).shape, field.num_parameters() == field.config.count_parameters(2)
    (torch.Size([4, 1]), True)
    """

    periodic_axes = False
    config_class = GridFieldConfig

    def __init__(self, config: GridFieldConfig):
        if not isinstance(config, GridFieldConfig):
            raise TypeError(f"config: expected a GridFieldConfig, got {type(config).__name__}")
        super().__init__(config.domain(), config.out_channels)
        self.config = config
        common = {"n_levels": config.n_levels, "features_per_level": config.features_per_level,
                  "base_resolution": config.base_resolution, "max_resolution": config.max_resolution,
                  "init_scale": config.init_scale, "seed": config.seed}
        if config.encoding == "hash":
            self.encoding = HashGridEncoding(self.in_dim, hashmap_size=config.hashmap_size, **common)
        else:
            self.encoding = DenseGridEncoding(self.in_dim, **common)
        with seeded(config.seed):
            self.decoder = MLP(self.encoding.out_features, config.out_channels, config.width, config.depth,
                               config.activation)

    @classmethod
    def for_budget(cls, domain: Domain, params: int, out_channels: int = 1, **kwargs) -> GridField:
        """The largest grid field on ``domain`` with at most ``params`` parameters.

        The dense encoding grows ``max_resolution``; the hash encoding grows ``hashmap_size`` up
        to the size of the finest dense level (pass a larger ``max_resolution`` for more).
        Other settings come from ``kwargs`` or the defaults.
        """
        if not isinstance(domain, Domain):
            raise TypeError(f"domain: expected a sciml.Domain, got {type(domain).__name__}")
        encoding = kwargs.get("encoding", GridFieldConfig.encoding)
        size_name = "max_resolution" if encoding == "dense" else "hashmap_size"
        if size_name in kwargs:
            raise ValueError(f"{size_name}: for_budget chooses it for the {encoding} encoding; leave it out")
        base = GridFieldConfig(bounds=tuple(domain.bounds), out_channels=out_channels,
                               **{k: v for k, v in kwargs.items() if k != "periodic"})

        def count(size):
            return dataclasses.replace(base, **{size_name: size}).count_parameters(domain.ndim)

        if encoding == "dense":
            size = largest_within_budget(count, params, lower=base.base_resolution, upper=1 << 14)
        else:
            size = largest_within_budget(count, params, upper=(base.max_resolution + 1) ** domain.ndim)
        return cls.for_domain(domain, out_channels=out_channels, **{size_name: size}, **kwargs)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoding(self.to_unit(x)))
