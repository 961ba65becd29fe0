"""Neural operators (FNO, TFNO, MG-TFNO, MgNO, Transform Once) -- imported as ``sciml.operators``.

Operators subclass :class:`sciml.Operator` and are registered with :func:`sciml.register_model`,
so checkpoints rebuild them (``sciml.load_checkpoint(path).model``).

Examples
--------
>>> from sciml.operators import FNO, FNOConfig
>>> model = FNO(FNOConfig(in_channels=1, out_channels=1, width=32, modes=(16, 16)))
"""

from .blocks import FourierBlock
from .config import BlockConfig, FactorizationConfig, FNOConfig, MGTFNOConfig, MultigridConfig, TFNOConfig
from .embedding import grid_embedding
from .factorization import full_rank, parameter_count, random_factorized_weight, resolve_rank, weight_from_dense
from .fno import FNO, TFNO
from .joint_tucker import JointTucker, JointTuckerLayer
from .layers import ChannelLinear, ChannelMLP, SoftGating
from .mg_tfno import MGTFNO
from .mgno import BiasField, MgNO, MgNOConfig, MgNOLayer
from .mgno_cycle import VCycle
from .multigrid import make_multigrid_patches, split_patches, stitch_patches
from .padding import DomainPadding
from .spectral import block_of_modes, make_spectral_conv
from .t1_modes import coordinate_modes, from_modes, modes_energy, modes_relative_l2, realizable_modes, to_modes
from .t1_unet import ModeUNet, TransformOnceUNet, TransformOnceUNetConfig
from .transform_once import (
    FourierModeLayer,
    ModeActivation,
    ModeLinear,
    ModeMixingLayer,
    TransformOnce,
    TransformOnceConfig,
    activation_moments,
)

__all__ = [
    "BlockConfig",
    "ChannelLinear",
    "ChannelMLP",
    "DomainPadding",
    "FNO",
    "FNOConfig",
    "FactorizationConfig",
    "FourierBlock",
    "JointTucker",
    "JointTuckerLayer",
    "MGTFNO",
    "MGTFNOConfig",
    "MultigridConfig",
    "SoftGating",
    "TFNO",
    "TFNOConfig",
    "block_of_modes",
    "full_rank",
    "grid_embedding",
    "make_multigrid_patches",
    "make_spectral_conv",
    "parameter_count",
    "resolve_rank",
    "split_patches",
    "stitch_patches",
    "random_factorized_weight",
    "weight_from_dense",
    "BiasField", "MgNO", "MgNOConfig", "MgNOLayer", "VCycle",
    "FourierModeLayer", "ModeActivation", "ModeLinear", "ModeMixingLayer", "ModeUNet", "TransformOnce", "TransformOnceConfig", "TransformOnceUNet",
    "TransformOnceUNetConfig", "activation_moments", "coordinate_modes", "from_modes", "modes_energy",
    "modes_relative_l2", "realizable_modes", "to_modes",
]
