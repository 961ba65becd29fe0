"""Dataclass configs, the model registry and the Operator base class."""

from dataclasses import dataclass, field

import pytest
import torch

import sciml
from sciml import Grid, Operator, Sampled, build_model, config_from_dict, config_to_dict, load_config, save_config
from sciml.registry import model_spec


@dataclass
class Inner:
    sizes: tuple[int, ...] = (1, 2)


@dataclass
class Outer:
    width: int = 4
    inner: Inner = field(default_factory=Inner)
    modes: tuple[int, int] | None = None


def test_config_round_trip_restores_tuples_and_nesting(tmp_path):
    cfg = Outer(width=8, inner=Inner((3, 4, 5)), modes=(6, 7))
    assert config_from_dict(Outer, config_to_dict(cfg)) == cfg
    for name in ("c.json", "c.yaml"):
        save_config(cfg, tmp_path / name)
        assert config_from_dict(Outer, load_config(tmp_path / name)) == cfg


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="data: unknown keys \\['depth'\\] for Outer"):
        config_from_dict(Outer, {"depth": 3})
    with pytest.raises(TypeError, match="config: expected a dataclass instance, got int"):
        config_to_dict(3)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="path: .*bad.json' is not valid json"):
        load_config(bad)
    with pytest.raises(FileNotFoundError, match="path: no config file"):
        load_config(tmp_path / "none.json")


@dataclass
class ScaleConfig:
    factor: float = 2.0


@sciml.register_model("test-scale")
class Scale(Operator):
    config_class = ScaleConfig

    def __init__(self, config: ScaleConfig):
        super().__init__()
        self.config = config
        self.weight = torch.nn.Parameter(torch.tensor(config.factor))

    def forward_values(self, values, on):
        x = on.mesh(values.dtype, values.device)[..., 0]  # first coordinate, from the grid itself
        return self.weight * values + x


def test_operator_accepts_sampled_and_tensors_and_uses_coordinates():
    model = build_model("test-scale", {"factor": 3.0})
    grid = Grid.uniform((5,), sciml.Domain([(0.0, 4.0)]))
    u = Sampled(torch.ones(2, 1, 5), grid)
    out = model(u)
    assert isinstance(out, Sampled) and out.on == grid
    torch.testing.assert_close(out.values[0, 0], 3.0 + torch.arange(5.0))
    plain = model(torch.ones(2, 1, 5))  # unit box grid inferred: x = 0, .25, ..., 1
    torch.testing.assert_close(plain[0, 0], 3.0 + torch.linspace(0, 1, 5))
    assert model_spec(model) == {"name": "test-scale", "config": {"factor": 3.0}}
    with pytest.raises(ValueError, match="x: expected a tensor \\[batch, channels, \\*spatial\\], got shape \\(5,\\)"):
        model(torch.ones(5))
    with pytest.raises(TypeError, match="x: expected Sampled or torch.Tensor, got list"):
        model([1.0])


def test_registry_errors():
    with pytest.raises(ValueError, match="name: expected a registered model among .*got 'nope'"):
        build_model("nope", {})
    with pytest.raises(ValueError, match="name: a model named 'test-scale' is registered already"):
        sciml.register_model("test-scale")(type("Other", (Scale,), {}))
    with pytest.raises(TypeError, match="needs a dataclass 'config_class'"):
        sciml.register_model("x")(type("NoConfig", (torch.nn.Module,), {}))
    with pytest.raises(ValueError, match="model: Linear is not registered"):
        model_spec(torch.nn.Linear(1, 1))
