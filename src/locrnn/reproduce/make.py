"""Make a figure: train the runs that are missing (skip finished ones, resume interrupted ones),
sweep them, and write ``results/<fig>/`` (tidy CSV, PNG in the paper's layout, a markdown page)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..evaluation import SweepSpec, halting_checkpoint, sweep_checkpoint
from ..evaluation.rows import write_rows
from ..io import UserError, load_json, save_json
from ..models.hub import read_checkpoint
from .cache import cached_rows
from .figures import Figure, Run
from .recipes import RunOptions
from .report import write_report
from .runs import ensure_trained, finished

TEST_SEED = 10_000  # the test data of every figure's sweeps
N_TEST = {"quick": 500, "paper": 10_000, "smoke": 16}  # test samples per difficulty, by scale


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


def _train(fig: Figure, scale: str, root: Path, log, opts: RunOptions | None) -> tuple[dict[str, Path], bool]:
    """Every run of ``fig`` trained (its folder by run key), and whether any had to be trained."""
    folders, worked = {}, False
    for run in fig.runs:
        worked |= not finished(run, scale, root)
        try:
            folders[run.key] = ensure_trained(run, scale, root, log, opts)
        except UserError as e:
            raise UserError(f"{fig.name}: run {run.key}: {e}") from None
    return folders, worked


def _sweeps(fig: Figure, folders: dict[str, Path], out: Path, n: int) -> tuple[list[dict], bool]:
    """The rows of the figure's sweeps (cached per run), and whether any was swept now."""
    rows, worked = [], False
    for sw in fig.sweeps:
        best, folder = folders[sw.run.key] / "best", out / "sweeps" / sw.run.key
        params = {"difficulties": list(sw.difficulties), "steps": list(sw.steps) if sw.steps else "trained", "n": n}
        spec = SweepSpec(best, **params, seed=TEST_SEED, out=folder, progress=False)
        r, now = cached_rows(folder, "sweep", params, best, lambda spec=spec: sweep_checkpoint(spec)[0])
        worked |= now
        for row in r:
            row.update(run=sw.run.key, seed=sw.run.seed, trained_on=sw.run.difficulty)
        rows += r
    return rows, worked


def _halting(fig: Figure, folders: dict[str, Path], out: Path, n: int) -> tuple[list[dict], bool]:
    """Per-sample halting of every run on 9/11/13 (no step count chosen by hand), cached per run:
    by the learned halting head for runs trained with it, else when the prediction is unchanged."""
    rows, worked = [], False
    for run in fig.runs:
        best, folder = folders[run.key] / "best", out / "halting" / run.key
        rule = halting_rule(best)
        params = {"difficulties": [9, 11, 13], "n": n, "rule": rule}
        spec = SweepSpec(best, difficulties=(9, 11, 13), n=n, halt=rule, seed=TEST_SEED, out=folder)
        h, now = cached_rows(folder, "halting", params, best, lambda spec=spec: halting_checkpoint(spec)[0])
        worked |= now
        for row in h:
            row.update(run=run.key, variant=run.variant, seed=run.seed, rule=rule)
        rows += h
    return rows, worked


def halting_rule(checkpoint: Path) -> str:
    """The rule a checkpoint is halted by: its learned halting head when its model has one (the
    model config the checkpoint records says ``halting: act``), else an unchanged prediction."""
    _, meta = read_checkpoint(checkpoint)
    return "act" if meta["model"].get("halting") == "act" else "prediction"


def make_figure(
    fig: Figure,
    *,
    scale: str = "quick",
    root: Path = Path("results"),
    n_test: int | None = None,
    log=print,
    opts: RunOptions | None = None,
) -> Path:
    """Train what is missing (with ``opts``), sweep, and write ``root/<fig>/``; returns that folder."""
    start = time.time()
    out = root / fig.folder
    timing = out / "timing.json"
    made = load_json(timing) if timing.is_file() else {}
    # test samples: as asked, else as the page was made with (a redraw does not re-sweep), else by scale
    n = n_test or made.get("n_test") or N_TEST[scale]
    folders, trained = _train(fig, scale, root, log, opts)
    rows, swept = _sweeps(fig, folders, out, n)
    write_rows(rows, out, stem="rows")
    halting, halted = _halting(fig, folders, out, n) if fig.extra.get("halting") else ([], False)
    if fig.extra.get("halting"):
        write_rows(halting, out, stem="halting")
    eff = [e for run in fig.runs for e in efficiency_rows(run, folders[run.key])]
    write_rows(eff, out, stem="efficiency")
    seconds, redrawn = time.time() - start, False
    if not (trained or swept or halted) and "seconds" in made:  # keep the time it took to make, not to redraw
        seconds, redrawn = float(made["seconds"]), True
    else:
        save_json(timing, {"seconds": round(seconds, 1), "n_test": n})
    write_report(fig, rows, eff, out, folders=folders, scale=scale, seconds=seconds, halting=halting, redrawn=redrawn)
    return out
