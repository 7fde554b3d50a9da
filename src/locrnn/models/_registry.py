"""Model registry in the torchvision style: duplicate names raise, models are built by name.

Every entry point is a function ``fn(*, task: str, **cfg) -> nn.Module`` that only fixes
hyper-parameters; :func:`build_model` records the arguments on the model (``model.config``) so a
checkpoint can rebuild it by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from ..io import UserError

TASKS = ("mazes", "pathfinder")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    fn: Callable[..., nn.Module]
    tasks: tuple[str, ...]
    recurrent: bool
    paper_params: dict[str, int] = field(default_factory=dict)
    summary: str = ""


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    tasks: tuple[str, ...] = TASKS,
    recurrent: bool = True,
    paper_params: dict[str, int] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register ``fn`` under ``name``. Registering the same name twice raises ``ValueError``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"a model named {name!r} is already registered")
        doc = (fn.__doc__ or "").strip().splitlines()
        _MODELS[name] = ModelEntry(name, fn, tuple(tasks), recurrent, dict(paper_params or {}), doc[0] if doc else "")
        return fn

    return wrap


def list_models(task: str | None = None) -> list[str]:
    """Names of all registered models, optionally only those that support ``task``."""
    return sorted(n for n, e in _MODELS.items() if task is None or task in e.tasks)


def get_entry(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return _MODELS[name]


def build_model(name: str, *, task: str = "mazes", pretrained: bool | str = False, **cfg: Any) -> nn.Module:
    """Build the registered model ``name`` for ``task`` ('mazes' or 'pathfinder').

    ``pretrained=True`` loads the quick-scale checkpoint shipped with locrnn (see
    :mod:`locrnn.pretrained`), ``pretrained="stable"`` its variant ``<name>-<task>-stable``;
    ``cfg`` may then only change call-time settings such as ``steps``.
    """
    if pretrained:
        from ..pretrained import load_pretrained  # the checkpoint layer sits above the models

        return load_pretrained(name, task, tag=None if pretrained is True else str(pretrained), **cfg)
    entry = get_entry(name)
    if task not in entry.tasks:
        raise UserError(f"model {name!r} does not support task {task!r} (it supports: {', '.join(entry.tasks)})")
    for key in ("width", "steps"):  # the arguments every model takes: checked before any layer is built
        if key in cfg and cfg[key] is not None and not (type(cfg[key]) is int and cfg[key] >= 1):
            raise UserError(f"model {name!r}: {key} must be an integer >= 1, got {cfg[key]!r}")
    halting = cfg.pop("halting", None)
    try:
        model = entry.fn(task=task, **cfg)
    except TypeError as e:  # an argument this model does not take (anything else is a bug)
        if "unexpected keyword argument" not in str(e):
            raise
        raise UserError(f"model {name!r} takes no argument {str(e).split('argument ')[-1]}") from None
    if halting is not None:  # a learned halting head (models/act.py) on any recurrent model
        if halting != "act":
            raise UserError(f"unknown halting {halting!r}; the learned one is 'act'")
        if not getattr(model, "recurrent", False):
            raise UserError(f"halting='act' needs a recurrent model; {name!r} is feed-forward")
        from .act import HaltingHead

        model.halt = HaltingHead(model.cell.out_channels)
        cfg["halting"] = halting
    model.config = {"name": name, "task": task, **cfg}
    return model
