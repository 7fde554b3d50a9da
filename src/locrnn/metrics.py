"""Accuracy metrics: exact-match mazes (mazes.md section 4) and classification."""

from __future__ import annotations

import torch


def open_mask(x: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool: pixels that are not black (walls and padding are black)."""
    return x.amax(dim=1) > 0


def maze_predictions(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel class with predictions on black pixels forced to 0."""
    return logits.argmax(dim=1) * open_mask(x)


def maze_correct(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) bool: a maze counts only if every pixel is right."""
    return (maze_predictions(logits, x) == y).flatten(1).all(dim=1)


def maze_pixel_accuracy(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) fraction of pixels right (black pixels forced to 0 first)."""
    return (maze_predictions(logits, x) == y).flatten(1).float().mean(dim=1)


def class_correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(B,) bool: the arg-max class is the label."""
    return logits.argmax(dim=1) == y
