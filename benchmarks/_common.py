"""Shared helpers of the benchmarks: side-by-side timing, FLOP counts, the convolution peak.

Timing on a shared 2-core machine is noisy, so every figure is taken side by side with its
baseline: the candidates run in interleaved rounds (A B C, A B C, ...) and each is scored by its
best round. The process CPU time over wall time of each round is kept: near the thread count
means the round had the cores to itself.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the plain oracle lives with the tests


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def machine() -> str:
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads"


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, dict]:
    """Run each callable ``warmup`` times, then ``rounds`` interleaved timed rounds.

    Returns per name: ``best`` and ``median`` seconds, and ``cpu`` (process CPU / wall of the
    best round).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall = time.perf_counter() - t0
            times[name].append((wall, (time.process_time() - c0) / wall))
    out = {}
    for name, ts in times.items():
        walls = sorted(w for w, _ in ts)
        best = min(ts)
        out[name] = {"best": best[0], "median": walls[len(walls) // 2], "cpu": best[1], "rounds": len(ts)}
    return out


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs (2 per multiply-add) of the matrix products and convolutions ``fn`` runs."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


PEAK_SHAPES = [(32, 256, 256, 3, 32), (32, 128, 64, 5, 28)]  # (batch, C_in, C_out, kernel, side)
PEAK_SHAPES_QUICK = [(8, 128, 64, 5, 28)]


def conv_peak(
    rounds: int = 5, quick: bool = False, precisions: tuple[str, ...] = ("fp32", "bf16"), shapes=None
) -> dict[str, dict]:
    """GFLOP/s of large convolutions in each of ``precisions`` (fp32, bf16), NCHW and
    channels-last; the best is the peak.

    Two shapes: a generic large one (256->256, 3x3, 32x32, batch 32) and LocRNN's own largest
    (128->64, 5x5, 28x28, batch 32). Leave bf16 out where the CPU only emulates it: its peak is
    then no reference for anything, and measuring it takes minutes.
    """
    shapes = shapes or (PEAK_SHAPES_QUICK if quick else PEAK_SHAPES)
    result: dict[str, dict] = {}
    for key in precisions:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[key]
        best = {"gflops": 0.0}
        for batch, cin, cout, k, side in shapes:
            for layout in ("nchw", "channels_last"):
                x = torch.randn(batch, cin, side, side, dtype=dtype)
                w = torch.randn(cout, cin, k, k, dtype=dtype)
                if layout == "channels_last":
                    x, w = x.to(memory_format=torch.channels_last), w.to(memory_format=torch.channels_last)
                flops = 2 * batch * side * side * cout * cin * k * k
                with torch.no_grad():
                    run = lambda x=x, w=w, pad=k // 2: F.conv2d(x, w, padding=pad)  # noqa: E731
                    t = interleaved({"c": run}, rounds, warmup=2)["c"]
                g = flops / t["best"] / 1e9
                if g > best["gflops"]:
                    best = {"gflops": g, "shape": f"{batch}x{cin}->{cout} {k}x{k} at {side}x{side}", "layout": layout}
        result[key] = best
    return result


def fmt_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A Markdown table of ``rows`` with (key, header) ``columns``."""
    cells = [[h for _, h in columns]] + [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells[1:]]
    return "\n".join(lines)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if v != 0 and abs(v) < 0.01:
            return f"{v:.1e}"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    return str(v)
