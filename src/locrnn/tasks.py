"""Tasks: where the data comes from, the per-sample loss and what counts as correct.

A task is looked up by name (``get_task``); the trainer and the sweep only use this interface.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .data.arrays import ArrayDataset
from .data.maze_io import load_mazes
from .data.mazes import check_size, generate_mazes
from .io import UserError
from .metrics import class_correct, maze_correct, maze_pixel_accuracy, maze_predictions, open_mask


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
            n = len(x)
            if n < 2:
                raise UserError(f"{cfg.data_root}: {n} training maze(s) of size {size}; need 2 or more (1 to validate)")
            n_val = min(cfg.n_val or n, max(1, n // 5))  # the last fifth (at least one maze) validates
            n_train = min(cfg.n_train, n - n_val) if cfg.n_train else n - n_val
            return ArrayDataset(x[:n_train], y[:n_train]), ArrayDataset(x[n - n_val :], y[n - n_val :])
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
        raise UserError(f"unknown task {name!r}; choose one of: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]()


class PathFinderTask(ClassificationTask):
    """PathFinder: are the two markers on the same path? Difficulty = path length (paddles).

    Images are ``cfg.image_size`` px (default 150, the paper's) in ``cfg.geometry``: ``paper``
    (the hGRU/LocRNN sets' 300-unit canvas drawn at that size) or ``lra`` (the Long Range Arena
    sets, drawn natively at 32/64/128/256; ``locrnn.data.pathfinder.pathfinder_params``). Inputs are
    float32 (3, H, W) in [0, 1] (grayscale repeated, a stride-0 view), labels int64, 1 = connected.
    """

    name = "pathfinder"
    difficulty = "length"
    default_difficulties = (9, 14, 18)

    def __init__(self) -> None:
        self.image_size: int | None = None
        self.geometry = "paper"

    def configure(self, run_config: dict) -> None:
        """Take settings of a training run (its ``config.json``): the images to test on."""
        self.image_size = run_config.get("image_size") or self.image_size
        self.geometry = run_config.get("geometry") or self.geometry

    def check_difficulty(self, length: int) -> int:
        from .data.pathfinder import check_length

        return check_length(length)

    def params(self, length: int, image_size: int | None = None):
        from .data.pathfinder import pathfinder_params

        size = image_size or self.image_size or (32 if self.geometry == "lra" else 150)
        return pathfinder_params(self.check_difficulty(length), size, family=self.geometry)

    def datasets(self, cfg) -> tuple[ArrayDataset, ArrayDataset]:
        from .data.pathfinder import generate_pathfinder
        from .data.pathfinder_read import load_pathfinder

        self.image_size, self.geometry = cfg.image_size or self.image_size, cfg.geometry
        length, size = self.check_difficulty(cfg.size), self.params(cfg.size).size
        if cfg.data_root:
            train = load_pathfinder(cfg.data_root, length, "train", size=size, n=cfg.n_train or None)
            val = load_pathfinder(cfg.data_root, length, "val", size=size, n=cfg.n_val or None)
        else:
            p = self.params(length, size)
            train = generate_pathfinder(cfg.n_train, p, seed=cfg.data_seed, split="train", progress=cfg.progress)
            val = generate_pathfinder(cfg.n_val, p, seed=cfg.data_seed, split="val")
        return gray_dataset(*train), gray_dataset(*val)

    def test_data(self, length: int, n: int, *, root: str | None = None, seed: int = 0) -> ArrayDataset:
        from .data.pathfinder import generate_pathfinder
        from .data.pathfinder_read import load_pathfinder

        size = self.params(length).size
        if root:
            return gray_dataset(*load_pathfinder(root, self.check_difficulty(length), "test", size=size, n=n or None))
        return gray_dataset(*generate_pathfinder(n, self.params(length, size), seed=seed, split="test"))


def gray_dataset(images, labels) -> ArrayDataset:
    """(N, H, W) uint8 images (possibly memory-mapped) as 3-channel inputs in [0, 1], no copy."""
    images = images if images.ndim == 4 else images[:, None]
    return ArrayDataset(np.broadcast_to(images, (len(images), 3, *images.shape[2:])), labels, scale=1 / 255)


register_task("pathfinder", PathFinderTask)
