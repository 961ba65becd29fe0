r"""Transform Once (T1): operator learning in the frequency domain with one transform.

Poli et al., *Transform Once: Efficient Operator Learning in Frequency Domain*, NeurIPS 2022.
Where an FNO pays a forward and an inverse FFT in every layer, T1 transforms **once**, works on
the retained modes only, and transforms back once (only when a spatial output is asked for):

.. math::
    \hat z_0 = P\,\mathcal T_m[a, e], \qquad
    \hat z_{\ell+1} = \sigma\big(K_\ell \hat z_\ell + W_\ell \hat z_\ell\big)
    \ \text{(``layer="fourier"``)}, \qquad \mathcal G(a) = \mathcal T^{-1}\, Q\,\hat z_L ,

or, with ``layer="mixing"``, :math:`\hat h_\ell = K_\ell \hat z_\ell`,
:math:`\hat z_{\ell+1} = \rho\,\big(\hat h_\ell + M_\ell\,\sigma(\hat h_\ell)\big)`.

:math:`\mathcal T_m` keeps the ``modes`` lowest modes of every input channel
(:func:`~sciml.operators.t1_modes.to_modes`); those of the positional embedding :math:`e` (the
coordinates) are known in closed form (:func:`~sciml.operators.t1_modes.coordinate_modes`).
:math:`P` is a linear lifting: linear maps over channels commute with the transform, so lifting
before or after it is the same map, and after it costs :math:`O(m)` instead of :math:`O(N)`.
:math:`K_\ell` mixes channels **per mode** (a ``width x width`` matrix for every kept mode,
linear like FNO's spectral weights; complex with the FFT, so that it is a convolution),
:math:`W_\ell` is a channel map shared by all modes (FNO's pointwise skip),
:math:`\sigma` is the activation (:class:`ModeActivation`, see below), :math:`M_\ell` mixes
the modes along each axis separably (one ``m_j x m_j`` matrix per axis, initialised to the
identity), and the residual sum is scaled by :math:`\rho = 1/\sqrt{\mathbb E[(g + \sigma(g))^2]}`,
:math:`g \sim \mathcal N(0, 1)`, so that a layer preserves the second moment at initialisation
(:func:`activation_moments`; an identity skip around the whole layer would carry the activation's
mean from layer to layer and let it grow). The head :math:`Q`, a per-mode channel MLP, stays in
the frequency domain; :math:`\mathcal T^{-1}` (:func:`~sciml.operators.t1_modes.from_modes`) is
the only inverse transform. Only the input's transform and the inverse touch the ``N`` grid
points, each at :math:`O(N m)` by matrix products, so no layer's cost grows with the resolution.

Modes and resolution
--------------------
The transforms, their normalisation (the kept modes of a smooth function are the same numbers at
every resolution), Parseval and the frequency-domain loss :func:`~sciml.operators.t1_modes.modes_relative_l2`
live in :mod:`sciml.operators.t1_modes`. Inside the network the modes are multiplied by
:math:`\sqrt{m}` (``m`` kept modes), so that their mean square is the field's: activations see
:math:`O(1)` numbers at every resolution. With ``transform="fft"`` the blocks are complex and
every channel map has real weights (the lifting, the head) or complex per-mode weights
(:math:`K`), so that without the positional embedding the network commutes with translations
by whole collocation cells, as an FNO does.

Where the activation acts
-------------------------
``nonlinearity="modes"`` is the paper's activation on each coefficient. It cannot create the
sum-frequency products of a physical-space activation (:math:`\hat a_p \hat b_q \to p + q`, the
advection term of a flow), and on the ``sciml bench navier-stokes --quick`` problem a T1 with it
learns little more than the best linear map (5 epochs: 5.0e-2 to 5.2e-2 relative L2 with the FFT,
against FNO's 2.2e-2; the linear extrapolation of the last two snapshots gives 8.9e-2).
``nonlinearity="collocation"`` (the default) evaluates the activation on the values of the block's
own function at ``collocation * m_j`` points per axis and returns their kept modes: frequencies
couple as in FNO, and the cost still does not grow with the input's resolution (1.9e-2 with the
Fourier layer, 2.6e-2 with the mixing layer on the same problem; ``benchmarks/t1_vs_fno.py``). Pick the transform that suits the boundary:
on periodic data the DCT's even extension has kinks at the boundary, its coefficients decay
like :math:`k^{-2}`, and 8 cosine modes leave a 6.8% truncation floor on that problem, against
0.2% for 8 Fourier modes; ``bench_config`` takes the FFT on periodic grids.

Initialisation
--------------
``init="variance-preserving"`` (the paper's): a linear map applied after truncating a
white-noise signal of ``N`` points to ``m`` modes keeps only :math:`m/N` of its variance, so the
lifting draws weights with :math:`\sigma^2 = N / (m \cdot \mathrm{fan\_in})` (``N`` from
``init_resolution``); maps between blocks (no further truncation) use :math:`N = m`, and a map
after an activation the gain :math:`1/\mathbb E[\sigma(g)^2]`.
``init="fan-in"`` drops the :math:`N/m` factor (right for smooth inputs, whose energy is already
in the kept modes).

Examples
--------
>>> model = TransformOnce(TransformOnceConfig(in_channels=1, out_channels=1, width=8, modes=(6, 6)))
>>> grid = sciml.Grid.uniform((32, 32), sciml.Domain.unit(2, periodic=True))
>>> model(sciml.Sampled(torch.randn(2, 1, 32, 32), grid)).values.shape
torch.Size([2, 1, 32, 32])
>>> model.forward_modes(torch.randn(2, 1, 32, 32), grid).shape      # the output's kept modes
torch.Size([2, 1, 6, 6])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import sciml
from sciml import Grid
from sciml.kernels import block_shape, check_resolution

from .config import ACTIVATIONS, _check_choice, _check_int, _check_number
from .fno import check_grid
from .layers import ChannelLinear, make_activation
from .t1_modes import (
    TRANSFORMS,
    _check_transform_grid,
    _contract,
    coordinate_modes,
    from_modes,
    realizable_modes,
    to_modes,
)

__all__ = ["FourierModeLayer", "ModeActivation", "ModeLinear", "ModeMixingLayer", "TransformOnce", "TransformOnceConfig", "activation_moments"]

INITS = ("variance-preserving", "fan-in")
HIGH_FREQUENCIES = ("drop", "pass")
NONLINEARITIES = ("collocation", "modes")
LAYERS = ("fourier", "mixing")


@dataclass
class TransformOnceConfig:
    r"""A Transform Once operator (see the module docstring for the maths).

    Parameters
    ----------
    in_channels, out_channels : int
    width : int
        Channels of the mode block inside the network.
    modes : tuple of int
        Kept modes per axis (DCT: the block ``m_0 x ... x m_{d-1}``; FFT: the retained block of
        :func:`sciml.kernels.rfft_modes`, ``2 m_0 x ... x m_{d-1}``). Inputs need ``>= 2 m_j``
        points per axis, as for FNO.
    n_layers : int
        Frequency-domain layers.
    layer : {"fourier", "mixing"}
        ``"fourier"`` (default, :class:`FourierModeLayer`): :math:`\hat z \mapsto \sigma(K\hat z + W\hat z)`,
        FNO's Fourier layer written on the kept modes. ``"mixing"`` (:class:`ModeMixingLayer`):
        channel mixing per mode, activation, separable mode mixing along each axis and a scaled
        residual. Measured on Navier-Stokes in ``benchmarks/README.md``.
    transform : {"dct", "fft"}
    activation : {"gelu", "relu", "silu", "tanh", "identity"}
    nonlinearity : {"collocation", "modes"}
        Where the activation acts (:class:`ModeActivation`): ``"collocation"`` (default) on the
        values of the mode block's function at ``collocation`` points per kept mode and axis, then
        back to the kept modes, so that products of modes couple frequencies as a physical-space
        activation does, at a cost independent of the input's resolution; ``"modes"`` on each
        coefficient (the paper's frequency-domain activation; the real and imaginary parts
        separately with the FFT).
    collocation : int
        Collocation points per kept mode along each axis: at least 2 for the DCT, 3 for the FFT
        (whose leading axes hold frequencies ``-m .. m-1``: on ``2 m`` points ``-m`` would be the
        Nyquist frequency). The default 3 is the three-halves rule: products of two kept modes
        do not alias onto the kept modes.
    projection_ratio : float
        Hidden width of the frequency-domain head as a multiple of ``width``; 0 makes it linear.
    high_frequencies : {"drop", "pass"}
        ``"pass"`` adds the part of the input outside the kept modes, mapped linearly to the
        output channels, to the spatial output (frequency selection with a pass-through).
    init : {"variance-preserving", "fan-in"}
    init_resolution : tuple of int, optional
        The training grid's shape, the ``N`` of the variance-preserving initialisation;
        ``None`` assumes ``2 m_j`` points per axis.
    positional_embedding : bool
        Append the coordinates mapped to ``[0, 1]`` per axis as inputs, through their closed-form
        modes (:func:`~sciml.operators.t1_modes.coordinate_modes`), identical at every resolution.
    """

    in_channels: int
    out_channels: int
    width: int = 32
    modes: tuple[int, ...] = (16, 16)
    n_layers: int = 4
    layer: str = "fourier"
    transform: str = "dct"
    activation: str = "gelu"
    nonlinearity: str = "collocation"
    collocation: int = 3
    projection_ratio: float = 2.0
    high_frequencies: str = "drop"
    init: str = "variance-preserving"
    init_resolution: tuple[int, ...] | None = None
    positional_embedding: bool = True

    def __post_init__(self):
        owner = type(self).__name__
        for name in ("in_channels", "out_channels", "width", "n_layers"):
            _check_int(owner, name, getattr(self, name), 1)
        self.modes = _int_tuple(self.modes, "modes", owner)
        if self.init_resolution is not None:
            self.init_resolution = _int_tuple(self.init_resolution, "init_resolution", owner)
            if len(self.init_resolution) != len(self.modes):
                raise ValueError(f"init_resolution: expected {len(self.modes)} sizes (one per axis of modes), "
                                 f"got {self.init_resolution}")
            check_resolution(self.init_resolution, self.modes, "init_resolution")
        _check_choice("transform", self.transform, TRANSFORMS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("high_frequencies", self.high_frequencies, HIGH_FREQUENCIES)
        _check_choice("init", self.init, INITS)
        _check_choice("nonlinearity", self.nonlinearity, NONLINEARITIES)
        _check_choice("layer", self.layer, LAYERS)
        _check_int(owner, "collocation", self.collocation, 3 if self.transform == "fft" else 2)
        _check_number("projection_ratio", self.projection_ratio, 0.0)
        if not isinstance(self.positional_embedding, bool):
            raise TypeError(f"positional_embedding: expected a bool, got {self.positional_embedding!r}")

    @property
    def ndim(self) -> int:
        """Spatial dimension, ``len(modes)``."""
        return len(self.modes)

    @property
    def block(self) -> tuple[int, ...]:
        """Shape of the kept-mode block: ``modes`` (DCT) or ``(2 m_0, ..., m_{d-1})`` (FFT)."""
        return tuple(self.modes) if self.transform == "dct" else block_shape(self.modes)


def _int_tuple(value, name: str, owner: str) -> tuple[int, ...]:
    if isinstance(value, int) or not isinstance(value, (tuple, list)):
        raise TypeError(f"{name}: expected a tuple of 1-3 ints (one per spatial axis), got {value!r}")
    if not 1 <= len(value) <= 3:
        raise ValueError(f"{name}: expected 1, 2 or 3 entries (1D, 2D or 3D), got {tuple(value)}")
    for v in value:
        _check_int(owner, name, v, 1)
    return tuple(value)


# -- layers on the mode block --------------------------------------------------------------------
def activation_moments(name: str) -> tuple[float, float]:
    r"""(:math:`\mathbb E[\sigma(g)^2]`, :math:`\mathbb E[(g + \sigma(g))^2]`) for :math:`g \sim \mathcal N(0, 1)`.

    Gauss-Hermite quadrature with 64 nodes. The first gives the gain :math:`1/\sqrt{\cdot}` of a
    map after the activation (Kaiming's :math:`\sqrt 2` for ReLU), the second the scale
    :math:`1/\sqrt{\cdot}` of the T1 layer's residual sum.

    Examples
    --------
    >>> [round(v, 6) for v in activation_moments("relu")]       # 1/2 and 1 + 2 * 1/2 + 1/2
    [0.5, 2.5]
    """
    _check_choice("name", name, ACTIVATIONS)
    nodes, weights = np.polynomial.hermite_e.hermegauss(64)
    weights = weights / math.sqrt(2 * math.pi)
    with torch.no_grad():
        values = make_activation(name)(torch.as_tensor(nodes)).numpy()
    return float(np.sum(weights * values**2)), float(np.sum(weights * (nodes + values) ** 2))


class ModeLinear(nn.Module):
    r"""Channel map shared by all modes, :math:`\hat y_{o,k} = \sum_i A_{io} \hat x_{i,k} + b_o \delta_{k,0}`.

    The bias sits on the zeroth mode only: it is the transform of a constant function. On complex
    (FFT) modes the real weights act on both parts alike, which commutes with translations.

    Parameters
    ----------
    in_channels, out_channels : int
    std : float
        Standard deviation of the initial weights (the bias starts at zero).

    Examples
    --------
    >>> layer = ModeLinear(3, 2, std=0.5)
    >>> layer(torch.randn(4, 3, 5, 6)).shape
    torch.Size([4, 2, 5, 6])
    """

    def __init__(self, in_channels: int, out_channels: int, std: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_channels, out_channels) * std)
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 3 or x.shape[1] != self.weight.shape[0]:
            raise ValueError(f"x: expected [batch, {self.weight.shape[0]}, *block], got shape {tuple(x.shape)}")
        y = torch.einsum("bi...,io->bo...", x, self.weight.to(x.dtype))     # real weights on complex modes too
        dc = torch.zeros(x.shape[2:], dtype=self.bias.dtype, device=y.device)
        dc.view(-1)[0] = 1.0
        return y + self.bias.view(1, -1, *([1] * (x.ndim - 2))) * dc


class ModeActivation(nn.Module):
    r"""The activation of a T1 layer, on a mode block ``[B, C, *block]`` (see ``nonlinearity``).

    ``where="modes"``: :math:`\sigma` on each coefficient (real and imaginary parts separately for
    complex FFT modes). It maps each coefficient to a function of that coefficient alone, so it
    cannot produce the sum-frequency products :math:`\hat a_p \hat b_q \to k = p + q` of a
    physical-space nonlinearity (the advection term of a flow).

    ``where="collocation"``: synthesize the block's function on ``collocation * m_j`` points per
    axis (cell centres of :math:`[0, 1]` for the DCT, a periodic grid for the FFT), apply
    :math:`\sigma` there and return the kept modes of the result, :math:`\mathcal T_m \sigma
    (\mathcal T^{-1} \hat z)`. This is a physical-space activation evaluated on a small grid of the
    kept modes' own: frequencies couple, the cost is :math:`O(m \log m)` or :math:`O(m^2)` per axis
    whatever the input's resolution, and with the FFT it commutes with translations by whole
    collocation cells. Mode values inside T1 carry the field's RMS (``scale`` =
    :math:`\sqrt{\#\text{modes}}`), which is undone for the synthesis so that :math:`\sigma` sees
    field values.

    Parameters
    ----------
    activation : str
    transform : {"dct", "fft"}
    modes : tuple of int
        Kept modes per axis (the block is ``modes`` for the DCT, ``(2 m_0, ..., m_{d-1})`` for the FFT).
    where : {"collocation", "modes"}
    collocation : int
        Points per kept mode and axis (at least 3 for the FFT).

    Examples
    --------
    With the identity, the collocation round trip returns the block of a real field exactly:

    >>> act = ModeActivation("identity", "fft", (4, 4), "collocation")
    >>> z = realizable_modes(torch.randn(2, 3, 8, 4, dtype=torch.complex128), (4, 4))
    >>> torch.allclose(act(z), z)
    True
    """

    def __init__(self, activation: str, transform: str, modes: tuple[int, ...], where: str = "collocation",
                 collocation: int = 3):
        super().__init__()
        _check_choice("where", where, NONLINEARITIES)
        _check_choice("transform", transform, TRANSFORMS)
        _check_int(type(self).__name__, "collocation", collocation, 3 if transform == "fft" else 2)
        self.activation = make_activation(activation)
        self.transform, self.modes, self.where = transform, tuple(modes), where
        self.points = tuple(collocation * m for m in self.modes)
        self.scale = math.sqrt(math.prod(block_shape(self.modes) if transform == "fft" else self.modes))
        # the kept modes' own grid: periodic nodes for the FFT, cell centres (the exact DCT-II) for the DCT
        d = len(self.modes)
        self.grid = (Grid.uniform(self.points, sciml.Domain.unit(d, periodic=True)) if transform == "fft"
                     else Grid.uniform(self.points, sciml.Domain.unit(d), centring="cell"))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.where == "modes":
            if z.is_complex():
                return torch.complex(self.activation(z.real), self.activation(z.imag))
            return self.activation(z)
        block = block_shape(self.modes) if self.transform == "fft" else self.modes
        if z.ndim < len(block) + 1 or tuple(z.shape[-len(block):]) != tuple(block):
            raise ValueError(f"z: expected [..., channels, *{tuple(block)}] (the block of modes={self.modes}), "
                             f"got shape {tuple(z.shape)}")
        values = from_modes(z / self.scale, self.grid, self.transform)
        return to_modes(self.activation(values), self.grid, self.modes, self.transform) * self.scale

    def extra_repr(self) -> str:
        points = f", points={self.points}" if self.where == "collocation" else ""
        return f"where={self.where!r}, transform={self.transform!r}{points}"


def _per_mode_weight(width: int, block: tuple[int, ...], std: float, complex_weights: bool) -> nn.Parameter:
    """``[width, width, *block]`` weights with ``E|K|^2 = std^2``; complex ones stored as real pairs ``[..., 2]``."""
    if complex_weights:
        return nn.Parameter(torch.randn(width, width, *block, 2) * (std / math.sqrt(2)))
    return nn.Parameter(torch.randn(width, width, *block) * std)


def _mix_channels_per_mode(z: torch.Tensor, weight: nn.Parameter, complex_weights: bool) -> torch.Tensor:
    r""":math:`(K\hat z)_{o,k} = \sum_i K_{iok}\hat z_{i,k}`, checking the block's shape and kind."""
    weight = torch.view_as_complex(weight) if complex_weights else weight
    if tuple(z.shape[1:]) != tuple(weight.shape[1:]) or z.is_complex() != weight.is_complex():
        kind = "complex" if weight.is_complex() else "real"
        raise ValueError(f"z: expected {kind} [batch, {tuple(weight.shape[1:])}], got {z.dtype} {tuple(z.shape)}")
    return torch.einsum("bi...,io...->bo...", z, weight.to(z.dtype))


class FourierModeLayer(nn.Module):
    r"""FNO's Fourier layer on the kept modes: :math:`\hat z \mapsto \sigma(K\hat z + W\hat z)`.

    :math:`K` mixes channels per mode (complex for FFT blocks: a convolution), :math:`W` is a
    channel map shared by all modes with a bias on the zeroth mode (FNO's pointwise skip), and
    :math:`\sigma` a :class:`ModeActivation` (with ``"collocation"``, the activation an FNO
    applies in physical space, on the kept modes' own grid). :math:`K` starts small
    (``std = 0.1 / sqrt(width)``) against :math:`W` (``1 / sqrt(width)``), so each layer starts
    close to a channel MLP, as an FNO's does once its truncation has removed most of a rough
    hidden state; on the Navier-Stokes quick bench a scratch version of this layer (linear head,
    2 collocation points per mode) gave 1.9e-2 after 5 epochs against 2.2e-2 with both at
    ``1 / sqrt(width)``.

    Parameters
    ----------
    width : int
    block : tuple of int
    nonlinearity : ModeActivation
    complex_weights : bool

    Examples
    --------
    >>> layer = FourierModeLayer(4, (8, 4), ModeActivation("gelu", "fft", (4, 4)), complex_weights=True)
    >>> layer(torch.randn(2, 4, 8, 4, dtype=torch.complex64)).shape
    torch.Size([2, 4, 8, 4])
    """

    def __init__(self, width: int, block: tuple[int, ...], nonlinearity: ModeActivation,
                 complex_weights: bool = False):
        super().__init__()
        self.channel_weight = _per_mode_weight(width, block, 0.1 / math.sqrt(width), complex_weights)
        self.complex_weights = complex_weights
        self.skip = ModeLinear(width, width, 1.0 / math.sqrt(width))
        self.activation = nonlinearity

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.activation(_mix_channels_per_mode(z, self.channel_weight, self.complex_weights) + self.skip(z))


class ModeMixingLayer(nn.Module):
    r"""One T1 layer on the mode block: :math:`\hat h = K\hat z`, :math:`\hat z \mapsto \rho\,(\hat h + M\sigma(\hat h))`.

    :math:`(K\hat z)_{o,k} = \sum_i K_{i o k}\,\hat z_{i,k}` mixes channels with a matrix per mode
    (complex for FFT modes, stored as real pairs, so that :math:`K` is a convolution, as in FNO);
    :math:`\sigma` is a :class:`ModeActivation`; :math:`M = M_0 \otimes \dots \otimes M_{d-1}`
    mixes modes separably (``m_j x m_j`` real per axis, initialised to the identity, so :math:`M`
    starts orthogonal); :math:`\rho` normalises the residual sum (:func:`activation_moments`). With
    :math:`\mathbb E|K_{iok}|^2 = 1/\mathrm{width}` the layer keeps the second moment of Gaussian
    coefficients.

    Parameters
    ----------
    width : int
    block : tuple of int
        Shape of the mode block.
    activation : str
    std : float
        Standard deviation of :math:`K` (of its modulus, for complex ``K``).
    nonlinearity : ModeActivation, optional
        Where :math:`\sigma` acts; the default applies it to each (real) coefficient.
    complex_weights : bool
        Complex :math:`K` for complex (FFT) mode blocks.

    Examples
    --------
    >>> layer = ModeMixingLayer(4, (3, 5), "gelu", std=0.5)
    >>> layer(torch.randn(2, 4, 3, 5)).shape
    torch.Size([2, 4, 3, 5])
    """

    def __init__(self, width: int, block: tuple[int, ...], activation: str, std: float,
                 nonlinearity: ModeActivation | None = None, complex_weights: bool = False):
        super().__init__()
        self.channel_weight = _per_mode_weight(width, block, std, complex_weights)
        self.complex_weights = complex_weights
        self.mode_weights = nn.ParameterList(nn.Parameter(torch.eye(m)) for m in block)
        self.activation = nonlinearity if nonlinearity is not None else make_activation(activation)
        self.residual_scale = 1.0 / math.sqrt(activation_moments(activation)[1])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = _mix_channels_per_mode(z, self.channel_weight, self.complex_weights)
        mixing = [m.to(h.dtype) for m in self.mode_weights]
        return (h + _contract(self.activation(h), mixing)) * self.residual_scale


# -- the operator --------------------------------------------------------------------------------
@sciml.register_model("t1")
class TransformOnce(sciml.Operator):
    """Transform Once operator (1D, 2D, 3D); see the module docstring.

    Parameters
    ----------
    config : TransformOnceConfig

    Attributes
    ----------
    lifting : ModeLinear
        Input channels (and embedding) -> ``width``, on the kept modes.
    processor : nn.Module
        The layers on the mode block (``ModeMixingLayer`` s; a U-Net in ``TransformOnceUNet``).
    projection : nn.Sequential of ModeLinear
        The frequency-domain head, ``width`` -> output channels.
    high_pass : ChannelLinear or None
        With ``high_frequencies="pass"``: the input channels outside the kept modes -> output.

    Examples
    --------
    >>> model = TransformOnce(TransformOnceConfig(2, 1, width=8, modes=(6,), transform="fft"))
    >>> grid = sciml.Grid.uniform((64,), sciml.Domain.unit(1, periodic=True))
    >>> model(sciml.Sampled(torch.randn(3, 2, 64), grid)).values.shape
    torch.Size([3, 1, 64])
    """

    config_class = TransformOnceConfig

    def __init__(self, config: TransformOnceConfig):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"config: expected a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        inputs = config.in_channels + (config.ndim if config.positional_embedding else 0)
        self.mode_count = math.prod(config.block)
        gain = 1.0 / math.sqrt(activation_moments(config.activation)[0])
        self.lifting = ModeLinear(inputs, config.width, math.sqrt(self._truncation_ratio() / inputs))
        self.processor = self._make_processor()
        hidden = round(config.projection_ratio * config.width)
        if hidden:
            self.projection = nn.Sequential(ModeLinear(config.width, hidden, 1 / math.sqrt(config.width)),
                                            self.make_nonlinearity(),
                                            ModeLinear(hidden, config.out_channels, gain / math.sqrt(hidden)))
        else:
            self.projection = nn.Sequential(ModeLinear(config.width, config.out_channels, 1 / math.sqrt(config.width)))
        self.high_pass = (ChannelLinear(config.in_channels, config.out_channels, bias=False)
                          if config.high_frequencies == "pass" else None)

    def make_nonlinearity(self) -> ModeActivation:
        """The configured activation on mode blocks (:class:`ModeActivation`)."""
        config = self.config
        return ModeActivation(config.activation, config.transform, config.modes, config.nonlinearity,
                              config.collocation)

    def _truncation_ratio(self) -> float:
        """``N / m`` of the variance-preserving initialisation (1 for ``init="fan-in"``)."""
        config = self.config
        if config.init == "fan-in":
            return 1.0
        resolution = config.init_resolution or tuple(2 * m for m in config.modes)
        return math.prod(resolution) / self.mode_count

    def _make_processor(self) -> nn.Module:
        """The layers acting on the mode block ``[B, width, *block]``; subclasses replace them."""
        config = self.config
        complex_weights = config.transform == "fft"
        if config.layer == "fourier":
            return nn.Sequential(*(FourierModeLayer(config.width, config.block, self.make_nonlinearity(), complex_weights)
                                   for _ in range(config.n_layers)))
        return nn.Sequential(*(ModeMixingLayer(config.width, config.block, config.activation,
                                               1.0 / math.sqrt(config.width), self.make_nonlinearity(),
                                               complex_weights=complex_weights)
                               for _ in range(config.n_layers)))

    # -- forward ---------------------------------------------------------------------------------
    def forward_modes(self, values: torch.Tensor, on) -> torch.Tensor:
        """Kept modes of the output, ``[B, out_channels, *block]`` (no inverse transform).

        With ``high_frequencies="pass"`` the pass-through adds modes outside the block only, so
        these are still the kept modes of :meth:`forward_values`. Compare them with
        ``self.target_modes(target, on)`` through :func:`~sciml.operators.t1_modes.modes_relative_l2`.
        """
        block, _ = self._forward_block(values, on)
        return block

    def forward_values(self, values: torch.Tensor, on) -> torch.Tensor:
        """Map ``values`` ``[B, in_channels, *on.shape]`` to ``[B, out_channels, *on.shape]`` (one inverse transform)."""
        block, inputs = self._forward_block(values, on)
        out = from_modes(block, on, self.config.transform)
        if self.high_pass is not None:
            outside = inputs - from_modes(to_modes(inputs, on, self.config.modes, self.config.transform), on,
                                          self.config.transform)
            out = out + self.high_pass(outside)
        return out.to(values.dtype)

    def target_modes(self, target, on=None) -> torch.Tensor:
        """Kept modes of a target (``Sampled``, or values with ``on``) in the layout of :meth:`forward_modes`."""
        if isinstance(target, sciml.Sampled):
            target, on = target.values, target.on
        return to_modes(target, on, self.config.modes, self.config.transform)

    def _forward_block(self, values: torch.Tensor, on) -> tuple[torch.Tensor, torch.Tensor]:
        config = self.config
        grid = self._check_input(values, on)
        inputs = values if values.dtype in (torch.float32, torch.float64) else values.float()
        x = to_modes(inputs, grid, config.modes, config.transform)
        if config.positional_embedding:
            embedding = coordinate_modes(config.modes, config.transform, x.dtype, x.device)
            x = torch.cat([x, embedding.expand(x.shape[0], *embedding.shape[1:])], dim=1)
        scale = math.sqrt(self.mode_count)      # inside, mode values have the RMS of the field
        y = self.projection(self.processor(self.lifting(x * scale))) / scale
        if config.transform == "fft":
            y = realizable_modes(y, config.modes)
        return y, inputs

    def _check_input(self, values, on) -> Grid:
        config = self.config
        grid = check_grid(on, config.ndim)
        if not isinstance(values, torch.Tensor) or values.ndim != config.ndim + 2:
            raise ValueError(f"values: expected a tensor [batch, {config.in_channels}, *spatial] with "
                             f"{config.ndim} spatial axes, got shape {tuple(getattr(values, 'shape', ()))}")
        if values.shape[1] != config.in_channels:
            raise ValueError(f"values: expected {config.in_channels} input channels, got {values.shape[1]} "
                             f"(shape {tuple(values.shape)})")
        if tuple(values.shape[2:]) != tuple(grid.shape):
            raise ValueError(f"values: expected spatial shape {grid.shape} of {grid!r}, got {tuple(values.shape[2:])}")
        _check_transform_grid(grid, config.modes, config.transform)
        return grid

    @classmethod
    def bench_config(cls, profile, grid) -> dict:
        """Config fields for ``sciml bench``: FNO's width, modes (capped at half the points) and depth.

        The bench normalises smooth fields (most energy in the kept modes), so the lifting uses the
        ``"fan-in"`` initialisation rather than the white-noise one. Periodic grids get the FFT
        (the DCT of periodic data has a large truncation floor; see the module docstring), others
        the DCT.
        """
        shape = tuple(grid.shape)
        periodic = all(axis.periodic for axis in grid.axes)
        return {"width": profile.width, "modes": [min(profile.modes, n // 2) for n in shape],
                "n_layers": profile.n_layers, "init": "fan-in", "transform": "fft" if periodic else "dct"}

    def extra_repr(self) -> str:
        config = self.config
        return (f"transform={config.transform!r}, modes={config.modes}, width={config.width}, "
                f"n_layers={config.n_layers}, nonlinearity={config.nonlinearity!r}")
