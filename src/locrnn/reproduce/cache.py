"""The sweep cache of a figure: rows of an earlier sweep of the same checkpoint with the same
parameters are reused (a redraw does not re-sweep); a retrained checkpoint is swept again."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..io import save_json


def cached(folder: Path, stem: str, params: dict, checkpoint: Path | None) -> list[dict] | None:
    """The rows of an earlier sweep of the same checkpoint with the same parameters, else None.
    ``checkpoint`` None: of whatever checkpoint made them (its file's time is not compared: a
    fresh checkout of a shipped checkpoint has a new time and the same weights)."""
    try:
        done = json.loads((folder / "params.json").read_text())
        if done["params"] != params or (checkpoint is not None and done["checkpoint_mtime"] != _mtime(checkpoint)):
            return None
        return json.loads((folder / f"{stem}.json").read_text())
    except (OSError, ValueError, KeyError):
        return None


def remember(folder: Path, params: dict, checkpoint: Path) -> None:
    save_json(folder / "params.json", {"params": params, "checkpoint_mtime": _mtime(checkpoint)})


def _mtime(checkpoint: Path) -> float:
    return checkpoint.with_suffix(".safetensors").stat().st_mtime


def cached_rows(
    folder: Path, stem: str, params: dict, checkpoint: Path, compute: Callable[[], list[dict]]
) -> tuple[list[dict], bool]:
    """The rows ``compute`` gives for ``params`` (it writes ``folder/<stem>.json``), from the cache
    when an earlier call made them from the same checkpoint; and whether they were computed now."""
    rows = cached(folder, stem, params, checkpoint)
    if rows is not None:
        return rows, False
    rows = compute()
    remember(folder, params, checkpoint)
    return rows, True
