"""Accuracy at every step count 1..N from one pass per batch: what sweeps and validation score.

``model.iterate`` yields the output after each step and nothing is kept, so without gradients
the memory of a sweep does not grow with N. The trainer validates with it, the sweeps of
``locrnn.evaluation`` test with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch
from tqdm.auto import tqdm

from .data.arrays import ArrayDataset
from .tasks import Task


@torch.no_grad()
def evaluate_steps(
    model,
    data: ArrayDataset,
    task: Task,
    steps: Iterable[int] | None,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    autocast=None,
    progress: bool = False,
    desc: str = "",
) -> dict[int | None, dict[str, float]]:
    """Accuracy (and task extras) of ``model`` on ``data`` at each step count in ``steps``.

    A feed-forward model takes ``steps=None`` and gives one entry keyed ``None``. Outputs that
    stop being finite are counted as wrong and reported as ``nonfinite`` (the fraction of samples).
    """
    was_training = model.training
    model.eval()
    wanted = sorted(set(steps)) if steps is not None else None
    top = max(wanted) if wanted else None
    sums: dict[int | None, dict[str, float]] = {}
    bar = None
    if progress:
        bar = tqdm(total=len(data), desc=desc or "evaluate", unit="img", leave=False)
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data))).numpy()
        x, y = data.batch(idx)
        x, y = x.to(device), y.to(device)
        with autocast if autocast is not None else contextlib.nullcontext():
            outputs = model.iterate(x, top) if top else iter([model(x)])
            for t, logits in enumerate(outputs, 1):
                key = t if wanted else None
                if wanted and t not in wanted:
                    continue
                logits = logits.float()
                finite = torch.isfinite(logits).flatten(1).all(1)
                row = sums.setdefault(key, {"correct": 0.0, "n": 0.0, "nonfinite": 0.0})
                row["correct"] += (task.correct(logits, x, y) & finite).sum().item()
                row["n"] += len(x)
                row["nonfinite"] += (~finite).sum().item()
                for name, v in task.extra_metrics(logits, x, y).items():
                    row[name] = row.get(name, 0.0) + torch.where(finite, v, 0).sum().item()
        if bar is not None:
            bar.update(len(x))
    if bar is not None:
        bar.close()
    model.train(was_training)
    result = {}
    for key, row in sums.items():
        n = row.pop("n")
        result[key] = {"accuracy": row.pop("correct") / n, "n": int(n), **{k: v / n for k, v in row.items()}}
    return result


def best_steps(results: dict[int | None, dict[str, float]]) -> tuple[int | None, float]:
    """The step count of the highest accuracy (the fewest steps among equals) and that accuracy."""
    key = max(results, key=lambda k: (results[k]["accuracy"], -(k or 0)))
    return key, results[key]["accuracy"]


def first_nonfinite(results: dict[int | None, dict[str, float]]) -> int | None:
    """The first step count at which some output was not finite (None: never)."""
    bad = [k for k, r in results.items() if k is not None and r.get("nonfinite", 0) > 0]
    return min(bad) if bad else None
