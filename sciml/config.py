"""Dataclass configs: to and from JSON/YAML-friendly dicts."""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from pathlib import Path

__all__ = ["config_from_dict", "config_to_dict", "load_config", "save_config"]


def config_to_dict(config) -> dict:
    """``dataclasses.asdict`` with tuples turned into lists (JSON has no tuples)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config: expected a dataclass instance, got {type(config).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(cls, data: dict):
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclasses.

    Unknown keys raise ``ValueError`` naming them; lists become tuples where
    the field is annotated as a tuple.
    """
    if not isinstance(data, dict):
        raise TypeError(f"data: expected a dict for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"data: unknown keys {unknown} for {cls.__name__}; expected some of {sorted(names)}")
    kwargs = {k: _coerce(hints.get(k), v) for k, v in data.items()}
    return cls(**kwargs)


def _coerce(hint, value):
    if value is None or hint is None:
        return value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return config_from_dict(hint, value)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for arg in args:
            if arg is type(None):
                continue
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return config_from_dict(arg, value)
            if typing.get_origin(arg) is tuple and isinstance(value, list):
                return tuple(value)
    return value


def save_config(config, path: str | os.PathLike) -> Path:
    """Write a config as JSON (``.json``) or YAML (``.yaml``/``.yml``) atomically."""
    path = Path(path)
    data = config_to_dict(config) if dataclasses.is_dataclass(config) else config
    if path.suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    else:
        text = json.dumps(data, indent=2)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_config(path: str | os.PathLike) -> dict:
    """Read a JSON or YAML config file into a dict (with a clear error on bad files)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no config file at {str(path)!r}")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise ValueError(f"path: {str(path)!r} is not valid {path.suffix[1:] or 'JSON'} ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"path: expected a mapping at the top of {str(path)!r}, got {type(data).__name__}")
    return data
