"""Named model classes, so checkpoints rebuild models without unpickling code."""

from __future__ import annotations

import dataclasses

from torch import nn

from .config import config_from_dict, config_to_dict

__all__ = ["build_model", "model_name", "model_spec", "register_model", "registered_models"]

_MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str):
    """Class decorator registering a module built as ``cls(config)`` from a dataclass config.

    The class needs a ``config_class`` attribute (the dataclass type) and must
    keep the config it was built with as ``self.config``.
    """

    def decorate(cls):
        if not dataclasses.is_dataclass(getattr(cls, "config_class", None)):
            raise TypeError(f"{cls.__name__}: register_model needs a dataclass 'config_class' attribute")
        if name in _MODELS and _qualified(_MODELS[name]) != _qualified(cls):  # re-running a module is fine
            raise ValueError(f"name: a model named {name!r} is registered already ({_MODELS[name].__name__})")
        _MODELS[name] = cls
        cls.registry_name = name
        return cls

    return decorate


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def registered_models() -> dict[str, type[nn.Module]]:
    return dict(_MODELS)


def model_name(model: nn.Module) -> str:
    """The registry name of ``model``'s class (``ValueError`` if unregistered)."""
    name = getattr(type(model), "registry_name", None)
    if name is None or _MODELS.get(name) is not type(model):
        raise ValueError(
            f"model: {type(model).__name__} is not registered; decorate it with @sciml.register_model(name)"
        )
    return name


def model_spec(model: nn.Module) -> dict:
    """``{"name": ..., "config": {...}}`` describing how to rebuild ``model``."""
    return {"name": model_name(model), "config": config_to_dict(model.config)}


#: Sub-packages whose import registers the package's own models (imported on demand, so a checkpoint
#: of an FNO or a field loads without the caller importing ``sciml.operators`` / ``sciml.fields`` first).
BUILTIN_MODEL_PACKAGES = ("sciml.operators", "sciml.fields")


def _import_builtin_models() -> None:
    import importlib

    for package in BUILTIN_MODEL_PACKAGES:
        importlib.import_module(package)


def build_model(name: str, config: dict) -> nn.Module:
    """Instantiate the registered model ``name`` from a config dict.

    Names registered by the package's own sub-packages are found even when those are not imported yet.
    """
    if name not in _MODELS:
        _import_builtin_models()
    if name not in _MODELS:
        raise ValueError(f"name: expected a registered model among {sorted(_MODELS)}, got {name!r}")
    cls = _MODELS[name]
    return cls(config_from_dict(cls.config_class, config))
