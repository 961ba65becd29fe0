"""Installing sciml must never create top-level datasets/kernels/fields/operators packages."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.filterwarnings("ignore")
def test_pip_install_creates_only_the_sciml_namespace(tmp_path):
    target = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    top_level = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert top_level == {"sciml", "bin"} or top_level == {"sciml"}, top_level
    for sub in ("operators", "fields", "datasets", "kernels", "cli", "workflows", "training"):
        assert (target / "sciml" / sub / "__init__.py").is_file(), sub
    assert not (set(top_level) & {"datasets", "kernels", "fields", "operators"})
