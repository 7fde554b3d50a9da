"""The training loop: short, model-agnostic, resumable, DDP-aware.

A run folder holds ``config.json``, ``command.txt``, ``metrics.jsonl`` (one JSON object per log
line), ``best.{safetensors,json}`` (best validation accuracy), ``last.{safetensors,json}`` and
``trainer_state.pt`` (optimizer, scheduler, RNG states and data position, for ``--resume``).
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from ..data.arrays import BatchLoader
from ..evaluation.sweep import evaluate_steps
from ..io import UserError, atomic_path, remove_stale_temps, save_json, writable_dir, write_failure
from ..lock import claim
from ..models import build_model
from ..models.hub import load_weights, read_checkpoint, save_model
from .config import TrainConfig
from .distributed import global_mean, rank_weighted, sync_batchnorm, wrap_objective
from .guard import TrainingDiverged, grad_norm
from .guard import check as guard_check
from .guard import message as diverged_message
from .objectives import objective_loss
from .resume import load_config as _load_config
from .resume import load_state as _load_state
from .resume import save_state as _save_state
from .resume import truncate_metrics as _truncate_metrics
from .runtime import (
    Runtime,
    all_sum,
    broadcast_value,
    main_first,
    pick_compile,
    seed_everything,
    setup,
    teardown,
)
from .tasks import get_task


def lr_factor(cfg: TrainConfig, total: int):
    """LR multiplier as a function of training progress p in [0, 1] (iterations done / total, or
    the share of ``time_budget`` spent if larger): linear warm-up over the first ``warmup`` of
    training, then cosine, constant or multi-step decay (``milestones`` are fractions)."""
    if cfg.schedule not in ("cosine", "multistep", "constant"):
        raise UserError(f"unknown schedule {cfg.schedule!r}; choose cosine, multistep or constant")
    first = 1.0 / max(1, total)

    def f(p: float) -> float:
        w = min(1.0, (p + first) / cfg.warmup) if cfg.warmup > 0 else 1.0
        if cfg.schedule == "cosine":
            return w * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))
        if cfg.schedule == "multistep":
            return w * cfg.gamma ** sum(p >= m for m in cfg.milestones)
        return w

    return f


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise UserError(f"unknown optimizer {cfg.optimizer!r}; choose adam, adamw or sgd")


def new_run_dir(cfg: TrainConfig) -> Path:
    name = cfg.name or f"{cfg.task}{cfg.size}-{cfg.model}-{datetime.now():%Y%m%d-%H%M%S}"
    path = Path(cfg.out) / name
    if path.exists():
        raise UserError(f"run folder {path} already exists (choose another --name, or --resume it)")
    try:
        path.mkdir(parents=True)
    except OSError as e:
        raise UserError(f"cannot create run folder {path}: {e.strerror or e}") from None
    return path


def _check_new_run(cfg: TrainConfig) -> None:
    if cfg.name and (Path(cfg.out) / cfg.name).exists():
        raise UserError(f"run folder {Path(cfg.out) / cfg.name} already exists (choose another --name, or --resume it)")
    writable_dir(cfg.out)


def _init_weights(model, cfg: TrainConfig) -> None:
    """Load ``cfg.init_from`` into ``model``, refusing a checkpoint of another model."""
    try:
        stem, _ = read_checkpoint(cfg.init_from, expect=cfg.model)
    except UserError as e:
        raise UserError(f"--init-from: {e}") from None
    load_weights(model, stem.with_suffix(".safetensors"))


def build_for(cfg: TrainConfig) -> torch.nn.Module:
    return build_model(cfg.model, task=cfg.task, **cfg.model_kwargs())


def train(cfg: TrainConfig, *, resume: str | Path | None = None, argv: list[str] | None = None, log=print) -> Path:
    """Train as ``cfg`` says; return the run folder. ``resume`` continues an existing run. The run
    folder is locked while this process trains it (locrnn.lock): a second process is refused."""
    with ExitStack() as held:
        return _train(cfg, resume, argv, log, held)


def _train(cfg: TrainConfig, resume: str | Path | None, argv: list[str] | None, log, held: ExitStack) -> Path:
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
    task = get_task(cfg.task)
    model = build_for(cfg).to(rt.device)  # before the data: a bad model name fails fast
    if cfg.init_from and resume is None:  # fine-tuning (a resumed run has its weights in its state)
        _init_weights(model, cfg)
    if rt.world > 1:  # batch statistics of the global batch, as with one process
        model = sync_batchnorm(model, rt.device)
    if resume is None:  # likewise an existing or unwritable run folder
        main_first(lambda: _check_new_run(cfg), rt)
    train_ds, val_ds = task.datasets(cfg)
    model.checkpoint_steps = cfg.grad_checkpoint
    opt = make_optimizer(model, cfg)
    loader = BatchLoader(train_ds, cfg.batch_size, seed=cfg.seed, rank=rt.rank, world=rt.world)
    if len(loader) == 0:
        raise UserError(f"{len(train_ds)} training samples are fewer than one batch of {cfg.batch_size}")
    total = cfg.epochs * len(loader)
    schedule = lr_factor(cfg, total)
    pos = {"epoch": 0, "batch": 0, "iteration": 0, "images": 0, "best": -1.0, "seconds": 0.0}
    pos.update(lowest_loss=math.inf, high_streak=0, suspect=False)  # the divergence guard's state (guard.py)
    rng = random.Random(cfg.seed)
    if resume is not None:
        _load_state(run_dir / "trainer_state.pt", model, opt, pos, rng)
        if rt.main:  # rows logged after that checkpoint are logged again: drop them
            _truncate_metrics(run_dir / "metrics.jsonl", pos)
    else:
        run_dir = main_first(lambda: _start_run(cfg, argv), rt)
        held.enter_context(claim(run_dir))
    net = model
    # the whole objective is one forward of `step` (inside DDP when there are processes)
    clock = {"progress": 0.0}  # training progress, for objectives that change over training (act's warm-up)
    step = wrap_objective(
        torch.compile(net) if pick_compile(cfg.compile, rt.device) else net,
        lambda m, x, y, t: objective_loss(m, x, y, t, cfg, rng, progress=clock["progress"]),
        rt,
    )
    metrics = open(run_dir / "metrics.jsonl", "a") if rt.main else None
    bar = _bar(total, pos["iteration"], cfg, rt)
    saved = {"iteration": pos["iteration"] or None}  # the last checkpoint written (a resumed run's: its own)
    t0 = time.time() - pos["seconds"]
    try:
        while pos["epoch"] < cfg.epochs and not _out_of_time(cfg, t0, rt) and not _reached(cfg, pos):
            for x, y in loader.epoch(pos["epoch"], pos["batch"]):
                progress = pos["iteration"] / total
                if cfg.time_budget:  # rank 0's clock, so that every process uses the same LR
                    progress = max(progress, broadcast_value(time.time() - t0, rt) / cfg.time_budget)
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * schedule(progress)
                clock["progress"] = progress
                if rt.device.type == "cuda":  # page-locked, so that the copies below are asynchronous
                    x, y = x.pin_memory(), y.pin_memory()
                x, y = x.to(rt.device, non_blocking=True), y.to(rt.device, non_blocking=True)
                with rt.autocast():
                    loss = step(x, y, rank_weighted(task, x, y, rt))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                gnorm = grad_norm(net, cfg.clip)  # before clipping; read with the loss (one wait)
                opt.step()
                pos["batch"] += 1
                pos["iteration"] += 1
                pos["images"] += cfg.batch_size
                loss_value = global_mean(loss.item(), rt)  # the global batch's loss
                if bar is not None:
                    if cfg.time_budget:  # the bar counts seconds of the budget
                        bar.update(min(int(time.time() - t0), bar.total) - bar.n)
                    else:
                        bar.update(1)
                    bar.set_postfix(loss=f"{loss_value:.4f}", best=f"{max(pos['best'], 0):.3f}")
                if metrics and pos["iteration"] % cfg.log_every == 0:
                    _log(metrics, pos, t0, loss=loss_value, lr=opt.param_groups[0]["lr"])
                why = guard_check(pos, loss_value, float(gnorm), net)
                if why:  # stop before anything of the diverged model is written
                    raise TrainingDiverged(diverged_message(why, pos, cfg, run_dir, saved["iteration"]))
                # while the loss is far above its lowest (guard.py), nothing is validated or saved
                if cfg.val_every and pos["iteration"] % cfg.val_every == 0 and not pos["suspect"]:
                    _validate(net, val_ds, task, cfg, rt, run_dir, pos, metrics, t0)
                    if _reached(cfg, pos):  # the validation target: done (the checkpoint below is the last)
                        break
                if pos["iteration"] % cfg.ckpt_every == 0 and not pos["suspect"]:
                    _save_state(run_dir, net, opt, pos, rng, t0, rt, metrics)
                    saved["iteration"] = pos["iteration"]
                if _out_of_time(cfg, t0, rt):
                    break
            else:
                pos["epoch"] += 1
                pos["batch"] = 0
            if pos["suspect"]:  # training ended (or an epoch did) while the loss was exploding
                why = "the training loss was still far above its lowest value when the epoch ended"
                raise TrainingDiverged(diverged_message(why, pos, cfg, run_dir, saved["iteration"]))
            if not cfg.val_every or pos["iteration"] % cfg.val_every:
                _validate(net, val_ds, task, cfg, rt, run_dir, pos, metrics, t0)
            _save_state(run_dir, net, opt, pos, rng, t0, rt, metrics)
            saved["iteration"] = pos["iteration"]
    finally:
        if bar is not None:
            bar.close()
        if metrics:
            try:
                metrics.close()
            except OSError:  # the write that failed has been reported
                pass
    if rt.main:
        summary = {
            "best_val_accuracy": pos["best"],
            "iterations": pos["iteration"],
            "images": pos["images"],
            "seconds": time.time() - t0,
            "images_per_second": pos["images"] / max(1e-9, time.time() - t0),
        }
        save_json(run_dir / "summary.json", summary)
        log(
            f"run saved in {run_dir}: best validation accuracy {100 * pos['best']:.1f}% "
            f"after {pos['images']} images ({summary['seconds']:.0f} s)"
        )
    teardown(rt)  # only after a clean finish: a failed process must not wait for its peers
    return run_dir


def _bar(total: int, done: int, cfg: TrainConfig, rt: Runtime):
    if not (cfg.progress and rt.main):
        return None
    from tqdm.auto import tqdm

    desc = f"train {cfg.model} on {cfg.task} {cfg.size}"
    if cfg.time_budget:
        return tqdm(total=int(cfg.time_budget), desc=desc, unit="s", bar_format="{l_bar}{bar}| {n}/{total} s{postfix}")
    return tqdm(total=total, initial=done, desc=desc, unit="it")


def _log(f, pos: dict, t0: float, **values) -> None:
    row = {k: pos[k] for k in ("epoch", "iteration", "images")}
    row.update(time=round(time.time() - t0, 3), **values)
    try:
        f.write(json.dumps(row) + "\n")
        f.flush()
    except OSError as e:  # a full disk: one line naming the file (the checkpoints on disk are kept)
        raise UserError(f"cannot write {f.name}: {write_failure(e, Path(f.name).parent)}") from None


def _validate(net, val_ds, task, cfg, rt: Runtime, run_dir: Path, pos, metrics, t0) -> None:
    """Validation accuracy (the lowest over ``cfg.val_steps``: a model trained over a range of
    step counts is judged on the whole range); keeps ``best`` and ``last`` checkpoints."""
    recurrent = getattr(net, "recurrent", False)
    steps = (cfg.val_steps or [net.resolve_steps(cfg.steps)]) if recurrent else None
    res = evaluate_steps(net, _shard(val_ds, rt), task, steps, batch_size=256, device=rt.device, autocast=rt.autocast())
    sums = all_sum([v for r in res.values() for v in (r["accuracy"] * r["n"], r["n"])], rt)
    by_step = {k: c / n for k, c, n in zip(res, sums[::2], sums[1::2])}
    acc = min(by_step.values())
    if metrics:
        extra = {"val_by_step": {str(k): v for k, v in by_step.items()}} if len(by_step) > 1 else {}
        _log(metrics, pos, t0, val_accuracy=acc, **extra)
    if rt.main:
        meta = {"val_accuracy": acc, "iteration": pos["iteration"], "images": pos["images"]}
        meta["trained_on"] = {
            "size": cfg.size,
            "image_size": cfg.image_size,
            "geometry": cfg.geometry,
        }  # the checkpoint alone says it
        save_model(run_dir / "last", net, **meta)
        if acc > pos["best"]:
            save_model(run_dir / "best", net, **meta)
    pos["best"] = max(pos["best"], acc)


def _shard(data, rt: Runtime):
    if rt.world == 1:
        return data
    from ..data.arrays import ArrayDataset

    idx = np.arange(rt.rank, len(data), rt.world)
    return ArrayDataset(data.inputs[idx], data.targets[idx], scale=data.scale)


def _reached(cfg: TrainConfig, pos: dict) -> bool:
    """Whether validation has reached ``cfg.stop_at`` (every process holds the same ``best``)."""
    return cfg.stop_at is not None and pos["best"] >= cfg.stop_at


def _out_of_time(cfg: TrainConfig, t0: float, rt: Runtime) -> bool:
    return bool(cfg.time_budget) and broadcast_value(time.time() - t0, rt) >= cfg.time_budget


def _start_run(cfg: TrainConfig, argv: list[str] | None) -> Path:
    """Create the run folder (never an existing one) with its config and command line."""
    run_dir = new_run_dir(cfg)
    save_json(run_dir / "config.json", cfg.to_dict())
    with atomic_path(run_dir / "command.txt") as tmp:
        tmp.write_text(" ".join(argv if argv is not None else sys.argv) + "\n")
    return run_dir
