"""Data-parallel training that makes the same update as one process with the same global batch.

Three things differ between N processes and one unless handled here:

* **Batch statistics.** BatchNorm in training mode normalises with the statistics of the batch it
  sees; per process that is 1/N of the global batch. :func:`sync_batchnorm` makes every BatchNorm
  use global statistics: ``torch.nn.SyncBatchNorm`` on CUDA/XPU/HPU, and :class:`GlobalBatchNorm`
  elsewhere (``SyncBatchNorm`` refuses CPU tensors as of torch 2.13: its kernels are GPU only).
* **Loss normalisation.** DDP averages gradients over processes, which equals the single-process
  gradient only if every process's loss is normalised by the *same* count. A masked maze loss is
  a mean over the open pixels of the local share of the batch, and shares can hold different
  counts (every generated perfect maze of one size has the same count, but user data need not),
  so :func:`rank_weighted` scales each process's task loss by ``world * local_count /
  global_count``: the mean of the scaled losses is then exactly the loss of the global batch.
* **Forwards outside DDP.** Objectives that call ``net.iterate`` or ``net.stem`` directly (deep
  supervision, the progressive loss) bypass a DDP-wrapped model's ``forward`` and so would skip
  the gradient all-reduce. :class:`ObjectiveModule` makes the whole objective one forward, and it
  is this module that DDP wraps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..data.arrays import ArrayDataset
from ..runtime import Runtime, all_sum
from ..tasks import Task

_SYNC_BN_DEVICES = ("cuda", "xpu", "hpu")


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of each input is the sum of the gradients over processes."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm whose training-mode statistics are those of the global batch across processes.

    With x_r the input on process r and n the global count of values per channel::

        mean = sum_r sum(x_r) / n
        var  = sum_r sum((x_r - mean)^2) / n                (biased, used to normalise)
        y    = (x - mean) / sqrt(var + eps) * weight + bias
        running_var <- (1 - momentum) running_var + momentum * var * n / (n - 1)

    The two sums are differentiable all-reduces (:class:`_AllReduceSum`, whose backward
    all-reduces the gradient), so gradients flow between processes as in ``SyncBatchNorm``.
    Works on any device and backend (gloo included). In eval mode, or without a process group
    of more than one process, it is an ordinary BatchNorm.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected an input with a channel dimension, got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.to(torch.promote_types(x.dtype, torch.float32))  # statistics in fp32 or wider
        count = torch.full((1,), x.numel() / x.shape[1], dtype=xf.dtype, device=x.device)
        sums = _AllReduceSum.apply(torch.cat([xf.sum(dims), count]))
        n = sums[-1].detach()
        mean = sums[:-1] / n
        centered = xf - mean.view(shape)
        var = _AllReduceSum.apply((centered * centered).sum(dims)) / n
        y = centered * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), m)
                unbiased = var.detach() * n / (n - 1).clamp_min(1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), m)
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm in ``module`` by one with global statistics (in place; returns it).

    Parameters and buffers are shared with the originals, so the state dict keys are unchanged
    and checkpoints still rebuild the plain model.
    """
    if device.type in _SYNC_BN_DEVICES:
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, _BatchNorm) and not isinstance(module, (GlobalBatchNorm, nn.SyncBatchNorm)):
        new = GlobalBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats
        )
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        new.running_mean, new.running_var = module.running_mean, module.running_var
        new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, sync_batchnorm(child, device))
    return module


class ObjectiveModule(nn.Module):
    """``forward(*args)`` = ``objective(net, *args)``: the whole training objective as one forward."""

    def __init__(self, net: nn.Module, objective: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.net = net
        self.objective = objective

    def forward(self, *args) -> torch.Tensor:
        return self.objective(self.net, *args)


def wrap_objective(net: nn.Module, objective, rt: Runtime) -> nn.Module:
    """The module the trainer calls: ``ObjectiveModule`` inside DDP when there are processes."""
    step = ObjectiveModule(net, objective)
    if rt.world == 1:
        return step
    ids = [rt.device.index] if rt.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(step, device_ids=ids)


@dataclass(frozen=True)
class RankWeightedTask:
    """``task`` whose loss is multiplied by ``scale``; what it scores and how is the task's own.

    A frozen value like the tasks (``tasks.py``): each method of the ``Task`` interface is spelled
    out, only ``loss`` differs.
    """

    task: Task
    scale: float

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def difficulty(self) -> str:
        return self.task.difficulty

    @property
    def default_difficulties(self) -> tuple[int, ...]:
        return self.task.default_difficulties

    def loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.task.loss(logits, x, y) * self.scale

    def loss_weight(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.task.loss_weight(x, y)

    def correct(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.task.correct(logits, x, y)

    def predict(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.task.predict(logits, x)

    def correct_prediction(self, pred: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.task.correct_prediction(pred, x, y)

    def extra_metrics(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.task.extra_metrics(logits, x, y)

    def check_difficulty(self, difficulty: int) -> int:
        return self.task.check_difficulty(difficulty)

    def datasets(self, difficulty: int, n_train: int, n_val: int, **kw: Any) -> tuple[ArrayDataset, ArrayDataset]:
        return self.task.datasets(difficulty, n_train, n_val, **kw)

    def test_data(self, difficulty: int, n: int, **kw: Any) -> ArrayDataset:
        return self.task.test_data(difficulty, n, **kw)


def rank_weighted(task: Task, x: torch.Tensor, y: torch.Tensor, rt: Runtime) -> Task:
    """The task this process trains on, so that DDP's gradient mean is the global batch's gradient.

    ``task.loss`` is a mean over ``w_r = task.loss_weight(x, y)`` terms (open pixels for mazes,
    images for PathFinder). Scaled by ``world * w_r / sum_r w_r``, the mean
    over processes of the scaled losses is ``sum_r w_r loss_r / sum_r w_r``: the loss of the
    global batch. Terms that are means over samples (regularisers) need no scaling, since every
    process holds the same number of samples. With one process the task is returned unchanged.
    """
    if rt.world == 1:
        return task
    w = float(task.loss_weight(x, y))
    total = all_sum([w], rt)[0]
    return RankWeightedTask(task, rt.world * w / total)


def global_mean(value: float, rt: Runtime) -> float:
    """The mean of ``value`` over processes (itself with one process)."""
    return value if rt.world == 1 else all_sum([value], rt)[0] / rt.world
