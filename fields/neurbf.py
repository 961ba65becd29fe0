r"""NeuRBF: a neural field built on adaptive, anisotropic radial basis functions.

Chen et al., "NeuRBF: A Neural Fields Representation with Adaptive Radial Basis Functions",
ICCV 2023. With :math:`u \in [0, 1]^d` the point in unit-box coordinates, :math:`N_k(u)` its
``neighbours`` nearest kernel centres and :math:`w_i(u)` the normalised kernel weights
(:func:`sciml.kernels.rbf.normalized_rbf_weights`; inverse quadric
:math:`\varphi_i = 1/(1 + \lVert A_i (u - c_i)\rVert^2)` by default),

.. math::
    h(u) = \sum_{i \in N_k(u)} f_i \odot \gamma\big(w_i(u)\big) + b,
    \qquad \gamma(w)_j = \begin{cases} w & j < J_\ell \\ \sin(m_j w) & j \ge J_\ell \end{cases}

with per-kernel features :math:`f_i \in \mathbb{R}^F` and frequencies :math:`m_j` spaced
geometrically over ``frequency_range`` (*multi-frequency composition*: each channel of a
kernel's feature sees the kernel response at its own frequency, so one kernel carries many
frequencies without extra parameters; :math:`J_\ell` = ``linear_features`` channels keep
:math:`w` itself). A coarse multi-resolution dense grid
(:class:`~sciml.fields.encodings.DenseGridEncoding`, ``grid_levels``; 0 turns it off) is
concatenated to :math:`h` for the smooth, low-frequency part of the signal: the hybrid of the
paper (which uses a hash grid). Optionally (``n_frequencies``, off by default) the positional
encoding :math:`\gamma(2u - 1) = [v, \sin(2^l \pi v), \cos(2^l \pi v)]_{l < L}` of the point is
appended too: the kernel weights are normalised over the nearest kernels, so far from every kernel
:math:`h` is nearly constant, while a signed distance keeps growing there -- the coordinates give the
decoder that smooth trend directly. The decoder is a small MLP whose first layer is composed with sines
as in the paper, :math:`z \mapsto z + \sin(\mu \odot z)` (``decoder_frequency_range``).

Centres :math:`c_i` and shape factors :math:`A_i` (``shape="full"``: lower triangular,
:math:`\Sigma_i^{-1} = A_i^\top A_i`; ``"diagonal"``; ``"isotropic"``) are learnable
(``learn_kernels``). They are stored in units of the mean kernel spacing
:math:`s = K^{-1/d}` (:math:`c = s\,\theta_c`, :math:`A = \theta_A / s`), so that an optimiser
step of a given size moves every parameter group by a comparable relative amount.

:meth:`NeuRBF.init_from_samples` places the kernels by weighted k-means (weights: gradient
magnitude of an image, closeness to the surface of an SDF; see
:meth:`NeuRBF.init_from_sampled`) and sets each shape from the weighted covariance of its
cluster. Periodic axes are not supported (kernels are not wrapped around the box).

Neighbours are searched on every evaluation (exact, :func:`~sciml.kernels.rbf.nearest_kernels`)
since the centres move during training; the search itself carries no gradient, so the field
is continuous only where the neighbour sets do not change (as in the paper). When the same
points are evaluated at every step (all pixels of an image), :meth:`NeuRBF.cached_neighbours`
searches them only every few steps. Train with Adam at a learning rate around ``1e-2``: the
features start small. For images the paper starts the features at ``1e-4`` and composes the
first decoder layer with frequencies 10-100 (:meth:`NeuRBF.for_budget` does so in 2D,
:data:`IMAGE_BUDGET_DEFAULTS`), and trains with Adam's ``betas=(0.9, 0.99), eps=1e-15``
(``benchmarks/neurbf_images.py`` does: on scikit-image's astronaut at 128x128 with 8k parameters, these
three took NeuRBF from 25.5 to 26.8 dB after 250 steps, seed 0).

Examples
--------
>>> import sciml
>>> image = torch.rand(1, 1, 16, 16)                       # a target on a 16x16 grid
>>> grid = sciml.Grid.uniform((16, 16), sciml.Domain.unit(2), centring="cell")
>>> field = NeuRBF.for_budget(grid.domain, params=3000, features=8, width=16)
>>> field = field.init_from_sampled(sciml.Sampled(image, grid), progress=False)
>>> field(grid.points(dtype=torch.float32)).shape
torch.Size([256, 1])
"""

from __future__ import annotations

import contextlib
import dataclasses
import math

import numpy as np
import torch
from torch import nn

import sciml
from sciml.domain import Domain
from sciml.grid import Grid
from sciml.kernels.rbf import RBF_FAMILIES, gather_rows, nearest_kernels, normalized_rbf_weights, weighted_kmeans
from sciml.sampled import Sampled

from .base import Field, FieldConfig
from .encodings import DenseGridEncoding
from .mlp import ACTIVATIONS, MLP, FrequencyEncoding

__all__ = ["NeuRBF", "NeuRBFConfig"]

SHAPES = ("full", "diagonal", "isotropic")
_DECODER_LADDER = ((32, 64), (16, 32), (8, 16), (4, 8))  # (features, width) tried by for_budget
#: settings of :meth:`NeuRBF.for_budget` in 3D unless given (measured on SDF fits, see there): a larger
#: neighbourhood than the paper's image setting (8 kernels, not 4), no multi-frequency composition, the
#: positional encoding of the point (2 octaves) for the smooth far field of a distance, and axis-aligned
#: kernels (3 shape numbers instead of 6: more kernels in the budget and a cheaper step)
VOLUME_BUDGET_DEFAULTS = {"frequency_range": None, "neighbours": 8, "n_frequencies": 2, "shape": "diagonal"}
#: settings of :meth:`NeuRBF.for_budget` in 2D unless given: the paper's image setting (decoder composition
#: frequencies 10-100, features starting at 1e-4). Measured (seed 0, 250 Adam steps at lr 1e-2, 8k parameters,
#: ``features=16, width=32``): astronaut 128x128 25.48 -> 26.36 dB, camera 28.75 -> 30.81 dB; the README's
#: 64x64 camera example (100 steps) 33.3 -> 40.7 dB
IMAGE_BUDGET_DEFAULTS = {"decoder_frequency_range": (10.0, 100.0), "feature_scale": 1e-4}
#: points :meth:`NeuRBF.init_from_samples` clusters at most (a uniform random subset of larger pools)
PLACEMENT_POINTS = 50_000


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return value


def _range(name, value, allow_none):
    if value is None and allow_none:
        return None
    ok = isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in value)
    if not ok or value[0] > value[1]:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name}: expected (low, high) with 0 < low <= high{extra}, got {value!r}")
    return (float(value[0]), float(value[1]))


@dataclasses.dataclass
class NeuRBFConfig(FieldConfig):
    """Configuration of :class:`NeuRBF`.

    Attributes
    ----------
    num_kernels : int
        Number of radial basis functions ``K``.
    features : int
        Feature size ``F`` per kernel.
    neighbours : int
        Kernels ``k`` combined at each point (4 in the paper).
    family : str
        Kernel profile, one of :data:`sciml.kernels.rbf.RBF_FAMILIES`.
    shape : {"full", "diagonal", "isotropic"}
        Anisotropy of each kernel: full (lower-triangular factor, ``d(d+1)/2`` numbers),
        axis-aligned (``d``) or round (1).
    frequency_range : (float, float) or None
        Lowest and highest composition frequency ``m_j`` (None: no sines, ``h`` is linear in
        the weights).
    linear_features : int
        Feature channels that use the weight itself rather than a sine of it.
    width, depth : int
        Hidden units and hidden layers of the decoder (``depth >= 1``).
    decoder_frequency_range : (float, float) or None
        Frequencies of the sinusoidal composition of the first decoder layer (None: off).
    activation : str
        Activation of the other decoder layers (:data:`sciml.fields.mlp.ACTIVATIONS`).
    grid_levels : int
        Levels of the hybrid :class:`~sciml.fields.encodings.DenseGridEncoding` (0: no grid).
    grid_features : int
        Features per grid level.
    grid_resolution : (int, int) or None
        Cells per axis of the coarsest and the finest grid level (None: ``(4, 2 ** (6 - d))``,
        i.e. ``(4, 16)`` for images and ``(4, 8)`` in 3D).
    n_frequencies : int or None
        Octaves ``L`` of the positional encoding of the point appended to the decoder input
        (``d (2L + 1)`` features; 0: the coordinates only; None: no coordinates, as in the paper).
    learn_kernels : bool
        Train centres and shapes (else they stay where the initialisation put them).
    feature_scale : float
        Kernel features start uniform in ``[-feature_scale, feature_scale]``.
    seed : int or None
        Seed of the initialisation (None: torch's global generator).
    """

    num_kernels: int = 256
    features: int = 32
    neighbours: int = 4
    family: str = "inverse_quadric"
    shape: str = "full"
    frequency_range: tuple | None = (1.0, 256.0)
    linear_features: int = 0
    width: int = 64
    depth: int = 2
    decoder_frequency_range: tuple | None = (1.0, 10.0)
    activation: str = "relu"
    grid_levels: int = 2
    grid_features: int = 2
    grid_resolution: tuple | None = None
    n_frequencies: int | None = None
    learn_kernels: bool = True
    feature_scale: float = 0.1
    seed: int | None = 0

    def __post_init__(self):
        _int("num_kernels", self.num_kernels, 1)
        _int("features", self.features, 1)
        _int("neighbours", self.neighbours, 1)
        if self.neighbours > self.num_kernels:
            raise ValueError(f"neighbours: expected at most num_kernels={self.num_kernels}, got {self.neighbours}")
        if self.family not in RBF_FAMILIES:
            raise ValueError(f"family: expected one of {RBF_FAMILIES}, got {self.family!r}")
        if self.shape not in SHAPES:
            raise ValueError(f"shape: expected one of {SHAPES}, got {self.shape!r}")
        self.frequency_range = _range("frequency_range", self.frequency_range, True)
        self.decoder_frequency_range = _range("decoder_frequency_range", self.decoder_frequency_range, True)
        _int("linear_features", self.linear_features, 0)
        if self.linear_features > self.features:
            raise ValueError(f"linear_features: expected at most features={self.features}, got {self.linear_features}")
        _int("width", self.width, 1)
        _int("depth", self.depth, 1)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {self.activation!r}")
        _int("grid_levels", self.grid_levels, 0)
        _int("grid_features", self.grid_features, 1)
        if self.grid_resolution is None:
            self.grid_resolution = (4, max(4, 2 ** (6 - len(self.bounds))))
        if (not isinstance(self.grid_resolution, (tuple, list)) or len(self.grid_resolution) != 2
                or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in self.grid_resolution)
                or self.grid_resolution[0] > self.grid_resolution[1]):
            raise ValueError(f"grid_resolution: expected (coarsest, finest) cells per axis with "
                             f"1 <= coarsest <= finest, got {self.grid_resolution!r}")
        self.grid_resolution = tuple(self.grid_resolution)
        if self.n_frequencies is not None:
            _int("n_frequencies", self.n_frequencies, 0)
        if not isinstance(self.learn_kernels, bool):
            raise TypeError(f"learn_kernels: expected a bool, got {type(self.learn_kernels).__name__}")
        if not (isinstance(self.feature_scale, (int, float)) and math.isfinite(self.feature_scale)
                and self.feature_scale > 0):
            raise ValueError(f"feature_scale: expected a finite number > 0, got {self.feature_scale!r}")
        _int("out_channels", self.out_channels, 1)
        if self.seed is not None:
            _int("seed", self.seed, 0)
        if any(self.periodic):
            raise ValueError(f"periodic: NeuRBF does not support periodic axes, got {tuple(self.periodic)}")


def _shape_numbers(shape: str, d: int) -> int:
    return {"full": d * (d + 1) // 2, "diagonal": d, "isotropic": 1}[shape]


@sciml.register_model("neurbf")
class NeuRBF(Field):
    r"""Adaptive radial basis function field (NeuRBF), for images (2D) and SDFs (3D).

    See the module docstring for the maths. Build it from a :class:`NeuRBFConfig`, with
    :meth:`for_domain` or :meth:`for_budget`; place the kernels with
    :meth:`init_from_sampled` (a target on a grid) or :meth:`init_from_samples` (points and
    importance weights) before fitting.

    Parameters
    ----------
    config : NeuRBFConfig

    Examples
    --------
    >>> field = NeuRBF.for_domain(sciml.Domain.unit(2), num_kernels=16, features=4, width=8)
    >>> field(torch.rand(5, 2)).shape
    torch.Size([5, 1])
    >>> NeuRBF.for_budget(sciml.Domain.unit(3), params=20_000).num_parameters() <= 20_000
    True
    """

    config_class = NeuRBFConfig

    def __init__(self, config: NeuRBFConfig):
        if not isinstance(config, NeuRBFConfig):
            raise TypeError(f"config: expected a NeuRBFConfig, got {type(config).__name__}")
        super().__init__(config.domain(), config.out_channels)
        self.config = config
        if config.seed is None:
            self._build(config)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                self._build(config)

    # ------------------------------------------------------------------ construction
    def _build(self, cfg: NeuRBFConfig) -> None:
        d, num = self.in_dim, cfg.num_kernels
        self.spacing = float(num) ** (-1.0 / d)
        centres, factors = self._regular_kernels(num, d)
        self.centre_params = nn.Parameter(centres / self.spacing, requires_grad=cfg.learn_kernels)
        self.shape_params = nn.Parameter(self._pack(factors) * self.spacing, requires_grad=cfg.learn_kernels)
        self.kernel_features = nn.Parameter(torch.empty(num, cfg.features).uniform_(-cfg.feature_scale,
                                                                                   cfg.feature_scale))
        self.feature_bias = nn.Parameter(torch.zeros(cfg.features))
        n_sine = cfg.features - cfg.linear_features if cfg.frequency_range else 0
        self.register_buffer("frequencies", _geometric(cfg.frequency_range, n_sine), persistent=False)
        self.grid = self._make_grid(cfg)
        self.encoding = None if cfg.n_frequencies is None else FrequencyEncoding(d, cfg.n_frequencies, "positional")
        n_in = cfg.features + (self.grid.out_features if self.grid is not None else 0)
        n_in += self.encoding.out_features if self.encoding is not None else 0
        self.first = nn.Linear(n_in, cfg.width)
        n_dec = cfg.width if cfg.decoder_frequency_range else 0
        self.register_buffer("decoder_frequencies", _geometric(cfg.decoder_frequency_range, n_dec),
                             persistent=False)
        self.decoder = MLP(cfg.width, cfg.out_channels, cfg.width, cfg.depth - 1, cfg.activation)
        self.decoder_activation = self.decoder.act
        self._neighbour_cache = None

    def _make_grid(self, cfg):
        if cfg.grid_levels == 0:
            return None
        return DenseGridEncoding(self.in_dim, n_levels=cfg.grid_levels, features_per_level=cfg.grid_features,
                                 base_resolution=cfg.grid_resolution[0], max_resolution=cfg.grid_resolution[1],
                                 seed=0 if cfg.seed is None else cfg.seed)

    @staticmethod
    def _regular_kernels(num: int, d: int):
        """``num`` centres spread over a regular lattice of the unit box, round shapes of its spacing.

        The placement before :meth:`init_from_samples`; with ``num`` not a ``d``-th power the
        centres are ``num`` evenly spaced nodes (in raster order) of the smallest lattice holding them.
        """
        per_axis = math.ceil(num ** (1.0 / d) - 1e-9)
        axes = [(torch.arange(per_axis, dtype=torch.float64) + 0.5) / per_axis] * d
        lattice = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, d)
        lattice = lattice[torch.linspace(0, lattice.shape[0] - 1, num, dtype=torch.float64).round().long()]
        factor = torch.eye(d, dtype=torch.float64).expand(num, d, d) * (2.0 * per_axis)  # sigma = spacing / 2
        return lattice.to(torch.get_default_dtype()), factor.to(torch.get_default_dtype())

    def _pack(self, factors: torch.Tensor) -> torch.Tensor:
        """Parameters of full factors ``[K, d, d]`` for the configured ``shape``."""
        shape = self.config.shape
        if shape == "full":
            rows, cols = torch.tril_indices(self.in_dim, self.in_dim)
            return factors[:, rows, cols].clone()
        diag = factors.diagonal(dim1=-2, dim2=-1)
        return diag.clone() if shape == "diagonal" else diag.mean(-1).clone()

    @property
    def centres(self) -> torch.Tensor:
        """Kernel centres ``[K, d]`` in unit-box coordinates."""
        return self.centre_params * self.spacing

    @property
    def shape_factors(self) -> torch.Tensor:
        r"""Shape factors :math:`A_i`: ``[K, d, d]`` (full), ``[K, d]`` (diagonal) or ``[K]`` (isotropic)."""
        params = self.shape_params / self.spacing
        if self.config.shape != "full":
            return params
        d = self.in_dim
        rows, cols = torch.tril_indices(d, d, device=params.device)
        flat = params.new_zeros(params.shape[0], d * d).index_copy(1, rows * d + cols, params)
        return flat.reshape(-1, d, d)

    # ------------------------------------------------------------------ evaluation
    def rbf_features(self, u: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        r"""The composed kernel features :math:`h(u)` ``[n, F]`` at unit-box points ``u`` ``[n, d]``.

        ``index`` (``[n, k]``, optional) are the kernels to combine at each point; by default the
        ``neighbours`` nearest (:func:`~sciml.kernels.rbf.nearest_kernels`).
        """
        cfg = self.config
        weights, index = normalized_rbf_weights(u, self.centres, self.shape_factors, cfg.neighbours, cfg.family,
                                                index=index)
        weights = weights.unsqueeze(-1)  # [n, k, 1]
        if self.frequencies.numel():
            sines = torch.sin(weights * self.frequencies.to(u.dtype))
            weights = torch.cat([weights.expand(-1, -1, cfg.linear_features), sines], -1)
        features = gather_rows(self.kernel_features, index)
        return (features * weights).sum(1) + self.feature_bias

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Indices ``[n, neighbours]`` of the kernels nearest to the points ``x`` ``[n, d]`` (domain coordinates)."""
        x = self.check_coordinates(x).reshape(-1, self.in_dim)
        return nearest_kernels(self.to_unit(x).detach(), self.centres.detach(), self.config.neighbours)

    @contextlib.contextmanager
    def cached_neighbours(self, points: torch.Tensor, refresh_every: int = 10):
        r"""Reuse the nearest kernels of fixed training ``points`` for ``refresh_every`` evaluations.

        Inside the block, evaluating at ``points`` itself (the same, unmodified tensor or a view
        with its shape and strides) combines the kernels of the latest search, run at the first
        such evaluation and then every ``refresh_every``-th; the weights are still exact for the
        current centres and shapes, only the kernel *sets* may lag the moving centres by up to
        ``refresh_every - 1`` steps (1: exact). Other points, and all evaluations after the block,
        search exactly. For fitting all pixels every step, where the search is about a fifth of a
        step (128x128 pixels, 322 kernels, one thread).

        Parameters
        ----------
        points : Tensor ``[n, d]``
            The training points (domain coordinates).
        refresh_every : int
            Evaluations between two searches (``>= 1``).

        Examples
        --------
        >>> field = NeuRBF.for_domain(sciml.Domain.unit(2), num_kernels=16, features=4, width=8)
        >>> x = torch.rand(50, 2)
        >>> with field.cached_neighbours(x, refresh_every=5):
        ...     cached = field(x)
        >>> torch.equal(cached, field(x))      # refreshed on the first call: the exact neighbours
        True
        """
        points = self.check_coordinates(points)
        if points.ndim != 2:
            raise ValueError(f"points: expected shape [n, {self.in_dim}], got {tuple(points.shape)}")
        _int("refresh_every", refresh_every, 1)
        if self._neighbour_cache is not None:
            raise RuntimeError("cached_neighbours: already active on this field; nested caches are not supported")
        self._neighbour_cache = {"points": points, "version": points._version, "every": refresh_every,
                                 "calls": 0, "index": None}
        try:
            yield self
        finally:
            self._neighbour_cache = None

    def _cached_index(self, x: torch.Tensor) -> torch.Tensor | None:
        """Neighbours of ``x`` from :meth:`cached_neighbours` when ``x`` is its points, else None."""
        cache = self._neighbour_cache
        if cache is None:
            return None
        points = cache["points"]
        same = (x.data_ptr() == points.data_ptr() and x.shape == points.shape and x.stride() == points.stride()
                and x.dtype == points.dtype and x.device == points.device and x._version == cache["version"])
        if not same:
            return None
        if cache["calls"] % cache["every"] == 0:
            cache["index"] = self.nearest(x)
        cache["calls"] += 1
        return cache["index"]

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        u = self.to_unit(x)
        h = self.rbf_features(u, self._cached_index(x))
        if self.grid is not None:
            h = torch.cat([h, self.grid(u)], -1)
        if self.encoding is not None:
            h = torch.cat([h, self.encoding(2 * u - 1)], -1)
        z = self.first(h)
        if self.decoder_frequencies.numel():
            z = z + torch.sin(z * self.decoder_frequencies.to(z.dtype))
        else:
            z = self.decoder_activation(z)
        return self.decoder(z)

    # ------------------------------------------------------------------ budget
    @classmethod
    def count_parameters(cls, config: NeuRBFConfig) -> int:
        """Trainable parameters of ``NeuRBF(config)`` (kernel centres and shapes counted when learnt)."""
        d = len(config.bounds)
        per_kernel = config.features + (d + _shape_numbers(config.shape, d) if config.learn_kernels else 0)
        n_grid = DenseGridEncoding.count_parameters(d, config.grid_levels, config.grid_features,
                                                    *config.grid_resolution) if config.grid_levels else 0
        n_in = config.features + config.grid_levels * config.grid_features
        if config.n_frequencies is not None:
            n_in += d * (2 * config.n_frequencies + 1)
        decoder = (n_in + 1) * config.width + MLP.count_parameters(config.width, config.out_channels,
                                                                   config.width, config.depth - 1)
        return config.num_kernels * per_kernel + config.features + n_grid + decoder

    @classmethod
    def for_budget(cls, domain: Domain, params: int, out_channels: int = 1, **kwargs) -> NeuRBF:
        """The NeuRBF on ``domain`` with the most kernels such that ``num_parameters() <= params``.

        Settings in ``kwargs`` are kept; the rest of the budget goes to kernels. If neither
        ``features`` nor ``width`` is given, they are the largest pair of
        ``(32, 64), (16, 32), (8, 16), (4, 8)`` (the paper's decoder first; from ``(16, 32)`` in 3D,
        where more kernels pay more: IoU 0.66-0.68 against 0.62 in the SDF fit below) whose decoder, grid
        and bias take at most half of ``params``. In 2D, ``decoder_frequency_range`` and ``feature_scale``
        default to :data:`IMAGE_BUDGET_DEFAULTS` ((10, 100) and 1e-4, the paper's image setting). In 3D, ``frequency_range``, ``neighbours`` and
        ``n_frequencies`` default to :data:`VOLUME_BUDGET_DEFAULTS` (None, 8 and 2), and ``shape`` to
        ``"diagonal"``: fitting the SDF of
        pyvista's ``ant.ply`` with 20k parameters for 20 CPU-s, the image setting ``(1, 256)`` with 4
        neighbours reached IoU 0.26, ``(1, 16)`` 0.47, ``(1, 16)`` with 8 neighbours 0.59-0.62; then
        (30 CPU-s, one seed, a shared CPU) appending the positional encoding took ``(1, 16)`` from 0.64
        to 0.78, and also dropping the sines to 0.80 (0.83 at learning rate 1e-2; without the dense grid
        0.82 / 0.80 at 5e-3 / 1e-2, 0.77 at 2e-2; 4 neighbours without the grid 0.37; fixed kernels 0.57).
        Without the eikonal term (the SDF default since), 30 CPU-s, one thread: full / diagonal / isotropic
        shapes 0.916 / 0.937 / 0.922 (seed 0; with full shapes, 4 or 6 neighbours, batch 1024 or 2048,
        learning rate 2e-2 and ``(8, 16)`` gave 0.915-0.927); over seeds 0-2 diagonal 0.927, full 0.915.
        Raises ``ValueError`` if not even ``neighbours`` kernels fit.
        """
        if "num_kernels" in kwargs:
            raise ValueError("num_kernels: for_budget chooses the number of kernels; pass other settings only")
        if not isinstance(domain, Domain):
            raise TypeError(f"domain: expected a sciml.Domain, got {type(domain).__name__}")
        _int("params", params, 1)
        if domain.ndim == 3:
            kwargs = {**VOLUME_BUDGET_DEFAULTS, **kwargs}
        elif domain.ndim == 2:
            kwargs = {**IMAGE_BUDGET_DEFAULTS, **kwargs}
        settings = {k: v for k, v in kwargs.items() if k != "periodic"}
        if "features" not in kwargs and "width" not in kwargs:
            for features, width in (_DECODER_LADDER[1:] if domain.ndim == 3 else _DECODER_LADDER):
                settings.update(features=features, width=width)
                if cls._budget_split(domain, params, out_channels, settings)[0] <= params / 2:
                    break
        fixed, per_kernel, neighbours = cls._budget_split(domain, params, out_channels, settings)
        num = (params - fixed) // per_kernel
        if num < neighbours:
            smallest = fixed + neighbours * per_kernel
            raise ValueError(f"params: a budget of {params} parameters is too small for these settings; "
                             f"the smallest NeuRBF with {neighbours} kernels has {smallest}")
        return cls.for_domain(domain, out_channels=out_channels, num_kernels=int(num), **settings)

    @classmethod
    def _budget_split(cls, domain: Domain, params: int, out_channels: int, settings: dict):
        """(parameters outside the kernels, parameters per kernel, neighbours) for these settings."""
        probe = NeuRBFConfig(bounds=tuple(domain.bounds), out_channels=out_channels, num_kernels=1 << 30,
                             **settings)
        fixed = cls.count_parameters(dataclasses.replace(probe, num_kernels=1, neighbours=1))
        per_kernel = cls.count_parameters(dataclasses.replace(probe, num_kernels=2, neighbours=1)) - fixed
        return fixed - per_kernel, per_kernel, probe.neighbours

    # ------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def init_from_samples(self, points: torch.Tensor, weights: torch.Tensor | None = None, iterations: int = 20,
                          seed: int = 0, progress: bool = True, max_points: int | None = PLACEMENT_POINTS) -> NeuRBF:
        r"""Place the kernels by weighted k-means of ``points`` and shape them to their clusters.

        Centres are the weighted k-means centres (:func:`sciml.kernels.rbf.weighted_kmeans`).
        The shape of kernel :math:`i` comes from the weighted covariance of the points of its
        cluster :math:`C_i`, widened by the distance :math:`\rho_i` to the nearest other centre:

        .. math::
            \Sigma_i = 2\,\frac{\sum_{j \in C_i} w_j (p_j - c_i)(p_j - c_i)^\top}{\sum_{j\in C_i} w_j}
                       + (\rho_i / 8)^2 I, \qquad A_i = \mathrm{chol}(\Sigma_i)^{-1},

        so a kernel stretches along the features (edges, surface) its cluster follows.

        Parameters
        ----------
        points : Tensor ``[n, d]``
            Points in the field's domain.
        weights : Tensor ``[n]``, optional
            Non-negative importance (default: uniform).
        iterations, seed, progress
            Passed to :func:`~sciml.kernels.rbf.weighted_kmeans`.
        max_points : int or None
            Cluster a uniform random subset of this many points (drawn with ``seed``, weights kept)
            when there are more; ``None`` clusters them all. The weighted k-means costs
            :math:`O(n K)` per iteration: on an SDF fit's 200k points this is most of NeuRBF's setup
            (:data:`PLACEMENT_POINTS`).

        Returns
        -------
        NeuRBF
            ``self``, for chaining.
        """
        points = self.check_coordinates(points)
        if points.ndim != 2:
            raise ValueError(f"points: expected shape [n, {self.in_dim}], got {tuple(points.shape)}")
        u = self.to_unit(points.detach().to(torch.float64))
        if weights is None:
            weights = torch.ones(u.shape[0], dtype=torch.float64)
        if not isinstance(weights, torch.Tensor) or not weights.is_floating_point():
            got = weights.dtype if isinstance(weights, torch.Tensor) else type(weights).__name__
            raise TypeError(f"weights: expected a floating torch.Tensor [n], got {got}")
        weights = weights.detach().to(torch.float64)
        if weights.shape != u.shape[:1]:
            raise ValueError(f"weights: expected shape [{u.shape[0]}] (one per point), got {tuple(weights.shape)}")
        if max_points is not None:
            _int("max_points", max_points, self.config.num_kernels)
            if u.shape[0] > max_points:
                keep = torch.randperm(u.shape[0], generator=torch.Generator().manual_seed(int(seed)))[:max_points]
                u, weights = u[keep], weights[keep]
        result = weighted_kmeans(u, weights, self.config.num_kernels, iterations=iterations, seed=seed,
                                 progress=progress)
        factors = _cluster_factors(u, weights, result.centres, result.labels, self.config.shape == "full")
        param = self.centre_params
        param.copy_((result.centres / self.spacing).to(param))
        self.shape_params.copy_((self._pack(factors) * self.spacing).to(param))
        return self

    def init_from_sampled(self, target: Sampled, kind: str = "image", band: float = 0.02, floor: float = 0.05,
                          iterations: int = 20, seed: int = 0, progress: bool = True) -> NeuRBF:
        r"""Place the kernels where a target on a :class:`~sciml.Grid` has detail.

        ``kind="image"``: weights are the gradient magnitude :math:`\lVert\nabla u\rVert`
        (summed over channels, central differences) plus ``floor`` times its mean, so flat
        regions keep a few kernels. ``kind="sdf"``: weights
        :math:`1 / (\lvert u \rvert + \beta)`, :math:`\beta` = ``band`` times the box diagonal,
        which concentrate the kernels near the zero level set.

        Parameters
        ----------
        target : Sampled
            One sample (batch size 1) on a Grid inside the domain, channels = image channels.
        kind : {"image", "sdf"}
        band, floor : float
        iterations, seed, progress
            As in :meth:`init_from_samples`.
        """
        if not isinstance(target, Sampled) or not isinstance(target.on, Grid):
            raise TypeError(f"target: expected a Sampled on a sciml.Grid, got {type(target).__name__}"
                            + (f" on {type(target.on).__name__}" if isinstance(target, Sampled) else ""))
        if target.batch_size != 1:
            raise ValueError(f"target: expected batch size 1, got {target.batch_size}")
        if kind not in ("image", "sdf"):
            raise ValueError(f"kind: expected 'image' or 'sdf', got {kind!r}")
        values = target.values[0].detach().to(torch.float64).cpu()
        if kind == "image":
            weights = _gradient_magnitude(values, target.on)
            weights = weights + floor * weights.mean()
        else:
            diagonal = float(np.linalg.norm(np.subtract(self.domain.upper, self.domain.lower)))
            weights = 1.0 / (values.abs().sum(0) + band * diagonal)
        points = target.on.points(dtype=self._param_dtype())
        return self.init_from_samples(points, weights.reshape(-1), iterations, seed, progress)


def _geometric(bounds, count: int) -> torch.Tensor:
    if count == 0 or bounds is None:
        return torch.zeros(0)
    low, high = bounds
    return torch.logspace(math.log10(low), math.log10(high), count, dtype=torch.float64).to(torch.get_default_dtype())


def _gradient_magnitude(values: torch.Tensor, grid: Grid) -> torch.Tensor:
    """``sum_c |grad values_c|`` on the grid ``[*shape]`` by central differences."""
    coords = [c.to(torch.float64) for c in grid.coordinates(dtype=torch.float64)]
    dims = tuple(range(1, values.ndim))
    usable = [c if c.numel() > 1 else torch.tensor([0.0, 1.0], dtype=torch.float64) for c in coords]
    if any(c.numel() < 2 for c in coords):
        return torch.ones(values.shape[1:], dtype=torch.float64)
    grads = torch.gradient(values, spacing=tuple(usable), dim=dims)
    return torch.sqrt(sum(g ** 2 for g in grads)).sum(0)


def _cluster_factors(u: torch.Tensor, w: torch.Tensor, centres: torch.Tensor, labels: torch.Tensor,
                     full: bool) -> torch.Tensor:
    """Lower-triangular ``A_i = chol(Sigma_i)^{-1}`` from the weighted cluster covariances (float64).

    With ``full=False`` the off-diagonal covariances are dropped (axis-aligned kernels).
    """
    num, d = centres.shape
    offsets = u - centres[labels]
    outer = (offsets[:, :, None] * offsets[:, None, :]).reshape(-1, d * d) * w[:, None]
    cov = torch.zeros(num, d * d, dtype=torch.float64).index_add_(0, labels, outer)
    mass = torch.zeros(num, dtype=torch.float64).index_add_(0, labels, w)
    cov = (cov / mass.clamp(min=1e-300)[:, None]).reshape(num, d, d)
    if num > 1:
        dist = torch.cdist(centres, centres, compute_mode="donot_use_mm_for_euclid_dist")
        rho = dist.fill_diagonal_(float("inf")).min(1).values
    else:
        rho = torch.ones(1, dtype=torch.float64)
    rho = rho.clamp(min=1e-3 * num ** (-1.0 / d))  # coincident centres: still a positive definite shape
    sigma = 2.0 * cov + (rho / 8)[:, None, None] ** 2 * torch.eye(d, dtype=torch.float64)
    if not full:
        sigma = torch.diag_embed(sigma.diagonal(dim1=-2, dim2=-1))
    chol = torch.linalg.cholesky(sigma)
    eye = torch.eye(d, dtype=torch.float64).expand(num, d, d)
    return torch.linalg.solve_triangular(chol, eye, upper=False)
