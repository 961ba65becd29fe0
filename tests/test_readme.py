"""Every ```python block of README.md runs as written (in a scratch directory)."""

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCIML_DATA", str(tmp_path / "cache"))
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(BLOCKS[index])
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out.split()
    assert printed, "each README block prints what it shows"
    if index == 0:
        norms = [float(v) for v in printed]
        assert norms[0] == pytest.approx(0.5, abs=1e-12) and norms[1] == pytest.approx(0.5, abs=1e-12)
        assert norms[2] == pytest.approx(0.5, abs=5e-3)
    if index == 1:
        assert float(printed[0]) < 0.05 and printed[1] == "True"
    if index == 2:
        assert " ".join(printed) == "(4, 3, 24, 12) True (288, 4, 6) True True (64, 64) (128, 128)"
    if "MgNOConfig.paper" in BLOCKS[index]:
        assert printed[:5] == ["561189", "(2,", "1,", "64,", "64)"] and "32" in printed and "64" in printed
        assert printed[-5:] == ["(4,", "1,", "128,", "128)", "True"]
    if "load(" in BLOCKS[index] and "n_train=64" in BLOCKS[index]:
        assert " ".join(printed) == "(64, 1, 32, 32) (64, 1, 32, 32) (64, 64)"
    if "solver.snapshots(grid)" in BLOCKS[index]:
        assert float(printed[0]) < 0.05 and printed[1] == "6"   # INSR: error vs the exact solution, 6 kept states
    if "midpoint_advection(u0" in BLOCKS[index]:          # deterministic grid solvers at 321 nodes
        assert printed == ["SL-linear", "0.191", "FD2-midpoint", "0.022"]
    if "INSRSolver.from_checkpoint" in BLOCKS[index]:
        assert printed[:2] == ["3", "0.03"]            # resumed at the step and time the run stopped
    if "fit_funbat(" in BLOCKS[index]:                 # noise estimate near 0.05, completion error small
        assert abs(float(printed[-3].rstrip(",")) - 0.05) < 0.02 and float(printed[-1]) < 0.2
    if "NeuRBF.for_budget" in BLOCKS[index]:
        assert float(printed[-2]) > 35.0               # PSNR in dB after 100 steps (measured 40.1)
    if "chamfer_distance(mesh" in BLOCKS[index]:
        assert float(printed[-1]) < 0.2                # sphere of radius 2 (measured 0.081)
