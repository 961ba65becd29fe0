r"""Tri-plane hybrid neural fields (Cardace et al., "Neural Processing of Tri-Plane Hybrid Neural
Fields", ICLR 2024).

A tri-plane stores three axis-aligned feature planes :math:`P_{xy}, P_{xz}, P_{yz}` of ``C``
channels at ``R x R`` nodes, ``planes`` ``[3, C, R, R]``. At :math:`u = \mathrm{to\_unit}(x) \in
[0, 1]^3` it reads

.. math::
    F(u) = P_{xy}(u_0, u_1) \oplus P_{xz}(u_0, u_2) \oplus P_{yz}(u_1, u_2),

with bilinear interpolation (:func:`~sciml.fields.encodings.multilinear_interpolate`, exact first
and second derivatives) and :math:`\oplus` a sum (``C`` features), a concatenation (``3C``) or an
element-wise product (``C``; the Hadamard product of K-Planes, Fridovich-Keil et al., CVPR 2023, which
can localise a feature in 3D where a sum only adds three extruded 2D patterns),
appends a positional encoding :math:`\gamma(2u - 1)` (:class:`~sciml.fields.mlp.FrequencyEncoding`)
and decodes with a small :class:`~sciml.fields.mlp.MLP`:
:math:`f(x) = \mathrm{MLP}([F(u), \gamma(2u - 1)])`.

Because the planes are images, fields fitted with one shared, frozen decoder can be compared and
processed with ordinary CNNs (:mod:`sciml.fields.classifier`); :mod:`sciml.fields.batched` fits
many of them at once.

Examples
--------
>>> field = TriPlane.for_domain(sciml.Domain.unit(3), resolution=8, channels=4)
>>> field(torch.rand(5, 3)).shape, tuple(field.planes.shape)
(torch.Size([5, 1]), (3, 4, 8, 8))
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

import sciml
from sciml.domain import Domain

from .base import Field, FieldConfig
from .encodings import multilinear_interpolate
from .mlp import (
    ACTIVATIONS,
    MLP,
    FrequencyEncoding,
    _check_choice,
    _check_int,
    _check_positive,
    largest_within_budget,
    seeded,
)

__all__ = ["PLANE_AXES", "TriPlane", "TriPlaneConfig", "make_planes", "make_triplane_decoder",
           "triplane_features"]

#: Coordinate axes of the three planes, in storage order: xy, xz, yz.
PLANE_AXES = ((0, 1), (0, 2), (1, 2))
AGGREGATIONS = ("sum", "concat", "product")


def triplane_features(planes: torch.Tensor, u: torch.Tensor, aggregate: str = "sum") -> torch.Tensor:
    r"""Bilinearly sampled tri-plane features at unit coordinates.

    Parameters
    ----------
    planes : Tensor ``[*batch, 3, C, R, R]``
        The xy, xz and yz planes (:data:`PLANE_AXES`), nodes spanning :math:`[0, 1]^2`.
    u : Tensor ``[*batch, n, 3]``
        Points in :math:`[0, 1]^3`.
    aggregate : {"sum", "concat", "product"}
        Sum the three plane features (``C``), concatenate them (``3C``, plane-major) or multiply
        them element-wise (``C``).

    Returns
    -------
    Tensor ``[*batch, n, C]`` or ``[*batch, n, 3C]``

    Examples
    --------
    >>> planes = torch.zeros(3, 1, 2, 2)
    >>> planes[0, 0] = torch.tensor([[0.0, 1.0], [0.0, 1.0]])   # xy plane: f = u_1
    >>> triplane_features(planes, torch.tensor([[0.2, 0.7, 0.4]]))
    tensor([[0.7000]])
    """
    if not isinstance(planes, torch.Tensor) or planes.ndim < 4 or planes.shape[-4] != 3:
        raise ValueError(f"planes: expected shape [*batch, 3, C, R, R], got {tuple(getattr(planes, 'shape', ()))}")
    if not isinstance(u, torch.Tensor) or u.ndim != planes.ndim - 2 or u.shape[-1] != 3:
        raise ValueError(f"u: expected points [*batch, n, 3] matching planes {tuple(planes.shape)}, "
                         f"got {tuple(getattr(u, 'shape', ()))}")
    _check_choice("aggregate", aggregate, AGGREGATIONS)
    projected = torch.stack([u[..., list(axes)] for axes in PLANE_AXES], -3)   # [*batch, 3, n, 2]
    feats = multilinear_interpolate(planes, projected)                          # [*batch, 3, n, C]
    if aggregate == "sum":
        return feats.sum(-3)
    if aggregate == "product":
        return feats[..., 0, :, :] * feats[..., 1, :, :] * feats[..., 2, :, :]
    return torch.movedim(feats, -3, -2).flatten(-2)                             # [*batch, n, 3C]


#: ``channels`` and ``width`` of :meth:`TriPlane.for_budget` unless given (chosen by SDF fits, see there)
BUDGET_DEFAULTS = {"channels": 4, "width": 32, "activation": "relu"}


@dataclasses.dataclass
class TriPlaneConfig(FieldConfig):
    """Configuration of :class:`TriPlane` (3D only).

    Attributes
    ----------
    resolution : int
        Nodes per side of each plane ``R`` (``>= 2``).
    channels : int
        Features per plane ``C``.
    aggregate : {"sum", "concat", "product"}
        How the three plane features combine.
    n_frequencies : int
        Octaves ``L`` of the positional encoding appended to the features (0: coordinates only).
    width, depth : int
        Hidden units and hidden layers of the decoder.
    activation : str
        Decoder activation (smooth by default, so second derivatives exist).
    init_scale : float
        Plane features start normal with this standard deviation (around 1 for ``"product"``, so
        that the product starts near 1 plus the sum of the three perturbations; around 0 otherwise).
    seed : int
        Seed of the planes and the decoder weights.
    """

    resolution: int = 32
    channels: int = 16
    aggregate: str = "sum"
    n_frequencies: int = 2
    width: int = 64
    depth: int = 2
    activation: str = "softplus"
    init_scale: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if len(self.bounds) != 3:
            raise ValueError(f"bounds: a tri-plane is 3D only, expected 3 (lower, upper) pairs, got "
                             f"{len(self.bounds)}: {self.bounds}")
        _check_int("resolution", self.resolution, 2)
        _check_int("channels", self.channels, 1)
        _check_choice("aggregate", self.aggregate, AGGREGATIONS)
        _check_int("n_frequencies", self.n_frequencies, 0)
        _check_int("width", self.width, 1)
        _check_int("depth", self.depth, 0)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_positive("init_scale", self.init_scale)
        _check_int("seed", self.seed, 0)
        _check_int("out_channels", self.out_channels, 1)

    @property
    def decoder_in_features(self) -> int:
        """Features the decoder reads: plane features plus the positional encoding."""
        plane = self.channels * (3 if self.aggregate == "concat" else 1)
        return plane + 3 * (2 * self.n_frequencies + 1)

    def count_parameters(self, decoder: bool = True) -> int:
        """Plane entries, plus the decoder's parameters if ``decoder``."""
        planes = 3 * self.channels * self.resolution ** 2
        if not decoder:
            return planes
        return planes + MLP.count_parameters(self.decoder_in_features, self.out_channels, self.width, self.depth)


def make_triplane_decoder(config: TriPlaneConfig) -> MLP:
    """The decoder :class:`~sciml.fields.mlp.MLP` of a tri-plane with ``config``, seeded by ``config.seed``."""
    with seeded(config.seed):
        return MLP(config.decoder_in_features, config.out_channels, config.width, config.depth, config.activation)


def make_planes(config: TriPlaneConfig, n_fields: int | None = None, seed: int | None = None) -> torch.Tensor:
    """Initial planes ``[3, C, R, R]`` (or ``[n_fields, 3, C, R, R]``), normal with std ``init_scale``.

    The mean is 0, or 1 with ``aggregate="product"``.
    """
    gen = torch.Generator().manual_seed(config.seed if seed is None else seed)
    shape = (3, config.channels, config.resolution, config.resolution)
    if n_fields is not None:
        shape = (n_fields,) + shape
    planes = torch.randn(shape, generator=gen, dtype=torch.float64) * config.init_scale
    if config.aggregate == "product":
        planes = planes + 1.0
    return planes.to(torch.get_default_dtype())


@sciml.register_model("triplane")
class TriPlane(Field):
    r"""Tri-plane hybrid neural field on a 3D box (see the module notes for the maths).

    Parameters
    ----------
    config : TriPlaneConfig

    Attributes
    ----------
    planes : nn.Parameter ``[3, C, R, R]``
        The xy, xz and yz feature planes.
    encoding : FrequencyEncoding
    decoder : MLP
        Freeze it with ``field.decoder.requires_grad_(False)`` to fit planes for a shared decoder.

    Examples
    --------
    >>> TriPlane.for_domain(sciml.Domain.unit(2))
    Traceback (most recent call last):
    ...
    ValueError: bounds: a tri-plane is 3D only, expected 3 (lower, upper) pairs, got 2: ((0.0, 1.0), (0.0, 1.0))
    """

    periodic_axes = False
    config_class = TriPlaneConfig

    def __init__(self, config: TriPlaneConfig):
        if not isinstance(config, TriPlaneConfig):
            raise TypeError(f"config: expected a TriPlaneConfig, got {type(config).__name__}")
        super().__init__(config.domain(), config.out_channels)
        self.config = config
        self.planes = nn.Parameter(make_planes(config))
        self.encoding = FrequencyEncoding(3, config.n_frequencies, "positional")
        self.decoder = make_triplane_decoder(config)

    @classmethod
    def for_budget(cls, domain: Domain, params: int, out_channels: int = 1, **kwargs) -> TriPlane:
        """The tri-plane with the largest ``resolution`` within ``params`` parameters (decoder included).

        Unless given, ``channels``, ``width`` and ``activation`` are :data:`BUDGET_DEFAULTS` (4, 32,
        ReLU): at a small budget resolution matters more than features per node -- fitting the SDF of
        pyvista's ``ant.ply`` with 20k parameters for 20 CPU-s reached IoU 0.78-0.81 with
        (4, 32) (R = 39), 0.71-0.74 with (8, 32), 0.61 with (2, 32) and 0.52 with (16, 64) (R = 16).
        A ReLU decoder beat the smooth ones (30 CPU-s, one seed, a shared CPU: ReLU 0.820, softplus
        0.790, SiLU 0.747 at learning rate 3e-2; ReLU at 1.5e-2: 0.849); so did the sum of the planes
        (product 0.773, concatenation 0.742, both with softplus). Not on the unsigned distance of the
        open ``airplane.ply``, though: Chamfer 7.9e-3 (ReLU, 1e-2), 7.1e-3 (ReLU, 3e-2), 6.1e-3 (softplus, 3e-2).
        """
        if not isinstance(domain, Domain):
            raise TypeError(f"domain: expected a sciml.Domain, got {type(domain).__name__}")
        if "resolution" in kwargs:
            raise ValueError("resolution: for_budget chooses the resolution; leave it out")
        kwargs = {**BUDGET_DEFAULTS, **kwargs}
        base = TriPlaneConfig(bounds=tuple(domain.bounds), out_channels=out_channels,
                              **{k: v for k, v in kwargs.items() if k != "periodic"})
        resolution = largest_within_budget(
            lambda r: dataclasses.replace(base, resolution=r).count_parameters(), params, lower=2, upper=1 << 14)
        return cls.for_domain(domain, out_channels=out_channels, resolution=resolution, **kwargs)

    def features(self, u: torch.Tensor) -> torch.Tensor:
        """Decoder input ``[n, decoder_in_features]`` at unit coordinates ``u`` ``[n, 3]``."""
        planes = triplane_features(self.planes, u, self.config.aggregate)
        return torch.cat([planes, self.encoding(2 * u - 1)], -1)

    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.features(self.to_unit(x)))
