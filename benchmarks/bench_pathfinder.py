"""PathFinder generator speed: images per second, in memory and written as PNGs.

    .venv/bin/python benchmarks/bench_pathfinder.py                 # PF-14, 150 px, 2000 images
    .venv/bin/python benchmarks/bench_pathfinder.py --preset pf18 --n 4000 --no-write

Runs one worker and all cores side by side (interleaved rounds, best round kept) and prints
images/s. The machine is shared: the load average before and after is printed, and the CPU
time of the worker processes over the wall time says how much of the cores the run got.
Floor (issue 4): 150x150 PathFinder-14 at >= 200 images/s with both cores of the 2-core box.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

from locrnn.data.pathfinder import PRESETS, generate_pathfinder, preset_params
from locrnn.data.pathfinder_write import write_pathfinder


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn) -> tuple[float, float]:
    c0, t0 = cpu_seconds(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    return wall, (cpu_seconds() - c0) / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="pf14", choices=sorted(PRESETS))
    ap.add_argument("--size", type=int, default=None, help="override the image size")
    ap.add_argument("--n", type=int, default=2000, help="images per timed run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="the 'all cores' worker count")
    ap.add_argument("--no-write", action="store_true", help="skip the PNG-writing measurement")
    args = ap.parse_args()

    p = preset_params(args.preset, size=args.size)
    print(f"PathFinder {args.preset}: {p.describe()}")
    print(f"{os.cpu_count()} logical CPUs; load average before: {loadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_pathfinder_"))
    runs = {
        "generate, 1 worker": lambda s: generate_pathfinder(args.n, p, seed=s, workers=1),
        f"generate, {args.workers} workers": lambda s: generate_pathfinder(args.n, p, seed=s, workers=args.workers),
    }
    if not args.no_write:
        runs[f"generate + write PNGs, {args.workers} workers"] = lambda s: write_pathfinder(
            tmp / str(s), p, args.n, seed=s, workers=args.workers
        )
    generate_pathfinder(64, p, workers=1)  # warm-up (imports, page faults)
    best: dict[str, tuple[float, float]] = {}
    try:
        for r in range(args.rounds):
            for name, fn in runs.items():
                wall, cpu = timed(lambda: fn(1000 + r))  # noqa: B023
                if name not in best or wall < best[name][0]:
                    best[name] = (wall, cpu)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'run':<42} {'images/s':>9} {'s':>7} {'cores used':>10}")
    for name, (wall, cpu) in best.items():
        print(f"{name:<42} {args.n / wall:>9.0f} {wall:>7.2f} {cpu:>10.2f}")
    print(f"load average after: {loadavg()} (best of {args.rounds} interleaved rounds, {args.n} images each)")


if __name__ == "__main__":
    main()
