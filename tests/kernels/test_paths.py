"""Every fast path against the torch reference: values, gradients, gradcheck in fp64, dispatch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from kernel_testing import PATH_CASES, assert_close

from sciml.kernels import choose_path, dft_is_faster, irfft_modes, mix_modes, rfft_modes
from sciml.kernels.fft import irfft_modes_reference, rfft_modes_reference
from sciml.kernels.mixing import mix_modes_reference

SHAPES = [((2, 3, 24), (5,), (31,)), ((2, 3, 16, 12), (4, 5), (20, 8)), ((1, 2, 8, 10, 12), (2, 3, 4), (9, 6, 8))]


@pytest.mark.parametrize("path,device", PATH_CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,modes,out_size", SHAPES)
def test_transforms_match_reference(path, device, dtype, shape, modes, out_size):
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(shape, dtype=dtype, generator=generator).to(device).requires_grad_()
    x_ref = x.detach().cpu().double().requires_grad_()
    for norm in ("forward", "ortho"):
        block = rfft_modes(x, modes, norm=norm, path=path)
        expected = rfft_modes_reference(x_ref, modes, norm)
        assert_close(block, expected, dtype, f"{path} forward {norm}")
        out = irfft_modes(block, out_size, norm=norm, path=path)
        out_ref = irfft_modes_reference(expected, out_size, norm)
        assert_close(out, out_ref, dtype, f"{path} inverse {norm}")
        probe = torch.randn(out_ref.shape, dtype=torch.float64, generator=generator)
        (grad,) = torch.autograd.grad((out * probe.to(out)).sum(), x)
        (grad_ref,) = torch.autograd.grad((out_ref * probe).sum(), x_ref)
        assert_close(grad, grad_ref, dtype, f"{path} gradient {norm}")


@pytest.mark.parametrize("path,device", PATH_CASES)
def test_inverse_gradient_matches_reference(path, device):
    """Gradient w.r.t. the block, including a Nyquist column (output size 2(m-1) on the last axis)."""
    block = torch.randn(2, 3, 8, 5, dtype=torch.complex128, generator=torch.Generator().manual_seed(6))
    leaf = block.to(device).requires_grad_()
    leaf_ref = block.clone().requires_grad_()
    probe = torch.randn(2, 3, 10, 8, dtype=torch.float64)
    (grad,) = torch.autograd.grad((irfft_modes(leaf, (10, 8), path=path) * probe.to(device)).sum(), leaf)
    (grad_ref,) = torch.autograd.grad((irfft_modes_reference(leaf_ref, (10, 8)) * probe).sum(), leaf_ref)
    assert_close(grad, grad_ref, torch.float64, f"{path} block gradient")


@pytest.mark.parametrize("path,device", PATH_CASES)
@pytest.mark.parametrize("size", [64, 128, 256])
def test_inverse_of_non_hermitian_blocks_fp32(path, device, size):
    """Single precision, sizes where cuFFT C2R plans do not ignore DC imaginary parts on their own."""
    block = torch.randn(4, 8, 16, 8, dtype=torch.complex64, generator=torch.Generator().manual_seed(size))
    expected = irfft_modes_reference(block.to(torch.complex128), (size, size))
    assert_close(irfft_modes(block.to(device), (size, size), path=path), expected, torch.float32, f"{path} {size}")


@pytest.mark.parametrize("path,device", PATH_CASES)
def test_gradcheck_fp64(path, device):
    x = torch.randn(1, 6, 6, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: rfft_modes(t, (2, 3), path=path), (x,))
    block = torch.randn(1, 4, 3, dtype=torch.complex128, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: irfft_modes(t, (7, 4), path=path), (block,))


@pytest.mark.parametrize("path,device", PATH_CASES)
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_mixing_matches_reference(path, device, dtype):
    generator = torch.Generator().manual_seed(7)
    real = torch.float32 if dtype == torch.complex64 else torch.float64
    x = torch.randn(3, 5, 6, 4, dtype=dtype, generator=generator)
    weight = torch.randn(5, 11, 6, 4, 2, dtype=real, generator=generator)
    x_dev, w_dev = x.to(device).requires_grad_(), weight.to(device).requires_grad_()
    x_ref, w_ref = x.clone().requires_grad_(), weight.clone().requires_grad_()
    out, out_ref = mix_modes(x_dev, w_dev, path=path), mix_modes_reference(x_ref, w_ref)
    explicit = (x[:, :, None] * torch.view_as_complex(weight)[None]).sum(1)
    assert_close(out_ref, explicit, real, "reference vs explicit sum")
    assert_close(out, out_ref, real, f"{path} mixing")
    probe = torch.randn(out_ref.shape, dtype=dtype, generator=generator)
    grads = torch.autograd.grad((out * probe.to(device)).real.sum(), (x_dev, w_dev))
    grads_ref = torch.autograd.grad((out_ref * probe).real.sum(), (x_ref, w_ref))
    for g, g_ref, name in zip(grads, grads_ref, ("x", "weight")):
        assert_close(g, g_ref, real, f"{path} mixing gradient w.r.t. {name}")


@pytest.mark.parametrize("path,device", PATH_CASES)
def test_mixing_gradcheck_fp64(path, device):
    x = torch.randn(2, 3, 4, 2, dtype=torch.complex128, device=device, requires_grad=True)
    weight = torch.randn(3, 2, 4, 2, 2, dtype=torch.float64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: mix_modes(a, b, path=path), (x, weight))


def test_auto_dispatch_follows_the_measured_rule_on_cpu():
    x = torch.zeros(1, 1, 128, 128)
    assert dft_is_faster((128, 128), (16, 16)) and choose_path(x, (128, 128), (16, 16)) == "dft"
    assert not dft_is_faster((128, 128), (64, 64)) and choose_path(x, (128, 128), (64, 64)) == "reference"
    assert choose_path(x, (128, 128), (16, 16), path="reference") == "reference"
    assert dft_is_faster((128, 128), (16, 16), device="cuda")
    assert not dft_is_faster((128, 128), (64, 64), device="cuda")


def test_forcing_cupy_on_cpu_tensors_is_an_error():
    with pytest.raises(ValueError, match="path: 'cupy' needs CUDA tensors, got a tensor on cpu"):
        rfft_modes(torch.randn(2, 16), (4,), path="cupy")


def test_missing_cupy_says_what_to_install(monkeypatch):
    import builtins

    from sciml.kernels import cupy_backend

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    with pytest.raises(ImportError, match=r"pip install 'sciml\[gpu\]'"):
        cupy_backend.import_cupy()


def test_import_switches_nothing_and_loads_no_cupy():
    code = ("import sys, torch; before = torch.get_default_dtype(); import sciml.kernels; "
            "assert 'cupy' not in sys.modules, 'cupy imported at import time'; "
            "assert torch.get_default_dtype() == before; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
