r"""Fourier neural operators: :class:`FNO` and its factorized variant :class:`TFNO`.

.. math::
    \mathcal G(a) = Q\Big(\mathcal L_n \circ \dots \circ \mathcal L_1\big(P[a, e]\big)\Big),

where :math:`e` is the positional embedding of the discretization (:func:`grid_embedding`),
:math:`P` and :math:`Q` are channel MLPs (lifting and projection), and :math:`\mathcal L_\ell`
are :class:`~sciml.operators.blocks.FourierBlock` s whose spectral convolutions run on the
:mod:`sciml.kernels` spectral core. Domain padding, if any, is added after :math:`P` and
removed before :math:`Q`.

The models are :class:`sciml.Operator` s: they take a :class:`sciml.Sampled` on an
equispaced :class:`sciml.Grid` (or a plain tensor ``[batch, channels, *spatial]``, read on the
unit box) and return the output on the same grid. Weights act on Fourier coefficients normalised
by the grid size and the embedding comes from coordinates, so a model trained at 32² evaluates
at 64² or 256².

Examples
--------
>>> model = FNO(FNOConfig(in_channels=1, out_channels=1, width=16, modes=(8, 8), n_layers=2))
>>> grid = sciml.Grid.uniform((32, 32), sciml.Domain.unit(2, periodic=True))
>>> model(sciml.Sampled(torch.randn(4, 1, 32, 32), grid)).values.shape
torch.Size([4, 1, 32, 32])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import sciml
from sciml import Grid
from sciml.kernels import SpectralConv, SpectralWeight

from .blocks import FourierBlock
from .config import FNOConfig, TFNOConfig
from .embedding import grid_embedding
from .factorization import random_factorized_weight, resolve_rank, weight_from_dense
from .layers import ChannelMLP
from .padding import DomainPadding
from .spectral import block_of_modes, check_resolution, make_spectral_conv

__all__ = ["FNO", "TFNO", "check_grid", "oversampled_grid"]


def check_grid(on, ndim: int, name: str = "on") -> Grid:
    """The grid ``on`` if it is an equispaced :class:`Grid` with ``ndim`` axes, else a clear error."""
    if not isinstance(on, Grid):
        raise TypeError(f"{name}: expected a sciml.Grid (Fourier operators need a tensor-product grid), "
                        f"got {type(on).__name__}")
    if on.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}D grid to match len(modes)={ndim}, got {on.ndim}D {on!r}")
    if not all(a.is_equispaced for a in on.axes):
        raise ValueError(f"{name}: expected equispaced axes ('node' or 'cell') for Fourier layers, "
                         f"got kinds {on.kinds}; resample to a uniform grid first (sciml.resample)")
    return on


@sciml.register_model("fno")
class FNO(sciml.Operator):
    """Fourier neural operator for 1D, 2D and 3D grids.

    Parameters
    ----------
    config : FNOConfig

    Attributes
    ----------
    lifting, projection : ChannelMLP
    blocks : nn.ModuleList of FourierBlock
    padding : DomainPadding

    Examples
    --------
    >>> model = FNO(FNOConfig(in_channels=2, out_channels=1, width=8, modes=(6,)))
    >>> model(torch.randn(3, 2, 64)).shape
    torch.Size([3, 1, 64])
    """

    config_class = FNOConfig

    def __init__(self, config: FNOConfig):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"config: expected a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        width, d = config.width, config.ndim
        lift_in = self.network_in_channels + (d if config.positional_embedding else 0)
        self.lifting = ChannelMLP(lift_in, width, _hidden(config.lifting_ratio, width), config.block.activation)
        self.blocks = nn.ModuleList(
            FourierBlock(self._spectral_layer(layer), config.block, last=layer == config.n_layers - 1)
            for layer in range(config.n_layers))
        self.projection = ChannelMLP(width, config.out_channels, _hidden(config.projection_ratio, width),
                                     config.block.activation)
        self.padding = DomainPadding(config.domain_padding, config.padding_side)

    # -- hooks for subclasses ---------------------------------------------------------------------
    @property
    def network_in_channels(self) -> int:
        """Channels the lifting receives besides the embedding (MG-TFNO adds context channels)."""
        return self.config.in_channels

    def _spectral_weight(self, layer: int) -> SpectralWeight | None:
        """The spectral weight of block ``layer``; ``None`` keeps SpectralConv's dense weight (FNO)."""
        return None

    def _spectral_layer(self, layer: int) -> SpectralConv:
        return make_spectral_conv(self.config.width, self.config.modes, self._spectral_weight(layer),
                                  path=self.config.spectral_path, contraction=self._contraction())

    def _contraction(self) -> str:
        """How spectral weights are contracted (see ``SpectralWeight.contract``)."""
        return "auto"

    # -- forward ---------------------------------------------------------------------------------
    def forward_values(self, values: torch.Tensor, on) -> torch.Tensor:
        """Map ``values`` ``[B, in_channels, *on.shape]`` on grid ``on`` to ``[B, out_channels, *on.shape]``."""
        self.check_input(values, on)
        check_resolution(values.shape[2:], self.config.modes, "values")
        if self.config.oversampling == 1:
            return self.forward_network(values, on)
        return self.forward_oversampled(values, on)

    def forward_oversampled(self, values: torch.Tensor, on: Grid) -> torch.Tensor:
        r"""The network run on a grid ``s = config.oversampling`` times finer, read back at ``on``'s points.

        With :math:`I_s` the multilinear interpolation onto the fine grid (:func:`oversampled_grid`)
        and :math:`R_s` the restriction back to the points of ``on``,

        .. math::
            \mathcal G_s(a) = R_s\, \mathcal G\big(I_s a\big).

        Node axes: the fine grid has :math:`s(n-1)+1` nodes, every :math:`s`-th of which is a node
        of ``on``, so :math:`R_s` takes those nodes and :math:`I_s` keeps the input's values
        there. Cell axes: :math:`s n` cells, and both maps are linear interpolations between cell
        centres (``align_corners=False``). The spectral layers then integrate the hidden states
        with a grid spacing :math:`h/s`: for hidden states with jumps, whose truncated DFT errs
        by :math:`O(h)`, that error (which a model trained at one resolution learns as part of its
        weights) becomes the one of an :math:`s` times finer grid at every resolution.

        Parameters
        ----------
        values : tensor ``[B, in_channels, *on.shape]``
        on : Grid
            Non-periodic, equispaced, all axes ``"node"`` or all ``"cell"``.

        Returns
        -------
        tensor ``[B, out_channels, *on.shape]``
        """
        factor = self.config.oversampling
        fine = oversampled_grid(on, factor)
        node = on.kinds[0] == "node"
        mode = ("linear", "bilinear", "trilinear")[on.ndim - 1]
        upsampled = F.interpolate(values, size=fine.shape, mode=mode, align_corners=node)
        out = self.forward_network(upsampled, fine)
        if node:
            return out[(slice(None), slice(None), *(slice(None, None, factor),) * on.ndim)]
        return F.interpolate(out, size=on.shape, mode=mode, align_corners=False)

    def check_input(self, values: torch.Tensor, on) -> None:
        """Shape contract of :meth:`forward_values`: grid, dimension, channels (not the resolution)."""
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
        dtype = next(self.parameters()).dtype
        if values.dtype != dtype and not torch.is_autocast_enabled(values.device.type):
            raise TypeError(f"values: expected dtype {dtype} (the model's parameters), got {values.dtype}; "
                            f"convert the input (values.to({dtype})) or the model (model.to({values.dtype}))")

    def forward_network(self, values: torch.Tensor, on: Grid) -> torch.Tensor:
        """Lifting, padded Fourier blocks and projection, without input checks."""
        x = values
        if self.config.positional_embedding:
            embedding = grid_embedding(on, values.dtype, values.device)
            x = torch.cat([x, embedding.expand(x.shape[0], *embedding.shape[1:])], dim=1)
        x = self.padding.pad(self.lifting(x))
        for block in self.blocks:
            x = block(x)
        return self.projection(self.padding.unpad(x, values.shape[2:]))

    def spectral_parameter_count(self) -> int:
        """Real parameters of the spectral weights (all blocks)."""
        return sum(p.numel() for block in self.blocks for p in block.spectral.parameters())

    def extra_repr(self) -> str:
        return f"modes={self.config.modes}, width={self.config.width}, n_layers={self.config.n_layers}"


@sciml.register_model("tfno")
class TFNO(FNO):
    """FNO with CP, Tucker or TT factorized spectral weights (Kossaifi et al., 2023).

    Every block's weight ``[width, width, *block]`` is initialised by drawing the factors
    directly at the scale of FNO's dense init
    (:func:`~sciml.operators.factorization.random_factorized_weight`: no decomposition at
    construction); :meth:`from_fno` fits given dense weights with tensorly. The forward pass
    contracts the spectrum with the factors (:mod:`sciml.kernels.factorized`).

    Parameters
    ----------
    config : TFNOConfig

    Examples
    --------
    >>> from sciml.operators import FactorizationConfig
    >>> config = TFNOConfig(in_channels=1, out_channels=1, width=16, modes=(8, 8),
    ...                     factorization=FactorizationConfig("cp", rank=0.1))
    >>> tfno, fno = TFNO(config), FNO(FNOConfig(1, 1, width=16, modes=(8, 8)))
    >>> tfno.spectral_parameter_count() < fno.spectral_parameter_count() / 5
    True
    """

    config_class = TFNOConfig

    def _contraction(self) -> str:
        return self.config.factorization.contraction

    def _spectral_weight(self, layer: int) -> SpectralWeight:
        factorization = self.config.factorization
        width = self.config.width
        shape = (width, width, *block_of_modes(self.config.modes))
        rank = resolve_rank(factorization.kind, shape, factorization.rank)
        return random_factorized_weight(shape, factorization.kind, rank)

    @classmethod
    def from_fno(cls, fno: FNO, factorization) -> TFNO:
        """A TFNO whose factors are fitted (tensorly) to a trained FNO's dense spectral weights.

        All other parameters are copied. At full rank (Tucker, TT) it computes the same
        function as ``fno``; at lower rank it is its compression.

        Parameters
        ----------
        fno : FNO
        factorization : FactorizationConfig
        """
        if type(fno) is not FNO:
            raise TypeError(f"fno: expected an FNO, got {type(fno).__name__}")
        fields = sciml.config_to_dict(fno.config)
        fields["factorization"] = sciml.config_to_dict(factorization)
        tfno = cls(sciml.config_from_dict(TFNOConfig, fields))
        reference = next(fno.parameters())
        tfno = tfno.to(device=reference.device, dtype=reference.dtype)
        state = {k: v for k, v in fno.state_dict().items() if ".spectral." not in k}
        tfno.load_state_dict(state, strict=False)       # the spectral weights are fitted below
        for mine, theirs in zip(tfno.blocks, fno.blocks):
            dense = theirs.spectral.weight.to_dense().detach()
            fitted = weight_from_dense(dense, factorization.kind,
                                       resolve_rank(factorization.kind, dense.shape, factorization.rank))
            mine.spectral.weight = fitted.to(device=dense.device)
        return tfno


def oversampled_grid(on: Grid, factor: int) -> Grid:
    """The grid of :meth:`FNO.forward_oversampled`: ``factor`` times finer per axis than ``on``.

    ``s (n - 1) + 1`` points on a node axis (so it contains the nodes of ``on``), ``s n`` on a
    cell axis; the same domain and kinds. ``on`` must be non-periodic with all axes of one kind.

    Examples
    --------
    >>> oversampled_grid(sciml.Grid.uniform((32, 32)), 2).shape
    (63, 63)
    """
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor: expected an integer >= 1, got {factor!r}")
    kinds = set(on.kinds)
    if any(axis.periodic for axis in on.axes) or len(kinds) != 1 or not kinds <= {"node", "cell"}:
        raise ValueError(f"on: oversampling={factor} needs a non-periodic grid whose axes are all 'node' or all "
                         f"'cell' (multilinear interpolation), got {on!r}")
    node = on.kinds[0] == "node"
    return on.with_shape([factor * (n - 1) + 1 if node else factor * n for n in on.shape])


def _hidden(ratio: float, width: int) -> int | None:
    return int(round(ratio * width)) or None
