"""``sciml data``: generate, list, info, and the errors it reports."""

from __future__ import annotations

import json

import _heat_problem  # noqa: F401  (registers the test problems)
import numpy as np
import pytest
import xarray as xr

from sciml.cli.main import main
from sciml.datasets import generate, open_dataset, sample_seeds
from sciml.workflows import parse_params


def test_generate_writes_the_same_store_as_the_library(tmp_path, capsys):
    out = tmp_path / "heat.nc"
    code = main(["data", "generate", "heat-test", "--n", "5", "--resolution", "16", "--out", str(out),
                 "--param", "kappa=0.02", "--param", "n_times=3", "--seed", "4", "--chunk-size", "2",
                 "--no-progress"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["problem"] == "heat-test" and report["config"]["kappa"] == 0.02 and report["seed"] == 4
    assert report["variables"] == {"seed": [5], "u0": [5, 16], "u": [5, 3, 16]}
    assert report["units"]["x"] == "m"
    reference = generate("heat-test", 5, tmp_path / "ref.nc", params={"resolution": 16, "kappa": 0.02, "n_times": 3},
                         seed=4, chunk_size=2, progress=False)
    with open_dataset(out) as a, open_dataset(reference) as b:
        xr.testing.assert_identical(a.load(), b.load())


def test_list_and_info(tmp_path, capsys):
    assert main(["data", "list"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["heat-test"]["outputs"] == ["u"] and table["heat-test"]["trajectory"] is True
    assert table["poisson-test"]["defaults"]["resolution"] == 16
    out = generate("poisson-test", 3, tmp_path / "p.zarr", params={"resolution": 8}, progress=False)
    assert main(["data", "info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["dims"] == {"sample": 3, "x": 8, "y": 8} and info["config"]["resolution"] == 8


def test_errors_are_reported_not_raised(tmp_path, capsys):
    seeds = sample_seeds(0, range(4))
    code = main(["data", "generate", "heat-test", "--n", "4", "--resolution", "16", "--out", str(tmp_path / "x.zarr"),
                 "--param", f"poison_seed={seeds[2]}", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"sample 2 (seed {seeds[2]}), variable 'u'" in err and "poison_seed" in err
    assert main(["data", "generate", "heat-test", "--n", "2", "--out", str(tmp_path / "y.zarr"),
                 "--param", "nonsense=1", "--no-progress"]) == 2
    assert "unknown keys ['nonsense']" in capsys.readouterr().err
    assert main(["data", "generate", "nope", "--n", "2", "--out", str(tmp_path / "z.zarr")]) == 2
    assert "name: expected a problem among" in capsys.readouterr().err
    out = generate("poisson-test", 2, tmp_path / "p.zarr", params={"resolution": 8}, progress=False)
    assert main(["data", "generate", "poisson-test", "--n", "3", "--out", str(out), "--no-progress"]) == 2
    assert "holds another dataset" in capsys.readouterr().err
    assert main(["data", "info", str(tmp_path / "missing.zarr")]) == 2
    assert "no dataset at" in capsys.readouterr().err


def test_parse_params_decodes_json_values():
    assert parse_params(["nu=1e-3", "kind=lognormal", "modes=[8, 8]", "on=true"]) == {
        "nu": 1e-3, "kind": "lognormal", "modes": [8, 8], "on": True}
    with pytest.raises(ValueError, match="param: expected KEY=VALUE, got 'novalue'"):
        parse_params(["novalue"])
    assert np.isclose(parse_params(["a=-2.5"])["a"], -2.5)
