"""sciml: operator learning and neural fields on one discretization-agnostic data layer.

The core (this package) holds the data layer (:class:`Domain`, :class:`Grid`,
:class:`PointCloud`, :class:`Mesh`, :class:`Sampled`), quadrature-aware norms
and losses, normalizers, resampling, the :class:`Trainer` and checkpoints.
Models live in :mod:`sciml.operators` and :mod:`sciml.fields`, data in
:mod:`sciml.datasets`, spectral kernels in :mod:`sciml.kernels`.
"""

from . import losses, quadrature
from .config import config_from_dict, config_to_dict, load_config, save_config
from .data import OperatorDataset
from .discretization import Discretization, discretization_from_dict
from .domain import Domain
from .grid import Grid, GridAxis
from .mesh import Mesh
from .normalizers import GaussianNormalizer, MinMaxNormalizer, Normalizer
from .operator import Operator
from .plots import plot_sampled
from .pointcloud import PointCloud
from .registry import build_model, model_spec, register_model, registered_models
from .resample import resample
from .sampled import Sampled
from .training import Trainer, TrainerConfig, load_checkpoint, save_checkpoint

__version__ = "0.1.0"

__all__ = [
    "Discretization",
    "Domain",
    "GaussianNormalizer",
    "Grid",
    "GridAxis",
    "Mesh",
    "MinMaxNormalizer",
    "Normalizer",
    "Operator",
    "OperatorDataset",
    "PointCloud",
    "Sampled",
    "Trainer",
    "TrainerConfig",
    "build_model",
    "config_from_dict",
    "config_to_dict",
    "discretization_from_dict",
    "load_checkpoint",
    "load_config",
    "losses",
    "model_spec",
    "plot_sampled",
    "quadrature",
    "register_model",
    "registered_models",
    "resample",
    "save_checkpoint",
    "save_config",
]
