"""What is installed and usable here: versions, devices, optional backends."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform

import torch

__all__ = ["environment_report", "format_environment_report"]

CORE_PACKAGES = ("torch", "numpy", "scipy", "tensorly", "meshio", "xarray", "matplotlib", "tqdm", "safetensors")
#: optional backend -> the extra that installs it
OPTIONAL_BACKENDS = {"cupy": "gpu", "zarr": "io", "dask": "io", "h5py": "io", "h5netcdf": "io"}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _probe_module(name: str) -> dict:
    """Import ``name`` and report whether it is usable (and why not)."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError:
        return {"usable": False, "reason": f"not installed (pip install 'sciml[{OPTIONAL_BACKENDS[name]}]')"}
    except Exception as exc:  # an optional backend may fail in many ways (missing CUDA libs, ...)
        return {"usable": False, "reason": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    info = {"usable": True, "version": getattr(module, "__version__", None)}
    if name == "cupy":
        try:
            info["devices"] = int(module.cuda.runtime.getDeviceCount())
        except Exception as exc:
            info.update(usable=False, reason=f"no usable CUDA device for CuPy ({exc})".splitlines()[0])
    return info


def _cuda_report() -> dict:
    if not torch.cuda.is_available():
        return {"usable": False, "reason": "torch.cuda.is_available() is False", "torch_cuda": torch.version.cuda}
    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"usable": True, "torch_cuda": torch.version.cuda, "devices": devices}


def environment_report() -> dict:
    """Versions, devices and optional backends as a JSON-serializable dict.

    Examples
    --------
    >>> report = environment_report()
    >>> sorted(report)
    ['backends', 'cpu', 'cuda', 'packages', 'platform', 'python', 'sciml']
    """
    import sciml

    return {
        "sciml": sciml.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": {"cores": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "packages": {name: _version(name) for name in CORE_PACKAGES},
        "cuda": _cuda_report(),
        "backends": {name: _probe_module(name) for name in OPTIONAL_BACKENDS},
    }


def format_environment_report(report: dict) -> str:
    """Human-readable table of :func:`environment_report`."""
    lines = [f"sciml {report['sciml']}  (Python {report['python']}, {report['platform']})",
             f"CPU cores: {report['cpu']['cores']}  torch threads: {report['cpu']['torch_threads']}", "",
             "packages:"]
    lines += [f"  {name:<12} {version or 'not installed'}" for name, version in report["packages"].items()]
    cuda = report["cuda"]
    lines += ["", "devices:", "  cpu          usable"]
    if cuda["usable"]:
        lines += [f"  cuda:{i}       {name} (CUDA {cuda['torch_cuda']})" for i, name in enumerate(cuda["devices"])]
    else:
        lines.append(f"  cuda         not usable: {cuda['reason']}")
    lines += ["", "optional backends:"]
    for name, info in report["backends"].items():
        state = f"usable {info.get('version') or ''}".strip() if info["usable"] else f"not usable: {info['reason']}"
        lines.append(f"  {name:<12} {state}")
    return "\n".join(lines)
