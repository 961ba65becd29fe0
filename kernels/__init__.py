"""Spectral core of sciml: truncated FFT/DCT transforms, mode mixing, spectral convolution.

Imported as ``sciml.kernels``. Every operation has a readable torch reference and faster
paths (truncated DFT by matrix product; CuPy/cuFFT on CUDA tensors), picked from the
inputs by :func:`choose_path` or forced with ``path=...``. Nothing is switched at import;
CuPy is imported on first use of the ``cupy`` path.

Public API
----------
Transforms: :func:`rfft_modes`, :func:`irfft_modes`, :func:`dct`, :func:`idct`, :func:`dct_matrix`.
Mixing: :func:`mix_modes`, :func:`make_spectral_weight` and the weight classes.
Layer: :class:`SpectralConv`. Radial bases: :func:`nearest_kernels`, :func:`rbf_values`,
:func:`normalized_rbf_weights`, :func:`weighted_kmeans`. Dispatch: :func:`choose_path`, :func:`dft_is_faster`,
:func:`cupy_available`.
"""

from .cupy_backend import cupy_available
from .dct import dct, dct_matrix, idct
from .dispatch import choose_path, dft_is_faster, irfft_modes, mix_modes, rfft_modes
from .factorized import (LOW_RANK_FORMATS, CPSpectralWeight, DenseSpectralWeight, SpectralWeight,
                         TTSpectralWeight, TuckerSpectralWeight, make_spectral_weight)
from ._validate import PATHS as SPECTRAL_PATHS
from ._validate import block_shape, check_resolution
from .rbf import (KDTREE_FROM, RBF_FAMILIES, KMeansResult, nearest_kernels, normalized_rbf_weights, rbf_values,
                  weighted_kmeans)
from .spectral_conv import SpectralConv

__all__ = [
    "KDTREE_FROM",
    "KMeansResult",
    "RBF_FAMILIES",
    "nearest_kernels",
    "normalized_rbf_weights",
    "rbf_values",
    "weighted_kmeans",
    "LOW_RANK_FORMATS",
    "SPECTRAL_PATHS",
    "block_shape",
    "check_resolution",
    "CPSpectralWeight",
    "DenseSpectralWeight",
    "SpectralConv",
    "SpectralWeight",
    "TTSpectralWeight",
    "TuckerSpectralWeight",
    "choose_path",
    "cupy_available",
    "dct",
    "dct_matrix",
    "dft_is_faster",
    "idct",
    "irfft_modes",
    "make_spectral_weight",
    "mix_modes",
    "rfft_modes",
]
