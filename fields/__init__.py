"""Neural and tensor-format fields -- imported as ``sciml.fields``.

A field maps coordinates ``[..., d]`` on a :class:`~sciml.Domain` to values
``[..., c]``; :meth:`Field.sample` evaluates it on any discretization.

Tensor formats: :class:`TuckerField`, :class:`ChebyshevField`,
:class:`ChebyshevTuckerField` (RHOSVD from separable input), :class:`FunBaT`
(functional Bayesian Tucker with Matérn state-space priors); :func:`fit_gridded`
fits any of them to gridded data.
"""

from . import autodiff, state_space
from .autodiff import divergence, gradient, hessian, jacobian, laplacian
from .base import Field, FieldConfig
from .chebyshev import (ChebyshevField, ChebyshevFieldConfig, chebyshev_basis, chebyshev_coefficients,
                        chebyshev_values)
from .chebyshev_tucker import ChebyshevTuckerField, ChebyshevTuckerFieldConfig, SeparableSum
from .funbat import FunBaT, FunBaTConfig, fit_funbat
from .state_space import GaussMarkovPosterior, MaternStateSpace, kalman_smoother, log_marginal, scalar_observations
from .tensor_fit import fit_gridded, gridded_metrics
from .tucker import TuckerField, TuckerFieldConfig, hooi, hosvd, ranks_for_tolerance

__all__ = [
    "ChebyshevField", "ChebyshevFieldConfig", "ChebyshevTuckerField", "ChebyshevTuckerFieldConfig",
    "Field", "FieldConfig", "FunBaT", "FunBaTConfig", "GaussMarkovPosterior", "MaternStateSpace",
    "SeparableSum", "TuckerField", "TuckerFieldConfig",
    "autodiff", "chebyshev_basis", "chebyshev_coefficients", "chebyshev_values", "divergence", "fit_funbat",
    "fit_gridded", "gradient", "gridded_metrics", "hessian", "hooi", "hosvd", "jacobian", "kalman_smoother",
    "laplacian", "log_marginal", "ranks_for_tolerance", "scalar_observations", "state_space",
]
