"""Sweep a trained model over difficulties and step counts; write rows, a table and a plot."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..io import load_json, writable_dir
from ..models.hub import load_model, resolve_checkpoint
from ..plots import plot_sweep
from ..training.runtime import setup
from ..training.tasks import get_task
from .sweep import best_steps, evaluate_steps, first_nonfinite, fmt_pct, sweep_rows, write_rows


def _task_for(name: str, stem: Path):
    """The task, given the settings of the run folder the checkpoint sits in (or, outside a run
    folder, those the checkpoint records): e.g. PathFinder is tested at the image size it was
    trained at."""
    task = get_task(name)
    if not hasattr(task, "configure"):
        return task
    run_config = stem.parent / "config.json"
    if run_config.is_file():
        task.configure(load_json(run_config))
    else:  # a checkpoint outside its run folder (e.g. a shipped one) carries the settings itself
        task.configure(load_json(stem.with_suffix(".json")).get("trained_on") or {})
    return task


@dataclass
class _Opened:
    """A checkpoint made ready for testing: its model on the device, task and output folder."""

    stem: Path
    rt: object
    model: object
    cfg: dict
    task: object
    difficulties: list[int]
    out_dir: Path


def _open(checkpoint, difficulties, out, folder: str, device: str, precision: str) -> _Opened:
    """Load ``checkpoint`` for testing on ``difficulties`` (default: the task's) and make the
    output folder (default: ``folder`` beside the checkpoint) before any work is done."""
    stem = resolve_checkpoint(checkpoint)
    rt = setup(device, precision)
    model = load_model(stem).to(rt.device)
    cfg = model.config
    task = _task_for(cfg["task"], stem)
    diffs = [task.check_difficulty(d) for d in (difficulties or task.default_difficulties)]
    out_dir = writable_dir(Path(out) if out else stem.parent / folder)
    return _Opened(stem, rt, model, cfg, task, diffs, out_dir)


def sweep_checkpoint(
    checkpoint: str | os.PathLike,
    *,
    difficulties: list[int] | None = None,
    steps: list[int] | str | None = None,
    n: int = 1000,
    data_root: str | None = None,
    out: str | os.PathLike | None = None,
    batch_size: int = 256,
    seed: int = 0,
    device: str = "auto",
    precision: str = "auto",
    progress: bool = True,
) -> tuple[list[dict], Path]:
    """Evaluate ``checkpoint`` at every step count on each difficulty; returns rows and out dir.

    ``steps``: a list, ``"trained"`` (only the trained count) or None (1 .. 4x trained).

    Test data is the task's ``test`` split: read from ``data_root`` when given, else generated
    (a stream disjoint from training data).
    """
    o = _open(checkpoint, difficulties, out, "sweep", device, precision)
    model, cfg, task, rt = o.model, o.cfg, o.task, o.rt
    recurrent = getattr(model, "recurrent", False)
    trained = model.trained_steps if recurrent else None
    if recurrent and steps == "trained":
        steps = [trained]
    elif recurrent and steps is None:
        steps = list(range(1, 4 * trained + 1))
    if not recurrent:
        steps = None
    rows: list[dict] = []
    for d in o.difficulties:
        data = task.test_data(d, n, root=data_root, seed=seed)
        res = evaluate_steps(
            model,
            data,
            task,
            steps,
            batch_size=batch_size,
            device=rt.device,
            autocast=rt.autocast(),
            progress=progress,
            desc=f"sweep {task.difficulty} {d}",
        )
        rows += sweep_rows(o.stem.parent.name, cfg["name"], cfg["task"], d, res, trained)
    write_rows(rows, o.out_dir)
    plot_sweep(rows, o.out_dir / "sweep.png", title=f"{cfg['name']} on {cfg['task']}: accuracy vs test-time steps")
    return rows, o.out_dir


def summary_table(rows: list[dict]) -> str:
    """A plain-text table: per difficulty, accuracy at the trained steps, best steps, onset."""
    by: dict = {}
    for r in rows:
        by.setdefault(r["difficulty"], {})[r["steps"]] = r
    lines = [
        f"{'difficulty':>10} {'@trained':>9} {'best':>6} {'@best':>6} {'max steps':>9} "
        f"{'@max':>6} {'non-finite from':>15}"
    ]
    for d, res in by.items():
        any_row = next(iter(res.values()))
        t = any_row.get("trained_steps")
        acc = {k: v for k, v in res.items()}
        if None in acc:
            lines.append(f"{d:>10} {fmt_pct(acc[None]['accuracy']):>9} {'-':>6} {'-':>6} {'-':>9} {'-':>6} {'-':>15}")
            continue
        b, bacc = best_steps(acc)
        top = max(acc)
        onset = first_nonfinite(acc)
        at_t = fmt_pct(acc[t]["accuracy"]) if t in acc else "-"
        lines.append(
            f"{d:>10} {at_t:>9} {b:>6} {fmt_pct(bacc):>6} {top:>9} "
            f"{fmt_pct(acc[top]['accuracy']):>6} {onset if onset else '-':>15}"
        )
    return "\n".join(lines)


def halting_checkpoint(
    checkpoint: str | os.PathLike,
    *,
    difficulties: list[int] | None = None,
    max_steps: int | None = None,
    patience: int = 5,
    rule: str = "prediction",
    tol: float = 1e-3,
    n: int = 1000,
    data_root: str | None = None,
    out: str | os.PathLike | None = None,
    batch_size: int = 256,
    seed: int = 0,
    device: str = "auto",
    precision: str = "auto",
) -> tuple[list[dict], Path]:
    """Accuracy with per-sample halting (no step count chosen by hand) on each difficulty.

    Writes ``halting.csv`` / ``halting.json`` (one row per difficulty: accuracy, mean and median
    steps used, share of samples that halted before ``max_steps``) and ``halting.png``.
    """
    from ..plots import plot_halting
    from .halting import evaluate_halting

    o = _open(checkpoint, difficulties, out, "halting", device, precision)
    model, cfg, task, rt = o.model, o.cfg, o.task, o.rt
    max_steps = max_steps or 10 * model.trained_steps
    rows, used = [], {}
    for d in o.difficulties:
        data = task.test_data(d, n, root=data_root, seed=seed)
        res = evaluate_halting(
            model,
            data,
            task,
            max_steps=max_steps,
            patience=patience,
            rule=rule,
            tol=tol,
            batch_size=batch_size,
            device=rt.device,
            autocast=rt.autocast(),
        )
        used[d] = res.pop("steps_used")
        rows.append(
            {
                "run": o.stem.parent.name,
                "model": cfg["name"],
                "task": cfg["task"],
                "difficulty": d,
                "rule": rule,
                "patience": patience,
                "max_steps": max_steps,
                "trained_steps": model.trained_steps,
                **res,
            }
        )
    write_rows(rows, o.out_dir, stem="halting")
    plot_halting(used, o.out_dir / "halting.png", title=f"{cfg['name']}: steps used with halting ({rule})")
    return rows, o.out_dir


def halting_table(rows: list[dict]) -> str:
    lines = [f"{'difficulty':>10} {'accuracy':>9} {'mean steps':>11} {'median':>7} {'halted':>7}"]
    for r in rows:
        lines.append(
            f"{r['difficulty']:>10} {fmt_pct(r['accuracy']):>9} {r['mean_steps']:>11.1f} "
            f"{r['median_steps']:>7.0f} {fmt_pct(r['halted_share']):>7}"
        )
    return "\n".join(lines)


__all__ = ["halting_checkpoint", "halting_table", "summary_table", "sweep_checkpoint"]
