"""A figure's runs on disk: where each lives, whether it is finished, and training it once.

A run folder is claimed (``locrnn.lock``) while it trains, so two commands that need the same run
do not both train it; an interrupted run resumes, a finished one is reused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch.distributed as dist

from ..lock import claim
from ..runtime import setup, teardown
from ..training.trainer import train
from .figures import Run
from .recipes import RunOptions, check_recipe, recipe


def run_folder(run: Run, scale: str, root: Path) -> Path:
    return root / "runs" / scale / run.key


def finished(run: Run, scale: str, root: Path) -> bool:
    """Whether ``run`` has finished training at ``scale`` under ``root`` (its summary is written last)."""
    return (run_folder(run, scale, root) / "summary.json").is_file()


def ensure_trained(run: Run, scale: str, root: Path, log=print, opts: RunOptions | None = None) -> Path:
    """The run's folder, training it first if needed (finished: skip; interrupted: resume).
    Two commands that need the same run do not both train it: the second one is refused."""
    folder, cfg = run_folder(run, scale, root), recipe(run, scale, opts)
    if (folder / "config.json").is_file():
        check_recipe(folder, cfg)
    if (folder / "summary.json").is_file():
        return folder
    with claim(folder):
        if (folder / "trainer_state.pt").is_file():
            log(f"[{run.key}] resuming")
            train(None, resume=folder)
            return folder
        if folder.exists():  # died before its first checkpoint: nothing to keep
            shutil.rmtree(folder)
        cfg.out, cfg.name = str(folder.parent), folder.name
        if run.base:  # a fine-tuning variant starts from another variant's trained weights
            cfg.init_from = str(ensure_trained(run.base, scale, root, log, opts) / "best")
        log(f"[{run.key}] training ({scale} scale)")
        train(cfg, argv=["locrnn", "reproduce", run.key, "--scale", scale], log=log)
    return folder


def train_under_torchrun(runs: list[Run], scale: str, root: Path, log=print, opts: RunOptions | None = None) -> bool:
    """Under ``torchrun``: every process trains each unfinished run of ``runs`` together, in one
    process group for the whole command (gloo cannot join a second group in one process: a
    group per run hung the second run). Returns whether this process goes on to sweep and
    report, as a single process: rank 0 does, the others are done once every run is trained."""
    rt = setup(recipe(runs[0], scale).device)
    for run in dict.fromkeys(runs):
        ensure_trained(run, scale, root, log if rt.main else (lambda *_: None), opts)
        dist.barrier()  # rank 0 has written the run's summary before any process looks at the next
    teardown(rt)  # rank 0 goes on alone: its sweeps join no process group (SweepSpec runs alone)
    return rt.main
