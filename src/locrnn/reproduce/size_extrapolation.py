"""Make the size-extrapolation experiment (reproduce/sizes.py): for each model and test size, the
mazes with halting and the sparse sweep, each cached per (model, size) so an interrupted run
resumes at the size it stopped at; then ``results/size-extrapolation/``: ``halting.csv`` (one row
per model and size, with the seconds it took and the load average), ``rows.csv`` (the sweeps),
``accuracy_vs_size.png``, ``accuracy_vs_steps_<S>.png`` per size and ``README.md``.

The models are the figure's runs (trained first where missing, as every figure's), or checkpoints
shipped with locrnn (``pretrained``, e.g. ``locrnn-mazes-stable``, or a checkpoint's path): then
nothing is trained.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..evaluation import SweepSpec, halting_checkpoint, sweep_checkpoint
from ..evaluation.rows import write_rows
from ..io import UserError, load_json, save_json
from ..models.hub import (
    DEFAULT_DAMPING,
    DEFAULT_PATIENCE,
    list_pretrained,
    pretrained_path,
    read_checkpoint,
    resolve_checkpoint,
    test_time_settings,
)
from ..plots import plot_accuracy_vs_size, plot_size_steps
from ..runtime import pick_dtype
from .cache import cached, cached_rows
from .figures import Figure, runs_to_train
from .make import TEST_SEED, halting_rule
from .recipes import RunOptions
from .runs import ensure_trained, finished
from .size_report import write_size_report
from .sizes import SizeTest


@dataclass(frozen=True)
class Tested:
    """A model under test: its checkpoint, a label for tables and plots, and where its rows go."""

    checkpoint: Path
    label: str
    key: str  # the run's name, or the shipped checkpoint's


def machine() -> str:
    """The CPU, its class (native bf16 or AVX2 only), threads and the precision ``auto`` picks."""
    name, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    cls = next((f for f in ("avx512_bf16", "avx2") if f in flags), "other") if flags else "unknown"
    dtype = pick_dtype("auto", torch.device("cpu"))
    precision = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))
    threads = torch.get_num_threads()
    return f"{name}, CPU class {cls}, {threads} thread{'s' * (threads > 1)}, precision {precision}"


def models_under_test(
    fig: Figure, scale: str, root: Path, pretrained: Sequence[str], log=print, opts: RunOptions | None = None
) -> list[Tested]:
    """The shipped checkpoints ``pretrained`` if any, in place of LocRNN's runs, then the figure's
    runs (trained if missing): all of them, or with ``pretrained`` those it does not stand in for
    (dt_recall's, :func:`runs_to_train`)."""
    tested = [_checkpoint(name) for name in pretrained]
    for run in runs_to_train(fig, pretrained):
        if not finished(run, scale, root):
            log(f"[{run.key}] not trained yet: training it first")
        folder = ensure_trained(run, scale, root, log, opts)
        label = run.model if run.variant == "paper" else f"{run.model} ({run.variant})"
        tested.append(Tested(folder / "best", label, run.key))
    return tested


def _checkpoint(name: str) -> Tested:
    """A shipped checkpoint by name (``locrnn-mazes-stable``), else a checkpoint's path."""
    if name in list_pretrained():
        return Tested(pretrained_path(name), name, name)
    stem = resolve_checkpoint(name)
    key = stem.name if stem.name not in ("best", "last") else f"{stem.parent.name}-{stem.name}"
    return Tested(stem, key, key)


def _timed(compute, stem: str, folder: Path):
    """``compute``'s rows with the seconds it took, the CPU seconds of this process (what a shared
    machine's load does not inflate) and the 1-minute load average at its start, rewritten to
    ``folder/<stem>.json`` (the cache reads that file)."""

    def run() -> list[dict]:
        load, start, cpu = os.getloadavg()[0], time.time(), time.process_time()
        rows = compute()
        for r in rows:
            r.update(
                seconds=round(time.time() - start, 1),
                cpu_seconds=round(time.process_time() - cpu, 1),
                load_avg=round(load, 2),
            )
        write_rows(rows, folder, stem=stem)
        return rows

    return run


def test_size(
    m: Tested, t: SizeTest, folder: Path, *, progress: bool = False, cached_only: bool = False
) -> tuple[dict, list[dict]] | None:
    """One model on one size: the halting row and the sweep's rows (cached in ``folder``); with
    ``cached_only`` those measured before with the same parameters by any file of the checkpoint,
    else None (nothing is computed)."""
    rule = halting_rule(m.checkpoint)
    spec = SweepSpec(
        m.checkpoint,
        difficulties=(t.size,),
        n=t.n,
        halt=rule,
        max_steps=t.budget,
        seed=TEST_SEED,
        out=folder / "halting",
        progress=progress,
    )
    params = {"size": t.size, "n": t.n, "budget": t.budget, "rule": rule, "seed": TEST_SEED}
    sweep_params = {"size": t.size, "n": t.n_sweep, "steps": list(t.grid), "seed": TEST_SEED}
    # the checkpoint's test-time settings (its JSON's test_time) are part of a cell's identity;
    # the defaults stay out of the key, so cells measured before they existed remain valid
    damping, patience = test_time_settings(read_checkpoint(m.checkpoint)[1], m.checkpoint)
    if (damping, patience) != (DEFAULT_DAMPING, DEFAULT_PATIENCE):
        params.update(damping=damping, patience=patience)
        sweep_params.update(damping=damping)
    if cached_only:  # the cells as measured then (a checkout's new file time does not discard them)
        halt = cached(folder / "halting", "halting", params, None)
        sweep = cached(folder / "sweep", "sweep", sweep_params, None)
        return None if halt is None or sweep is None else _tagged(m, halt[0], sweep)
    compute = _timed(lambda: halting_checkpoint(spec)[0], "halting", folder / "halting")
    (halt,), _ = cached_rows(folder / "halting", "halting", params, m.checkpoint, compute)
    spec = SweepSpec(
        m.checkpoint,
        difficulties=(t.size,),
        steps=t.grid,
        n=t.n_sweep,
        seed=TEST_SEED,
        out=folder / "sweep",
        progress=progress,
    )
    compute = _timed(lambda: sweep_checkpoint(spec)[0], "sweep", folder / "sweep")
    sweep, _ = cached_rows(folder / "sweep", "sweep", sweep_params, m.checkpoint, compute)
    return _tagged(m, halt, sweep)


def _tagged(m: Tested, halt: dict, sweep: list[dict]) -> tuple[dict, list[dict]]:
    tag = {"run": m.key, "model": m.label, "trained_on": 9}
    return {**halt, **tag}, [{**r, **tag} for r in sweep]


def make_size_figure(
    fig: Figure,
    *,
    scale: str = "quick",
    root: Path = Path("results"),
    n_test: int | None = None,
    pretrained: Sequence[str] = (),
    cached_only: Sequence[str] = (),
    progress: bool = False,
    log=print,
    opts: RunOptions | None = None,
) -> Path:
    """Test every model of ``fig`` (or the shipped ``pretrained`` checkpoints) on every size, and
    write ``root/size-extrapolation/``; returns that folder. ``n_test`` caps the mazes per size.
    The models named in ``cached_only`` (as in ``pretrained``, or run names) are only read from
    the cells measured before: a size not measured yet stays out of the tables (shown as -)."""
    start = time.time()
    out = root / fig.folder
    models = models_under_test(fig, scale, root, pretrained, log, opts)
    # each model as the user may name it: its key, or its name in ``pretrained``
    names = {m.key: m.key for m in models} | {m.key: name for m, name in zip(models, pretrained)}
    unknown = set(cached_only) - set(names.values()) - set(names)
    if unknown:
        raise UserError(f"cached_only names models not under test: {', '.join(sorted(unknown))}")
    tests = [t if n_test is None else _capped(t, n_test) for t in fig.extra["tests"]]
    halting, rows = [], []
    for t in tests:  # size by size, every model: an interrupted run has the small sizes of all
        for m in models:
            only = {m.key, names[m.key]} & set(cached_only)
            cell = test_size(m, t, out / "sizes" / m.key / str(t.size), progress=progress, cached_only=only)
            if cell is None:
                log(f"[{m.label}] {t.size}x{t.size}: not measured before (cached_only): left out")
                continue
            h, r = cell
            halting.append(h)
            rows += r
            log(
                f"[{m.label}] {t.size}x{t.size}: {100 * h['accuracy']:.1f}% of {h['n']} with halting, "
                f"mean {h['mean_steps']:.0f} steps (budget {t.budget}), {h['seconds'] + r[-1]['seconds']:.0f} s"
            )
    write_rows(halting, out, stem="halting")
    write_rows(rows, out, stem="rows")
    plot_accuracy_vs_size(halting, out / "accuracy_vs_size.png", title=fig.title)
    for t in tests:
        plot_size_steps(
            [r for r in rows if r["difficulty"] == t.size],
            [h for h in halting if h["difficulty"] == t.size],
            out / f"accuracy_vs_steps_{t.size}.png",
            title=f"{t.size}x{t.size} mazes (trained on 9x9): accuracy vs test-time steps",
        )
    timing = out / "timing.json"
    made = load_json(timing) if timing.is_file() else {}
    swept = {(r["run"], r["difficulty"]): r["seconds"] for r in rows}  # one sweep per model and size
    seconds = round(sum(h["seconds"] for h in halting) + sum(swept.values()), 1)
    if made.get("seconds") != seconds:
        save_json(timing, {"seconds": seconds, "wall": round(time.time() - start, 1), "machine": machine()})
        made = load_json(timing)
    write_size_report(
        fig, halting, rows, tests, out, scale=scale, pretrained=pretrained, cached_only=cached_only, made=made
    )
    return out


def _capped(t: SizeTest, n: int) -> SizeTest:
    return SizeTest(t.size, min(t.n, n), t.budget, min(t.n_sweep, n), t.grid)
