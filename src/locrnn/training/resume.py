"""A run's resumable state: ``trainer_state.pt`` (weights, optimizer, position, RNG states) and,
on resume, its ``config.json`` and a ``metrics.jsonl`` cut back to that state."""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import torch

from ..io import FORMAT_VERSION as FORMAT
from ..io import UserError, atomic_path, load_json
from ..runtime import Runtime
from .config import FIELDS, TrainConfig


def save_state(run_dir: Path, net, opt, pos, rng: random.Random, t0: float, rt: Runtime, metrics=None) -> None:
    """Write ``trainer_state.pt``; its position records how long ``metrics.jsonl`` was then, so
    that a resumed run drops the rows logged after it (they are logged again)."""
    if not rt.main:
        return
    logged = {"metrics_bytes": metrics.tell()} if metrics else {}
    state = {
        "format_version": FORMAT,
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": {"schedule": "a function of position (see lr_factor)"},
        "position": {**pos, "seconds": time.time() - t0, **logged},
        "python_rng": rng.getstate(),
        "torch_rng": torch.get_rng_state(),
    }
    with atomic_path(run_dir / "trainer_state.pt") as tmp:
        torch.save(state, tmp)


def load_state(path: Path, net, opt, pos, rng: random.Random) -> None:
    if not path.is_file():
        raise UserError(f"cannot resume: missing {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise UserError(f"cannot resume: corrupt training state {path}: {_first_line(e)}") from None
    if not isinstance(state, dict) or state.get("format_version", FORMAT) != FORMAT:
        version = state.get("format_version") if isinstance(state, dict) else None
        raise UserError(f"cannot resume: {path} has format version {version}, this locrnn reads version {FORMAT}")
    try:
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        pos.update(state["position"])
        rng.setstate(_as_rng_state(state["python_rng"]))
        torch.set_rng_state(state["torch_rng"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        what = f"no {e}" if isinstance(e, KeyError) else _first_line(e)
        raise UserError(f"cannot resume: {path} does not fit this run's model and optimizer ({what})") from None


def truncate_metrics(path: Path, pos: dict) -> None:
    """Keep the rows of ``metrics.jsonl`` logged up to the checkpoint being resumed (its
    ``metrics_bytes``; for a state written before those were recorded, the rows at or before its
    iteration), rewritten atomically: the resumed run logs the rest again, each row once."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if pos.get("metrics_bytes") is not None:
        kept = data[: pos["metrics_bytes"]]
    else:
        kept = b"".join(line for line in data.splitlines(keepends=True) if _row_iteration(line) <= pos["iteration"])
    if kept != data:
        with atomic_path(path) as tmp:
            tmp.write_bytes(kept)


def _row_iteration(line: bytes) -> float:
    try:
        return json.loads(line)["iteration"] if line.endswith(b"\n") else math.inf
    except (ValueError, KeyError, TypeError):
        return math.inf  # a half-written or foreign row: dropped


def _first_line(e: Exception) -> str:
    """The telling line of a torch error: its first detail line, or its first sentence."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        return lines[1]
    return lines[0].split(". ")[0] if lines else type(e).__name__


def load_config(path: Path) -> TrainConfig:
    values = load_json(path)
    unknown = sorted(set(values) - set(FIELDS)) if isinstance(values, dict) else None
    if unknown is None or unknown:
        raise UserError(f"cannot resume: {path} is not a config of this locrnn (unknown fields: {unknown})")
    return TrainConfig(**values, where=f"cannot resume: {path}").validate()


def _as_rng_state(s):
    return tuple(_as_rng_state(v) if isinstance(v, list) else v for v in s)
