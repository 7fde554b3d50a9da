"""Extrapolation sweeps: accuracy at every step count 1..N from one pass per batch.

``model.iterate`` yields the output after each step and nothing is kept, so without gradients
the memory of a sweep does not grow with N. Rows are tidy: one per (difficulty, steps).
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Iterable
from pathlib import Path

import torch

from ..data.arrays import ArrayDataset
from ..io import UserError, atomic_path, save_json


@torch.no_grad()
def evaluate_steps(
    model,
    data: ArrayDataset,
    task,
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
        from tqdm.auto import tqdm

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


def sweep_rows(
    run: str,
    model_name: str,
    task_name: str,
    difficulty: int,
    results: dict[int | None, dict[str, float]],
    trained_steps: int | None,
) -> list[dict]:
    rows = []
    for steps, r in sorted(results.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        rows.append(
            {
                "run": run,
                "model": model_name,
                "task": task_name,
                "difficulty": difficulty,
                "steps": steps,
                "trained_steps": trained_steps,
                **r,
            }
        )
    return rows


_LEADING = ("run", "model", "variant", "task", "trained_on", "difficulty", "steps", "trained_steps", "accuracy")


def write_rows(rows: list[dict], out_dir: str | os.PathLike, stem: str = "sweep") -> tuple[Path, Path]:
    """Write ``stem.csv`` and ``stem.json`` (atomically). The identifying columns come first, in a
    fixed order, so the same rows give the same file whichever way they were put together."""
    out_dir = Path(out_dir)
    seen: list[str] = []
    for r in rows:
        seen += [k for k in r if k not in seen]
    fields = [k for k in _LEADING if k in seen] + [k for k in seen if k not in _LEADING]
    csv_path = out_dir / f"{stem}.csv"
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    save_json(out_dir / f"{stem}.json", rows)
    return csv_path, out_dir / f"{stem}.json"


def parse_steps(text: str) -> list[int]:
    """'1:60' -> 1..60, '1:60:5' -> 1,6,...,56,60, '5,10,15' -> those; parts combine:
    '1:60,70:600:10' -> 1..60 then every 10th step to 600 (sorted, without repeats)."""
    steps: set[int] = set()
    try:
        for part in (p.strip() for p in text.strip().split(",")):
            if not part:
                continue
            if ":" not in part:
                steps.add(int(part))
                continue
            bounds = [int(p) for p in part.split(":")]
            if len(bounds) not in (2, 3):
                raise ValueError
            lo, hi, stride = bounds[0], bounds[1], bounds[2] if len(bounds) == 3 else 1
            if stride < 1:
                raise UserError(f"--steps {text!r}: the stride of {part!r} must be at least 1")
            if lo > hi:
                raise UserError(f"--steps {text!r}: the range {part!r} is empty (write FIRST:LAST with FIRST <= LAST)")
            steps.update(range(lo, hi + 1, stride))
            steps.add(hi)
    except UserError:
        raise
    except ValueError:
        raise UserError(f"cannot read steps {text!r}; use e.g. 1:60, 1:600:10, 5,10,15 or 1:60,70:600:10") from None
    if not steps:
        raise UserError(f"--steps {text!r} names no step count")
    if min(steps) < 1:
        raise UserError(f"--steps {text!r}: step counts must be >= 1, got {min(steps)}")
    return sorted(steps)


def best_steps(results: dict[int | None, dict[str, float]]) -> tuple[int | None, float]:
    key = max(results, key=lambda k: (results[k]["accuracy"], -(k or 0)))
    return key, results[key]["accuracy"]


def first_nonfinite(results: dict[int | None, dict[str, float]]) -> int | None:
    bad = [k for k, r in results.items() if k is not None and r.get("nonfinite", 0) > 0]
    return min(bad) if bad else None


def fmt_pct(v: float) -> str:
    return "nan" if v is None or math.isnan(v) else f"{100 * v:5.1f}"
