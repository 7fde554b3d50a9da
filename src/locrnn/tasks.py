"""Tasks: where the data comes from, the per-sample loss and what counts as correct.

A task is a frozen value looked up by name with its settings (``get_task("pathfinder",
image_size=48)``); the trainer, the objectives and the sweeps only use this interface. A run's
recorded settings (its ``config.json``, or a checkpoint's ``trained_on``) give the same task
again (``task_from_run``), so a model is tested on the images it was trained on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from .data.arrays import ArrayDataset
from .data.maze_io import load_mazes
from .data.mazes import check_size, generate_mazes
from .data.pathfinder import check_length, generate_pathfinder, published_params
from .data.pathfinder_read import load_pathfinder
from .io import UserError
from .metrics import class_correct, maze_correct, maze_pixel_accuracy, maze_predictions, open_mask


class Task(Protocol):
    """What every task offers (``MazeTask``, ``PathFinderTask``)."""

    name: ClassVar[str]
    difficulty: ClassVar[str]  # what the difficulty measures: "size", "length"
    default_difficulties: ClassVar[tuple[int, ...]]

    def check_difficulty(self, difficulty: int) -> int: ...
    def datasets(
        self,
        difficulty: int,
        n_train: int,
        n_val: int,
        *,
        root: str | None = None,
        seed: int = 0,
        progress: bool = False,
    ) -> tuple[ArrayDataset, ArrayDataset]: ...
    def test_data(self, difficulty: int, n: int, *, root: str | None = None, seed: int = 0) -> ArrayDataset: ...
    def loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...
    def loss_weight(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...
    def correct(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...
    def predict(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor: ...
    def correct_prediction(self, pred: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...
    def extra_metrics(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]: ...


def _fp32_or_wider(t: torch.Tensor) -> torch.Tensor:
    """Half-precision logits to fp32 for the loss; fp32 and fp64 stay as they are."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


@dataclass(frozen=True)
class MazeTask:
    """Mazes as per-pixel segmentation; loss = cross-entropy over non-black pixels."""

    name: ClassVar[str] = "mazes"
    difficulty: ClassVar[str] = "size"
    default_difficulties: ClassVar[tuple[int, ...]] = (9, 11, 13)

    def check_difficulty(self, size: int) -> int:
        return check_size(size)

    def datasets(
        self, size: int, n_train: int, n_val: int, *, root: str | None = None, seed: int = 0, progress: bool = False
    ) -> tuple[ArrayDataset, ArrayDataset]:
        """Training and validation mazes: the last fifth of ``root``'s train split validates (at
        most ``n_val``; 0 samples: all of them), else two generated streams of ``seed``."""
        size = check_size(size)
        if root:
            x, y = load_mazes(root, "train", size)
            n = len(x)
            if n < 2:
                raise UserError(f"{root}: {n} training maze(s) of size {size}; need 2 or more (1 to validate)")
            n_val = min(n_val or n, max(1, n // 5))  # the last fifth (at least one maze) validates
            n_train = min(n_train, n - n_val) if n_train else n - n_val
            return ArrayDataset(x[:n_train], y[:n_train]), ArrayDataset(x[n - n_val :], y[n - n_val :])
        x, y = generate_mazes(n_train, size, seed=seed, split="train")
        xv, yv = generate_mazes(n_val, size, seed=seed, split="val")
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

    def extra_metrics(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"pixel_accuracy": maze_pixel_accuracy(logits, x, y)}


@dataclass(frozen=True)
class ClassificationTask:
    """Base for image classification tasks (PathFinder): one label per image."""

    def loss(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(_fp32_or_wider(logits), y)

    def loss_weight(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """How many terms :meth:`loss` averages over (the images): data-parallel weighting."""
        return torch.tensor(float(len(x)))

    def correct(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return class_correct(logits, y)

    def predict(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=1)

    def correct_prediction(self, pred: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pred == y

    def extra_metrics(self, logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}


@dataclass(frozen=True)
class PathFinderTask(ClassificationTask):
    """PathFinder: are the two markers on the same path? Difficulty = path length (paddles).

    Images are ``image_size`` px (None: 150, the paper's; 32 for ``lra``) in ``geometry``:
    ``paper`` (the hGRU/LocRNN sets' 300-unit canvas drawn at that size) or ``lra`` (the Long Range
    Arena sets, drawn natively at 32/64/128/256; ``locrnn.data.pathfinder.published_params``).
    Inputs are float32 (3, H, W) in [0, 1] (grayscale repeated, a stride-0 view), labels int64,
    1 = connected. ``balance_distance``: the marker distance carries no information on the label.
    """

    name: ClassVar[str] = "pathfinder"
    difficulty: ClassVar[str] = "length"
    default_difficulties: ClassVar[tuple[int, ...]] = (9, 14, 18)

    image_size: int | None = None
    geometry: Literal["paper", "lra"] = "paper"
    balance_distance: bool = False

    def check_difficulty(self, length: int) -> int:
        return check_length(length)

    def params(self, length: int):
        """The generator's parameters for paths of ``length`` at this task's size and geometry."""
        size = self.image_size or (32 if self.geometry == "lra" else 150)
        return published_params(
            self.check_difficulty(length), size, family=self.geometry, balance_distance=self.balance_distance
        )

    def datasets(
        self, length: int, n_train: int, n_val: int, *, root: str | None = None, seed: int = 0, progress: bool = False
    ) -> tuple[ArrayDataset, ArrayDataset]:
        """Training and validation images: read from ``root`` (0 samples: all), else generated."""
        p = self.params(length)
        if root:
            train = load_pathfinder(root, p.length, "train", size=p.size, n=n_train or None)
            val = load_pathfinder(root, p.length, "val", size=p.size, n=n_val or None)
        else:
            train = generate_pathfinder(n_train, p, seed=seed, split="train", progress=progress)
            val = generate_pathfinder(n_val, p, seed=seed, split="val")
        return gray_dataset(*train), gray_dataset(*val)

    def test_data(self, length: int, n: int, *, root: str | None = None, seed: int = 0) -> ArrayDataset:
        p = self.params(length)
        if root:
            return gray_dataset(*load_pathfinder(root, p.length, "test", size=p.size, n=n or None))
        return gray_dataset(*generate_pathfinder(n, p, seed=seed, split="test"))


def gray_dataset(images, labels) -> ArrayDataset:
    """(N, H, W) uint8 images (possibly memory-mapped) as 3-channel inputs in [0, 1], no copy."""
    images = images if images.ndim == 4 else images[:, None]
    return ArrayDataset(np.broadcast_to(images, (len(images), 3, *images.shape[2:])), labels, scale=1 / 255)


_TASKS: dict[str, type] = {}


def register_task(cls: type) -> type:
    """Register the frozen task class ``cls`` under ``cls.name``; a second one of that name raises."""
    if cls.name in _TASKS:
        raise ValueError(f"a task named {cls.name!r} is already registered")
    _TASKS[cls.name] = cls
    return cls


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def _task_class(name: str) -> type:
    if name not in _TASKS:
        raise UserError(f"unknown task {name!r}; choose one of: {', '.join(list_tasks())}")
    return _TASKS[name]


def task_settings(name: str) -> tuple[str, ...]:
    """The names of the settings task ``name`` takes (its dataclass fields)."""
    return tuple(f.name for f in dataclasses.fields(_task_class(name)))


def get_task(name: str, **settings) -> Task:
    """The task ``name`` with ``settings`` (e.g. ``image_size=48`` for PathFinder)."""
    cls = _task_class(name)
    unknown = sorted(set(settings) - set(task_settings(name)))
    if unknown:
        takes = ", ".join(task_settings(name)) or "none"
        raise UserError(f"task {name!r} has no setting {unknown[0]!r} (its settings: {takes})")
    return cls(**settings)


def task_from_run(name: str, recorded: dict) -> Task:
    """The task ``name`` with the settings a run recorded (its config, or a checkpoint's
    ``trained_on``): the fields of the task found there, those left unset (None) taking defaults."""
    return get_task(name, **{k: recorded[k] for k in task_settings(name) if recorded.get(k) is not None})


register_task(MazeTask)
register_task(PathFinderTask)
