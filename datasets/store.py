"""On-disk layout of generated datasets: crash-safe chunk parts, atomic final stores, lazy opening.

Layout while ``generate(..., out="data/darcy.zarr")`` runs::

    data/
        .darcy.zarr.parts/          work folder (hidden), kept until the final store exists
            manifest.json           problem, config, seed, n, chunk size, dtype, variables
            chunk-000000.npz        samples [0, chunk_size): one array per variable + "seed"
            chunk-000001.npz
            .chunk-000002.npz.tmp-4242   a part being written by process 4242
        .darcy.zarr.tmp-4242/       the final store being written (from the parts)
        darcy.zarr                  the final store: appears only when complete

Why a kill at any moment never leaves a corrupt store:

1. each part is written under a hidden temporary name, fsynced, then renamed
   (``os.replace`` is atomic): a visible ``chunk-*.npz`` is complete;
2. the final zarr directory / netCDF file is written under a temporary name
   from the parts, every file fsynced, then renamed; a visible store is complete;
3. the work folder is deleted only after the final store is in place.

A rerun reads the manifest (refusing other settings), skips the parts that
exist, and removes temporaries left by dead processes. The final store is an
``xarray.Dataset``: zarr (default) or netCDF-4 (suffix ``.nc``, ``.nc4``,
``.netcdf``) through h5netcdf, chunked ``chunk_size`` samples along ``sample``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import xarray as xr

from sciml._atomic import atomic_write_text, fsync_dir

from .errors import DataFileError

__all__ = [
    "NETCDF_SUFFIXES",
    "PartStore",
    "import_optional",
    "open_dataset",
    "store_format",
    "write_dataset",
]

NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")
_PART = re.compile(r"^chunk-(\d{6})\.npz$")
_TMP = re.compile(r"\.tmp-(\d+)$")
_OLD = re.compile(r"\.old-(\d+)$")


def import_optional(name: str):
    """Import an optional I/O dependency, or fail saying what to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"{name} is needed to read and write datasets: pip install 'sciml[io]' ({exc})") from exc


ZARR_SUFFIXES = (".zarr", "")


def store_format(path) -> str:
    """``"netcdf"`` for the suffixes in :data:`NETCDF_SUFFIXES`, ``"zarr"`` for ``.zarr`` or no suffix.

    Any other suffix is refused (``data.h5`` written as a zarr directory would surprise everyone).

    Examples
    --------
    >>> store_format("darcy.zarr"), store_format("darcy.nc"), store_format("darcy")
    ('zarr', 'netcdf', 'zarr')
    """
    suffix = Path(path).suffix.lower()
    if suffix in NETCDF_SUFFIXES:
        return "netcdf"
    if suffix in ZARR_SUFFIXES:
        return "zarr"
    raise ValueError(f"path: expected a store named *.zarr (a directory) or netCDF "
                     f"({', '.join('*' + s for s in NETCDF_SUFFIXES)}), got {str(path)!r}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def prune_temporaries(folder: Path, stem: str) -> None:
    """Delete ``.{stem}*.tmp-PID`` entries of ``folder`` whose writing process is gone."""
    for entry in folder.glob(f".{stem}*.tmp-*"):
        match = _TMP.search(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            _remove(entry)


def _fsync_tree(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
        return
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(Path(root))


class PartStore:
    """The work folder of a generation: a manifest and one ``.npz`` part per chunk.

    Parameters
    ----------
    out : path-like
        The final store; the parts live in the hidden sibling ``.{out.name}.parts``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> parts = PartStore(tmp / "data.zarr")
    >>> parts.start({"n": 4, "chunk_size": 2})
    >>> parts.write(0, {"u": np.zeros((2, 8))}, seeds=np.array([7, 8])).name
    'chunk-000000.npz'
    >>> parts.finished(n_chunks=2)
    [0]
    """

    def __init__(self, out):
        out = Path(out)
        self.root = out.parent / f".{out.name}.parts"

    def start(self, manifest: dict) -> None:
        """Create the folder, or check that an existing one was made with the same ``manifest``."""
        path = self.root / "manifest.json"
        if path.exists():
            found = json.loads(path.read_text())
            if found != json.loads(json.dumps(manifest)):
                diff = sorted(k for k in set(found) | set(manifest) if found.get(k) != manifest.get(k))
                raise ValueError(f"out: unfinished generation at {str(self.root)!r} was started with other "
                                 f"settings (differing: {diff}); delete that folder or pass overwrite=True")
            prune_temporaries(self.root, "chunk-")
            return
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(manifest, indent=2, sort_keys=True))

    def path(self, chunk: int) -> Path:
        return self.root / f"chunk-{chunk:06d}.npz"

    def write(self, chunk: int, arrays: dict[str, np.ndarray], seeds: np.ndarray) -> Path:
        """Write chunk ``chunk`` atomically (temporary name, fsync, rename)."""
        path = self.path(chunk)
        tmp = self.root / f".{path.name}.tmp-{os.getpid()}"
        with open(tmp, "wb") as handle:
            np.savez(handle, seed=np.asarray(seeds, dtype=np.int64), **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        fsync_dir(self.root)
        return path

    def read(self, chunk: int, name: str) -> np.ndarray:
        """Variable ``name`` of chunk ``chunk``, with an error naming the file if it is damaged."""
        path = self.path(chunk)
        try:
            with open(path, "rb") as handle, np.load(handle) as part:
                return part[name]
        except Exception as exc:
            raise DataFileError(path, f"unreadable chunk part ({type(exc).__name__}: {exc})", name) from exc

    def finished(self, n_chunks: int, expected: dict[str, tuple] | None = None) -> list[int]:
        """Indices of chunks whose part exists (and, given ``expected`` shapes, has them); damaged parts are removed."""
        done = []
        for chunk in range(n_chunks):
            path = self.path(chunk)
            if not path.exists():
                continue
            if expected is None or self._has_shapes(path, expected.get(chunk, {})):
                done.append(chunk)
            else:
                path.unlink()
        return done

    @staticmethod
    def _has_shapes(path: Path, shapes: dict[str, tuple]) -> bool:
        try:
            with open(path, "rb") as handle, np.load(handle) as part:
                return all(name in part.files and part[name].shape == shape for name, shape in shapes.items())
        except Exception:
            return False

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _encoding(ds: xr.Dataset, chunk_size: int, fmt: str) -> dict:
    encoding = {}
    for name, var in ds.data_vars.items():
        chunks = tuple(min(chunk_size, n) if d == "sample" else n for d, n in zip(var.dims, var.shape))
        encoding[name] = {"chunks": chunks} if fmt == "zarr" else {"chunksizes": chunks}
        if fmt == "netcdf" and var.dtype.kind == "f":
            encoding[name].update(zlib=True, complevel=1)
    return encoding


def write_dataset(ds: xr.Dataset, out, chunk_size: int | None = None, overwrite: bool = False) -> Path:
    """Write ``ds`` to zarr or netCDF (by suffix) atomically: temporary name, fsync, rename.

    Parameters
    ----------
    ds : xarray.Dataset
        May be Dask-backed; it is written chunk by chunk, never loaded whole.
    out : path-like
        Destination; its suffix picks the format (see :func:`store_format`).
    chunk_size : int, optional
        Samples per stored chunk along the ``sample`` dimension (default: all).
    overwrite : bool
        Replace an existing store; otherwise an existing ``out`` raises ``FileExistsError``.

    Examples
    --------
    >>> ds = xr.Dataset({"u": (("sample", "x"), np.zeros((4, 8)))})
    >>> import pathlib, tempfile
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> write_dataset(ds, tmp / "u.nc").name
    'u.nc'
    """
    out = Path(out)
    fmt = store_format(out)
    recover_replaced(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"out: {str(out)!r} exists; pass overwrite=True to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    prune_temporaries(out.parent, out.name)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    _remove(tmp)
    encoding = _encoding(ds, chunk_size or max(1, ds.sizes.get("sample", 1)), fmt)
    try:
        if fmt == "zarr":
            import_optional("zarr")
            ds.to_zarr(tmp, mode="w-", consolidated=False, encoding=encoding)
        else:
            import_optional("h5netcdf")
            ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        _fsync_tree(tmp)
        _replace(tmp, out)
    finally:
        _remove(tmp)
    return out


def recover_replaced(out: Path) -> None:
    """Undo a replacement a kill interrupted between its two renames (see :func:`_replace`).

    If ``out`` is missing, the newest ``.NAME.old-PID`` left by a dead process is renamed back;
    if ``out`` exists, such leftovers of dead processes are deleted.
    """
    out = Path(out)
    leftovers = []
    for entry in out.parent.glob(f".{out.name}.old-*"):
        match = _OLD.search(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            leftovers.append(entry)
    if not out.exists() and leftovers:
        newest = max(leftovers, key=lambda entry: entry.stat().st_mtime)
        os.replace(newest, out)
        fsync_dir(out.parent)
        leftovers.remove(newest)
    if out.exists():
        for entry in leftovers:
            _remove(entry)


def _replace(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out``; an existing directory is first moved aside, then deleted."""
    old = None
    if out.is_dir():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    fsync_dir(out.parent)
    if old is not None:
        _remove(old)


def open_dataset(path, chunks: dict | str | None = None) -> xr.Dataset:
    """Open a zarr or netCDF store lazily (Dask chunks), with errors that name the file.

    Parameters
    ----------
    path : path-like
        ``*.zarr`` directory or netCDF file (any suffix of :data:`NETCDF_SUFFIXES`).
    chunks : dict, "auto" or None
        Dask chunks; ``None`` (default) keeps the store's own chunks.

    Examples
    --------
    >>> ds = open_dataset("darcy.zarr")          # nothing is read until .values / .compute()  # doctest: +SKIP
    >>> ds["u"].isel(sample=slice(0, 8)).values.shape  # doctest: +SKIP
    (8, 64, 64)
    """
    path = Path(path)
    recover_replaced(path)
    if not path.exists():
        raise FileNotFoundError(f"path: no dataset at {str(path)!r}")
    fmt = store_format(path)
    import_optional("dask")
    chunks = {} if chunks is None else chunks
    try:
        if fmt == "zarr":
            import_optional("zarr")
            return xr.open_zarr(path, consolidated=False, chunks=chunks)
        import_optional("h5netcdf")
        return xr.open_dataset(path, engine="h5netcdf", chunks=chunks)
    except ImportError:
        raise
    except Exception as exc:
        raise DataFileError(path, f"not a readable {fmt} store ({type(exc).__name__}: {exc})") from exc
