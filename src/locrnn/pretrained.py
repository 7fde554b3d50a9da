"""Small quick-scale checkpoints shipped inside the package, loadable by name.

``build_model("locrnn", task="mazes", pretrained=True)`` or ``locrnn sweep --pretrained
locrnn-mazes`` give a trained model in seconds. The files live in ``locrnn/pretrained/`` as
``<model>-<task>[-<tag>].safetensors`` + ``.json`` (the same checkpoint format as every run);
a tag names a variant of the default (``locrnn-mazes-stable``: ``build_model("locrnn",
pretrained="stable")``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .io import UserError


def _folder() -> Path:
    return Path(str(resources.files("locrnn") / "pretrained"))


def list_pretrained() -> list[str]:
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json"))


def pretrained_path(key: str) -> Path:
    """The checkpoint stem of ``<model>-<task>`` (e.g. ``locrnn-mazes``)."""
    if key not in list_pretrained():
        raise UserError(f"no pretrained checkpoint {key!r}; available: {', '.join(list_pretrained()) or 'none'}")
    return _folder() / key


def load_pretrained(name: str, task: str, tag: str | None = None, **overrides):
    from .checkpoint import load_model

    key = f"{name}-{task}" + (f"-{tag}" if tag else "")
    return load_model(pretrained_path(key), expect=name, **overrides)
