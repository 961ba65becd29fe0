"""INSR checkpoint directories: written by sciml.training.save_checkpoint, restored exactly."""

from __future__ import annotations

import json

import pytest
import torch

from sciml import Domain, Grid, Mesh
from sciml.fields.insr.advection import Advection
from sciml.fields.insr.elasticity import Elasticity
from sciml.fields.insr.network import NetworkConfig
from sciml.fields.insr.solver import INSRSolver
from sciml.fields.insr.stepper import StepperConfig
from sciml.training import load_checkpoint

TINY = StepperConfig(max_iters=6, points=128, initial_iters=20, seed=3)


def _advection_solver(tmp_path, **options):
    return INSRSolver(Advection.paper_1d(), 0.01, TINY, NetworkConfig(width=8, depth=2), **options)


def _parameters(solver) -> dict:
    return {f"{n}.{k}": v.detach().clone() for n, f in solver.fields.items() for k, v in f.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_kept_steps_are_checkpoint_directories_with_a_latest_pointer(tmp_path, one_thread):
    solver = _advection_solver(tmp_path, checkpoint_dir=tmp_path / "ckpt", keep_every=2)
    solver.run(3, progress=False)
    solver.checkpoint()  # the final step, kept on demand
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["latest", "step-0000", "step-0002", "step-0003"]
    assert (tmp_path / "ckpt" / "latest").read_text().strip() == "step-0003"
    folder = tmp_path / "ckpt" / "step-0002"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "state.pt"]
    meta = json.loads((folder / "config.json").read_text())["metrics"]["insr"]
    assert (meta["step"], meta["t"], meta["dt"], meta["problem"]) == (2, pytest.approx(0.02), 0.01, "advection")
    assert meta["network"]["width"] == 8 and meta["stepper"]["max_iters"] == 6
    # the package's own loader reads it (checksums verified) into a ModuleDict of the fields
    module = torch.nn.ModuleDict({"fields": torch.nn.ModuleDict(solver.fields),
                                  "previous": torch.nn.ModuleDict(solver.previous_fields)})
    assert load_checkpoint(folder, module).epoch == 2


def test_restore_from_a_directory_continues_bit_for_bit(tmp_path, one_thread):
    solver = _advection_solver(tmp_path, checkpoint_dir=tmp_path / "ckpt")
    states = {}
    solver.run(4, progress=False, callback=lambda s, rec: states.__setitem__(rec["step"], _parameters(s)))
    history = [dict(r) for r in solver.history]
    solver.restore(1)
    assert _same(_parameters(solver), states[1])
    assert (solver.step_count, solver.t) == (1, pytest.approx(0.01))
    assert [r["step"] for r in solver.history] == [0, 1]
    solver.run(3, progress=False)
    # same point draws (the generator state is saved), same previous state: identical weights
    assert _same(_parameters(solver), states[4])
    assert [r["loss_u"] for r in solver.history] == [r["loss_u"] for r in history]


def test_from_checkpoint_resumes_a_second_order_problem_exactly(tmp_path, one_thread):
    # elasticity needs u_{n-1} (the velocity): the checkpoint holds it, the in-memory copy does not
    mesh = Mesh.structured((6, 3), Domain(((0.0, 1.0), (0.0, 0.2))))
    problem = Elasticity(mesh, 2000.0, 0.3, gravity=(0.0, -10.0), fixed=lambda X: X[:, 0] < 1e-9)
    config = StepperConfig(max_iters=8, points=128, initial_iters=1, seed=0)
    network = NetworkConfig(width=8, depth=2, omega0=2.0, hidden_omega0=2.0)
    solver = INSRSolver(problem, 0.05, config, network, dtype=torch.float64, checkpoint_dir=tmp_path / "run")
    solver.run(3, progress=False)
    final = _parameters(solver)
    resumed = INSRSolver.from_checkpoint(tmp_path / "run" / "step-0002", problem)
    assert resumed.dtype == torch.float64 and resumed.network == network and resumed.config == config
    assert resumed.step_count == 2 and resumed.previous_fields is not None
    resumed.step()
    assert _same(_parameters(resumed), final)
    # forgetting the previous step (starting step 3 from rest) gives a different state
    memory_only = INSRSolver(problem, 0.05, config, network, dtype=torch.float64)
    memory_only.run(2, progress=False)
    memory_only.restore(2)
    assert memory_only.previous_fields is None
    memory_only.step()
    assert not _same(_parameters(memory_only), final)


def test_snapshots_read_steps_kept_only_on_disk(tmp_path, one_thread):
    solver = _advection_solver(tmp_path, checkpoint_dir=tmp_path / "ckpt")
    solver.run(2, progress=False)
    grid = Grid.uniform((33,), solver.problem.domain)
    expected = solver.snapshots(grid)
    solver.checkpoints.clear()  # drop the in-memory copies
    assert solver.kept_steps() == [0, 1, 2]
    from_disk = solver.snapshots(grid)
    assert from_disk["u"].values.tolist() == expected["u"].values.tolist()
    assert from_disk["time"].values.tolist() == pytest.approx([0.0, 0.01, 0.02])


def test_bad_checkpoints_are_refused_with_the_reason(tmp_path, one_thread):
    solver = _advection_solver(tmp_path, checkpoint_dir=tmp_path / "ckpt")
    solver.run(1, progress=False)
    with pytest.raises(ValueError, match="step: no checkpoint kept for step 7"):
        solver.restore(7)
    wider = INSRSolver(Advection.paper_1d(), 0.01, TINY, NetworkConfig(width=12, depth=2))
    with pytest.raises(ValueError, match="does not hold this solver's fields"):
        wider.load(tmp_path / "ckpt" / "latest")
    other_dt = INSRSolver(Advection.paper_1d(), 0.02, TINY, NetworkConfig(width=8, depth=2))
    with pytest.raises(ValueError, match="dt=0.01"):
        other_dt.load(tmp_path / "ckpt" / "step-0001")
    square = Advection.gaussian_2d()
    with pytest.raises(ValueError, match="problem: the checkpoint .* is of 'advection'"):
        square.name = "advection-2d"
        INSRSolver.from_checkpoint(tmp_path / "ckpt" / "step-0001", square)
    weights = tmp_path / "ckpt" / "step-0001" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ValueError, match="SHA-256 does not match"):
        solver.restore(1)
    with pytest.raises(ValueError, match="checkpoint_dir: this solver writes no checkpoint"):
        other_dt.checkpoint_path(1)
