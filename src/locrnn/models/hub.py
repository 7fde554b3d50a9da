"""The hub: checkpoints, the pretrained weights shipped with locrnn, and :func:`build_model`.

A checkpoint is ``<stem>.safetensors`` + ``<stem>.json``. The JSON holds the format version and
the model's description (``model.config``: the registry name and every resolved argument, task
and step count included, so a later change of a default never changes a saved model); the
weights are safetensors, so loading never unpickles. A checkpoint written before the description
was complete still loads: the arguments it lacks take today's defaults.

Small quick-scale checkpoints ship inside the package (``locrnn/pretrained/``, named
``<model>-<task>[-<tag>]``): ``build_model("locrnn", task="mazes", pretrained=True)`` gives a
trained model in seconds; a tag names a variant (``pretrained="stable"``: ``locrnn-mazes-stable``).

This module sits above the registry (models/_registry.py) and imports it, never the reverse (as
timm's ``_builder`` / ``_hub``); no other model file imports it.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..io import FORMAT_VERSION, UserError, atomic_path, load_json, save_json
from ._registry import make_model


def build_model(name: str, *, task: str = "mazes", pretrained: bool | str = False, **cfg: Any) -> nn.Module:
    """Build the registered model ``name`` for ``task`` ('mazes' or 'pathfinder').

    ``pretrained=True`` loads the quick-scale checkpoint shipped with locrnn,
    ``pretrained="stable"`` its variant ``<name>-<task>-stable``; ``cfg`` may then only change
    call-time settings such as ``steps``. Otherwise the model is freshly initialised
    (``halting="act"`` adds a learned halting head, models/act.py).
    """
    if pretrained:
        return load_pretrained(name, task, tag=None if pretrained is True else str(pretrained), **cfg)
    return make_model(name, task=task, **cfg)


def save_model(path: str | os.PathLike, model: nn.Module, **extra: Any) -> None:
    """Write ``path.safetensors`` and ``path.json`` (``path`` without suffix)."""
    path = Path(path)
    model = getattr(model, "module", model)  # unwrap DDP
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("the model has no .config; build it with locrnn.build_model")
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(tensors, str(tmp))
    meta = {"format_version": FORMAT_VERSION, "model": config, **extra}
    save_json(path.with_suffix(".json"), meta)


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """Accept a run folder, ``x.safetensors``, ``x.json`` or ``x``; return the stem path."""
    path = Path(path)
    if path.is_dir():
        for name in ("best", "last"):
            if (path / f"{name}.json").is_file():
                return path / name
        raise UserError(f"no checkpoint (best.json / last.json) in {path}")
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    if not path.with_suffix(".json").is_file():
        raise UserError(f"missing checkpoint file {path.with_suffix('.json')}")
    return path


def read_checkpoint(path: str | os.PathLike, *, expect: str | None = None) -> tuple[Path, dict]:
    """The stem and metadata of a checkpoint, checked: a locrnn checkpoint of this format version,
    holding the registered model ``expect`` (when given)."""
    stem = resolve_checkpoint(path)
    meta = load_json(stem.with_suffix(".json"))
    if not isinstance(meta, dict) or not isinstance(meta.get("model"), dict):
        raise UserError(f"{stem.with_suffix('.json')} is not a locrnn checkpoint (no model description)")
    for key in ("name", "task"):
        if not isinstance(meta["model"].get(key, "mazes"), str):
            got = meta["model"].get(key)
            raise UserError(f"{stem.with_suffix('.json')}: the model's {key} must be a string, got {got!r}")
    if "name" not in meta["model"]:
        raise UserError(f"{stem.with_suffix('.json')}: the model has no name")
    if meta.get("format_version") != FORMAT_VERSION:
        raise UserError(
            f"checkpoint {stem} has format version {meta.get('format_version')}, "
            f"this locrnn reads version {FORMAT_VERSION}"
        )
    name = meta["model"].get("name")
    if expect is not None and name != expect:
        raise UserError(f"checkpoint {stem} holds a {name!r} model, not {expect!r}")
    return stem, meta


DEFAULT_DAMPING, DEFAULT_PATIENCE = 1.0, 5


def test_time_settings(meta: dict, source: str | os.PathLike = "checkpoint") -> tuple[float, int]:
    """The test-time ``damping`` and halting ``patience`` a checkpoint recommends (its JSON's
    ``test_time``: ``{"damping": 0.8, "patience": 10}``), else 1.0 (no damping) and 5; checked."""
    tt = meta.get("test_time") or {}
    if not isinstance(tt, dict) or set(tt) - {"damping", "patience"}:
        raise UserError(f"{source}: test_time must be a mapping of damping and patience, got {tt!r}")
    damping, patience = tt.get("damping", DEFAULT_DAMPING), tt.get("patience", DEFAULT_PATIENCE)
    if not isinstance(damping, (int, float)) or not 0 < damping <= 1:
        raise UserError(f"{source}: test_time damping must be in (0, 1], got {damping!r}")
    if not isinstance(patience, int) or patience < 1:
        raise UserError(f"{source}: test_time patience must be an integer >= 1, got {patience!r}")
    return float(damping), patience


def load_model(path: str | os.PathLike, *, expect: str | None = None, **overrides: Any) -> nn.Module:
    """Rebuild a model from a checkpoint; ``expect`` checks the registry name.

    ``steps=N`` sets the default step count of the loaded model (weights trained with T steps
    load unchanged, per-step norms included); other overrides rebuild with those arguments."""
    stem, meta = read_checkpoint(path, expect=expect)
    cfg = dict(meta["model"])
    name = cfg.pop("name")
    steps = overrides.pop("steps", None)  # a call-time setting: it never changes the weights' layout
    try:
        model = make_model(name, **{**cfg, **overrides})
    except UserError as e:  # e.g. an argument the model does not take, a width of -8
        raise UserError(f"checkpoint {stem.with_suffix('.json')}: {e}") from None
    load_weights(model, stem.with_suffix(".safetensors"))
    if steps is not None:
        if not getattr(model, "recurrent", False):
            raise UserError(f"checkpoint {stem} holds a feed-forward {name!r} model: it takes no step count")
        model.trained_steps = int(steps)
    model.checkpoint_meta = meta
    return model


def load_weights(model: nn.Module, path: str | os.PathLike) -> None:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"missing weights file {path}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise UserError(f"corrupt weights file {path}: {e}") from None
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    bad = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or extra or bad:
        what = []
        if missing:
            what.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            what.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        if bad:
            k = bad[0]
            what.append(f"{len(bad)} of another shape (e.g. {k}: {tuple(tensors[k].shape)} vs {tuple(own[k].shape)})")
        raise UserError(f"weights in {path} do not match the model: {'; '.join(what)}")
    model.load_state_dict(tensors)


def _folder() -> Path:
    return Path(str(resources.files("locrnn") / "pretrained"))


def list_pretrained() -> list[str]:
    """The shipped checkpoints, ``<model>-<task>[-<tag>]``."""
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json"))


def pretrained_path(key: str) -> Path:
    """The checkpoint stem of ``<model>-<task>`` (e.g. ``locrnn-mazes``)."""
    if key not in list_pretrained():
        raise UserError(f"no pretrained checkpoint {key!r}; available: {', '.join(list_pretrained()) or 'none'}")
    return _folder() / key


def load_pretrained(name: str, task: str, tag: str | None = None, **overrides: Any) -> nn.Module:
    """The shipped checkpoint of ``name`` on ``task`` (``tag``: a variant), e.g. ``locrnn-mazes``."""
    key = f"{name}-{task}" + (f"-{tag}" if tag else "")
    return load_model(pretrained_path(key), expect=name, **overrides)
