"""Plots read only the tidy rows that evaluation writes (CSV / JSON)."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_path  # noqa: E402


def plot_sweep(rows: list[dict], path: str | os.PathLike, *, title: str = "") -> Path:
    """Accuracy vs test-time steps, one line per (run, difficulty); trained steps circled; the
    step from which outputs stop being finite (they count as wrong) marked by a dotted line."""
    path = Path(path)
    fig = sweep_figure(rows, title=title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def sweep_figure(rows: list[dict], *, title: str = ""):
    """The figure of :func:`plot_sweep` (the caller closes it)."""
    curves: dict[tuple, list[tuple[int, float]]] = defaultdict(list)
    flat: dict[tuple, float] = {}
    trained: dict[tuple, int | None] = {}
    onset: dict[tuple, int] = {}
    for r in rows:
        key = (r.get("model", ""), r.get("task", ""), r["difficulty"])
        if r["steps"] is None or r["steps"] == "":
            flat[key] = float(r["accuracy"])
            continue
        s = int(r["steps"])
        curves[key].append((s, 100 * float(r["accuracy"])))
        trained[key] = r.get("trained_steps")
        if float(r.get("nonfinite", 0) or 0) > 0:
            onset[key] = min(onset.get(key, s), s)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    models = sorted({k[0] for k in list(curves) + list(flat)})
    for key in sorted(curves, key=lambda k: (k[0], float(k[2]))):
        pts = sorted(curves[key])
        label = f"{key[2]}" if len(models) == 1 else f"{key[0]} {key[2]}"
        (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], label=label, lw=1.6)
        t = trained.get(key)
        if t not in (None, ""):
            t = int(t)
            ax.plot([t], [0], "o", ms=9, mfc="none", mec="k", clip_on=False, zorder=5)
        if key in onset:  # labels of several curves are staggered so that they do not overlap
            ax.axvline(onset[key], color=line.get_color(), ls=":", lw=1)
            ax.annotate(
                f"non-finite from {onset[key]}",
                (onset[key], 1.0 - 0.3 * (list(onset).index(key) % 3)),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                va="top",
                fontsize=7,
                color=line.get_color(),
                rotation=90,
            )
    for key, acc in sorted(flat.items()):
        ax.axhline(100 * acc, ls="--", lw=1, color="gray")
        ax.text(ax.get_xlim()[1], 100 * acc, f" {key[0]} {key[2]}", va="center", fontsize=7)
    ax.set_xlabel("test-time recurrent steps (circle: trained steps; dotted: outputs non-finite)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    if curves:  # a feed-forward model alone has only its dashed lines, labelled in place
        ax.legend(title="difficulty", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_halting(steps_used: dict, path: str | os.PathLike, *, title: str = "") -> Path:
    """Histogram of the steps each sample used before halting, one panel colour per difficulty."""
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    top = max(int(max(v)) for v in steps_used.values())
    bins = range(1, top + 2)
    for d, used in steps_used.items():
        ax.hist(used, bins=bins, alpha=0.5, label=f"{d} (mean {sum(used) / len(used):.1f})")
    ax.set_xlabel("steps used before halting")
    ax.set_ylabel("samples")
    ax.legend(title="difficulty", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path
