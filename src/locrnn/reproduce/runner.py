"""Make a figure: train the runs that are missing (skip finished ones, resume interrupted ones),
sweep them, and write ``results/<fig>/`` (tidy CSV, PNG in the paper's layout, a markdown page)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

from ..evaluation.extrapolation import sweep_checkpoint
from ..evaluation.sweep import write_rows
from ..io import UserError, load_json, save_json
from ..lock import claim
from ..models import get_entry
from ..runtime import setup, teardown
from ..training.config import TrainConfig, make_config
from ..training.trainer import train
from .figures import VARIANTS, Figure, Run

SCALES = ("quick", "paper", "smoke")  # smoke: seconds-long runs that only check the plumbing
QUICK_MAZES = {True: 16_000, False: 6_000}  # training mazes per quick run (headline runs get more)
HEADLINE = {  # besides every 9x9 run (Fig. 1 compares all models there: the same data for each)
    ("mazes", 11, "locrnn"),
    ("mazes", 11, "convgru"),
    ("mazes", 11, "rresnet36"),
    ("mazes", 11, "resnet36"),
}


def recipe(run: Run, scale: str) -> TrainConfig:
    """The training configuration of ``run`` at ``scale``."""
    cfg = _recipe(run, scale)
    cfg.model_args = _accepted(run.model, cfg.model_args)
    if not get_entry(run.model).recurrent:  # the presets' step counts are for recurrent models
        cfg.steps = None
    return cfg


def _recipe(run: Run, scale: str) -> TrainConfig:
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; choose quick or paper (or smoke for a plumbing check)")
    if run.variant not in VARIANTS:
        raise UserError(f"unknown training variant {run.variant!r}; choose one of {sorted(VARIANTS)}")
    spec = {k: v for k, v in VARIANTS[run.variant].items() if k != "finetune"}  # (ensure_trained's business)
    common = dict(task=run.task, size=run.difficulty, model=run.model, seed=run.seed, data_seed=run.seed, **spec)
    if scale == "paper":
        return make_config("paper" if run.task == "mazes" else "pathfinder-paper", **common)
    preset = "cpu" if run.task == "mazes" else "pathfinder-cpu"
    if scale == "smoke":
        smoke = dict(n_train=64, n_val=32, batch_size=16, progress=False, val_every=2)
        cfg = make_config(preset, **{**common, **smoke})
        cfg.model_args = {**cfg.model_args, "width": 8}
        return cfg
    headline = (run.task, run.difficulty, run.model) in HEADLINE or run.variant != "paper"
    headline |= run.task == "mazes" and run.difficulty == 9
    cfg = make_config(preset, **common)
    if run.task == "mazes":  # a fixed number of fresh mazes (not a time budget): results do not depend on load
        cfg.model_args = {**cfg.model_args, "width": 32}
        cfg.n_train = spec.get("n_train", QUICK_MAZES[headline])
    cfg.n_val = min(cfg.n_val, 500)
    cfg.val_every = 60
    return cfg


def _accepted(model: str, args: dict) -> dict:
    """The preset's ``model_args`` that ``model`` takes: ``init`` (how L_0 and S_0 start, set by
    the PathFinder CPU preset) is a LocRNN option; every model takes ``width``."""
    return {k: v for k, v in args.items() if k != "init" or model.startswith("locrnn")}


def run_folder(run: Run, scale: str, root: Path) -> Path:
    return root / "runs" / scale / run.key


def finished(run: Run, scale: str, root: Path) -> bool:
    """Whether ``run`` has finished training at ``scale`` under ``root`` (its summary is written last)."""
    return (run_folder(run, scale, root) / "summary.json").is_file()


def ensure_trained(run: Run, scale: str, root: Path, log=print) -> Path:
    """The run's folder, training it first if needed (finished: skip; interrupted: resume).
    Two commands that need the same run do not both train it: the second one is refused."""
    folder, cfg = run_folder(run, scale, root), recipe(run, scale)
    if (folder / "config.json").is_file():
        _check_recipe(folder, cfg)
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
            cfg.init_from = str(ensure_trained(run.base, scale, root, log) / "best")
        log(f"[{run.key}] training ({scale} scale)")
        train(cfg, argv=["locrnn", "reproduce", run.key, "--scale", scale], log=log)
    return folder


def train_under_torchrun(runs: list[Run], scale: str, root: Path, log=print) -> bool:
    """Under ``torchrun``: every process trains each unfinished run of ``runs`` together, in one
    process group for the whole command (gloo cannot join a second group in one process: a
    group per run hung the second run). Returns whether this process goes on to sweep and
    report, as a single process: rank 0 does, the others are done once every run is trained."""
    import torch.distributed as dist

    rt = setup(recipe(runs[0], scale).device)
    for run in dict.fromkeys(runs):
        ensure_trained(run, scale, root, log if rt.main else (lambda *_: None))
        dist.barrier()  # rank 0 has written the run's summary before any process looks at the next
    teardown(rt)
    if rt.main:  # rank 0 goes on alone: its sweeps must not wait for a group the others have left
        os.environ["WORLD_SIZE"] = "1"
    return rt.main


_NOT_RECIPE = {"out", "name", "progress", "init_from", "device", "data_root", "compile"}  # where/how, not what


def _check_recipe(folder: Path, cfg: TrainConfig) -> None:
    """Refuse to reuse (or resume) a run trained with another recipe than ``cfg`` (e.g. an older
    quick recipe): its numbers would not be this figure's."""
    done = load_json(folder / "config.json")
    want = {k: v for k, v in json.loads(json.dumps(dataclasses.asdict(cfg))).items() if k not in _NOT_RECIPE}
    diff = sorted(k for k, v in want.items() if k in done and done[k] != v)
    if diff:
        got = ", ".join(f"{k}={done[k]!r} (recipe: {want[k]!r})" for k in diff)
        raise UserError(f"{folder} was trained with another recipe: {got}; move it away to retrain it")


def _cached(folder: Path, stem: str, params: dict, checkpoint: Path) -> list[dict] | None:
    """The rows of an earlier sweep of the same checkpoint with the same parameters, else None."""
    try:
        done = json.loads((folder / "params.json").read_text())
        if done["params"] != params or done["checkpoint_mtime"] != _mtime(checkpoint):
            return None
        return json.loads((folder / f"{stem}.json").read_text())
    except (OSError, ValueError, KeyError):
        return None


def _remember(folder: Path, params: dict, checkpoint: Path) -> None:
    save_json(folder / "params.json", {"params": params, "checkpoint_mtime": _mtime(checkpoint)})


def _mtime(checkpoint: Path) -> float:
    return checkpoint.with_suffix(".safetensors").stat().st_mtime


def efficiency_rows(run: Run, folder: Path) -> list[dict]:
    """Validation accuracy vs training images seen (the sample-efficiency curve) of one run."""
    rows = []
    for line in (folder / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "val_accuracy" in r:
            rows.append(
                {
                    "run": run.key,
                    "model": run.model,
                    "task": run.task,
                    "difficulty": run.difficulty,
                    "seed": run.seed,
                    "images": r["images"],
                    "val_accuracy": r["val_accuracy"],
                }
            )
    return rows


def make_figure(
    fig: Figure, *, scale: str = "quick", root: Path = Path("results"), n_test: int | None = None, log=print
) -> Path:
    """Train what is missing, sweep, and write ``root/<fig>/``; returns that folder."""
    from .report import write_report

    start = time.time()
    out = root / fig.folder
    timing = out / "timing.json"
    made = load_json(timing) if timing.is_file() else {}
    # test samples: as asked, else as the page was made with (a redraw does not re-sweep), else by scale
    n = n_test or made.get("n_test") or {"quick": 500, "paper": 10_000, "smoke": 16}[scale]
    folders: dict[str, Path] = {}
    worked = False  # did this call train or sweep anything (else: a redraw from cached results)
    for run in fig.runs:
        worked |= not finished(run, scale, root)
        try:
            folders[run.key] = ensure_trained(run, scale, root, log)
        except UserError as e:
            raise UserError(f"{fig.name}: run {run.key}: {e}") from None
    rows: list[dict] = []
    for sw in fig.sweeps:
        best, folder = folders[sw.run.key] / "best", out / "sweeps" / sw.run.key
        params = {"difficulties": list(sw.difficulties), "steps": list(sw.steps) if sw.steps else "trained", "n": n}
        r = _cached(folder, "sweep", params, best)
        if r is None:
            worked = True
            r, _ = sweep_checkpoint(best, **params, seed=10_000, out=folder, progress=False)
            _remember(folder, params, best)
        for row in r:
            row.update(run=sw.run.key, seed=sw.run.seed, trained_on=sw.run.difficulty)
        rows += r
    write_rows(rows, out, stem="rows")
    halting = []
    if fig.extra.get("halting"):  # per-sample halting: no step count chosen by hand
        from ..evaluation.extrapolation import halting_checkpoint

        for run in fig.runs:
            best, folder = folders[run.key] / "best", out / "halting" / run.key
            rule = "act" if VARIANTS[run.variant].get("objective") == "act" else "prediction"
            params = {"difficulties": [9, 11, 13], "n": n, "rule": rule}
            h = _cached(folder, "halting", params, best)
            if h is None:
                worked = True
                h, _ = halting_checkpoint(best, **params, seed=10_000, out=folder)
                _remember(folder, params, best)
            for row in h:
                row.update(run=run.key, variant=run.variant, seed=run.seed, rule=rule)
            halting += h
        write_rows(halting, out, stem="halting")
    eff = [e for run in fig.runs for e in efficiency_rows(run, folders[run.key])]
    write_rows(eff, out, stem="efficiency")
    seconds, redrawn = time.time() - start, False
    if not worked and "seconds" in made:  # keep the time it took to make, not to redraw
        seconds, redrawn = float(made["seconds"]), True
    else:
        save_json(timing, {"seconds": round(seconds, 1), "n_test": n})
    write_report(fig, rows, eff, out, folders=folders, scale=scale, seconds=seconds, halting=halting, redrawn=redrawn)
    return out
