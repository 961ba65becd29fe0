"""Checkpoints: one directory per checkpoint, written atomically, read without unpickling code.

A checkpoint directory holds

=========================  ==================================================================
``config.json``            format marker and version, sciml/torch versions, epoch, the model's
                           registry spec (``{"name", "config"}``, or ``null`` when the model is
                           not registered), its class, the trainer config, the normalizers'
                           ``to_dict()``, metrics, and the size and SHA-256 of every other file
``model.safetensors``      the model weights (``safetensors.torch.save_model``)
``normalizers.safetensors`` normalizer buffers as ``input.<name>`` / ``target.<name>`` (if any)
``state.pt``               optimizer, scheduler, GradScaler and RNG states, the epoch and the
                           trainer's bookkeeping; ``torch.save`` of plain containers, loaded
                           with ``torch.load(..., weights_only=True)`` (if any)
=========================  ==================================================================

The directory is written under a hidden temporary name, fsynced and renamed
into place (see :mod:`sciml.training.store`), so a reader never sees half a
checkpoint; the recorded checksums catch files damaged afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file, save_model
from torch import nn

from ..config import config_from_dict, config_to_dict
from ..registry import build_model, model_spec
from .config import TrainerConfig
from .rng import restore_rng_state, rng_state
from .store import atomic_write_bytes, move_into_place, read_pointer, stale_versions

__all__ = ["Checkpoint", "load_checkpoint", "read_trainer_config", "resolve_checkpoint", "save_checkpoint"]

FORMAT = "sciml-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NORMALIZERS_FILE = "normalizers.safetensors"
STATE_FILE = "state.pt"


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` read.

    Attributes
    ----------
    path : Path
        The checkpoint directory.
    model : nn.Module
        The model with the saved weights (the one passed in, or rebuilt from the registry).
    epoch : int
        Completed epochs when the checkpoint was written.
    trainer_config : TrainerConfig or None
    metrics : dict
        The metrics stored with the checkpoint (the trainer stores the epoch's record).
    input_normalizer, target_normalizer : Normalizer or None
    state : dict
        The content of ``state.pt`` (``{}`` when absent): ``optimizer``,
        ``scheduler``, ``scaler``, ``rng``, ``trainer``.
    info : dict
        The content of ``config.json``.
    """

    path: Path
    model: nn.Module
    epoch: int
    trainer_config: TrainerConfig | None
    metrics: dict
    input_normalizer: nn.Module | None = None
    target_normalizer: nn.Module | None = None
    state: dict = field(default_factory=dict, repr=False)
    info: dict = field(default_factory=dict, repr=False)


# -- saving ------------------------------------------------------------------------------------
def save_checkpoint(path, model: nn.Module, *, optimizer=None, scheduler=None, scaler=None, epoch: int = 0,
                    trainer_config: TrainerConfig | None = None, input_normalizer=None, target_normalizer=None,
                    metrics: dict | None = None, trainer_state: dict | None = None, save_rng: bool = True,
                    overwrite: bool = False) -> Path:
    """Write a checkpoint directory at ``path`` atomically.

    Parameters
    ----------
    path : path
        The directory to create. An existing one is replaced only with ``overwrite=True``.
    model : nn.Module
        Weights to save (a ``DistributedDataParallel`` wrapper is unwrapped).
        Registered models (:func:`sciml.register_model`) can later be rebuilt
        by ``load_checkpoint(path).model`` without constructing them first.
    optimizer, scheduler, scaler : optional
        Training state saved in ``state.pt``.
    epoch : int
        Completed epochs.
    trainer_config : TrainerConfig, optional
    input_normalizer, target_normalizer : Normalizer, optional
        Saved as ``to_dict()`` in ``config.json`` plus their buffers.
    metrics : dict, optional
        JSON-serializable metrics stored in ``config.json``.
    trainer_state : dict, optional
        Extra bookkeeping (plain containers of numbers and strings) for ``state.pt``.
    save_rng : bool
        Also save the Python, NumPy, torch and CUDA generator states.
    overwrite : bool
        Replace an existing checkpoint at ``path``.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> save_checkpoint(tmp_path / "ckpt", model, epoch=3)  # doctest: +SKIP
    >>> load_checkpoint(tmp_path / "ckpt").epoch  # doctest: +SKIP
    3
    """
    path = Path(path)
    model = _unwrap(model)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"path: {str(path)!r} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        files = _write_tensors(tmp, model, input_normalizer, target_normalizer)
        state = _training_state(epoch, optimizer, scheduler, scaler, trainer_state, save_rng)
        if state is not None:
            files[STATE_FILE] = _write_file(tmp / STATE_FILE, lambda f: torch.save(state, f))
        info = _info(model, epoch, trainer_config, input_normalizer, target_normalizer, metrics, files)
        atomic_write_bytes(tmp / CONFIG_FILE, _strict_json(info, "checkpoint description", indent=2).encode())
        move_into_place(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _unwrap(model):
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _write_file(path: Path, write) -> dict:
    with open(path, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_tensors(folder: Path, model, input_normalizer, target_normalizer) -> dict:
    save_model(model, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
    files = {WEIGHTS_FILE: _fsynced_info(folder / WEIGHTS_FILE)}
    buffers = {}
    for prefix, norm in (("input", input_normalizer), ("target", target_normalizer)):
        if norm is not None:
            buffers.update({f"{prefix}.{k}": v.detach().cpu().contiguous() for k, v in norm.state_dict().items()})
    if buffers:
        save_file(buffers, str(folder / NORMALIZERS_FILE), metadata={"format": FORMAT})
        files[NORMALIZERS_FILE] = _fsynced_info(folder / NORMALIZERS_FILE)
    return files


def _fsynced_info(path: Path) -> dict:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _training_state(epoch, optimizer, scheduler, scaler, trainer_state, save_rng) -> dict | None:
    state = {"epoch": int(epoch)}
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if obj is not None:
            state[name] = obj.state_dict()
    if trainer_state is not None:
        state["trainer"] = trainer_state
    if save_rng:
        state["rng"] = rng_state()
    return state if len(state) > 1 else None


def _info(model, epoch, trainer_config, input_normalizer, target_normalizer, metrics, files) -> dict:
    from .. import __version__

    try:
        spec = model_spec(model)
    except ValueError:
        spec = None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sciml_version": __version__,
        "torch_version": torch.__version__,
        "epoch": int(epoch),
        "model": spec,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "trainer": config_to_dict(trainer_config) if trainer_config is not None else None,
        "normalizers": {"input": _norm_dict(input_normalizer), "target": _norm_dict(target_normalizer)},
        "metrics": json.loads(_strict_json(metrics or {}, "metrics")),
        "files": files,
    }


def _strict_json(data, name: str, **options) -> str:
    """``json.dumps`` refusing NaN and infinity, which would make invalid JSON."""
    try:
        return json.dumps(data, allow_nan=False, **options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected JSON-serializable data with finite numbers ({exc})") from exc


def _norm_dict(norm) -> dict | None:
    return None if norm is None else norm.to_dict()


# -- loading -----------------------------------------------------------------------------------
def resolve_checkpoint(path) -> Path:
    """The checkpoint directory meant by ``path``.

    ``path`` may be a checkpoint directory, a pointer file (``.../checkpoints/best``),
    a folder with a ``latest`` pointer (``.../checkpoints``) or a run's
    ``out_dir`` (its ``checkpoints/latest``). A checkpoint directory missing
    because its replacement was interrupted resolves to the kept previous version.
    """
    path = Path(path)
    if path.is_file() and path.name != CONFIG_FILE:
        return read_pointer(path)
    if path.is_dir():
        if (path / CONFIG_FILE).is_file():
            return path
        for pointer in (path / "latest", path / "checkpoints" / "latest"):
            if pointer.is_file():
                return read_pointer(pointer)
        raise ValueError(f"path: {str(path)!r} is not a sciml checkpoint (no {CONFIG_FILE}, no 'latest' pointer)")
    stale = stale_versions(path)
    if stale:
        return stale[0]
    raise FileNotFoundError(f"path: no checkpoint at {str(path)!r}")


def load_checkpoint(path, model: nn.Module | None = None, *, optimizer=None, scheduler=None, scaler=None,
                    input_normalizer=None, target_normalizer=None, restore_rng: bool = False) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (or by a :class:`Trainer`).

    Parameters
    ----------
    path : path
        A checkpoint directory, a pointer file, or a run directory (see :func:`resolve_checkpoint`).
    model : nn.Module, optional
        Receives the weights. Without it a registered model is rebuilt from the
        spec in ``config.json``, on the CPU, in the saved floating-point dtype.
    optimizer, scheduler, scaler : optional
        Receive their saved states (``ValueError`` if the checkpoint has none).
    input_normalizer, target_normalizer : Normalizer, optional
        Receive the saved normalizers' buffers; when omitted, saved normalizers
        are rebuilt with ``Normalizer.from_dict``.
    restore_rng : bool
        Put back the saved random generator states.

    Raises
    ------
    ValueError
        ``path`` is not a sciml checkpoint, a file is missing, truncated or
        damaged, or the checkpoint holds a different model.

    Examples
    --------
    >>> ckpt = load_checkpoint("runs/darcy")          # latest checkpoint of a run  # doctest: +SKIP
    >>> ckpt.model(data.test.inputs[:4])  # doctest: +SKIP
    """
    folder = resolve_checkpoint(path)
    info = _read_info(folder)
    _verify_files(folder, info)
    trainer_config = _trainer_config(folder, info)
    model = _load_model(folder, info, _unwrap(model) if model is not None else None)
    state = _read_state(folder) if STATE_FILE in info["files"] else {}
    _load_training_state(folder, state, optimizer, scheduler, scaler, restore_rng)
    inputs, targets = _load_normalizers(folder, info, input_normalizer, target_normalizer)
    return Checkpoint(folder, model, info.get("epoch", 0), trainer_config, info.get("metrics") or {},
                      inputs, targets, state, info)


def read_trainer_config(path) -> TrainerConfig | None:
    """The :class:`TrainerConfig` saved in the checkpoint at ``path`` (``None`` if none), loading nothing else.

    Examples
    --------
    >>> read_trainer_config("runs/darcy").lr        # of the run's latest checkpoint  # doctest: +SKIP
    0.001
    """
    folder = resolve_checkpoint(path)
    return _trainer_config(folder, _read_info(folder))


def _trainer_config(folder: Path, info: dict) -> TrainerConfig | None:
    saved = info.get("trainer")
    if saved is None:
        return None
    try:
        return config_from_dict(TrainerConfig, saved)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"path: {str(folder / CONFIG_FILE)!r} is damaged: field 'trainer' is not a valid "
                         f"TrainerConfig ({exc})") from exc


def _read_info(folder: Path) -> dict:
    file = folder / CONFIG_FILE
    if not file.is_file():
        raise ValueError(f"path: {str(folder)!r} is not a sciml checkpoint (no {CONFIG_FILE})")
    try:
        info = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"path: {str(file)!r} is damaged: not valid JSON ({exc})") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ValueError(f"path: {str(folder)!r} is not a sciml checkpoint ({CONFIG_FILE} has no "
                         f"'format': {FORMAT!r} marker)")
    version = info.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"path: checkpoint format version {version!r} is not readable by this sciml "
                         f"(reads versions <= {FORMAT_VERSION}); upgrade sciml")
    _check_info_fields(file, info)
    return info


def _check_info_fields(file: Path, info: dict) -> None:
    """``ValueError`` naming ``file`` and the field when ``config.json`` does not follow the format."""

    def refuse(field: str, expected: str, got) -> None:
        raise ValueError(f"path: {str(file)!r} is damaged: field {field} should be {expected}, got {got!r:.100}")

    epoch = info.get("epoch", 0)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        refuse("'epoch'", "an integer >= 0", epoch)
    _check_files_field(file, info.get("files"), refuse)
    spec = info.get("model")
    if spec is not None and not (isinstance(spec, dict) and isinstance(spec.get("name"), str)
                                 and isinstance(spec.get("config"), dict)):
        refuse("'model'", 'null or {"name": str, "config": dict}', spec)
    for key in ("trainer", "metrics", "normalizers"):
        if not isinstance(info.get(key), (dict, type(None))):
            refuse(repr(key), "null or a dict", info.get(key))
    for prefix, norm in (info.get("normalizers") or {}).items():
        if prefix not in ("input", "target") or not isinstance(norm, (dict, type(None))):
            refuse(f"'normalizers'[{prefix!r}]", "null or a normalizer's to_dict() under 'input' or 'target'", norm)


def _check_files_field(file: Path, files, refuse) -> None:
    if not isinstance(files, dict) or WEIGHTS_FILE not in files:
        raise ValueError(f"path: {str(file)!r} is damaged: it lists no {WEIGHTS_FILE}")
    for name, entry in files.items():
        if name in ("", ".", "..", CONFIG_FILE) or "/" in name or "\\" in name:
            refuse("'files'", "names of files in the checkpoint folder", name)
        if not (isinstance(entry, dict) and _is_count(entry.get("bytes")) and isinstance(entry.get("sha256"), str)):
            refuse(f"'files'[{name!r}]", '{"bytes": int, "sha256": str}', entry)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _verify_files(folder: Path, info: dict) -> None:
    for name, expected in info["files"].items():
        file = folder / name
        if not file.is_file():
            raise ValueError(f"path: checkpoint {str(folder)!r} is missing {name}")
        size = file.stat().st_size
        if size != expected.get("bytes"):
            raise ValueError(f"path: {name} in {str(folder)!r} is truncated or damaged: expected "
                             f"{expected.get('bytes')} bytes, found {size}")
        if _sha256(file) != expected.get("sha256"):
            raise ValueError(f"path: {name} in {str(folder)!r} is damaged: SHA-256 does not match {CONFIG_FILE}")


def _load_model(folder: Path, info: dict, model):
    spec = info.get("model")
    if model is None:
        if spec is None:
            raise ValueError(f"model: the checkpoint at {str(folder)!r} holds an unregistered "
                             f"{info.get('model_class')}; pass model= to load its weights into")
        try:
            model = build_model(spec["name"], spec["config"])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"path: {str(folder / CONFIG_FILE)!r}: cannot rebuild field 'model' "
                             f"{spec['name']!r} ({exc})") from exc
        state = _read_safetensors(folder / WEIGHTS_FILE, "cpu")
        dtypes = {t.dtype for t in state.values() if t.is_floating_point()}
        if len(dtypes) == 1:                     # rebuild in the saved precision (e.g. float64)
            model = model.to(dtypes.pop())
    else:
        _check_same_model(folder, spec, model)
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        state = _read_safetensors(folder / WEIGHTS_FILE, device)
    try:
        _load_state_dict_shared(model, state)
    except RuntimeError as exc:
        raise ValueError(f"model: the checkpoint at {str(folder)!r} holds a different model than "
                         f"{type(model).__name__}: {exc}") from exc
    return model


def _check_same_model(folder: Path, spec: dict | None, model: nn.Module) -> None:
    if spec is None:
        return
    try:
        mine = model_spec(model)
    except ValueError:
        mine = None
    if mine is not None and mine != spec:
        raise ValueError(f"model: the checkpoint at {str(folder)!r} holds {spec['name']!r} with config "
                         f"{spec['config']}, got {mine['name']!r} with config {mine['config']}")


def _read_safetensors(file: Path, device) -> dict:
    try:
        return load_file(str(file), device=str(device))
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"path: {str(file)!r} is damaged: {exc}") from exc


def _load_state_dict_shared(model: nn.Module, state: dict) -> None:
    """``load_state_dict(strict=True)`` that accepts the de-duplicated names of tied weights."""
    own = model.state_dict()
    for name, tensor in own.items():
        if name not in state:
            twin = next((k for k, v in own.items() if k in state and v.data_ptr() == tensor.data_ptr()
                         and v.shape == tensor.shape and tensor.numel()), None)
            if twin is not None:
                state[name] = state[twin]
    model.load_state_dict(state, strict=True)


def _read_state(folder: Path) -> dict:
    try:
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, refused global, ...
        raise ValueError(f"path: {STATE_FILE} in {str(folder)!r} is damaged or holds objects other "
                         f"than tensors and plain containers: {exc}") from exc
    if not isinstance(state, dict):
        raise ValueError(f"path: {STATE_FILE} in {str(folder)!r} is damaged: expected a dict, got "
                         f"{type(state).__name__}")
    return state


def _load_training_state(folder, state, optimizer, scheduler, scaler, restore_rng) -> None:
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if name not in state:
            raise ValueError(f"{name}: the checkpoint at {str(folder)!r} has no {name} state")
        try:
            obj.load_state_dict(state[name])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{name}: the saved {name} state does not fit: {exc}") from exc
    if scaler is not None and scaler.is_enabled() and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if restore_rng:
        if "rng" not in state:
            raise ValueError(f"restore_rng: the checkpoint at {str(folder)!r} has no random generator states")
        restore_rng_state(state["rng"])


def _load_normalizers(folder: Path, info: dict, input_normalizer, target_normalizer):
    saved = info.get("normalizers") or {}
    buffers = _read_safetensors(folder / NORMALIZERS_FILE, "cpu") if NORMALIZERS_FILE in info["files"] else {}
    out = []
    for prefix, norm in (("input", input_normalizer), ("target", target_normalizer)):
        spec = saved.get(prefix)
        if spec is None:
            if norm is not None:
                raise ValueError(f"{prefix}_normalizer: the checkpoint at {str(folder)!r} has no {prefix} normalizer")
            out.append(None)
            continue
        if norm is None:
            from ..normalizers import Normalizer

            try:
                norm = Normalizer.from_dict(spec)
            except ValueError as exc:
                raise ValueError(f"path: {str(folder / CONFIG_FILE)!r} is damaged: field "
                                 f"'normalizers'[{prefix!r}] ({exc})") from exc
        state = {k[len(prefix) + 1:]: v for k, v in buffers.items() if k.startswith(prefix + ".")}
        try:
            norm.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{prefix}_normalizer: the saved {prefix} normalizer does not fit: {exc}") from exc
        out.append(norm)
    return tuple(out)
