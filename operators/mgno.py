r"""MgNO: neural operators whose linear maps are multigrid V-cycles (He, Liu & Xu, ICLR 2024).

Each layer is a layer of "operator neurons",

.. math::

    u_i^{(k+1)} = \sigma\Big(\sum_j \mathcal W_{ij} u_j^{(k)} + \mathcal B_i\Big),

where the whole block :math:`(\mathcal W_{ij})` of bounded linear operators from the
:math:`c_{in}` input channels to the :math:`c_{out}` output channels is one multi-channel
V-cycle (:class:`~sciml.operators.mgno_cycle.VCycle`: learned smoothers, residual and solution
restrictions, transposed-convolution prolongations, the boundary condition on every level), and
:math:`\mathcal B_i` is a function, not a scalar (:class:`BiasField`). The first layer takes the
input channels directly as its right-hand side and a pointwise linear read-out maps the last
layer's ``width`` channels to the outputs: there are no lifting or projection MLPs.

Resolutions
-----------
The V-cycle halves the grid ``levels - 1`` times, so the network runs on grids whose sizes are
multiples of :math:`2^{L-1}` (others are refused, naming the nearest valid sizes). The
hierarchy is read cell-wise: coarse cell :math:`j` is fine cells :math:`2j, 2j+1`. Darcy data
here lives on node-centred grids of :math:`2^k` points (boundary nodes included), which are
multiples too; the boundary condition then holds on the faces half a cell outside the first
and last nodes. The stencils act in grid units, so (unlike a Fourier layer) the same weights
on a finer grid are a different operator. Two ways to evaluate at another resolution:

* ``reference_shape=None`` (*native*): run the stencils on the given grid (any valid size);
* ``reference_shape=(n, ...)``: the network runs on a grid of that shape over the same domain,
  inputs on any other uniform grid are linearly interpolated to it (:func:`sciml.resample`)
  and the outputs interpolated back. Exact for multilinear data, any input size accepted;
  finer grids gain no detail beyond the reference grid's.

The bias fields are functions of the coordinates and resample exactly in both modes.

Paper profile
-------------
``MgNOConfig.paper(problem, ...)``: Darcy 6 levels, 4 layers, width 24 (about 0.57M parameters
with one pre-smoothing step per level); Navier–Stokes 5 levels, 5 layers, width 32, periodic.
The paper trains with Adam and a one-cycle schedule (peak lr 5e-4), an :math:`H^1` loss and
batch 8: :func:`paper_training`.

Examples
--------
>>> model = MgNO(MgNOConfig(in_channels=1, out_channels=1, width=8, levels=3, n_layers=2))
>>> grid = sciml.Grid.uniform((32, 32))
>>> model(sciml.Sampled(torch.randn(2, 1, 32, 32), grid)).values.shape
torch.Size([2, 1, 32, 32])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

import sciml
from sciml import Grid

from .config import ACTIVATIONS, _check_choice, _check_int
from .layers import ChannelLinear, make_activation
from .mgno_cycle import BOUNDARIES, RESTRICTION_SIZES, VCycle, check_level_sizes, per_level_counts

__all__ = ["BiasField", "MgNO", "MgNOConfig", "MgNOLayer", "PAPER_PROFILES", "max_levels", "paper_training"]

#: the paper's sizes per problem: levels, layers, width, boundary condition
PAPER_PROFILES = {"darcy": dict(levels=6, n_layers=4, width=24, boundary="dirichlet"),
                  "navier-stokes": dict(levels=5, n_layers=5, width=32, boundary="periodic")}


@dataclass
class MgNOConfig:
    """Sizes of an :class:`MgNO`.

    Parameters
    ----------
    in_channels, out_channels : int
    width : int
        Channels of the hidden layers.
    levels : int
        Grids per V-cycle; inputs need sizes divisible by ``2 ** (levels - 1)``.
    n_layers : int
        MgNO layers (each a V-cycle, a bias field and the activation), then a linear read-out.
    ndim : {1, 2, 3}
    pre_smoothing, post_smoothing : int or list of int
        Smoothing steps per level (one count, or ``levels`` counts, finest first); at least one
        pre-smoothing step per level.
    boundary : {"dirichlet", "neumann", "periodic"}
        Boundary condition of every stencil on every level (:func:`~sciml.operators.mgno_cycle.pad_boundary`).
    kernel_size : int
        Odd stencil size of the operators and smoothers.
    activation : {"gelu", "relu", "silu", "tanh", "identity"}
        ``"identity"`` makes the whole model linear (affine with bias).
    bias_size : int
        Points per axis of the learned bias fields (0: no bias, the model is then linear and
        homogeneous with ``activation="identity"``).
    coarse_guess : bool
        Coarse levels start from the restricted solution (MgNO) instead of zero.
    restriction_size : {2, 3, 4}
        Points per axis of the stride-2 restrictions: 3 as in the paper, 2 or 4 to keep every
        stencil centred on its coarse cell (:mod:`~sciml.operators.mgno_cycle`).
    reference_shape : list of int, optional
        Run the network on this grid shape and interpolate other resolutions to and from it
        (see "Resolutions" in the module docstring); ``None`` runs on the input grid.

    Examples
    --------
    >>> config = MgNOConfig.paper("darcy", in_channels=1, out_channels=1)
    >>> config.levels, config.n_layers, config.width
    (6, 4, 24)
    """

    in_channels: int
    out_channels: int
    width: int = 24
    levels: int = 6
    n_layers: int = 4
    ndim: int = 2
    pre_smoothing: int | list = 1
    post_smoothing: int | list = 0
    boundary: str = "dirichlet"
    kernel_size: int = 3
    activation: str = "gelu"
    bias_size: int = 8
    coarse_guess: bool = True
    restriction_size: int = 3
    reference_shape: list | None = None

    def __post_init__(self):
        for name, minimum in (("in_channels", 1), ("out_channels", 1), ("width", 1), ("levels", 1),
                              ("n_layers", 1), ("ndim", 1), ("kernel_size", 1), ("bias_size", 0)):
            _check_int("MgNOConfig", name, getattr(self, name), minimum)
        if self.ndim > 3:
            raise ValueError(f"ndim: expected 1, 2 or 3 spatial axes, got {self.ndim}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd stencil size, got {self.kernel_size}")
        _check_choice("boundary", self.boundary, BOUNDARIES)
        _check_choice("restriction_size", self.restriction_size, RESTRICTION_SIZES)
        _check_choice("activation", self.activation, ACTIVATIONS)
        if not isinstance(self.coarse_guess, bool):
            raise TypeError(f"coarse_guess: expected a bool, got {type(self.coarse_guess).__name__}")
        if self.reference_shape is not None:
            shape = self.reference_shape
            if (not isinstance(shape, (list, tuple)) or len(shape) != self.ndim
                    or any(isinstance(n, bool) or not isinstance(n, int) for n in shape)):
                raise ValueError(f"reference_shape: expected {self.ndim} integers (one per axis) or None, "
                                 f"got {shape!r}")
            check_level_sizes(shape, self.levels, self.kernel_size, name="reference_shape")
            self.reference_shape = list(shape)
        for name, minimum in (("pre_smoothing", 1), ("post_smoothing", 0)):
            value = getattr(self, name)
            counts = per_level_counts(value, self.levels, name, minimum)
            setattr(self, name, value if isinstance(value, int) else list(counts))

    @classmethod
    def paper(cls, problem: str, **overrides) -> MgNOConfig:
        """The paper's sizes for ``"darcy"`` or ``"navier-stokes"``, fields in ``overrides`` replacing them."""
        if problem not in PAPER_PROFILES:
            raise ValueError(f"problem: expected one of {sorted(PAPER_PROFILES)}, got {problem!r}")
        return cls(**{**PAPER_PROFILES[problem], **overrides})


def _interpolation_matrix(t: torch.Tensor, size: int, periodic: bool) -> torch.Tensor:
    """``[n, size]`` linear interpolation from ``size`` cell-centred values on ``[0, 1]`` to points ``t``."""
    s = t * size - 0.5
    left = torch.floor(s)
    frac = (s - left)[:, None]
    left = left.long()
    right = left + 1
    if periodic:
        left, right = left % size, right % size
    else:                                       # constant extrapolation beyond the outer cell centres
        left, right = left.clamp(0, size - 1), right.clamp(0, size - 1)
    columns = torch.arange(size, device=t.device)
    return (1 - frac) * (columns == left[:, None]) + frac * (columns == right[:, None])


class BiasField(nn.Module):
    r"""A learned function :math:`\mathcal B: \Omega \to \mathbb R^c`, sampled on any grid.

    The values :math:`b_{c,\mathbf k}` live on a cell-centred ``size^d`` grid over the domain
    box; on a grid with coordinates :math:`x` the bias is their multilinear interpolant
    (periodic axes wrap, bounded axes extrapolate the outer values). It is the same function
    at every resolution, so a model trained at 32² adds the same bias at 128².

    Parameters
    ----------
    channels, ndim, size : int

    Examples
    --------
    >>> bias = BiasField(channels=1, ndim=1, size=4)
    >>> with torch.no_grad():
    ...     _ = bias.values.copy_(torch.tensor([[0.0, 1.0, 2.0, 3.0]]))
    >>> bias(sciml.Grid.uniform(5, sciml.Domain([(0, 1)])), torch.float32)[0].tolist()
    [0.0, 0.5, 1.5, 2.5, 3.0]
    """

    def __init__(self, channels: int, ndim: int, size: int):
        super().__init__()
        self.values = nn.Parameter(torch.zeros(channels, *(size,) * ndim))

    def forward(self, on: Grid, dtype=None) -> torch.Tensor:
        """The bias ``[channels, *on.shape]`` at the points of ``on``."""
        out = self.values if dtype is None else self.values.to(dtype)
        size = self.values.shape[1]
        for axis, (coords, (lo, hi), periodic) in enumerate(zip(on.coordinates(torch.float64, out.device),
                                                                on.domain.bounds, on.domain.periodic)):
            matrix = _interpolation_matrix((coords - lo) / (hi - lo), size, periodic).to(out.dtype)
            out = torch.tensordot(out, matrix, dims=([1 + axis], [1])).movedim(-1, 1 + axis)
        return out


class MgNOLayer(nn.Module):
    r"""Operator neurons :math:`u \mapsto \sigma(\mathcal W u + \mathcal B)` with a V-cycle :math:`\mathcal W`.

    Parameters
    ----------
    in_channels, out_channels : int
    config : MgNOConfig
        Levels, smoothing, boundary, stencil size, activation and bias size.
    activation : bool
        Apply the configured activation (otherwise the layer is affine).
    """

    def __init__(self, in_channels: int, out_channels: int, config: MgNOConfig, activation: bool = True):
        super().__init__()
        self.cycle = VCycle(in_channels, out_channels, config.ndim, config.levels, config.pre_smoothing,
                            config.post_smoothing, config.boundary, config.kernel_size, config.coarse_guess,
                            config.restriction_size)
        self.bias = BiasField(out_channels, config.ndim, config.bias_size) if config.bias_size else None
        self.activation = make_activation(config.activation if activation else "identity")

    def forward(self, u: torch.Tensor, on: Grid) -> torch.Tensor:
        out = self.cycle(u)
        if self.bias is not None:
            out = out + self.bias(on, out.dtype)
        return self.activation(out)


@sciml.register_model("mgno")
class MgNO(sciml.Operator):
    r"""Multigrid neural operator (see the module docstring) on 1D, 2D or 3D uniform grids.

    Parameters
    ----------
    config : MgNOConfig

    Attributes
    ----------
    layers : nn.ModuleList of MgNOLayer
        ``in_channels -> width -> ... -> width``.
    readout : ChannelLinear
        Pointwise linear map ``width -> out_channels`` without a constant (the biases are the
        fields :math:`\mathcal B_i` of the layers).

    Examples
    --------
    >>> model = MgNO(MgNOConfig(in_channels=2, out_channels=1, width=4, levels=4, n_layers=1, ndim=1,
    ...                         boundary="periodic"))
    >>> model(torch.randn(3, 2, 64)).shape
    torch.Size([3, 1, 64])
    >>> model(torch.randn(3, 2, 60))
    Traceback (most recent call last):
    ...
    ValueError: values: spatial size 60 cannot be coarsened 3 times by halving (levels=4 needs multiples of 8); ...
    """

    config_class = MgNOConfig

    def __init__(self, config: MgNOConfig):
        super().__init__()
        if not isinstance(config, MgNOConfig):
            raise TypeError(f"config: expected an MgNOConfig, got {type(config).__name__}")
        self.config = config
        channels = [config.in_channels] + [config.width] * config.n_layers
        self.layers = nn.ModuleList(MgNOLayer(cin, cout, config) for cin, cout in zip(channels[:-1], channels[1:]))
        self.readout = ChannelLinear(config.width, config.out_channels, bias=False)

    def forward_values(self, values: torch.Tensor, on) -> torch.Tensor:
        """Map ``values`` ``[B, in_channels, *on.shape]`` on grid ``on`` to ``[B, out_channels, *on.shape]``."""
        grid = self.check_input(values, on)
        reference = self.reference_grid(grid)
        if reference is None:
            return self.forward_network(values, grid)
        inputs = sciml.resample(sciml.Sampled(values, grid, validate=False), reference, method="linear")
        out = self.forward_network(inputs.values, reference)
        return sciml.resample(sciml.Sampled(out, reference, validate=False), grid, method="linear").values

    def forward_network(self, values: torch.Tensor, grid: Grid) -> torch.Tensor:
        """The layers and the read-out on ``grid`` itself (no input checks, no resampling)."""
        u = values
        for layer in self.layers:
            u = layer(u, grid)
        return self.readout(u)

    def reference_grid(self, on: Grid) -> Grid | None:
        """The grid the network runs on for inputs on ``on``: ``None`` for ``on`` itself."""
        shape = self.config.reference_shape
        if shape is None or tuple(shape) == tuple(on.shape):
            return None
        return Grid([axis.resized(n) for axis, n in zip(on.axes, shape)])

    def check_input(self, values: torch.Tensor, on) -> Grid:
        """Shape contract: a uniform grid with ``ndim`` axes, the channels, sizes the levels can coarsen."""
        config = self.config
        if not isinstance(on, Grid):
            raise TypeError(f"on: expected a sciml.Grid (MgNO convolves tensor-product grids), "
                            f"got {type(on).__name__}")
        if on.ndim != config.ndim or not all(a.is_equispaced for a in on.axes):
            raise ValueError(f"on: expected a uniform {config.ndim}D grid ('node' or 'cell' axes), got {on!r}; "
                             "resample to a uniform grid first (sciml.resample)")
        if not isinstance(values, torch.Tensor) or values.ndim != config.ndim + 2:
            raise ValueError(f"values: expected a tensor [batch, {config.in_channels}, *spatial] with {config.ndim} "
                             f"spatial axes, got shape {tuple(getattr(values, 'shape', ()))}")
        if values.shape[1] != config.in_channels:
            raise ValueError(f"values: expected {config.in_channels} input channels, got {values.shape[1]} "
                             f"(shape {tuple(values.shape)})")
        if tuple(values.shape[2:]) != tuple(on.shape):
            raise ValueError(f"values: expected spatial shape {on.shape} of {on!r}, got {tuple(values.shape[2:])}")
        if config.reference_shape is None:
            check_level_sizes(on.shape, config.levels, config.kernel_size)
        return on

    @classmethod
    def bench_trainer(cls, profile) -> dict:
        """Trainer overrides for ``sciml bench``: a peak learning rate of at most 2e-3.

        At the quick profile's shared 5e-3 MgNO diverged on Darcy (training loss 5e12 by epoch
        4); 2e-3 trained best of 1e-3 and 2e-3 (``benchmarks/mgno.py``).
        """
        return {"lr": min(profile.trainer.lr, 2e-3)}

    @classmethod
    def bench_config(cls, profile, grid) -> dict:
        """Config fields for ``sciml bench`` (:func:`sciml.workflows.bench.bench_model_config`).

        The paper's sizes for Darcy and Navier–Stokes (:data:`PAPER_PROFILES`); other problems
        take the profile's width and depth with 5 levels. The level count is capped to what
        the training grid can coarsen, and the boundary follows the grid (periodic domains get
        ``"periodic"``, others Darcy's ``"dirichlet"``). ``reference_shape`` is the training
        grid: the bench's finer test sets are interpolated to it and back. Run natively, the
        stencils trained at 32² gave 4.6-10x FNO's relative L2 error at 64² and 128² on Darcy
        (``benchmarks/mgno.py``); through the training grid, 0.8-0.97x FNO's.
        """
        problem = profile.data.name
        sizes = dict(PAPER_PROFILES.get(problem, dict(levels=5, n_layers=profile.n_layers, width=profile.width)))
        shape = tuple(grid.shape)
        sizes["levels"] = max_levels(shape, sizes["levels"])
        sizes["ndim"] = len(shape)
        sizes["boundary"] = "periodic" if all(grid.domain.periodic) else "dirichlet"
        sizes["reference_shape"] = list(shape)
        return sizes

    def extra_repr(self) -> str:
        c = self.config
        return f"width={c.width}, levels={c.levels}, n_layers={c.n_layers}, boundary={c.boundary!r}"


def max_levels(shape, target: int) -> int:
    """The most levels ``<= target`` that can coarsen every axis of ``shape`` (at least 1).

    Examples
    --------
    >>> max_levels((32, 32), 6), max_levels((48, 40), 6), max_levels((33,), 6)
    (6, 4, 1)
    """
    levels = 1
    while levels < target and all(n % 2**levels == 0 for n in shape):
        levels += 1
    return levels


def paper_training(problem: str = "darcy", epochs: int = 500, **overrides):
    """The paper's optimisation: Adam, one-cycle schedule peaking at 5e-4, batch 8, relative H1 loss.

    Returns
    -------
    (TrainerConfig, loss)
        Pass both to :class:`sciml.Trainer` (``sciml.Trainer(model, loss=loss, config=config)``).

    Examples
    --------
    >>> config, loss = paper_training(epochs=3)
    >>> config.lr, config.scheduler, config.batch_size, type(loss).__name__
    (0.0005, 'onecycle', 8, 'H1Loss')
    """
    if problem not in PAPER_PROFILES:
        raise ValueError(f"problem: expected one of {sorted(PAPER_PROFILES)}, got {problem!r}")
    config = sciml.TrainerConfig(epochs=epochs, batch_size=8, optimizer="adam", lr=5e-4, scheduler="onecycle")
    return config.replace(**overrides), sciml.losses.H1Loss()
