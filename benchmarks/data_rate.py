"""Data generation rates: mazes per second per size (``locrnn.data.mazes.generate_mazes``).

Each size is timed in one process (``workers=1``: the rate of one core) and with the default
worker pool (every CPU). The PathFinder generator has its own benchmark
(``benchmarks/bench_pathfinder.py``); :func:`pathfinder_report` runs it when it is there.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from locrnn.data.mazes import chunk_size, generate_mazes, image_side

SIZES = (9, 11, 13, 15, 25, 59)


def maze_rates(sizes=SIZES, *, chunks: int = 2) -> list[dict]:
    """Mazes/s for each size; ``chunks`` random streams of the size's chunk per timing."""
    rows = []
    for size in sizes:
        n = chunks * chunk_size(size)
        row = {"size": size, "pixels": image_side(size), "n": n}
        for label, workers in (("one_core", 1), ("all_cores", os.cpu_count() or 1)):
            t0 = time.perf_counter()
            generate_mazes(n, size, seed=0, split="train", workers=workers)
            row[f"mazes_per_s_{label}"] = n / (time.perf_counter() - t0)
        rows.append(row)
    return rows


def pathfinder_report(presets=("pf9", "pf14", "pf18"), *, n: int = 2000, rounds: int = 2) -> str | None:
    """The output of ``bench_pathfinder.py`` (another benchmark) per path length, or None if absent."""
    script = Path(__file__).with_name("bench_pathfinder.py")
    if not script.is_file():
        return None
    parts = []
    for preset in presets:
        cmd = [sys.executable, str(script), "--preset", preset, "--n", str(n), "--rounds", str(rounds), "--no-write"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
        if out.returncode != 0:
            parts.append(f"{preset}: bench_pathfinder.py failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
        else:
            parts.append(out.stdout.strip())
    return "\n\n".join(parts)
