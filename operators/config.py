r"""Configurations of the Fourier operators: small dataclasses, serialized next to the weights.

One dataclass per concern, nested where a model has several:

* :class:`BlockConfig` -- what one Fourier block does besides its spectral convolution
  (skip, channel MLP, normalisation, activation);
* :class:`FNOConfig` -- channels, width, retained modes, depth, lifting/projection,
  domain padding, positional embedding; the block config nested;
* :class:`FactorizationConfig` and :class:`TFNOConfig` -- the tensor format of the spectral
  weights (CP, Tucker or TT) and its rank;
* :class:`MultigridConfig` and :class:`MGTFNOConfig` -- the multigrid patching and the joint
  Tucker rank of MG-TFNO.

Every config checks itself in ``__post_init__`` and raises ``ValueError``/``TypeError`` naming
the field, the expected and the actual value; ``sciml.config_to_dict`` /
``sciml.config_from_dict`` round-trip them through JSON or YAML.

Examples
--------
>>> config = FNOConfig(in_channels=1, out_channels=1, width=32, modes=(16, 16))
>>> config.ndim
2
>>> sciml.config_from_dict(FNOConfig, sciml.config_to_dict(config)) == config
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sciml.kernels import LOW_RANK_FORMATS as FACTORIZATIONS
from sciml.kernels import SPECTRAL_PATHS

__all__ = ["ACTIVATIONS", "BlockConfig", "FNOConfig", "FactorizationConfig", "MGTFNOConfig",
           "MultigridConfig", "NORMS", "SKIPS", "TFNOConfig"]

SKIPS = ("linear", "soft-gating", "identity", "none")
NORMS = ("none", "instance", "group")
ACTIVATIONS = ("gelu", "relu", "silu", "tanh", "identity")
PADDING_SIDES = ("one-sided", "symmetric")
CONTRACTIONS = ("auto", "direct", "dense")
BOUNDARIES = ("circular", "reflect")


def _check_int(owner: str, name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an integer for {owner}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum} for {owner}, got {value}")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


def _check_number(name: str, value, lo: float, lo_inclusive: bool = True) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    if value < lo or (value == lo and not lo_inclusive):
        raise ValueError(f"{name}: expected a number {'>=' if lo_inclusive else '>'} {lo}, got {value}")


@dataclass
class BlockConfig:
    """One Fourier block: ``act(norm(K x) + skip(x))`` followed by a channel MLP.

    Parameters
    ----------
    skip : {"linear", "soft-gating", "identity", "none"}
        Pointwise path added to the spectral convolution: a 1x1 linear map, a per-channel
        scale (soft gating), the identity, or nothing.
    channel_mlp : bool
        Apply a two-layer pointwise MLP after the spectral path (as in neuraloperator).
    channel_mlp_expansion : float
        Hidden width of that MLP as a multiple of the model width.
    channel_mlp_skip : {"linear", "soft-gating", "identity", "none"}
        Skip around the channel MLP, taken from the block input.
    norm : {"none", "instance", "group"}
        Normalisation after the spectral path and after the channel MLP. ``"instance"`` is
        a per-channel, per-sample normalisation over space (``GroupNorm(width, width)``).
    norm_groups : int
        Groups of ``"group"`` normalisation; must divide the width.
    activation : {"gelu", "relu", "silu", "tanh", "identity"}
    """

    skip: str = "linear"
    channel_mlp: bool = True
    channel_mlp_expansion: float = 0.5
    channel_mlp_skip: str = "soft-gating"
    norm: str = "none"
    norm_groups: int = 1
    activation: str = "gelu"

    def __post_init__(self):
        _check_choice("skip", self.skip, SKIPS)
        _check_choice("channel_mlp_skip", self.channel_mlp_skip, SKIPS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_number("channel_mlp_expansion", self.channel_mlp_expansion, 0.0, lo_inclusive=False)
        _check_int("BlockConfig", "norm_groups", self.norm_groups, 1)


@dataclass
class FNOConfig:
    r"""A Fourier neural operator (Li et al., 2021).

    .. math::
        \mathcal G = Q \circ \mathcal L_{n} \circ \dots \circ \mathcal L_1 \circ P, \qquad
        \mathcal L_\ell v = \sigma\big(\mathcal F^{-1}(W_\ell \cdot \mathcal F v) + S_\ell v\big)

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and output functions.
    width : int
        Channels inside the Fourier blocks.
    modes : tuple of int
        Retained Fourier modes per spatial axis; its length (1, 2 or 3) is the dimension.
        Inputs need at least ``2 * modes`` points per axis (after domain padding).
    n_layers : int
        Number of Fourier blocks.
    lifting_ratio, projection_ratio : float
        Hidden width of the lifting (input -> width) and projection (width -> output) channel
        MLPs as a multiple of ``width``; ``0`` makes them a single linear map.
    block : BlockConfig
        Skip, channel MLP, normalisation and activation of every block.
    domain_padding : float or tuple of float
        Fraction of each axis' size padded with zeros after lifting and removed before the
        projection (for non-periodic problems); one fraction or one per axis.
    padding_side : {"one-sided", "symmetric"}
        Pad at the end of each axis, or half at each end.
    positional_embedding : bool
        Append the coordinates of the discretization, mapped to ``[0, 1]`` per axis of its
        domain, as ``ndim`` extra input channels.
    spectral_path : {"auto", "reference", "dft", "cupy"}
        Path of the :mod:`sciml.kernels` transforms.
    oversampling : int
        Run the network (lifting, Fourier blocks, projection) on a grid ``oversampling`` times
        finer per axis than the input and read the output back at the input's points (see
        :meth:`~sciml.operators.FNO.forward_oversampled`). ``1`` (the default) is the plain FNO.
        Opt-in, for non-periodic node or cell grids whose hidden states carry jumps (Darcy's
        discontinuous coefficient, the zero-padding seam): the truncated DFT of a discontinuous
        function errs by O(h), so a model trained at one resolution learns that resolution's
        error, and zero-shot super-resolution suffers; oversampling integrates on a grid ``s``
        times finer at every resolution. The input is interpolated multilinearly. Costs up to
        ``s**d`` times the work and activation memory in ``d`` dimensions (2.6-3.5x per epoch at
        ``s = 2`` on the Darcy quick profile, ``benchmarks/darcy_zero_shot.py``).
    """

    in_channels: int
    out_channels: int
    width: int = 32
    modes: tuple[int, ...] = (16, 16)
    n_layers: int = 4
    lifting_ratio: float = 2.0
    projection_ratio: float = 2.0
    block: BlockConfig = field(default_factory=BlockConfig)
    domain_padding: float | tuple[float, ...] = 0.0
    padding_side: str = "one-sided"
    positional_embedding: bool = True
    spectral_path: str = "auto"
    oversampling: int = 1

    def __post_init__(self):
        owner = type(self).__name__
        for name in ("in_channels", "out_channels", "width", "n_layers", "oversampling"):
            _check_int(owner, name, getattr(self, name), 1)
        if isinstance(self.modes, int) or not isinstance(self.modes, (tuple, list)):
            raise TypeError(f"modes: expected a tuple of 1-3 ints (one per spatial axis), got {self.modes!r}")
        self.modes = tuple(self.modes)
        if not 1 <= len(self.modes) <= 3:
            raise ValueError(f"modes: expected 1, 2 or 3 entries (1D, 2D or 3D), got {self.modes}")
        for m in self.modes:
            _check_int(owner, "modes", m, 1)
        _check_number("lifting_ratio", self.lifting_ratio, 0.0)
        _check_number("projection_ratio", self.projection_ratio, 0.0)
        if isinstance(self.block, dict):
            self.block = BlockConfig(**self.block)
        if not isinstance(self.block, BlockConfig):
            raise TypeError(f"block: expected a BlockConfig, got {type(self.block).__name__}")
        if self.block.norm == "group" and self.width % self.block.norm_groups:
            raise ValueError(f"block.norm_groups: expected a divisor of width={self.width}, "
                             f"got {self.block.norm_groups}")
        self.domain_padding = _check_padding(self.domain_padding, len(self.modes))
        _check_choice("padding_side", self.padding_side, PADDING_SIDES)
        _check_choice("spectral_path", self.spectral_path, SPECTRAL_PATHS)
        if not isinstance(self.positional_embedding, bool):
            raise TypeError(f"positional_embedding: expected a bool, got {self.positional_embedding!r}")

    @property
    def ndim(self) -> int:
        """Spatial dimension, ``len(modes)``."""
        return len(self.modes)


def _check_padding(padding, ndim: int):
    values = padding if isinstance(padding, (tuple, list)) else (padding,)
    for v in values:
        _check_number("domain_padding", v, 0.0)
        if v >= 1:
            raise ValueError(f"domain_padding: expected fractions in [0, 1), got {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) != ndim:
            raise ValueError(f"domain_padding: expected one fraction or {ndim} (one per axis), got {padding!r}")
        return tuple(float(v) for v in padding)
    return float(padding)


@dataclass
class FactorizationConfig:
    """Tensor format of the spectral weights ``W[in, out, *block]`` of a TFNO.

    Parameters
    ----------
    kind : {"tucker", "cp", "tt"}
    rank : float or int or tuple of int
        A **float** is a fraction of the dense weight's parameters (``0.1`` keeps about 10%;
        ``1.0`` is as many as dense, which for Tucker and TT is full rank and exact). An
        **int** is an explicit rank (CP rank, TT inner rank, Tucker rank per mode capped by
        the mode sizes); a tuple gives Tucker one rank per mode ``(in, out, *block)``.
    contraction : {"auto", "direct", "dense"}
        Contract the spectrum with the factors (``"direct"``), through the rebuilt dense
        weight (``"dense"``), or whichever costs fewer multiplies (``"auto"``).
    """

    kind: str = "tucker"
    rank: float | int | tuple[int, ...] = 0.1
    contraction: str = "auto"

    def __post_init__(self):
        _check_choice("kind", self.kind, FACTORIZATIONS)
        _check_choice("contraction", self.contraction, CONTRACTIONS)
        rank = self.rank
        if isinstance(rank, list):
            rank = self.rank = tuple(rank)
        if isinstance(rank, tuple):
            if self.kind != "tucker":
                raise ValueError(f"rank: a tuple of ranks is for Tucker only, got {rank!r} for kind={self.kind!r}")
            for r in rank:
                _check_int("FactorizationConfig", "rank", r, 1)
        elif isinstance(rank, float):
            _check_number("rank", rank, 0.0, lo_inclusive=False)
        else:
            _check_int("FactorizationConfig", "rank", rank, 1)


@dataclass
class TFNOConfig(FNOConfig):
    """An FNO whose spectral weights are factorized (Kossaifi et al., 2023).

    All fields of :class:`FNOConfig`, plus ``factorization`` (:class:`FactorizationConfig`,
    default Tucker at 10% of the dense parameters).
    """

    factorization: FactorizationConfig = field(default_factory=FactorizationConfig)

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.factorization, dict):
            self.factorization = FactorizationConfig(**self.factorization)
        if not isinstance(self.factorization, FactorizationConfig):
            raise TypeError(f"factorization: expected a FactorizationConfig, got {type(self.factorization).__name__}")


@dataclass
class MultigridConfig:
    """Multigrid domain decomposition of MG-TFNO.

    Parameters
    ----------
    levels : int
        ``L``: the input is cut into ``2**L`` patches per axis, and each patch receives
        ``L`` coarse context windows (the whole input subsampled by ``2**l``, ``l = 1..L``).
        ``0`` disables patching.
    overlap : float
        Padding of every patch on each side, as a fraction of the axis size (rounded to
        whole points); removed when stitching.
    boundary : {"circular", "reflect"}
        How windows read beyond the domain: periodic wrap, or mirror (non-periodic data).
    """

    levels: int = 1
    overlap: float = 0.0625
    boundary: str = "circular"

    def __post_init__(self):
        _check_int("MultigridConfig", "levels", self.levels, 0)
        _check_number("overlap", self.overlap, 0.0)
        if self.overlap >= 0.5:
            raise ValueError(f"overlap: expected a fraction in [0, 0.5), got {self.overlap}")
        _check_choice("boundary", self.boundary, BOUNDARIES)


@dataclass
class MGTFNOConfig(FNOConfig):
    """MG-TFNO (Kossaifi et al., 2023): joint Tucker spectral weights and multigrid patching.

    All fields of :class:`FNOConfig`, plus

    Parameters
    ----------
    rank : float or int or tuple of int
        Rank of the joint Tucker factorization of all layers' weights as one tensor
        ``[n_layers, in, out, *block]``: a float is a fraction of the dense parameters of all
        layers together, an int or tuple an explicit rank (per mode).
    multigrid : MultigridConfig
    contraction : {"auto", "direct", "dense"}
    spectral_init : {"random", "lowest-frequencies"}
        Initialisation of the joint Tucker factors (``JointTucker(init=...)``):
        ``"lowest-frequencies"`` starts each layer as a dense weight on its lowest frequencies
        (trained faster on Navier–Stokes, slower on a small smoothing problem; see
        :meth:`~sciml.operators.joint_tucker.JointTucker.init_lowest_frequencies`).
    """

    rank: float | int | tuple[int, ...] = 0.05
    multigrid: MultigridConfig = field(default_factory=MultigridConfig)
    contraction: str = "auto"
    spectral_init: str = "random"

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.multigrid, dict):
            self.multigrid = MultigridConfig(**self.multigrid)
        if not isinstance(self.multigrid, MultigridConfig):
            raise TypeError(f"multigrid: expected a MultigridConfig, got {type(self.multigrid).__name__}")
        FactorizationConfig("tucker", self.rank, self.contraction)   # same checks
        if self.oversampling != 1:
            raise ValueError(f"oversampling: MG-TFNO patches its input and does not oversample; expected 1, "
                             f"got {self.oversampling}")
        _check_choice("spectral_init", self.spectral_init, ("random", "lowest-frequencies"))
        if isinstance(self.rank, list):
            self.rank = tuple(self.rank)
