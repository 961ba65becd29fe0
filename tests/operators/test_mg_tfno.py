"""MG-TFNO: multigrid patching, stitching, joint Tucker weights, the model."""

from __future__ import annotations

import pytest
import tensorly as tl
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sciml
from sciml.operators import (
    MGTFNO,
    JointTucker,
    MGTFNOConfig,
    MultigridConfig,
    make_multigrid_patches,
    split_patches,
    stitch_patches,
)
from sciml.operators.joint_tucker import lowest_frequencies


@pytest.mark.parametrize("shape,levels,overlap", [((32, 16), 1, (2, 1)), ((32, 32), 2, (3, 0)),
                                                  ((8, 8, 8), 1, (1, 2, 1)), ((16, 8), 0, (2, 2))])
@pytest.mark.parametrize("boundary", ["circular", "reflect"])
def test_patching_then_stitching_is_the_identity(shape, levels, overlap, boundary):
    x = torch.randn(2, 3, *shape)
    patches = make_multigrid_patches(x, levels, overlap, boundary)
    windows = tuple(n // 2**levels + 2 * p for n, p in zip(shape, overlap))
    assert patches.shape == (2 * 2 ** (levels * len(shape)), 3 * (levels + 1), *windows)
    assert torch.equal(stitch_patches(patches[:, :3], levels, overlap), x)
    assert torch.equal(stitch_patches(split_patches(x, levels), levels, (0,) * len(shape)), x)


def reference_window(x, level, patch, size, overlap, boundary):
    """Independent loop implementation of the window definition (2D, one sample, one channel)."""
    step = 2**level
    coarse = x[::step, ::step]
    out = torch.empty(size[0] + 2 * overlap[0], size[1] + 2 * overlap[1])
    starts = []
    for axis in range(2):
        s, p, j = size[axis], overlap[axis], patch[axis]
        w = s + 2 * p
        if level == 0:
            starts.append(j * s - p)
        else:
            starts.append(int((j * s + (s - 1) / 2) / step + 0.5) - w // 2)

    def wrap(i, n):
        if boundary == "circular":
            return i % n
        i = i % (2 * (n - 1))
        return i if i < n else 2 * (n - 1) - i
    for a in range(out.shape[0]):
        for b in range(out.shape[1]):
            out[a, b] = coarse[wrap(starts[0] + a, coarse.shape[0]), wrap(starts[1] + b, coarse.shape[1])]
    return out


@pytest.mark.parametrize("boundary", ["circular", "reflect"])
def test_context_windows_follow_the_definition(boundary):
    x = torch.randn(1, 1, 16, 16)
    levels, overlap = 2, (1, 2)
    patches = make_multigrid_patches(x, levels, overlap, boundary)
    size = (4, 4)
    for index in range(16):
        patch = divmod(index, 4)
        for level in range(levels + 1):
            expected = reference_window(x[0, 0], level, patch, size, overlap, boundary)
            torch.testing.assert_close(patches[index, level], expected, rtol=0, atol=0)


def test_coarse_context_is_centred_on_the_patch():
    x = torch.arange(16.0).view(1, 1, 16)                  # 1D: the values are the indices
    patches = make_multigrid_patches(x, 1, (0,))
    # patch 0 covers 0..7 (centre 3.5): its level-1 window of x[::2] (8 points, twice the extent)
    # is centred between fine points 2 and 4, wrapping around the periodic domain
    assert patches[0, 1].tolist() == [12.0, 14.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    # patch 1 covers 8..15 (centre 11.5): window centred between 10 and 12
    assert patches[1, 1].tolist() == [4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 0.0, 2.0]


def test_joint_tucker_layers_are_slices_of_the_joint_reconstruction():
    torch.manual_seed(0)
    joint = JointTucker(3, 4, 5, (6, 3), rank=(2, 3, 4, 5, 2), dtype=torch.float64)
    dense = joint.to_dense()
    with tl.backend_context("pytorch"):
        rebuilt = tl.tucker_to_tensor((joint.complex_core(), joint.complex_factors()))
    torch.testing.assert_close(dense, rebuilt)
    x = torch.randn(2, 4, 6, 3, dtype=torch.complex128)
    for layer in range(3):
        view = joint.layer(layer)
        torch.testing.assert_close(view.to_dense(), dense[layer])
        expected = torch.einsum("bixy,ioxy->boxy", x, dense[layer])
        torch.testing.assert_close(view.contract(x, "direct"), expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(view.contract(x, "dense"), expected, rtol=1e-12, atol=1e-12)


def test_joint_tucker_gradients_match_dense_contraction():
    torch.manual_seed(1)
    joint = JointTucker(2, 3, 3, (4, 2), rank=0.5, dtype=torch.float64)
    x = torch.randn(2, 3, 4, 2, dtype=torch.complex128)
    probe = torch.randn(2, 3, 4, 2, dtype=torch.complex128)
    direct = (joint.layer(1).contract(x, "direct") * probe.conj()).real.sum()
    g_direct = torch.autograd.grad(direct, list(joint.parameters()))
    dense = (torch.einsum("bixy,ioxy->boxy", x, joint.to_dense()[1]) * probe.conj()).real.sum()
    g_dense = torch.autograd.grad(dense, list(joint.parameters()))
    for a, b in zip(g_direct, g_dense):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_full_rank_joint_tucker_fits_given_weights_exactly():
    torch.manual_seed(2)
    shape = (2, 3, 3, 4, 2)
    dense = torch.randn(*shape, dtype=torch.complex128)
    joint = JointTucker(2, 3, 3, (4, 2), rank=shape, dtype=torch.float64, init="none").fit(dense)
    torch.testing.assert_close(joint.to_dense().detach(), dense, rtol=0, atol=1e-12)


def einsum_layer_contraction(joint, layer, x):
    """The former complex-einsum contraction of one joint-Tucker layer (independent reference)."""
    letters, ranks = "xyz"[:x.ndim - 2], "pqs"[:x.ndim - 2]
    core = torch.tensordot(joint.complex_factors()[0][layer], joint.complex_core(), dims=([0], [0]))
    _, u, v, *modes = joint.complex_factors()
    spec = f"ac{ranks}," + ",".join(f"{c}{r}" for c, r in zip(letters, ranks)) + f"->ac{letters}"
    reduced = torch.einsum(spec, core, *modes)
    projected = torch.einsum(f"bi{letters},ia->ba{letters}", x, u)
    mixed = torch.einsum(f"ba{letters},ac{letters}->bc{letters}", projected, reduced)
    return torch.einsum(f"bc{letters},oc->bo{letters}", mixed, v)


@pytest.mark.parametrize("strategy", ["direct", "dense"])
@pytest.mark.parametrize("block,rank", [((6, 3), (2, 3, 2, 4, 2)), ((4, 4, 3), (2, 2, 3, 3, 2, 2))])
def test_joint_tucker_layer_matches_the_einsum_contraction_values_and_gradients(block, rank, strategy):
    # the layer view runs the real-arithmetic Tucker contraction of sciml.kernels.factorized:
    # same values and gradients as the complex einsum it replaced, to fp64 round-off
    torch.manual_seed(4)
    joint = JointTucker(3, 4, 3, block, rank=rank, dtype=torch.float64)
    x = torch.randn(2, 4, *block, dtype=torch.complex128, requires_grad=True)
    probe = torch.randn(2, 3, *block, dtype=torch.complex128)
    for layer in range(3):
        ours = joint.layer(layer).contract(x, strategy)
        reference = einsum_layer_contraction(joint, layer, x)
        torch.testing.assert_close(ours, reference, rtol=1e-12, atol=1e-13)
        params = [x, *joint.parameters()]
        g_ours = torch.autograd.grad((ours * probe.conj()).real.sum(), params)
        g_reference = torch.autograd.grad((reference * probe.conj()).real.sum(), params)
        for a, b in zip(g_ours, g_reference):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("strategy", ["direct", "dense"])
def test_joint_tucker_layer_gradcheck_fp64(strategy):
    torch.manual_seed(5)
    joint = JointTucker(2, 2, 3, (4, 2), rank=(2, 2, 2, 3, 2), dtype=torch.float64)
    x = torch.randn(1, 2, 4, 2, dtype=torch.complex128, requires_grad=True)

    def contract(x, *parameters):          # joint's own parameters, which gradcheck perturbs in place
        return torch.view_as_real(joint.layer(1).contract(x, strategy))

    assert torch.autograd.gradcheck(contract, (x, *joint.parameters()), eps=1e-6, atol=1e-8)


def test_joint_tucker_random_init_matches_the_dense_scale_without_tensorly(monkeypatch):
    import sciml.operators.joint_tucker as joint_module

    def refuse(*args, **kwargs):
        raise AssertionError("the random init must not decompose a dense tensor")
    monkeypatch.setattr(joint_module, "tucker", refuse)
    torch.manual_seed(6)
    joint = JointTucker(4, 16, 16, (16, 8), rank=0.05, dtype=torch.float64)
    dense = joint.to_dense().detach()
    # all layers together: exactly the dense init's mean square 2 / (in + out) (orthonormal factors)
    assert float(dense.abs().pow(2).mean()) == pytest.approx(2 / 32, rel=1e-10)
    # the layer factor has orthonormal columns and equal row norms: each layer gets ~1/4 of the
    # core's energy (measured within 5% over 9 draws of such shapes; 15% allowed)
    factor = joint.complex_factors()[0].detach()
    torch.testing.assert_close(factor.mH @ factor, torch.eye(2, dtype=factor.dtype), rtol=0, atol=1e-12)
    torch.testing.assert_close(factor.abs().pow(2).sum(1), torch.full((4,), 0.5, dtype=torch.float64))
    for layer in range(4):
        assert 0.85 < float(dense[layer].abs().pow(2).mean()) * 16 < 1.15
    with pytest.raises(ValueError, match="init: expected one of .*'lowest-frequencies'.*, got 'svd'"):
        JointTucker(2, 2, 2, (2, 1), rank=1, init="svd")
    monkeypatch.undo()
    # the former initialisation (tensorly fit of a random dense tensor, rescaled to its norm) stays
    # available; that tensor's own mean square has relative sd 1/sqrt(256) = 6%: 5 sd allowed
    decomposed = JointTucker(2, 4, 4, (4, 2), rank=0.5, dtype=torch.float64, init="decompose")
    assert float(decomposed.to_dense().detach().abs().pow(2).mean()) * 4 == pytest.approx(1.0, rel=0.3)


def test_lowest_frequency_init_is_a_dense_layer_on_the_lowest_frequencies(monkeypatch):
    import sciml.operators.joint_tucker as joint_module

    def refuse(*args, **kwargs):
        raise AssertionError("the random init must not decompose a dense tensor")
    monkeypatch.setattr(joint_module, "tucker", refuse)
    torch.manual_seed(6)
    joint = JointTucker(4, 16, 16, (16, 8), rank=0.05, dtype=torch.float64, init="lowest-frequencies")
    dense = joint.to_dense().detach()
    r_x, r_y = joint.ranks[3:]
    assert (r_x, r_y) != (16, 8)                            # the test needs a truncated block
    # block layout (independent of lowest_frequencies): kx = 0..7, -8..-1 (fftfreq), ky = 0..7
    kx, ky = torch.fft.fftfreq(16, d=1 / 16), torch.arange(8.0)
    kept = torch.zeros(16, 8, dtype=torch.bool)
    kept[lowest_frequencies(16, r_x, last=False)[:, None], lowest_frequencies(8, r_y, last=True)[None, :]] = True
    assert sorted(kx[kept.any(1)].abs().tolist()) == sorted(kx.abs().tolist())[:r_x]
    assert sorted(ky[kept.any(0)].tolist()) == list(range(r_y))
    # exactly zero off the retained frequencies; on them exactly the dense init's mean square 2 / (in + out)
    assert float(dense[..., ~kept].abs().max()) == 0.0
    assert float(dense[..., kept].abs().pow(2).mean()) == pytest.approx(2 / 32, rel=1e-10)
    # the layer factor is init_random's: each layer gets ~1/4 of the energy (within 3.2% over 20
    # seeds of this shape, measured; 15% allowed)
    factor = joint.complex_factors()[0].detach()
    torch.testing.assert_close(factor.abs().pow(2).sum(1), torch.full((4,), joint.ranks[0] / 4, dtype=torch.float64))
    for layer in range(4):
        assert 0.85 < float(dense[layer][..., kept].abs().pow(2).mean()) * 16 < 1.15


def test_full_rank_joint_init_has_the_variance_of_fno_dense_weights():
    # independent reference: the dense spectral weights FNO draws (sciml.kernels' default init).
    # |w|^2 of a complex normal is exponential, so the mean square of 16*16*16*8 = 32768 entries
    # has relative sd 0.55%; 3% allowed per layer
    from sciml.operators import FNO, FNOConfig

    torch.manual_seed(7)
    fno = FNO(FNOConfig(1, 1, width=16, modes=(8, 8), n_layers=4))
    for init in ("random", "lowest-frequencies"):          # the same weights in law at full rank
        joint = JointTucker(4, 16, 16, (16, 8), rank=(4, 16, 16, 16, 8), init=init)
        rebuilt = joint.to_dense().detach()
        for layer, block in enumerate(fno.blocks):
            reference = float(block.spectral.weight.to_dense().detach().abs().pow(2).mean())
            assert float(rebuilt[layer].abs().pow(2).mean()) == pytest.approx(reference, rel=0.03)


def test_lowest_frequencies_follow_the_block_layout():
    # brute force: every prefix of the order has the least |k| of its size, +k before -k
    for size, last in [(8, False), (16, False), (6, True), (1, True)]:
        frequencies = torch.arange(size) if last else torch.fft.fftfreq(size, d=1 / size).long()
        order = lowest_frequencies(size, size, last)
        assert sorted(order.tolist()) == list(range(size))
        magnitudes = frequencies[order].abs().tolist()
        assert magnitudes == sorted(magnitudes)
        for a, b in zip(order[:-1].tolist(), order[1:].tolist()):
            if abs(int(frequencies[a])) == abs(int(frequencies[b])):
                assert frequencies[a] > 0 > frequencies[b]
    assert lowest_frequencies(8, 5, last=False).tolist() == [0, 1, 7, 2, 6]
    with pytest.raises(ValueError, match="rank: expected 1 <= rank <= size=4, got 5"):
        lowest_frequencies(4, 5, last=True)
    with pytest.raises(ValueError, match="size: expected an even block axis"):
        lowest_frequencies(5, 2, last=False)


def test_lowest_frequency_init_spectral_layers_only_pass_those_frequencies():
    # end to end through sciml.kernels' transforms, checked with torch.fft: before training, a
    # block's spectral convolution outputs only the frequencies its rank keeps (|kx| <= 1, ky <= 1
    # for block ranks (3, 2) of modes (4, 4))
    torch.manual_seed(8)
    model = MGTFNO(small_config(rank=(2, 3, 3, 3, 2), multigrid=MultigridConfig(levels=0))).double()
    model.joint_weight.init_lowest_frequencies()
    x = torch.randn(2, 6, 16, 16, dtype=torch.float64)
    for block in model.blocks:
        with torch.no_grad():
            spectrum = torch.fft.rfft2(block.spectral(x))
        kx = torch.fft.fftfreq(16, d=1 / 16).abs()
        passed = (kx[:, None] <= 1) & (torch.arange(9)[None, :] <= 1)
        assert float(spectrum[..., ~passed].abs().max()) < 1e-12
        assert float(spectrum[..., passed].abs().min()) > 1e-6


def small_config(**fields) -> MGTFNOConfig:
    base = dict(in_channels=1, out_channels=2, width=6, modes=(4, 4), n_layers=3, rank=0.2,
                multigrid=MultigridConfig(levels=1, overlap=0.125))
    return MGTFNOConfig(**{**base, **fields})


def test_model_parameters_are_owned_once_by_the_joint_tensor():
    model = MGTFNO(small_config())
    names = [name for name, _ in model.named_parameters()]
    assert not [n for n in names if ".spectral." in n]
    assert sum(n.startswith("joint_weight.") for n in names) == 1 + 5     # core + (layer, in, out, x, y)
    assert model.network_in_channels == 2
    x = torch.randn(2, 1, 32, 32, requires_grad=True)
    model(x).square().mean().backward()
    assert model.joint_weight.core.grad is not None and model.joint_weight.factors[0].grad.abs().sum() > 0


def test_joint_rank_fraction_counts_all_layers():
    fno_spectral = 4 * 16 * 16 * 16 * 8 * 2                # 4 dense layers [16, 16, 16, 8] as real pairs
    model = MGTFNO(MGTFNOConfig(1, 1, width=16, modes=(8, 8), n_layers=4, rank=0.05))
    ratio = model.spectral_parameter_count() / fno_spectral
    assert 0.03 < ratio <= 0.055, ratio


def test_model_forward_is_patch_network_stitch():
    torch.manual_seed(3)
    model = MGTFNO(small_config()).double()
    x = torch.randn(2, 1, 32, 32, dtype=torch.float64)
    patches = model.patch(x)
    assert patches.shape == (8, 2, 24, 24)
    manual = model.stitch(model.forward_patches(patches), (32, 32))
    torch.testing.assert_close(model(x), manual)
    grid = sciml.Grid.uniform((32, 32), sciml.Domain.unit(2, periodic=True))
    out = model(sciml.Sampled(x, grid))
    assert out.on == grid and out.values.shape == (2, 2, 32, 32)


@pytest.mark.parametrize("levels", [0, 1])
def test_3d_and_no_patching(levels):
    model = MGTFNO(small_config(modes=(2, 2, 2), multigrid=MultigridConfig(levels=levels, overlap=0.125)))
    assert model(torch.randn(1, 1, 16, 16, 8)).shape == (1, 2, 16, 16, 8)


def test_patches_too_coarse_and_indivisible_sizes_raise():
    model = MGTFNO(small_config(modes=(8, 8), multigrid=MultigridConfig(levels=2, overlap=0.0)))
    with pytest.raises(ValueError, match=r"gives patches of \(8, 8\) points with levels=2, too coarse for modes"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="divisible by 2\\*\\*levels = 4"):
        model(torch.randn(1, 1, 66, 64))


def test_multigrid_config_errors():
    with pytest.raises(ValueError, match="overlap: expected a fraction in"):
        MultigridConfig(overlap=0.7)
    with pytest.raises(ValueError, match="boundary: expected one of"):
        MultigridConfig(boundary="zeros")


@settings(max_examples=30, deadline=None)
@given(d=st.integers(1, 3), levels=st.integers(0, 2), base=st.integers(1, 3), data=st.data())
def test_property_stitch_inverts_patching(d, levels, base, data):
    shape = tuple(data.draw(st.integers(1, 3)) * base * 2**levels for _ in range(d))
    overlap = tuple(data.draw(st.integers(0, n // 2**levels)) for n in shape)
    boundary = data.draw(st.sampled_from(["circular", "reflect"]))
    x = torch.randn(2, 2, *shape)
    patches = make_multigrid_patches(x, levels, overlap, boundary)
    assert torch.equal(stitch_patches(patches[:, :2], levels, overlap), x)


def test_config_selects_the_joint_weight_init():
    """``MGTFNOConfig.spectral_init`` reaches the joint Tucker factors; unknown names are refused."""
    config = MGTFNOConfig(in_channels=1, out_channels=1, width=8, modes=(4, 4), n_layers=2, rank=(2, 4, 4, 3, 2),
                          multigrid={"levels": 0}, spectral_init="lowest-frequencies")
    model = MGTFNO(config)
    x_factor = model.joint_weight.factors[3].detach()                 # block axis 0: [8, 3, 2]
    assert torch.equal(x_factor[lowest_frequencies(8, 3, last=False), torch.arange(3), 0], torch.ones(3))
    assert int(torch.count_nonzero(x_factor)) == 3
    with pytest.raises(ValueError, match="spectral_init"):
        MGTFNOConfig(in_channels=1, out_channels=1, width=8, modes=(4, 4), spectral_init="svd")
