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
class Rates:
    name: str = ""
    rates: tuple[float, ...] = (1.0,)
    inner: Inner = field(default_factory=Inner)
    tolerance: float | None = None


def test_yaml_exponent_numbers_are_read_as_numbers_where_the_field_is_numeric(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-3 and 1e+1 as strings: only floats with a dot are floats
    path = tmp_path / "train.yaml"
    path.write_text("epochs: 1e2\nlr: 1e-3\nweight_decay: 5E-4\ngrad_clip: 1e+1\ngamma: '0.25'\n")
    data = load_config(path)
    assert data["lr"] == "1e-3"
    config = config_from_dict(sciml.TrainerConfig, data)
    assert config == sciml.TrainerConfig(epochs=100, lr=1e-3, weight_decay=5e-4, grad_clip=10.0, gamma=0.25)
    assert type(config.epochs) is int and type(config.lr) is float
    path.write_text("name: 1e-3\nrates: [1e-3, 2]\ninner: {sizes: ['3', 1e1]}\ntolerance: 1e-8\n")
    assert config_from_dict(Rates, load_config(path)) == Rates("1e-3", (1e-3, 2), Inner((3, 10)), 1e-8)


@pytest.mark.parametrize(
    "text, error, match",
    [("lr: fast\n", ValueError, r"lr: expected a number, got the string 'fast'"),
     ("epochs: '2.5'\n", ValueError, r"epochs: expected an integer, got the string '2.5'"),
     ("epochs: 2.5\n", TypeError, r"epochs: expected an integer, got float 2.5"),
     ("lr: .inf\n", ValueError, r"lr: expected a finite number > 0, got inf")],
)
def test_yaml_values_that_are_not_numbers_name_the_field(tmp_path, text, error, match):
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(error, match=match):
        config_from_dict(sciml.TrainerConfig, load_config(path))


def test_nested_string_that_is_not_a_number_names_the_nested_field():
    with pytest.raises(ValueError, match=r"inner.sizes\[1\]: expected an integer, got the string 'x'"):
        config_from_dict(Rates, {"inner": {"sizes": [1, "x"]}})


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


def test_checkpoints_of_builtin_models_load_without_importing_their_subpackage(tmp_path):
    import subprocess
    import sys

    from sciml.operators import FNO, FNOConfig

    model = FNO(FNOConfig(in_channels=1, out_channels=1, width=4, modes=[3], n_layers=1))
    path = sciml.save_checkpoint(tmp_path / "ckpt", model)
    code = ("import sys, torch, sciml\n"
            "assert 'sciml.operators' not in sys.modules\n"
            f"ckpt = sciml.load_checkpoint({str(path)!r})\n"
            "print(type(ckpt.model).__name__, sum(p.numel() for p in ckpt.model.parameters()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["FNO", str(sum(p.numel() for p in model.parameters()))]
