"""The optimizer and the learning-rate schedule of a run (the schedule is a function of progress,
so a resumed run needs no scheduler state)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..io import UserError
from .config import TrainConfig


def warmup_factor(cfg: TrainConfig, total: int) -> Callable[[float], float]:
    """The warm-up's multiplier at progress p (the iteration under way counts as done, so the
    first step's is not 0). ``linear``: (p + 1/total) / warmup, 1 from ``warmup`` on.
    ``exponential`` (DeepThinking's ``ExponentialWarmup``): 1 - exp(-(p + 1/total) / warmup), with
    ``warmup`` the time constant: 63% of the LR at p = warmup, 99.3% at 5 * warmup. DeepThinking
    steps it once per epoch, 1 - exp(-(e + 1) / 10) in epoch e of 50, which is warmup = 0.2 taken
    per iteration instead."""
    if cfg.warmup_kind not in ("linear", "exponential"):
        raise UserError(f"unknown warmup_kind {cfg.warmup_kind!r}; choose linear or exponential")
    first = 1.0 / max(1, total)
    if cfg.warmup <= 0:
        return lambda p: 1.0
    if cfg.warmup_kind == "exponential":
        return lambda p: 1.0 - math.exp(-(p + first) / cfg.warmup)
    return lambda p: min(1.0, (p + first) / cfg.warmup)


def lr_factor(cfg: TrainConfig, total: int) -> Callable[[float], float]:
    """LR multiplier as a function of training progress p in [0, 1] (iterations done / total, or
    the share of ``time_budget`` spent if larger): the warm-up (:func:`warmup_factor`) times
    cosine, constant or multi-step decay (``milestones`` are fractions). A parameter group's own
    ``lr_factor`` (:func:`make_optimizer`) multiplies this."""
    if cfg.schedule not in ("cosine", "multistep", "constant"):
        raise UserError(f"unknown schedule {cfg.schedule!r}; choose cosine, multistep or constant")
    warm = warmup_factor(cfg, total)

    def f(p: float) -> float:
        w = warm(p)
        if cfg.schedule == "cosine":
            return w * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))
        if cfg.schedule == "multistep":
            return w * cfg.gamma ** sum(p >= m for m in cfg.milestones)
        return w

    return f


def param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict]:
    """The trainable parameters of ``model`` as optimizer groups, each with its ``lr_factor``: one
    group, or with ``recurrent_lr_factor`` != 1 the recurrent block (the model's
    ``recurrent_parameters()``) at that factor and the rest at 1 (DeepThinking trains its
    recurrent block at lr / max_iters). A factor with no recurrent parameters changes nothing."""
    params = [p for p in model.parameters() if p.requires_grad]
    net = getattr(model, "module", model)
    recurrent = getattr(net, "recurrent_parameters", list)() if cfg.recurrent_lr_factor != 1 else []
    ids = {id(p) for p in recurrent}
    slow = [p for p in params if id(p) in ids]
    if not slow:
        return [{"params": params, "lr_factor": 1.0}]
    rest = [p for p in params if id(p) not in ids]
    return [{"params": rest, "lr_factor": 1.0}, {"params": slow, "lr_factor": cfg.recurrent_lr_factor}]


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over the trainable parameters of ``model``, in :func:`param_groups`; each
    group's learning rate is ``cfg.lr`` times its ``lr_factor`` (the trainer then applies the
    schedule)."""
    params = [{**g, "lr": cfg.lr * g["lr_factor"]} for g in param_groups(model, cfg)]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose adam, adamw or sgd")
