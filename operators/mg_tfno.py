r"""MG-TFNO: multigrid patching around a Fourier operator with jointly factorized weights.

Kossaifi et al., "Multi-Grid Tensorized Fourier Neural Operator for High-Resolution PDEs"
(TMLR 2024). Two ideas on top of the FNO (:mod:`sciml.operators.fno`):

1. **Joint Tucker weights** (:class:`~sciml.operators.joint_tucker.JointTucker`): the spectral
   weights of all ``n_layers`` blocks form one tensor ``[n_layers, width, width, *block]``
   with one Tucker factorization; each block contracts its spectrum with the shared factors
   and its slice of the core.
2. **Multigrid domain decomposition** (:mod:`sciml.operators.multigrid`): the input is cut into
   ``2^L`` patches per axis with overlap; every patch gets ``L`` coarse context windows of the
   whole input (subsampled by ``2^l``) as extra channels. The network runs on patches stacked
   in the batch axis and the outputs are stitched, overlap removed.

Within a patch the positional embedding is the patch's own coordinates mapped to ``[0, 1)``
(a periodic unit box of the window), so it means the same at every resolution.

Patching is meant for fine grids (the paper's), where a patch still holds many points. On coarse
ones it costs accuracy: on the ``sciml bench navier-stokes --quick`` data (32², patches of 16 + 2 x 2 points,
5 epochs) one level gave rel L2 8.6e-2 against 5.1e-2 without patching (joint rank 0.05, width
24), and 2.4x the time per epoch. Explicit joint ranks (``rank=(R_layer, R_in, R_out, *R_block)``)
reach >= 100x fewer parameters than FNO; ``benchmarks/mg_tfno.py`` measures them against FNO.

Training through :meth:`forward` (the :class:`sciml.Trainer` way) computes the loss on the
stitched output; to train on un-stitched patches (e.g. to spread the patches of one sample over
DDP ranks) use :meth:`MGTFNO.patch`, :meth:`MGTFNO.forward_patches` and
:func:`~sciml.operators.multigrid.split_patches` on the targets.

Examples
--------
>>> from sciml.operators import MGTFNOConfig, MultigridConfig
>>> config = MGTFNOConfig(in_channels=1, out_channels=1, width=16, modes=(8, 8), rank=0.05,
...                       multigrid=MultigridConfig(levels=1, overlap=0.0625))
>>> model = MGTFNO(config)
>>> model(torch.randn(2, 1, 64, 64)).shape
torch.Size([2, 1, 64, 64])
"""

from __future__ import annotations

import torch

import sciml
from sciml import Domain, Grid
from sciml.kernels import SpectralWeight

from .config import MGTFNOConfig
from .fno import FNO
from .joint_tucker import JointTucker
from .multigrid import make_multigrid_patches, overlap_points, patch_shape, stitch_patches
from .spectral import block_of_modes, check_resolution

__all__ = ["MGTFNO"]


@sciml.register_model("mg-tfno")
class MGTFNO(FNO):
    """Multi-grid tensorized FNO (joint Tucker weights, multigrid patches), 1D to 3D.

    Parameters
    ----------
    config : MGTFNOConfig

    Attributes
    ----------
    joint_weight : JointTucker
        The factors of all blocks' spectral weights (the blocks hold parameter-free views).
    """

    config_class = MGTFNOConfig

    # -- construction hooks ----------------------------------------------------------------------
    @property
    def network_in_channels(self) -> int:
        return self.config.in_channels * (self.config.multigrid.levels + 1)

    def _spectral_weight(self, layer: int) -> SpectralWeight:
        if "joint_weight" not in self._modules:
            config = self.config
            self.joint_weight = JointTucker(config.n_layers, config.width, config.width,
                                            block_of_modes(config.modes), config.rank, init=config.spectral_init)
        return self.joint_weight.layer(layer)

    def _contraction(self) -> str:
        return self.config.contraction

    def spectral_parameter_count(self) -> int:
        """Real parameters of the joint Tucker factorization (all blocks' spectral weights)."""
        return sum(p.numel() for p in self.joint_weight.parameters())

    # -- forward ---------------------------------------------------------------------------------
    def forward_values(self, values: torch.Tensor, on) -> torch.Tensor:
        """Patch, run the network on the patches, stitch: ``[B, in, *on.shape] -> [B, out, *on.shape]``."""
        self.check_input(values, on)
        if self.config.multigrid.levels == 0:
            check_resolution(values.shape[2:], self.config.modes, "values")
            return self.forward_network(values, on)
        return self.stitch(self.forward_patches(self.patch(values)), values.shape[2:])

    def overlap(self, spatial) -> tuple[int, ...]:
        """Overlap points per axis for an input of ``spatial`` shape."""
        return overlap_points(spatial, self.config.multigrid.overlap)

    def patch(self, values: torch.Tensor) -> torch.Tensor:
        """Multigrid patches ``[B * 2^(L d), in * (L + 1), *window]`` of ``values`` ``[B, in, *spatial]``."""
        multigrid = self.config.multigrid
        spatial = tuple(values.shape[2:])
        window = patch_shape(spatial, multigrid.levels, self.overlap(spatial))
        if any(n < 2 * m for n, m in zip(window, self.config.modes)):
            raise ValueError(f"values: spatial shape {spatial} gives patches of {window} points with "
                             f"levels={multigrid.levels}, too coarse for modes {self.config.modes} "
                             f"(need >= {tuple(2 * m for m in self.config.modes)}); use a finer grid, "
                             "fewer levels or fewer modes")
        return make_multigrid_patches(values, multigrid.levels, self.overlap(spatial), multigrid.boundary)

    def forward_patches(self, patches: torch.Tensor) -> torch.Tensor:
        """The network on patches from :meth:`patch`: ``[P, out, *window]`` (overlap still included)."""
        d = self.config.ndim
        window = tuple(patches.shape[2:])
        patch_grid = Grid.uniform(window, Domain.unit(d, periodic=True))
        return self.forward_network(patches, patch_grid)

    def stitch(self, outputs: torch.Tensor, spatial) -> torch.Tensor:
        """Stitch patch outputs back to ``[B, out, *spatial]``, removing the overlap."""
        return stitch_patches(outputs, self.config.multigrid.levels, self.overlap(tuple(spatial)))
