"""The training loop: short, model-agnostic, resumable, DDP-aware.

A run folder holds ``config.json``, ``command.txt``, ``metrics.jsonl`` (one JSON object per log
line), ``best.{safetensors,json}`` (best validation accuracy), ``last.{safetensors,json}`` and
``trainer_state.pt`` (optimizer, scheduler, RNG states and data position, for ``--resume``).
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import torch

from ..data.arrays import ArrayDataset, BatchLoader
from ..io import UserError, atomic_path, remove_stale_temps, save_json, writable_dir
from ..lock import claim
from ..models import build_model
from ..models.hub import load_weights, read_checkpoint
from ..runtime import (
    Runtime,
    broadcast_value,
    main_first,
    pick_compile,
    seed_everything,
    setup,
    teardown,
)
from ..tasks import Task, task_from_run
from .config import TrainConfig
from .distributed import global_mean, rank_weighted, sync_batchnorm, wrap_objective
from .guard import TrainingDiverged, grad_norm
from .guard import check as guard_check
from .guard import message as diverged_message
from .objectives import objective_loss
from .optim import lr_factor, make_optimizer
from .resume import load_config as _load_config
from .resume import load_state as _load_state
from .resume import save_state as _save_state
from .resume import truncate_metrics as _truncate_metrics
from .validation import log_row, reached, validate


def new_run_dir(cfg: TrainConfig) -> Path:
    name = cfg.name or f"{cfg.task}{cfg.size}-{cfg.model}-{datetime.now():%Y%m%d-%H%M%S}"
    path = Path(cfg.out) / name
    if path.exists():
        raise UserError(f"run folder {path} already exists (choose another name, or resume it)")
    try:
        path.mkdir(parents=True)
    except OSError as e:
        raise UserError(f"cannot create run folder {path}: {e.strerror or e}") from None
    return path


def _check_new_run(cfg: TrainConfig) -> None:
    if cfg.name and (Path(cfg.out) / cfg.name).exists():
        raise UserError(f"run folder {Path(cfg.out) / cfg.name} already exists (choose another name, or resume it)")
    writable_dir(cfg.out)


def _init_weights(model, cfg: TrainConfig) -> int:
    """Load ``cfg.init_from`` into ``model``, refusing a checkpoint of another model; return the
    training images those weights had seen in all (earlier stages included)."""
    try:
        stem, meta = read_checkpoint(cfg.init_from, expect=cfg.model)
    except UserError as e:
        raise UserError(f"init_from: {e}") from None
    load_weights(model, stem.with_suffix(".safetensors"))
    seen = meta.get("images_total", meta.get("images", 0))
    return seen if isinstance(seen, int) and seen >= 0 else 0


def build_for(cfg: TrainConfig) -> torch.nn.Module:
    return build_model(cfg.model, task=cfg.task, **cfg.model_kwargs())


def train(cfg: TrainConfig, *, resume: str | Path | None = None, argv: list[str] | None = None, log=print) -> Path:
    """Train as ``cfg`` says; return the run folder. ``resume`` continues an existing run. The run
    folder is locked while this process trains it (locrnn.lock): a second process is refused."""
    with ExitStack() as held:
        run = _start(cfg, resume, argv, held)
        try:
            while not _done(run):
                _epoch(run)
                _end_epoch(run)
        finally:
            run.close()
        _finish(run, log)
        return run.run_dir


@dataclass
class _Run:
    """A run in progress: what it trains, where, and how far it is (``pos``, resumable)."""

    cfg: TrainConfig
    rt: Runtime
    task: Task
    net: torch.nn.Module
    step: torch.nn.Module  # the whole objective as one forward (inside DDP when there are processes)
    opt: torch.optim.Optimizer
    loader: BatchLoader
    val_ds: ArrayDataset
    run_dir: Path
    pos: dict
    rng: random.Random
    clock: dict  # training progress, for objectives that change over training (act's warm-up)
    total: int
    schedule: Callable[[float], float]
    t0: float = 0.0
    metrics: TextIO | None = None
    bar: Any = None
    saved: int | None = None  # the iteration of the last checkpoint written (a resumed run's: its own)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.metrics:
            try:
                self.metrics.close()
            except OSError:  # the write that failed has been reported
                pass


def _start(cfg: TrainConfig | None, resume: str | Path | None, argv: list[str] | None, held: ExitStack) -> _Run:
    """Everything a run needs before its first step, in the order that fails fastest: the config,
    the runtime, the model, the run folder, the data, the optimizer and the position (a resumed
    run's from its state)."""
    if resume is not None:
        run_dir = Path(resume)
        if not run_dir.is_dir():
            raise UserError(f"cannot resume: no run folder {run_dir}")
        held.enter_context(claim(run_dir))
        cfg = _load_config(run_dir / "config.json")
    else:
        cfg.validate()  # every option, before any work
    rt = setup(cfg.device, cfg.precision)
    if resume is not None and rt.main:  # the lock's holder: half-written files of a killed process
        remove_stale_temps(run_dir, owned=True)
    seed_everything(cfg.seed)
    task = task_from_run(cfg.task, cfg.to_dict())
    model = build_for(cfg).to(rt.device)  # before the data: a bad model name fails fast
    images_before = 0
    if cfg.init_from and resume is None:  # fine-tuning (a resumed run has its weights in its state)
        images_before = _init_weights(model, cfg)
    if rt.world > 1:  # batch statistics of the global batch, as with one process
        model = sync_batchnorm(model, rt.device)
    if resume is None:  # likewise an existing or unwritable run folder
        main_first(lambda: _check_new_run(cfg), rt)
    train_ds, val_ds = task.datasets(
        cfg.size, cfg.n_train, cfg.n_val, root=cfg.data_root, seed=cfg.data_seed, progress=cfg.progress
    )
    model.checkpoint_steps = cfg.grad_checkpoint
    opt = make_optimizer(model, cfg)
    loader = BatchLoader(train_ds, cfg.batch_size, seed=cfg.seed, rank=rt.rank, world=rt.world)
    if len(loader) == 0:
        raise UserError(f"{len(train_ds)} training samples are fewer than one batch of {cfg.batch_size}")
    total = cfg.epochs * len(loader)
    pos = {"epoch": 0, "batch": 0, "iteration": 0, "images": 0, "best": -1.0, "seconds": 0.0}
    pos["images_before"] = images_before  # seen by the --init-from weights (restored on resume)
    pos.update(lowest_loss=math.inf, high_streak=0, suspect=False)  # the divergence guard's state (guard.py)
    rng = random.Random(cfg.seed)
    if resume is not None:
        _load_state(run_dir / "trainer_state.pt", model, opt, pos, rng)
        if rt.main:  # rows logged after that checkpoint are logged again: drop them
            _truncate_metrics(run_dir / "metrics.jsonl", pos)
    else:
        run_dir = main_first(lambda: _start_run(cfg, argv), rt)
        held.enter_context(claim(run_dir))
    clock = {"progress": 0.0}
    step = wrap_objective(
        torch.compile(model) if pick_compile(cfg.compile, rt.device) else model,
        lambda m, x, y, t: objective_loss(m, x, y, t, cfg, rng, progress=clock["progress"]),
        rt,
    )
    run = _Run(cfg, rt, task, model, step, opt, loader, val_ds, run_dir, pos, rng, clock, total, lr_factor(cfg, total))
    run.metrics = open(run_dir / "metrics.jsonl", "a") if rt.main else None
    run.bar = _bar(total, pos["iteration"], cfg, rt)
    run.saved = pos["iteration"] or None
    run.t0 = time.time() - pos["seconds"]
    return run


def _done(run: _Run) -> bool:
    """Whether training is over: every epoch done, the time budget spent or the target reached."""
    return run.pos["epoch"] >= run.cfg.epochs or _out_of_time(run.cfg, run.t0, run.rt) or reached(run.cfg, run.pos)


def _epoch(run: _Run) -> None:
    """Train on the rest of the current epoch: validate and checkpoint as ``cfg`` says, stop early
    at the validation target or the end of the time budget (the epoch then stays unfinished)."""
    cfg, pos = run.cfg, run.pos
    for x, y in run.loader.epoch(pos["epoch"], pos["batch"]):
        _set_lr(run)
        loss_value, gnorm = _train_step(run, x, y)
        _report(run, loss_value)
        why = guard_check(pos, loss_value, gnorm, run.net)
        if why:  # stop before anything of the diverged model is written
            raise TrainingDiverged(diverged_message(why, pos, cfg, run.run_dir, run.saved))
        # while the loss is far above its lowest (guard.py), nothing is validated or saved
        if cfg.val_every and pos["iteration"] % cfg.val_every == 0 and not pos["suspect"]:
            validate(run.net, run.val_ds, run.task, cfg, run.rt, run.run_dir, pos, run.metrics, run.t0)
            if reached(cfg, pos):  # the validation target: done (the checkpoint after the epoch is the last)
                return
        if pos["iteration"] % cfg.ckpt_every == 0 and not pos["suspect"]:
            _checkpoint(run)
        if _out_of_time(cfg, run.t0, run.rt):
            return
    pos["epoch"] += 1
    pos["batch"] = 0


def _end_epoch(run: _Run) -> None:
    """After an epoch (or a stop within one): refuse an exploding run, else validate (unless just
    done) and checkpoint."""
    cfg, pos = run.cfg, run.pos
    if pos["suspect"]:  # training ended (or an epoch did) while the loss was exploding
        why = "the training loss was still far above its lowest value when the epoch ended"
        raise TrainingDiverged(diverged_message(why, pos, cfg, run.run_dir, run.saved))
    if not cfg.val_every or pos["iteration"] % cfg.val_every:
        validate(run.net, run.val_ds, run.task, cfg, run.rt, run.run_dir, pos, run.metrics, run.t0)
    _checkpoint(run)


def _set_lr(run: _Run) -> None:
    """The learning rate at this point of training (iterations done, or the share of the time
    budget spent if larger: rank 0's clock, so that every process uses the same LR)."""
    progress = run.pos["iteration"] / run.total
    if run.cfg.time_budget:
        progress = max(progress, broadcast_value(time.time() - run.t0, run.rt) / run.cfg.time_budget)
    for group in run.opt.param_groups:  # a group's lr_factor: optim.param_groups
        group["lr"] = run.cfg.lr * group.get("lr_factor", 1.0) * run.schedule(progress)
    run.clock["progress"] = progress


def _train_step(run: _Run, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """One optimizer step on a batch; returns the global batch's loss and the gradient norm
    (before clipping)."""
    rt, pos = run.rt, run.pos
    if rt.device.type == "cuda":  # page-locked, so that the copies below are asynchronous
        x, y = x.pin_memory(), y.pin_memory()
    x, y = x.to(rt.device, non_blocking=True), y.to(rt.device, non_blocking=True)
    with rt.autocast():
        loss = run.step(x, y, rank_weighted(run.task, x, y, rt))
    run.opt.zero_grad(set_to_none=True)
    loss.backward()
    gnorm = grad_norm(run.net, run.cfg.clip)  # before clipping; read with the loss (one wait)
    run.opt.step()
    pos["batch"] += 1
    pos["iteration"] += 1
    pos["images"] += run.cfg.batch_size
    return global_mean(loss.item(), rt), float(gnorm)


def _report(run: _Run, loss_value: float) -> None:
    """The progress bar and, every ``log_every`` iterations, a row of ``metrics.jsonl``."""
    pos, bar = run.pos, run.bar
    if bar is not None:
        if run.cfg.time_budget:  # the bar counts seconds of the budget
            bar.update(min(int(time.time() - run.t0), bar.total) - bar.n)
        else:
            bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.4f}", best=f"{max(pos['best'], 0):.3f}")
    if run.metrics and pos["iteration"] % run.cfg.log_every == 0:
        log_row(run.metrics, pos, run.t0, loss=loss_value, lr=run.opt.param_groups[0]["lr"])


def _checkpoint(run: _Run) -> None:
    _save_state(run.run_dir, run.net, run.opt, run.pos, run.rng, run.t0, run.rt, run.metrics)
    run.saved = run.pos["iteration"]


def _finish(run: _Run, log) -> None:
    """Write ``summary.json`` and say where the run is; then leave the process group."""
    pos, t0 = run.pos, run.t0
    if run.rt.main:
        summary = {
            "best_val_accuracy": pos["best"],
            "iterations": pos["iteration"],
            "images": pos["images"],
            "images_total": pos["images"] + pos["images_before"],  # with --init-from's stages
            "seconds": time.time() - t0,
            "images_per_second": pos["images"] / max(1e-9, time.time() - t0),
        }
        save_json(run.run_dir / "summary.json", summary)
        log(
            f"run saved in {run.run_dir}: best validation accuracy {100 * pos['best']:.1f}% "
            f"after {pos['images']} images ({summary['seconds']:.0f} s)"
        )
    teardown(run.rt)  # only after a clean finish: a failed process must not wait for its peers


def _bar(total: int, done: int, cfg: TrainConfig, rt: Runtime):
    if not (cfg.progress and rt.main):
        return None
    from tqdm.auto import tqdm

    desc = f"train {cfg.model} on {cfg.task} {cfg.size}"
    if cfg.time_budget:
        return tqdm(total=int(cfg.time_budget), desc=desc, unit="s", bar_format="{l_bar}{bar}| {n}/{total} s{postfix}")
    return tqdm(total=total, initial=done, desc=desc, unit="it")


def _out_of_time(cfg: TrainConfig, t0: float, rt: Runtime) -> bool:
    return bool(cfg.time_budget) and broadcast_value(time.time() - t0, rt) >= cfg.time_budget


def _start_run(cfg: TrainConfig, argv: list[str] | None) -> Path:
    """Create the run folder (never an existing one) with its config and command line."""
    run_dir = new_run_dir(cfg)
    save_json(run_dir / "config.json", cfg.to_dict())
    with atomic_path(run_dir / "command.txt") as tmp:
        tmp.write_text(" ".join(argv if argv is not None else sys.argv) + "\n")
    return run_dir
