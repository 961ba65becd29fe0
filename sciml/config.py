"""Dataclass configs: to and from JSON/YAML-friendly dicts."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from pathlib import Path

from ._atomic import atomic_write_text

__all__ = ["config_from_dict", "config_to_dict", "load_config", "save_config"]


def config_to_dict(config) -> dict:
    """``dataclasses.asdict`` with tuples turned into lists (JSON has no tuples)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config: expected a dataclass instance, got {type(config).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(config)))


def config_from_dict(cls, data: dict):
    """Build dataclass ``cls`` from ``data``, recursing into nested dataclasses.

    Unknown keys raise ``ValueError`` naming them; lists become tuples where
    the field is annotated as a tuple. Strings in fields annotated ``float`` or
    ``int`` are read as numbers, because YAML 1.1 (PyYAML) reads ``1e-3`` as a
    string; a string that is not a number raises ``ValueError`` naming the field.

    Examples
    --------
    >>> config_from_dict(sciml.TrainerConfig, {"lr": "1e-3", "epochs": "20"}).lr
    0.001
    """
    return _from_dict(cls, data, "data")


def _from_dict(cls, data, name: str):
    if not isinstance(data, dict):
        raise TypeError(f"{name}: expected a dict for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{name}: unknown keys {unknown} for {cls.__name__}; expected some of {sorted(names)}")
    prefix = "" if name == "data" else f"{name}."
    kwargs = {k: _coerce(hints.get(k), v, f"{prefix}{k}") for k, v in data.items()}
    return cls(**kwargs)


def _coerce(hint, value, name: str):
    """``value`` read as ``hint``: nested dataclasses, tuples, and numbers written as strings."""
    if value is None or hint is None:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        if isinstance(value, str) and str in options:
            return value
        for arg in options:
            if _fits(arg, value):
                return _coerce(arg, value, name)
        return value
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return _from_dict(hint, value, name)
    if origin in (tuple, list) and isinstance(value, (list, tuple)):
        items = [_coerce(_item_hint(origin, args, i), v, f"{name}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if hint in (int, float) and isinstance(value, str):
        return _number_from_string(hint, value, name)
    return value


def _fits(hint, value) -> bool:
    """Whether ``value`` is meant for the union member ``hint`` (so that ``_coerce`` should convert it)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    if origin in (tuple, list):
        return isinstance(value, (list, tuple))
    return hint in (int, float) and isinstance(value, str)


def _item_hint(origin, args, index: int):
    if not args:
        return None
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return args[index] if index < len(args) else None
    return args[0]


def _number_from_string(hint, text: str, name: str):
    """``"1e-3"`` -> ``0.001`` for a float field; ``"20"`` or ``"1e3"`` -> ``20`` or ``1000`` for an int field."""
    try:
        return int(text) if hint is int else float(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not number.is_integer():
        what = "an integer" if hint is int else "a number"
        raise ValueError(f"{name}: expected {what}, got the string {text!r}")
    return int(number)


def save_config(config, path: str | os.PathLike) -> Path:
    """Write a config as JSON (``.json``) or YAML (``.yaml``/``.yml``) atomically."""
    path = Path(path)
    data = config_to_dict(config) if dataclasses.is_dataclass(config) else config
    if path.suffix in (".yaml", ".yml"):
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    else:
        text = json.dumps(data, indent=2)
    return atomic_write_text(path, text)


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
