"""Maze generation per size, 9x9 to 99x99: mazes/s in one process and on every CPU, the time to
write a v2 set, and a hash of each set (the same seed must give the same mazes bit for bit).

Each size is timed on whole random streams (``chunk_size(size)`` mazes each: a smaller n still
carves its whole first stream, so the rate of a handful of mazes is not the generator's).

    .venv/bin/python benchmarks/maze_generation.py [--sizes 9,13,19,25,33,59,99] [--chunks 2]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time

from _common import fmt_table, loadavg, machine

from locrnn.data.maze_io import write_mazes
from locrnn.data.mazes import chunk_size, generate_mazes, image_side


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def rates(sizes: list[int], chunks: int) -> list[dict]:
    rows = []
    for size in sizes:
        n = chunks * chunk_size(size)
        row = {"size": size, "px": image_side(size), "n": n, "chunk": chunk_size(size)}
        for label, workers in (("one", 1), ("all", os.cpu_count() or 1)):
            t0 = time.perf_counter()
            x, y = generate_mazes(n, size, seed=0, split="test", workers=workers)
            row[label] = n / (time.perf_counter() - t0)
        row["sha256"] = digest(x, y)
        rows.append(row)
    return rows


def v2_sets(sets: list[tuple[int, int]]) -> list[dict]:
    """Seconds to generate (every CPU) and write ``n`` mazes of ``size`` as a v2 folder."""
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for size, n in sets:
            t0 = time.perf_counter()
            x, y = generate_mazes(n, size, seed=0, split="test")
            t1 = time.perf_counter()
            write_mazes(root, "test", size, x, y, overwrite=True)
            t2 = time.perf_counter()
            mib = (x.nbytes + y.nbytes) / 2**20
            rows.append({"set": f"{n} x {size}x{size}", "generate": t1 - t0, "write": t2 - t1, "mib": mib})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="9,13,19,25,33,59,99")
    p.add_argument("--chunks", type=int, default=2, help="random streams per timing")
    p.add_argument("--sets", default="59:1000,99:100,99:1000", help="v2 sets to write, size:n,...")
    args = p.parse_args(argv)
    print(f"machine: {machine()}\nload average at start: {loadavg()}\n")
    cols = [
        ("size", "size"),
        ("px", "px"),
        ("n", "n"),
        ("chunk", "mazes per stream"),
        ("one", "mazes/s, 1 process"),
        ("all", "mazes/s, all CPUs"),
        ("sha256", "sha256 of the set (seed 0, test)"),
    ]
    print(fmt_table(rates([int(s) for s in args.sizes.split(",")], args.chunks), cols))
    sets = [tuple(int(v) for v in s.split(":")) for s in args.sets.split(",") if s]
    if sets:
        cols = [("set", "v2 set"), ("generate", "generate s"), ("write", "write s"), ("mib", "MiB (uint8)")]
        print("\n" + fmt_table(v2_sets(sets), cols))
    print(f"\nload average at end: {loadavg()}")


if __name__ == "__main__":
    main()
