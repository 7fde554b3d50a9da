"""The optimizer and the learning-rate schedule of a run (the schedule is a function of progress,
so a resumed run needs no scheduler state)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..io import UserError
from .config import TrainConfig


def lr_factor(cfg: TrainConfig, total: int) -> Callable[[float], float]:
    """LR multiplier as a function of training progress p in [0, 1] (iterations done / total, or
    the share of ``time_budget`` spent if larger): linear warm-up over the first ``warmup`` of
    training, then cosine, constant or multi-step decay (``milestones`` are fractions)."""
    if cfg.schedule not in ("cosine", "multistep", "constant"):
        raise UserError(f"unknown schedule {cfg.schedule!r}; choose cosine, multistep or constant")
    first = 1.0 / max(1, total)

    def f(p: float) -> float:
        w = min(1.0, (p + first) / cfg.warmup) if cfg.warmup > 0 else 1.0
        if cfg.schedule == "cosine":
            return w * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))
        if cfg.schedule == "multistep":
            return w * cfg.gamma ** sum(p >= m for m in cfg.milestones)
        return w

    return f


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over the trainable parameters of ``model``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose adam, adamw or sgd")
