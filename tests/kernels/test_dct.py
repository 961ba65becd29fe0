"""Orthonormal DCT-II / DCT-III against scipy.fft."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

from sciml.kernels import dct, dct_matrix, idct


@pytest.mark.parametrize("n", [1, 2, 5, 8, 65, 96])
@pytest.mark.parametrize("path", ["matrix", "fft", "auto"])
def test_matches_scipy(n, path):
    x = torch.randn(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    np.testing.assert_allclose(dct(x, path=path).numpy(), scipy.fft.dct(x.numpy(), type=2, norm="ortho"),
                               atol=1e-12 * max(1.0, n ** 0.5))
    np.testing.assert_allclose(idct(x, path=path).numpy(), scipy.fft.dct(x.numpy(), type=3, norm="ortho"),
                               atol=1e-12 * max(1.0, n ** 0.5))


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 2e-5), (torch.float64, 1e-12)])
def test_several_dims_and_inverse(dtype, atol):
    x = torch.randn(2, 7, 3, 80, generator=torch.Generator().manual_seed(9)).to(dtype)
    expected = scipy.fft.dctn(x.double().numpy(), type=2, norm="ortho", axes=(1, 3))
    y = dct(x, dim=(1, -1))
    assert y.dtype == dtype
    np.testing.assert_allclose(y.double().numpy(), expected, atol=atol * 10)
    torch.testing.assert_close(idct(y, dim=(1, 3)), x, atol=atol * 10, rtol=0)


def test_matrix_is_orthogonal_and_half_precision_upcast():
    c = dct_matrix(12)
    torch.testing.assert_close(c @ c.T, torch.eye(12, dtype=torch.float64))
    assert dct(torch.randn(4, 8).half()).dtype == torch.float32


@pytest.mark.parametrize("path", ["matrix", "fft"])
def test_gradcheck_fp64(path):
    x = torch.randn(1, 6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: dct(t, dim=(1, 2), path=path), (x,))
    assert torch.autograd.gradcheck(lambda t: idct(t, dim=-1, path=path), (x,))


def test_errors():
    with pytest.raises(ValueError, match=r"dim: expected dimensions in \[-2, 2\), got 5"):
        dct(torch.randn(3, 4), dim=5)
    with pytest.raises(ValueError, match="dim: expected distinct dimensions"):
        dct(torch.randn(3, 4), dim=(1, -1))
    with pytest.raises(ValueError, match="path: expected one of"):
        dct(torch.randn(3, 4), path="fftw")
    with pytest.raises(TypeError, match="x: expected a real tensor"):
        dct(torch.randn(3, 4, dtype=torch.complex64))
