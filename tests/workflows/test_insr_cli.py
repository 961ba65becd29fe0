"""``sciml insr``: end to end with tiny settings; metrics, snapshots, checkpoints and figures on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from sciml.cli.main import main
from sciml.fields.insr.problem import UnstableTimeStepWarning
from sciml.workflows.insr import insr_setup, run_insr

TINY = ["--steps", "2", "--initial-iters", "60", "--max-iters", "5", "--points", "256", "--width", "8",
        "--no-progress"]


def test_cli_writes_metrics_snapshots_checkpoints_and_figures(tmp_path, one_thread, capsys):
    out = tmp_path / "run"
    assert main(["insr", "advection-1d", *TINY, "--snapshot-every", "1", "--out", str(out)]) == 0
    assert "results:" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["step"] for r in metrics["per_step"]] == [0, 1, 2]
    assert metrics["insr"]["dof"] == 8 * 1 + 8 + 8 * 8 + 8 + 9  # SIREN 8x2, 1 input, 1 output
    assert metrics["grid"]["dof"] == metrics["insr"]["dof"]  # the grid solver at equal degrees of freedom
    assert metrics["courant_number"] == pytest.approx(0.25 * 0.01 / 0.1)
    assert metrics["insr"]["wall_seconds"] > 0 and metrics["insr"]["peak_memory_mb"] >= 0
    for rec in metrics["per_step"]:
        assert 0 <= rec["u_rel_l2"] < 1 and 0 <= rec["grid_u_rel_l2"] < 1

    snaps = xr.open_dataset(out / "snapshots.nc")
    assert snaps["time"].values.tolist() == pytest.approx([0.0, 0.01, 0.02])
    # the stored reference is the exact translated pulse; the stored solution is the checkpoint's field
    problem = insr_setup("advection-1d").problem
    x = torch.tensor(np.array(snaps["x"].values))[:, None]
    exact = problem.reference("u", 0.02, x).reshape(-1).numpy()
    assert np.allclose(snaps["u_reference"].isel(time=2, channel=0).values, exact, atol=1e-12)
    # the checkpoint directory of step 2 (the latest) rebuilds the solver: same field values
    assert (out / "checkpoints" / "latest").read_text().strip() == "step-0002"
    from sciml.fields.insr.network import NetworkConfig
    from sciml.fields.insr.solver import INSRSolver

    solver = INSRSolver.from_checkpoint(out / "checkpoints" / "latest", problem)
    assert solver.step_count == 2 and solver.network == NetworkConfig(**json.loads((out / "network.json").read_text()))
    with torch.no_grad():
        values = solver.fields["u"](x.float()).reshape(-1).numpy()
    assert np.allclose(snaps["u"].isel(time=2, channel=0).values, values, atol=1e-6)
    # relative L2 in metrics.json agrees with the snapshot (both on the same uniform grid, trapezoid weights)
    w = np.full(x.shape[0], 1.0)
    w[[0, -1]] = 0.5
    err = np.sqrt(np.sum(w * (snaps["u"].isel(time=2, channel=0).values - exact) ** 2) / np.sum(w * exact**2))
    assert err == pytest.approx(metrics["per_step"][-1]["u_rel_l2"], rel=1e-4)
    snaps.close()
    assert (out / "figures" / "frames.png").stat().st_size > 0
    assert (out / "figures" / "errors.png").stat().st_size > 0


def test_cli_reports_bad_input_without_traceback(tmp_path, capsys):
    assert main(["insr", "heat-3d", "--out", str(tmp_path)]) == 2
    assert "problem: expected one of" in capsys.readouterr().err
    assert main(["insr", "advection-1d", "--dt", "-1", "--out", str(tmp_path)]) == 2
    assert "dt: expected a finite number > 0" in capsys.readouterr().err


def test_large_time_step_warns_with_the_cfl_number(tmp_path, one_thread):
    with pytest.warns(UnstableTimeStepWarning, match=r"CFL-like number 1.25 > 1"):
        run_insr("advection-1d", tmp_path, steps=1, dt=0.5, width=8, max_iters=2, points=64, initial_iters=5,
                 progress=False, figures=False)


def test_taylor_green_run_records_energy_and_spectral_reference(tmp_path, one_thread):
    result = run_insr("taylor-green", tmp_path, steps=1, width=8, depth=2, max_iters=3, points=128,
                      initial_iters=30, progress=False, figures=False)
    final = result["per_step"][-1]
    assert final["kinetic_energy_exact"] == pytest.approx(np.pi**2)
    assert {"vorticity_rel_l2", "p_rel_l2", "divergence_rms"} <= set(final)
    snaps = xr.open_dataset(tmp_path / "snapshots.nc")
    s = 2 * np.pi * np.arange(32) / 32
    # the pseudo-spectral reference keeps the steady vortex: omega = 2 sin x sin y
    assert np.allclose(snaps["vorticity_spectral"].isel(time=-1).values,
                       2 * np.sin(s)[:, None] * np.sin(s)[None, :], atol=1e-8)
    snaps.close()


@pytest.mark.parametrize("problem", ["advection-2d", "advection-multiscale", "vortex-sheet", "elasticity-3d"])
def test_every_problem_runs_a_tiny_step_and_keeps_the_final_state(problem, tmp_path, one_thread):
    result = run_insr(problem, tmp_path, steps=3, snapshot_every=2, width=8, depth=1, max_iters=2, points=64,
                      initial_iters=5, progress=False, figures=True)
    assert [r["step"] for r in result["per_step"]] == [0, 1, 2, 3]
    # snapshots every 2 steps plus the final state, as files and as a time axis
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step-0000", "step-0002",
                                                                            "step-0003"]
    with xr.open_dataset(tmp_path / "snapshots.nc") as snaps:
        assert snaps.sizes["time"] == 3
        if problem == "vortex-sheet":  # no exact solution: the pseudo-spectral vorticity is stored alongside
            assert "vorticity_spectral" in snaps and "u_rel_l2" not in result["per_step"][-1]
            # and the error against it is recorded at the snapshot steps
            assert [r["step"] for r in result["per_step"] if "vorticity_spectral_rel_l2" in r] == [0, 2, 3]
            w, ref = snaps["vorticity"].isel(time=-1).values, snaps["vorticity_spectral"].isel(time=-1).values
            expected = np.linalg.norm(w - ref) / np.linalg.norm(ref)
            assert result["per_step"][-1]["vorticity_spectral_rel_l2"] == pytest.approx(expected, rel=1e-12)
        if problem == "elasticity-3d":
            assert snaps["u"].dims == ("time", "channel", "x", "y", "z") and "u_reference" in snaps
    assert (tmp_path / "figures" / "frames.png").stat().st_size > 0


def test_elasticity_run_compares_with_p2_fem_per_step(tmp_path, one_thread):
    pytest.importorskip("skfem")
    from sciml.fields.insr.references import fem_elastodynamics

    result = run_insr("elasticity-2d", tmp_path, steps=2, width=8, max_iters=5, points=128, progress=False,
                      figures=False)
    problem = insr_setup("elasticity-2d").problem
    fem = fem_elastodynamics(problem, 0.01, 2, np.array([[1.0, 0.1]]), order=2)
    assert result["insr"]["dtype"] == "torch.float64" and result["fem"]["dof"] == fem["dof"]
    for k, rec in enumerate(result["per_step"]):
        # the FEM columns are the reference's own numbers at the beam tip and its energies
        assert rec["fem_tip_displacement"] == pytest.approx(fem["displacement"][k, 0].tolist(), abs=1e-15)
        assert rec["fem_energy_total"] == pytest.approx(fem["total"][k], abs=1e-15)
        assert {"u_rel_l2", "tip_displacement", "energy_total", "energy_kinetic"} <= set(rec)
    assert result["per_step"][0]["u_rel_l2"] == 0.0  # both at rest
    assert result["per_step"][-1]["fem_tip_displacement"][1] < -1e-4  # released under gravity, it falls
    with xr.open_dataset(tmp_path / "snapshots.nc") as snaps:
        x = float(snaps["x"].values[-1])
        y = snaps["y"].values
        j = int(np.argmin(np.abs(y - 0.1)))
        # the stored reference is the FEM displacement at the grid points (tip: x = 1, y = 0.1)
        assert x == 1.0 and y[j] == pytest.approx(0.1)
        assert snaps["u_reference"].isel(time=-1, x=-1, y=j).values == pytest.approx(fem["displacement"][2, 0], abs=1e-12)
