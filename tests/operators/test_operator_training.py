"""Operators with the core: config round trips, checkpoint rebuilds, a short training run."""

from __future__ import annotations

import math

import pytest
import torch
from operator_helpers import band_limited, periodic_grid

import sciml
from sciml.operators import (
    FNO,
    MGTFNO,
    TFNO,
    BlockConfig,
    FactorizationConfig,
    FNOConfig,
    MGTFNOConfig,
    MultigridConfig,
    TFNOConfig,
)

MODELS = {
    "fno": (FNO, FNOConfig(2, 1, width=6, modes=(4, 4), n_layers=2, domain_padding=(0.25, 0.0),
                           block=BlockConfig(norm="instance", skip="soft-gating"))),
    "tfno-cp": (TFNO, TFNOConfig(2, 1, width=6, modes=(4, 4), n_layers=2,
                                 factorization=FactorizationConfig("cp", rank=0.3))),
    "tfno-tucker": (TFNO, TFNOConfig(2, 1, width=6, modes=(4, 4), n_layers=2,
                                     factorization=FactorizationConfig("tucker", rank=(3, 3, 4, 2)))),
    "tfno-tt": (TFNO, TFNOConfig(2, 1, width=6, modes=(4, 4), n_layers=2,
                                 factorization=FactorizationConfig("tt", rank=3))),
    "mg-tfno": (MGTFNO, MGTFNOConfig(2, 1, width=6, modes=(4, 4), n_layers=2, rank=0.3,
                                     multigrid=MultigridConfig(levels=1, overlap=0.125))),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_config_round_trip_and_checkpoint_rebuild(name, tmp_path):
    cls, config = MODELS[name]
    for suffix in (".json", ".yaml"):
        path = sciml.save_config(config, tmp_path / f"config{suffix}")
        assert sciml.config_from_dict(cls.config_class, sciml.load_config(path)) == config
    torch.manual_seed(0)
    model = cls(config).double()
    x = torch.randn(2, 2, 16, 16, dtype=torch.float64)
    expected = model(x)
    sciml.save_checkpoint(tmp_path / "ckpt", model)
    rebuilt = sciml.load_checkpoint(tmp_path / "ckpt").model
    assert type(rebuilt) is cls and rebuilt.config == config
    torch.testing.assert_close(rebuilt(x), expected, rtol=0, atol=0)
    spec = sciml.model_spec(model)
    assert sciml.build_model(spec["name"], spec["config"]).config == config


def test_trainer_learns_an_antiderivative_1d():
    """u = the zero-mean antiderivative of a band-limited periodic a (a linear, smoothing operator)."""
    torch.manual_seed(0)
    grid = periodic_grid((64,))
    n_train, n_test = 64, 32
    a = band_limited(grid, n_train + n_test, 1, max_frequency=6, seed=5, dtype=torch.float64)
    a = a - a.mean(-1, keepdim=True)
    spectrum = torch.fft.rfft(a, dim=-1)
    k = torch.arange(spectrum.shape[-1], dtype=torch.float64)
    multiplier = torch.where(k > 0, 1 / (2j * math.pi * k.clamp(min=1)), torch.zeros_like(k))
    u = torch.fft.irfft(spectrum * multiplier, n=64, dim=-1) * 10        # O(1) targets
    data = sciml.OperatorDataset(sciml.Sampled(a.float(), grid), sciml.Sampled(u.float(), grid))
    train, test = data.split(n_train)
    model = FNO(FNOConfig(1, 1, width=16, modes=(8,), n_layers=2))
    trainer = sciml.Trainer(model, epochs=30, batch_size=16, lr=1e-2, scheduler="cosine", progress=False,
                            device="cpu", eval_every=30)
    before = trainer.evaluate({"test": test})["test"]["rel_l2"]
    history = trainer.fit(train, evaluate={"test": test})
    after = history[-1]["eval"]["test"]["rel_l2"]
    assert after < 5e-2, f"relative L2 {after:.3e} after training (from {before:.3e})"
    # zero-shot at twice the resolution: same functions, finer grid
    fine = periodic_grid((128,))
    a_fine = band_limited(fine, n_train + n_test, 1, max_frequency=6, seed=5, dtype=torch.float64)
    a_fine = a_fine - a_fine.mean(-1, keepdim=True)
    u_fine = torch.fft.irfft(torch.fft.rfft(a_fine, dim=-1)
                             * torch.nn.functional.pad(multiplier, (0, 32)), n=128, dim=-1) * 10
    fine_data = sciml.OperatorDataset(sciml.Sampled(a_fine.float(), fine), sciml.Sampled(u_fine.float(), fine))
    _, fine_test = fine_data.split(n_train)
    fine_error = trainer.evaluate({"fine": fine_test})["fine"]["rel_l2"]
    assert fine_error < 1.5 * after + 1e-2, f"128-point error {fine_error:.3e} vs 64-point {after:.3e}"


@pytest.mark.slow
def test_trainer_mg_tfno_learns_2d_smoothing():
    torch.manual_seed(0)
    grid = periodic_grid((32, 32))
    a = band_limited(grid, 64, 1, max_frequency=4, seed=7, dtype=torch.float64)
    spectrum = torch.fft.rfft2(a)
    kx = torch.fft.fftfreq(32, 1 / 32).view(-1, 1)
    ky = torch.fft.rfftfreq(32, 1 / 32).view(1, -1)
    u = torch.fft.irfft2(spectrum * torch.exp(-(kx**2 + ky**2) / 8.0), s=(32, 32))
    data = sciml.OperatorDataset(sciml.Sampled(a.float(), grid), sciml.Sampled(u.float(), grid))
    train, test = data.split(48)
    model = MGTFNO(MGTFNOConfig(1, 1, width=12, modes=(6, 6), n_layers=2, rank=0.5,
                                multigrid=MultigridConfig(levels=1, overlap=0.125)))
    trainer = sciml.Trainer(model, epochs=40, batch_size=8, lr=5e-3, scheduler="cosine", progress=False,
                            device="cpu", eval_every=40)
    history = trainer.fit(train, evaluate={"test": test})
    assert history[-1]["eval"]["test"]["rel_l2"] < 0.15
