"""The sciml command line."""

import json
import subprocess
import sys

from sciml.cli.main import main


def test_info_json_reports_versions_devices_and_backends(capsys):
    assert main(["info", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    import numpy
    import torch

    assert report["packages"]["numpy"] == numpy.__version__
    # the distribution's version may lack the local build tag (2.11.0 vs 2.11.0+cu130)
    assert report["packages"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert report["cuda"]["usable"] == torch.cuda.is_available()
    assert set(report["backends"]) == {"cupy", "zarr", "dask", "h5py", "h5netcdf"}
    for info in report["backends"].values():
        assert info["usable"] or info["reason"]


def test_info_table_and_entry_point():
    result = subprocess.run([sys.executable, "-m", "sciml", "info"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "optional backends:" in result.stdout and "torch" in result.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: sciml" in capsys.readouterr().out
