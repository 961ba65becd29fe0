"""Neural and tensor-format fields -- imported as ``sciml.fields``.

A field maps coordinates ``[..., d]`` on a :class:`~sciml.Domain` to values
``[..., c]``; :meth:`Field.sample` evaluates it on any discretization.

Neural fields: :class:`SIREN`, :class:`FourierMLP`, :class:`GridField` (dense or hash
grids), :class:`TriPlane` (and :class:`BatchedTriPlanes`, :class:`TriPlaneClassifier` for
fields as data), :class:`NeuRBF`; fitted to meshes (:func:`fit_sdf`, :func:`fit_occupancy`,
:func:`extract_surface`) and images (:func:`fit_image`). INSR lives in :mod:`sciml.fields.insr`.

Tensor formats: :class:`TuckerField`, :class:`ChebyshevField`,
:class:`ChebyshevTuckerField` (RHOSVD from separable input), :class:`FunBaT`
(functional Bayesian Tucker with Matérn state-space priors); :func:`fit_gridded`
fits any of them to gridded data.
"""

from . import autodiff, geometry, metrics, state_space
from .autodiff import divergence, gradient, hessian, jacobian, laplacian
from .base import Field, FieldConfig
from .batched import BatchedTriPlanes, fit_batched_sdf
from .chebyshev import ChebyshevField, ChebyshevFieldConfig, chebyshev_basis, chebyshev_coefficients, chebyshev_values
from .chebyshev_tucker import ChebyshevTuckerField, ChebyshevTuckerFieldConfig, SeparableSum
from .classifier import (
                         TriPlaneClassifier,
                         classifier_accuracy,
                         fit_planes_for_classification,
                         train_classifier,
                         transform_planes,
)
from .encodings import DenseGridEncoding, GridField, GridFieldConfig, HashGridEncoding, multilinear_interpolate
from .fitting import (
                         SDF_EIKONAL_WEIGHTS,
                         FitResult,
                         default_eikonal_weight,
                         default_learning_rate,
                         fit_image,
                         fit_occupancy,
                         fit_sdf,
)
from .funbat import FunBaT, FunBaTConfig, fit_funbat
from .geometry import (
                         NotWatertightWarning,
                         TriangleSurface,
                         UnitBoxTransform,
                         WatertightReport,
                         icosphere,
                         occupancy,
                         sample_near_surface,
                         signed_distance,
                         unsigned_distance,
                         watertight_report,
                         winding_number,
)
from .images import image_to_sampled, read_image, sampled_to_image
from .metrics import chamfer_distance, fscore, normal_consistency, psnr, ssim, surface_metrics, volumetric_iou
from .mlp import MLP, SIREN, FourierMLP, FourierMLPConfig, FrequencyEncoding, SirenConfig
from .neurbf import NeuRBF, NeuRBFConfig
from .shapes import Box, ShapeDataset, Sphere, Torus, make_shape_dataset, random_shape
from .state_space import GaussMarkovPosterior, MaternStateSpace, kalman_smoother, log_marginal, scalar_observations
from .surface import extract_surface, sample_volume
from .tensor_fit import fit_gridded, gridded_metrics
from .triplane import TriPlane, TriPlaneConfig, triplane_features
from .tucker import TuckerField, TuckerFieldConfig, hooi, hosvd, ranks_for_tolerance

__all__ = [
    "SDF_EIKONAL_WEIGHTS", "BatchedTriPlanes", "Box", "DenseGridEncoding", "FitResult", "FourierMLP", "FourierMLPConfig", "FrequencyEncoding",
    "GridField", "GridFieldConfig", "HashGridEncoding", "MLP", "NeuRBF", "NeuRBFConfig", "NotWatertightWarning",
    "SIREN", "ShapeDataset", "SirenConfig", "Sphere", "Torus", "TriPlane", "TriPlaneClassifier", "TriPlaneConfig",
    "TriangleSurface", "UnitBoxTransform", "WatertightReport",
    "chamfer_distance", "classifier_accuracy", "default_eikonal_weight", "default_learning_rate", "extract_surface", "fit_batched_sdf",
    "fit_image", "fit_occupancy", "fit_planes_for_classification", "fit_sdf", "fscore", "geometry", "icosphere",
    "image_to_sampled", "make_shape_dataset", "metrics", "multilinear_interpolate", "normal_consistency",
    "occupancy", "psnr", "random_shape", "read_image", "sample_near_surface", "sample_volume", "sampled_to_image",
    "signed_distance", "ssim", "surface_metrics", "train_classifier", "transform_planes", "triplane_features",
    "unsigned_distance", "volumetric_iou", "watertight_report", "winding_number",
    "ChebyshevField", "ChebyshevFieldConfig", "ChebyshevTuckerField", "ChebyshevTuckerFieldConfig",
    "Field", "FieldConfig", "FunBaT", "FunBaTConfig", "GaussMarkovPosterior", "MaternStateSpace",
    "SeparableSum", "TuckerField", "TuckerFieldConfig",
    "autodiff", "chebyshev_basis", "chebyshev_coefficients", "chebyshev_values", "divergence", "fit_funbat",
    "fit_gridded", "gradient", "gridded_metrics", "hessian", "hooi", "hosvd", "jacobian", "kalman_smoother",
    "laplacian", "log_marginal", "ranks_for_tolerance", "scalar_observations", "state_space",
]
