"""Tasks: where the data comes from, the per-sample loss and what counts as correct.

A task is looked up by name (``get_task``); the trainer and the sweep only use this interface.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..data.arrays import ArrayDataset
from ..data.maze_io import load_mazes
from ..data.mazes import check_size, generate_mazes
from ..evaluation.metrics import class_correct, maze_correct, maze_pixel_accuracy, maze_predictions, open_mask


def _fp32_or_wider(t: torch.Tensor) -> torch.Tensor:
    """Half-precision logits to fp32 for the loss; fp32 and fp64 stay as they are."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


class MazeTask:
    """Mazes as per-pixel segmentation; loss = cross-entropy over non-black pixels."""

    name = "mazes"
    difficulty = "size"
    default_difficulties = (9, 11, 13)

    def check_difficulty(self, size: int) -> int:
        return check_size(size)

    def datasets(self, cfg) -> tuple[ArrayDataset, ArrayDataset]:
        size = check_size(cfg.size)
        if cfg.data_root:
            x, y = load_mazes(cfg.data_root, "train", size)
            n_val = min(cfg.n_val, len(x) // 5)
            n_train = min(cfg.n_train, len(x) - n_val) if cfg.n_train else len(x) - n_val
            return ArrayDataset(x[:n_train], y[:n_train]), ArrayDataset(x[-n_val:], y[-n_val:])
        x, y = generate_mazes(cfg.n_train, size, seed=cfg.data_seed, split="train")
        xv, yv = generate_mazes(cfg.n_val, size, seed=cfg.data_seed, split="val")
        return ArrayDataset(x, y), ArrayDataset(xv, yv)

    def test_data(self, size: int, n: int, *, root: str | None = None, seed: int = 0) -> ArrayDataset:
        size = check_size(size)
        if root:
            x, y = load_mazes(root, "test", size)
            return ArrayDataset(x[:n] if n else x, y[:n] if n else y)
        return ArrayDataset(*generate_mazes(n, size, seed=seed, split="test"))

    def loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mask = open_mask(x).to(logits.dtype)
        per_pixel = F.cross_entropy(_fp32_or_wider(logits), y, reduction="none")
        return (per_pixel * mask).sum() / mask.sum().clamp_min(1)

    def loss_weight(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """How many terms :meth:`loss` averages over (open pixels): data-parallel weighting."""
        return open_mask(x).sum().clamp_min(1)

    def correct(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return maze_correct(logits, x, y)

    def predict(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The answer: the path mask, black pixels forced to 0."""
        return maze_predictions(logits, x)

    def correct_prediction(self, pred: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (pred == y).flatten(1).all(dim=1)

    def extra_metrics(self, logits, x, y) -> dict[str, torch.Tensor]:
        return {"pixel_accuracy": maze_pixel_accuracy(logits, x, y)}


class ClassificationTask:
    """Base for image classification tasks (PathFinder)."""

    def loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(_fp32_or_wider(logits), y)

    def correct(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return class_correct(logits, y)

    def predict(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=1)

    def correct_prediction(self, pred: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pred == y

    def extra_metrics(self, logits, x, y) -> dict[str, torch.Tensor]:
        return {}


_TASKS: dict[str, Callable[[], object]] = {"mazes": MazeTask}


def register_task(name: str, factory: Callable[[], object]) -> None:
    if name in _TASKS:
        raise ValueError(f"a task named {name!r} is already registered")
    _TASKS[name] = factory


def get_task(name: str):
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]()
