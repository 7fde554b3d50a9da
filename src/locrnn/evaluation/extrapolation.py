"""Sweep a trained model over difficulties and step counts, or test it with halting: one
``SweepSpec`` taken down one line (open the checkpoint, its task, the data, evaluate, write rows
and a plot)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch.nn as nn

from ..io import UserError, load_json, writable_dir
from ..models.hub import load_model, resolve_checkpoint, test_time_settings
from ..plots import plot_halting, plot_sweep
from ..runtime import Runtime, setup
from ..scoring import evaluate_steps
from ..tasks import Task, get_task, task_from_run, task_settings
from .halting import evaluate_halting
from .rows import sweep_rows, write_rows
from .spec import SweepSpec


def _task_for(name: str, stem: Path) -> Task:
    """The task, with the settings of the run folder the checkpoint sits in (or, outside a run
    folder, those the checkpoint records): e.g. PathFinder is tested at the image size it was
    trained at."""
    if not task_settings(name):
        return get_task(name)
    run_config = stem.parent / "config.json"
    if run_config.is_file():
        return task_from_run(name, load_json(run_config))
    # a checkpoint outside its run folder (e.g. a shipped one) carries the settings itself
    return task_from_run(name, load_json(stem.with_suffix(".json")).get("trained_on") or {})


@dataclass(frozen=True)
class _Opened:
    """A checkpoint made ready for testing: its model on the device, task and output folder."""

    stem: Path
    rt: Runtime
    model: nn.Module
    cfg: dict
    task: Task
    difficulties: list[int]
    out_dir: Path
    damping: float  # the spec's, else the checkpoint's test_time setting, else 1
    patience: int  # likewise, else 5


def _open(spec: SweepSpec) -> _Opened:
    """Load the checkpoint for testing on ``spec.difficulties`` (default: the task's) and make the
    output folder before any work is done. Tests never join a process group: each process works
    alone (under torchrun, rank 0 sweeps after the others have left)."""
    stem = resolve_checkpoint(spec.checkpoint)
    rt = setup(spec.device, spec.precision, join=False)
    model = load_model(stem).to(rt.device)
    damping, patience = test_time_settings(model.checkpoint_meta, stem.with_suffix(".json"))
    damping = damping if spec.damping is None else spec.damping
    patience = patience if spec.patience is None else spec.patience
    if damping != 1.0:
        if not getattr(model, "recurrent", False):
            raise UserError(f"damping needs a recurrent model; {model.config['name']} is feed-forward")
        model.damping = damping
    cfg = model.config
    task = _task_for(cfg["task"], stem)
    diffs = [task.check_difficulty(d) for d in (spec.difficulties or task.default_difficulties)]
    out_dir = writable_dir(Path(spec.out) if spec.out else stem.parent / spec.folder)
    return _Opened(stem, rt, model, cfg, task, diffs, out_dir, damping, patience)


def _sweep_steps(model: nn.Module, steps) -> list[int] | None:
    """The step counts to score: None for a feed-forward model (one output)."""
    if not getattr(model, "recurrent", False):
        return None
    if steps == "trained":
        return [model.trained_steps]
    return list(range(1, 4 * model.trained_steps + 1)) if steps is None else list(steps)


def sweep_checkpoint(spec: SweepSpec) -> tuple[list[dict], Path]:
    """Accuracy of the checkpoint at every step count on each difficulty; writes ``sweep.csv`` /
    ``sweep.json`` and ``sweep.png``; returns the rows and the output folder."""
    o = _open(spec)
    steps = _sweep_steps(o.model, spec.steps)
    trained = o.model.trained_steps if steps is not None else None
    rows: list[dict] = []
    for d in o.difficulties:
        data = o.task.test_data(d, spec.n, root=spec.data_root, seed=spec.seed)
        res = evaluate_steps(
            o.model,
            data,
            o.task,
            steps,
            batch_size=spec.batch_size,
            device=o.rt.device,
            autocast=o.rt.autocast(),
            progress=spec.progress,
            desc=f"sweep {o.task.difficulty} {d}",
        )
        rows += sweep_rows(o.stem.parent.name, o.cfg["name"], o.cfg["task"], d, res, trained)
    if o.damping != 1.0:  # a damped sweep says so in every row and in the plot's title
        rows = [{**r, "damping": o.damping} for r in rows]
    write_rows(rows, o.out_dir)
    damped = f" (damping {o.damping:g})" if o.damping != 1.0 else ""
    title = f"{o.cfg['name']} on {o.cfg['task']}{damped}: accuracy vs test-time steps"
    plot_sweep(rows, o.out_dir / "sweep.png", title=title)
    return rows, o.out_dir


def halting_checkpoint(spec: SweepSpec) -> tuple[list[dict], Path]:
    """Accuracy with per-sample halting by ``spec.halt`` (no step count chosen by hand) on each
    difficulty. Writes ``halting.csv`` / ``halting.json`` (one row per difficulty: accuracy, mean
    and median steps used, share of samples that halted before ``max_steps``) and ``halting.png``."""
    if spec.halt is None:
        raise ValueError("halting_checkpoint needs a spec with a halting rule (halt)")
    o = _open(spec)
    max_steps = spec.max_steps or 10 * o.model.trained_steps
    rows, used = [], {}
    for d in o.difficulties:
        data = o.task.test_data(d, spec.n, root=spec.data_root, seed=spec.seed)
        res = evaluate_halting(
            o.model,
            data,
            o.task,
            max_steps=max_steps,
            patience=o.patience,
            rule=spec.halt,
            tol=spec.tol,
            batch_size=spec.batch_size,
            device=o.rt.device,
            autocast=o.rt.autocast(),
            progress=spec.progress,
            desc=f"halting {o.task.difficulty} {d}",
        )
        used[d] = res.pop("steps_used")
        rows.append(
            {
                "run": o.stem.parent.name,
                "model": o.cfg["name"],
                "task": o.cfg["task"],
                "difficulty": d,
                "rule": spec.halt,
                "patience": o.patience,
                "damping": o.damping,
                "max_steps": max_steps,
                "trained_steps": o.model.trained_steps,
                **res,
            }
        )
    write_rows(rows, o.out_dir, stem="halting")
    title = f"{o.cfg['name']}: steps used with halting ({spec.halt})"
    plot_halting(used, o.out_dir / "halting.png", title=title)
    return rows, o.out_dir


def evaluate_checkpoint(spec: SweepSpec) -> tuple[list[dict], Path]:
    """The spec's evaluation: with halting when it names a rule, else the sweep over steps."""
    return halting_checkpoint(spec) if spec.halt else sweep_checkpoint(spec)
