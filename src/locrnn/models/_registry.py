"""Model registry in the torchvision style: duplicate names raise, models are built by name.

An entry point is a keyword-only function whose signature lists every argument of its model and
that only fixes hyper-parameters. Arguments whose default differs per task are declared once, at
registration (``@register_model(name, defaults={"mazes": {...}, "pathfinder": {...}})``).
:func:`make_model` binds the arguments (given ones, then the task's defaults, then the
signature's) and records the fully resolved set on the model (``model.config``), so a checkpoint
rebuilds the same model even after a default changes. Loading weights is the hub's business
(models/hub.py); this module never imports it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from ..io import UserError
from .act import HaltingHead

TASKS = ("mazes", "pathfinder")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    fn: Callable[..., nn.Module]
    tasks: tuple[str, ...]
    recurrent: bool
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> argument defaults
    paper_params: dict[str, int] = field(default_factory=dict)
    summary: str = ""

    def resolve(self, task: str, **cfg: Any) -> dict[str, Any]:
        """Every argument of the entry point for ``task`` (``task`` first): ``cfg``, then the task's
        defaults, then the signature's. An argument given as None counts as not given."""
        if task not in self.tasks:
            raise UserError(
                f"model {self.name!r} does not support task {task!r} (it supports: {', '.join(self.tasks)})"
            )
        given = {k: v for k, v in cfg.items() if v is not None}
        if not self.recurrent and "steps" in given:
            raise UserError(f"{self.name} is feed-forward and takes no step count (got steps={given['steps']})")
        params = inspect.signature(self.fn).parameters
        unknown = sorted(set(given) - set(params))
        if unknown:
            raise UserError(f"model {self.name!r} takes no argument {unknown[0]!r}")
        bound = inspect.signature(self.fn).bind(task=task, **{**self.defaults.get(task, {}), **given})
        bound.apply_defaults()
        for key in ("width", "steps"):  # the arguments every model takes: checked before any layer is built
            value = bound.arguments.get(key)
            if key in params and not (type(value) is int and value >= 1):
                raise UserError(f"model {self.name!r}: {key} must be an integer >= 1, got {value!r}")
        return dict(bound.arguments)


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    defaults: dict[str, dict[str, Any]] | None = None,
    tasks: tuple[str, ...] | None = None,
    recurrent: bool = True,
    paper_params: dict[str, int] | None = None,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register ``fn`` under ``name`` for ``tasks`` (default: the tasks ``defaults`` names, else
    both). Registering the same name twice raises ``ValueError``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _MODELS:
            raise ValueError(f"a model named {name!r} is already registered")
        doc = (fn.__doc__ or "").strip().splitlines()
        supported = tuple(tasks or defaults or TASKS)
        entry = ModelEntry(
            name, fn, supported, recurrent, dict(defaults or {}), dict(paper_params or {}), doc[0] if doc else ""
        )
        _MODELS[name] = entry
        return fn

    return wrap


def list_models(task: str | None = None) -> list[str]:
    """Names of all registered models, optionally only those that support ``task``."""
    return sorted(n for n, e in _MODELS.items() if task is None or task in e.tasks)


def get_entry(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return _MODELS[name]


def make_model(name: str, *, task: str = "mazes", halting: str | None = None, **cfg: Any) -> nn.Module:
    """A freshly initialised registered model ``name`` for ``task`` ('mazes' or 'pathfinder').

    ``halting="act"`` attaches a learned halting head (models/act.py) to a recurrent model.
    ``model.config`` records the name and every resolved argument (the checkpoint's description).
    """
    entry = get_entry(name)
    args = entry.resolve(task, **cfg)
    if halting is not None:
        if halting != "act":
            raise UserError(f"unknown halting {halting!r}; the learned one is 'act'")
        if not entry.recurrent:
            raise UserError(f"halting='act' needs a recurrent model; {name!r} is feed-forward")
    model = entry.fn(**args)
    if halting is not None:
        model.halt = HaltingHead(model.cell.out_channels)
        args["halting"] = halting
    model.config = {"name": name, **args}
    return model
