"""In-memory datasets and a shard-aware batch loader over numpy arrays."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from ..io import UserError


def check_finite(array: np.ndarray, name: str, *, chunk: int = 4096) -> None:
    """Raise ``ValueError`` naming the first sample with a NaN or inf (float arrays; in chunks,
    so memory-mapped arrays are not read into memory at once). Data enter training and
    evaluation here, so the models' forward passes need not check their inputs."""
    if np.asarray(array[:0]).dtype.kind not in "fc":
        return
    for start in range(0, len(array), chunk):
        bad = ~np.isfinite(np.asarray(array[start : start + chunk])).reshape(min(chunk, len(array) - start), -1).all(1)
        if bad.any():
            raise UserError(f"{name}: sample {start + int(np.argmax(bad))} holds a non-finite value (NaN or inf)")


class ArrayDataset(Dataset):
    """Images (N, C, H, W) -> float tensors (torch's default dtype, float32 unless changed),
    targets -> int64 (per-pixel maps or labels)."""

    def __init__(self, inputs: np.ndarray, targets: np.ndarray, *, scale: float = 1.0) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
        if np.ndim(inputs) != 4:
            raise ValueError(f"inputs must have shape (N, channels, H, W), got {np.shape(inputs)}")
        check_finite(inputs, "inputs")
        self.inputs, self.targets, self.scale = inputs, targets, scale

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(np.asarray(self.inputs[i]), dtype=torch.get_default_dtype())
        return x * self.scale if self.scale != 1.0 else x, torch.as_tensor(np.asarray(self.targets[i])).long()

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(self.inputs[idx])).to(torch.get_default_dtype())
        if self.scale != 1.0:
            x = x * self.scale
        return x, torch.from_numpy(np.asarray(self.targets[idx])).long()


class BatchLoader:
    """Seeded, shard-aware batches over an :class:`ArrayDataset`.

    Epoch ``e`` uses the permutation drawn from ``(seed, e)``; rank ``r`` of ``world`` takes every
    ``world``-th sample of each global batch, so the global batch is the same for any world size.
    ``start`` skips batches already consumed (resume).
    """

    def __init__(
        self,
        data: ArrayDataset,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        drop_last: bool = True,
    ) -> None:
        if batch_size % world:
            raise UserError(f"batch size {batch_size} is not divisible by {world} processes")
        self.data, self.batch_size, self.shuffle, self.seed = data, batch_size, shuffle, seed
        self.rank, self.world, self.drop_last = rank, world, drop_last

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.data)
        order = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size][self.rank :: self.world]
            yield self.data.batch(idx)
