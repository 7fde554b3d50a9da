"""Tidy rows: one dict per (run, difficulty, steps), written as ``<stem>.csv`` and ``<stem>.json``.

Plots and reports read only these files (or the same rows in memory).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..io import atomic_path, save_json

_LEADING = ("run", "model", "variant", "task", "trained_on", "difficulty", "steps", "trained_steps", "accuracy")


def sweep_rows(
    run: str,
    model_name: str,
    task_name: str,
    difficulty: int,
    results: dict[int | None, dict[str, float]],
    trained_steps: int | None,
) -> list[dict]:
    """One row per step count of ``results`` (``scoring.evaluate_steps``), by step count."""
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
