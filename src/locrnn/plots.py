"""Every figure locrnn draws, from the tidy rows that evaluation writes (lists of dicts, or read
from its CSV / JSON files); this module imports nothing of locrnn but ``io``."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np

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


def _save(fig, path: str | os.PathLike) -> Path:
    """Lay ``fig`` out, write it to ``path`` as a PNG (atomically) and close it."""
    path = Path(path)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def _mean_acc(rows: list[dict]) -> dict[tuple, float]:
    acc: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        acc[(r["model"], r["task"], r["trained_on"], r["difficulty"], r["steps"])].append(r["accuracy"])
    return {k: float(np.mean(v)) for k, v in acc.items()}


def plot_bars(rows: list[dict], path: Path, title: str) -> None:
    """Accuracy per model and difficulty (mean over seeds, each seed a dot), one panel per task; a
    model keeps its colour in every panel, each bar carries its value, and the legend sits beside
    the panel (never over a bar)."""
    acc = _mean_acc(rows)
    tasks = sorted({k[1] for k in acc})
    every = sorted({k[0] for k in acc})
    colour = {m: plt.get_cmap("tab20")(i % 20) for i, m in enumerate(every)}
    fig, axes = plt.subplots(len(tasks), 1, figsize=(10, 3.6 * len(tasks)), squeeze=False)
    for ax, task in zip(axes[:, 0], tasks):
        models = sorted({k[0] for k in acc if k[1] == task})
        diffs = sorted({k[3] for k in acc if k[1] == task})
        w = 0.8 / max(1, len(models))
        for i, m in enumerate(models):
            vals = [
                100 * next((v for k, v in acc.items() if k[0] == m and k[1] == task and k[3] == d), np.nan)
                for d in diffs
            ]
            x = np.arange(len(diffs)) + i * w
            bars = ax.bar(x, vals, w, label=m, color=colour[m])
            ax.bar_label(bars, fmt="%.0f", fontsize=6, padding=1)
            for xi, d in zip(x, diffs):  # with several seeds: each seed as a dot on its mean's bar
                each = [100 * r["accuracy"] for r in rows if (r["model"], r["task"], r["difficulty"]) == (m, task, d)]
                if len(each) > 1:
                    ax.plot([xi] * len(each), each, "k.", ms=4, zorder=3)
        ax.set_xticks(np.arange(len(diffs)) + 0.4 - w / 2, [str(d) for d in diffs])
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{task}")
        ax.set_ylim(0, 105)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def plot_efficiency(eff: list[dict], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    by: dict[str, list] = defaultdict(list)
    for r in eff:
        by[r["run"]].append((r["images"], 100 * r["val_accuracy"]))
    for run, pts in sorted(by.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=run, lw=1.3)
    ax.set_xlabel("training images seen")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    ax.set_title(title, fontsize=9)
    _save(fig, path)


def plot_panels(rows: list[dict], path: Path, title: str) -> None:
    """Accuracy vs steps with one panel per test difficulty and one line per model (or training
    variant), as the paper's Fig. 2 and 7; feed-forward models are horizontal dashed lines."""
    diffs = sorted({r["difficulty"] for r in rows}, key=float)
    models = sorted({r["model"] for r in rows})  # one colour per model in every panel
    colour = {m: plt.cm.tab10(i % 10) for i, m in enumerate(models)}
    fig, axes = plt.subplots(1, len(diffs), figsize=(4.2 * len(diffs), 3.8), squeeze=False, sharey=True)
    for ax, d in zip(axes[0], diffs):
        curves: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in rows:
            if r["difficulty"] == d:
                curves[r["model"]][r["steps"]].append(100 * float(r["accuracy"]))
        for model, by_step in sorted(curves.items()):
            if None in by_step or "" in by_step:
                v = float(np.mean(by_step.get(None, by_step.get(""))))
                ax.axhline(v, ls="--", lw=1.2, color="gray", label=f"{model} (feed-forward)")
                continue
            pts = sorted((int(k), float(np.mean(v))) for k, v in by_step.items())
            ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.4, label=model, color=colour[model])
        trained = {r.get("trained_steps") for r in rows if r["difficulty"] == d} - {None, ""}
        for t in trained:
            ax.axvline(int(t), color="k", lw=0.8, ls=":")
        ax.set_title(f"tested on {d}", fontsize=9)
        ax.set_xlabel("test-time steps (dotted: trained steps)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("accuracy (%)")
    handles = {}  # every model once, whichever panels it is in
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    axes[0, -1].legend(handles.values(), handles.keys(), fontsize=7)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def plot_predictions(
    inputs: np.ndarray, targets: np.ndarray, probs: dict[int, np.ndarray], path: str | os.PathLike, *, title: str = ""
) -> Path:
    """Fig. 4: per maze (a row) its input (N, 3, H, W), target (N, H, W) and the predicted path
    probability (N, H, W) after each step count in ``probs``."""
    steps = list(probs)
    n = len(inputs)
    fig, axes = plt.subplots(n, len(steps) + 2, figsize=(1.5 * (len(steps) + 2), 1.6 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(np.transpose(inputs[i], (1, 2, 0)))
        axes[i, 1].imshow(targets[i], cmap="gray")
        for j, t in enumerate(steps):
            axes[i, j + 2].imshow(probs[t][i], cmap="magma", vmin=0, vmax=1)
    for j, name in enumerate(["input", "target"] + [f"t={t}" for t in steps]):
        axes[0, j].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_accuracy_vs_size(halting: list[dict], path: str | os.PathLike, *, title: str = "") -> Path:
    """Size extrapolation: accuracy with halting by maze size (left) and the mean steps halting
    used (right, log scale, the budget dashed), one line per model."""
    fig, (acc_ax, steps_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    models = list(dict.fromkeys(r["model"] for r in halting))
    for i, m in enumerate(models):
        pts = sorted((int(r["difficulty"]), r) for r in halting if r["model"] == m)
        sizes = [s for s, _ in pts]
        colour = plt.cm.tab10(i % 10)
        acc_ax.plot(sizes, [100 * float(r["accuracy"]) for _, r in pts], "o-", color=colour, label=m)
        steps_ax.plot(sizes, [float(r["mean_steps"]) for _, r in pts], "o-", color=colour, label=m)
    budget = sorted({(int(r["difficulty"]), int(r["max_steps"])) for r in halting})
    steps_ax.plot([b[0] for b in budget], [b[1] for b in budget], "k--", lw=1, label="budget")
    acc_ax.set_ylim(-2, 102)
    acc_ax.set_ylabel("accuracy with halting (%)")
    steps_ax.set_yscale("log")
    steps_ax.set_ylabel("mean steps used")
    for ax in (acc_ax, steps_ax):
        ax.set_xlabel("maze size (trained on 9)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_size_steps(rows: list[dict], halting: list[dict], path: str | os.PathLike, *, title: str = "") -> Path:
    """Accuracy vs test-time steps on one maze size (log steps), one line per model; a star marks
    each model's accuracy with halting at the mean steps it used."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    models = list(dict.fromkeys(r["model"] for r in rows + halting))
    for i, m in enumerate(models):
        colour = plt.cm.tab10(i % 10)
        pts = sorted((int(r["steps"]), 100 * float(r["accuracy"])) for r in rows if r["model"] == m)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, color=colour, label=m)
        for h in (h for h in halting if h["model"] == m):
            ax.plot([float(h["mean_steps"])], [100 * float(h["accuracy"])], "*", ms=12, color=colour, mec="k")
    ax.set_xscale("log")
    ax.set_xlabel("test-time recurrent steps (star: with halting, at its mean steps)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)
