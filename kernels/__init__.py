"""Spectral core (FFT/DCT/Chebyshev/RBF kernels) -- imported as ``sciml.kernels``. Lands with its issue."""

__all__: list[str] = []
