"""Spectral core of sciml: truncated FFT/DCT transforms, mode mixing, spectral convolution.

Imported as ``sciml.kernels``. Every operation has a readable torch reference and faster
paths (truncated DFT by matrix product; CuPy/cuFFT on CUDA tensors), picked from the
inputs by :func:`choose_path` or forced with ``path=...``. Nothing is switched at import;
CuPy is imported on first use of the ``cupy`` path.

Public API
----------
Transforms: :func:`rfft_modes`, :func:`irfft_modes` (complex retained block), :func:`rfft_modes_first`,
:func:`irfft_modes_first` (the real modes-first layout of the DFT path), :func:`dct`, :func:`idct`, :func:`dct_matrix`.
Mixing: :func:`mix_modes`, :func:`make_spectral_weight` and the weight classes.
Layer: :class:`SpectralConv`. Radial bases: :func:`nearest_kernels`, :func:`rbf_values`,
:func:`normalized_rbf_weights`, :func:`weighted_kmeans`. Dispatch: :func:`choose_path`, :func:`dft_is_faster`,
:func:`cupy_available`.
"""

from ._validate import PATHS as SPECTRAL_PATHS
from ._validate import block_shape, check_resolution
from .cupy_backend import cupy_available, mix_launch_geometry, set_cupy_plan_cache_size
from .dct import dct, dct_matrix, idct
from .dft import CACHE_SIZE, bounded_cache, irfft_modes_first, rfft_modes_first
from .dispatch import choose_path, dft_is_faster, irfft_modes, mix_modes, rfft_modes
from .factorized import (
    LOW_RANK_FORMATS,
    CPSpectralWeight,
    DenseSpectralWeight,
    SpectralWeight,
    TTSpectralWeight,
    TuckerSpectralWeight,
    TuckerWeightBase,
    cp_factor_std,
    init_tucker_,
    make_spectral_weight,
    tt_core_std,
    tucker_core_std,
)
from .rbf import (
    KDTREE_FROM,
    RBF_FAMILIES,
    KMeansResult,
    nearest_kernels,
    normalized_rbf_weights,
    rbf_values,
    weighted_kmeans,
)
from .spectral_conv import SpectralConv

__all__ = [
    "CACHE_SIZE",
    "KDTREE_FROM",
    "LOW_RANK_FORMATS",
    "RBF_FAMILIES",
    "SPECTRAL_PATHS",
    "CPSpectralWeight",
    "DenseSpectralWeight",
    "KMeansResult",
    "SpectralConv",
    "SpectralWeight",
    "TTSpectralWeight",
    "TuckerSpectralWeight",
    "TuckerWeightBase",
    "block_shape",
    "bounded_cache",
    "check_resolution",
    "choose_path",
    "cp_factor_std",
    "cupy_available",
    "dct",
    "dct_matrix",
    "dft_is_faster",
    "irfft_modes_first",
    "idct",
    "init_tucker_",
    "irfft_modes",
    "make_spectral_weight",
    "mix_launch_geometry",
    "mix_modes",
    "nearest_kernels",
    "normalized_rbf_weights",
    "rbf_values",
    "rfft_modes",
    "rfft_modes_first",
    "set_cupy_plan_cache_size",
    "tt_core_std",
    "tucker_core_std",
    "weighted_kmeans",
]
