"""Validation during training: score the model on the validation set (with ``scoring.py``, as the
sweeps do), keep the ``best`` and ``last`` checkpoints, and log rows to ``metrics.jsonl``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TextIO

import numpy as np
import torch

from ..data.arrays import ArrayDataset
from ..io import UserError, write_failure
from ..models.hub import save_model
from ..runtime import Runtime, all_sum
from ..scoring import evaluate_steps
from ..tasks import Task
from .config import TrainConfig


def validate(
    net: torch.nn.Module,
    val_ds: ArrayDataset,
    task: Task,
    cfg: TrainConfig,
    rt: Runtime,
    run_dir: Path,
    pos: dict,
    metrics: TextIO | None,
    t0: float,
) -> None:
    """Validation accuracy over ``cfg.val_steps``: the lowest (``val_score="min"``: a model meant
    to hold its answer is judged on the whole range) or the highest (``"max"``: a model trained
    over a range of step counts is judged at its best one); keeps ``best`` and ``last``
    checkpoints. Each process scores its share of the data; the counts are summed over processes."""
    recurrent = getattr(net, "recurrent", False)
    steps = (cfg.val_steps or [net.resolve_steps(cfg.steps)]) if recurrent else None
    res = evaluate_steps(net, shard(val_ds, rt), task, steps, batch_size=256, device=rt.device, autocast=rt.autocast())
    sums = all_sum([v for r in res.values() for v in (r["accuracy"] * r["n"], r["n"])], rt)
    by_step = {k: c / n for k, c, n in zip(res, sums[::2], sums[1::2])}
    acc = (max if cfg.val_score == "max" else min)(by_step.values())
    if metrics:
        extra = {"val_by_step": {str(k): v for k, v in by_step.items()}} if len(by_step) > 1 else {}
        log_row(metrics, pos, t0, val_accuracy=acc, **extra)
    if rt.main:
        meta = {"val_accuracy": acc, "iteration": pos["iteration"], "images": pos["images"]}
        meta["images_total"] = pos["images"] + pos["images_before"]  # with --init-from's stages
        meta["trained_on"] = {
            "size": cfg.size,
            "image_size": cfg.image_size,
            "geometry": cfg.geometry,
            "balance_distance": cfg.balance_distance,
        }  # the checkpoint alone says it
        save_model(run_dir / "last", net, **meta)
        if acc > pos["best"]:
            save_model(run_dir / "best", net, **meta)
    pos["best"] = max(pos["best"], acc)


def reached(cfg: TrainConfig, pos: dict) -> bool:
    """Whether validation has reached ``cfg.stop_at`` (every process holds the same ``best``)."""
    return cfg.stop_at is not None and pos["best"] >= cfg.stop_at


def shard(data: ArrayDataset, rt: Runtime) -> ArrayDataset:
    """This process's share of ``data`` (every ``world``-th sample from its rank)."""
    if rt.world == 1:
        return data
    idx = np.arange(rt.rank, len(data), rt.world)
    return ArrayDataset(data.inputs[idx], data.targets[idx], scale=data.scale)


def log_row(f: TextIO, pos: dict, t0: float, **values) -> None:
    """One row of ``metrics.jsonl``: the position, the seconds since the start, and ``values``."""
    row = {k: pos[k] for k in ("epoch", "iteration", "images")}
    row.update(time=round(time.time() - t0, 3), **values)
    try:
        f.write(json.dumps(row) + "\n")
        f.flush()
    except OSError as e:  # a full disk: one line naming the file (the checkpoints on disk are kept)
        raise UserError(f"cannot write {f.name}: {write_failure(e, Path(f.name).parent)}") from None
