"""Train a figure's missing runs side by side: ``jobs`` processes, each ``locrnn reproduce <run>``
with its share of the cores, so a 2-core CPU trains two quick runs at once instead of one after
the other (PyTorch's threads gain little on these small models: a PathFinder-6 LocRNN run took
13 min alone with 2 threads and 19-20 min with 1 thread beside another, 1.3x more runs per hour)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .figures import Run
from .recipes import RunOptions
from .runs import finished


def next_ready(pending: list[Run], busy: set[Run]) -> Run | None:
    """The first pending run that can start now: not one whose base run is still pending or being
    trained (its process would find the base locked and fail)."""
    waiting = set(pending) | busy
    return next((r for r in pending if r.base not in waiting), None)


def train_side_by_side(runs: list[Run], scale: str, root: Path, jobs: int, opts: RunOptions | None = None) -> None:
    """Train the unfinished ``runs`` in up to ``jobs`` processes at a time. A run whose process
    fails is named with its log; it is trained, or its error reported, by the figure's own pass
    afterwards (finished runs are skipped there as always). Not for torchrun: one process each."""
    from tqdm.auto import tqdm

    todo = [r for r in dict.fromkeys(runs) if not finished(r, scale, root)]
    if jobs <= 1 or len(todo) <= 1:
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    seeds = 1 + max(r.seed for r in todo)
    (root / "runs" / scale).mkdir(parents=True, exist_ok=True)
    pending, running = list(todo), {}
    bar = tqdm(
        total=len(todo), desc=f"training {len(todo)} runs, {jobs} at a time ({threads} threads each)", unit="run"
    )
    try:
        while pending or running:
            while len(running) < jobs and (run := next_ready(pending, set(running.values()))) is not None:
                pending.remove(run)
                out = root / "runs" / scale / f".{run.key}.out"
                cmd = [sys.executable, "-m", "locrnn", "reproduce", run.key, "--scale", scale, "--root", str(root)]
                with open(out, "w") as f:
                    cmd += ["--seeds", str(seeds), *(opts.flags() if opts else [])]
                    proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
                running[proc] = run
                bar.write(f"[{run.key}] training in process {proc.pid} (output: {out})")
            time.sleep(1)
            for proc in [p for p in running if p.poll() is not None]:
                run = running.pop(proc)
                bar.update(1)
                if proc.returncode:
                    bar.write(f"[{run.key}] failed (exit {proc.returncode}); see runs/{scale}/.{run.key}.out")
    except BaseException:  # interrupted: stop the children too (their runs resume next time)
        for proc in running:
            proc.terminate()
        raise
    finally:
        bar.close()
