"""Figures in the paper's layout and a markdown page per figure: measured numbers beside claims."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from ..evaluation.sweep import fmt_pct
from ..io import atomic_path, load_json
from ..models.hub import load_model
from ..plots import plot_sweep, plt
from ..training.tasks import get_task
from .figures import Figure


def _mean_acc(rows: list[dict]) -> dict[tuple, float]:
    acc: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        acc[(r["model"], r["task"], r["trained_on"], r["difficulty"], r["steps"])].append(r["accuracy"])
    return {k: float(np.mean(v)) for k, v in acc.items()}


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


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


@torch.no_grad()
def plot_predictions(folder: Path, path: Path, steps: tuple[int, ...], size: int, n: int = 3) -> list[float]:
    """Fig. 4: input, target and the predicted path probability after each of ``steps``.

    Returns the mean |logit difference| per step (the prediction's activity)."""
    model = load_model(folder / "best").eval()
    task = get_task("mazes")
    data = task.test_data(size, n, seed=20_000)
    x, y = data.batch(np.arange(n))
    outs = {t: o.float() for t, o in enumerate(model.iterate(x, max(steps)), 1) if t in steps}
    fig, axes = plt.subplots(n, len(steps) + 2, figsize=(1.5 * (len(steps) + 2), 1.6 * n), squeeze=False)
    activity = [float((outs[t][:, 1] - outs[t][:, 0]).abs().mean()) for t in steps]
    for i in range(n):
        axes[i, 0].imshow(x[i].permute(1, 2, 0).numpy())
        axes[i, 1].imshow(y[i].numpy(), cmap="gray")
        for j, t in enumerate(steps):
            prob = torch.softmax(outs[t][i], 0)[1] * (x[i].amax(0) > 0)
            axes[i, j + 2].imshow(prob.numpy(), cmap="magma", vmin=0, vmax=1)
    for j, name in enumerate(["input", "target"] + [f"t={t}" for t in steps]):
        axes[0, j].set_title(name, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"LocRNN trained with {model.trained_steps} steps: path probability after each step", fontsize=9)
    _save(fig, path)
    return activity


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


def label_variants(fig: Figure, rows: list[dict]) -> list[dict]:
    """Rows whose ``model`` names the training variant too (``locrnn (penalty)``), so runs of one
    model trained with different objectives stay apart in tables and plots."""
    variant = {r.key: r.variant for r in fig.runs}
    out = []
    for r in rows:
        v = variant.get(r.get("run"), "paper")
        out.append(r if v == "paper" else {**r, "model": f"{r['model']} ({v})", "variant": v})
    return out


def _seeds(values: list[float]) -> str:
    """`` [88.2 / 48.8]``: each seed's accuracy, when there are several (empty for one)."""
    return "" if len(values) < 2 else " [" + " / ".join(f"{100 * v:.1f}" for v in values) + "]"


def _steps_table(rows: list[dict]) -> list[str]:
    """One line per (task, model, trained-on, tested-on): accuracy at the trained steps and at best,
    means over seeds; with several seeds, each seed's accuracy at the trained steps follows."""
    by: dict[tuple, dict] = defaultdict(dict)
    for r in sorted(rows, key=lambda r: r.get("seed", 0)):
        key = (r["task"], r["model"], r["trained_on"], r["difficulty"])
        by[key].setdefault(r["steps"], []).append(r["accuracy"])
    lines = [
        "| task | model | trained on | tested on | acc @ trained steps | best steps | acc @ best | acc @ max steps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    trained = {(r["task"], r["model"], r["trained_on"]): r["trained_steps"] for r in rows}
    for (task, m, tr, d), res in sorted(by.items(), key=lambda kv: (*kv[0][:3], float(kv[0][3]))):
        acc = {k: float(np.mean(v)) for k, v in res.items()}
        if None in acc or "" in acc:
            k = None if None in acc else ""
            lines.append(
                f"| {task} | {m} | {tr} | {d} | {fmt_pct(acc[k])}{_seeds(res[k])} (feed-forward) | - | - | - |"
            )
            continue
        t = trained[(task, m, tr)]
        best = max(acc, key=lambda k: (acc[k], -k))
        top = max(acc)
        at_t = f"{fmt_pct(acc[t])}{_seeds(res[t])}" if t in acc else "-"
        lines.append(
            f"| {task} | {m} | {tr} | {d} | {at_t} (T={t}) | {best} | {fmt_pct(acc[best])} | "
            f"{fmt_pct(acc[top])} (t={top}) |"
        )
    return lines


def _efficiency_table(eff: list[dict], levels: tuple[float, ...] = (0.6, 0.7, 0.8)) -> list[str]:
    """Sample efficiency per run: training images seen when validation first reached each level."""
    by: dict[str, list] = defaultdict(list)
    for r in eff:
        by[r["run"]].append((r["images"], r["val_accuracy"]))
    head = " | ".join(f"images to {100 * v:.0f}%" for v in levels)
    lines = [f"| run | {head} | best validation | after (images) |", "|---|" + "---|" * (len(levels) + 2)]
    for run, pts in sorted(by.items()):
        pts.sort()
        first = [next((f"{n:,}" for n, a in pts if a >= v), "not reached") for v in levels]
        best = max(pts, key=lambda p: (p[1], -p[0]))
        lines.append(f"| {run} | {' | '.join(first)} | {fmt_pct(best[1]).strip()} | {best[0]:,} |")
    return lines


def write_report(
    fig: Figure,
    rows: list[dict],
    eff: list[dict],
    out: Path,
    *,
    folders: dict,
    scale: str,
    seconds: float,
    halting: list[dict] | None = None,
    redrawn: bool = False,
) -> None:
    how = "; redrawn since from the cached runs and sweeps" if redrawn else ""
    trained = [load_json(Path(f) / "summary.json") for f in folders.values()]
    md = [
        f"# {fig.folder}: {fig.title}",
        "",
        f"Scale: **{scale}** (`{fig.command(scale)}`); this page took "
        f"{seconds / 60:.1f} min to make (training that already existed was reused{how}). "
        f"Training its {len(trained)} run{'s' * (len(trained) > 1)} took {sum(t['seconds'] for t in trained) / 60:.1f} "
        "min in all (each run's `summary.json`, whenever and by whichever command it was trained).",
        "",
        f"![{fig.name}]({fig.folder}.png)",
        "",
    ]
    rows = label_variants(fig, rows)
    if fig.kind in ("bars", "efficiency"):  # efficiency: the curves are efficiency.png
        plot_bars(rows, out / f"{fig.folder}.png", fig.title)
    elif fig.kind == "steps" and len({r["model"] for r in rows}) > 1:
        plot_panels(rows, out / f"{fig.folder}.png", fig.title)
    elif fig.kind in ("steps", "predictions"):
        plot_sweep(rows, out / f"{fig.folder}.png", title=fig.title)
    if fig.kind == "predictions":
        run = fig.runs[0]
        activity = plot_predictions(folders[run.key], out / "predictions.png", fig.extra["steps"], run.difficulty)
        md += [
            "![per-step predictions](predictions.png)",
            "",
            "Mean |logit(path) - logit(not path)| over pixels, by step (the prediction's activity):",
            "",
            "| " + " | ".join(f"t={t}" for t in fig.extra["steps"]) + " |",
            "|" + "---|" * len(fig.extra["steps"]),
            "| " + " | ".join(f"{a:.2f}" for a in activity) + " |",
            "",
        ]
    plot_efficiency(eff, out / "efficiency.png", f"{fig.folder}: sample efficiency")
    md += ["## Measured", ""] + _steps_table(rows) + ["", "Sample efficiency: ![efficiency](efficiency.png)", ""]
    md += _efficiency_table(eff) + [""]
    if halting:
        md += [
            "## With halting (rule prediction: each sample stops when its prediction is unchanged for 5 steps; "
            "rule act: when its learned halting head says so)",
            "",
            "| run | rule | tested on | accuracy | mean steps | median steps | halted before the limit |",
            "|---|---|---|---|---|---|---|",
        ]
        md += [
            f"| {h['run']} | {h.get('rule', 'prediction')} | {h['difficulty']} | {fmt_pct(h['accuracy'])} | "
            f"{h['mean_steps']:.1f} | "
            f"{h['median_steps']:.0f} | {fmt_pct(h['halted_share'])} |"
            for h in halting
        ]
        md += [""]
    md += ["## The paper's claims", ""] + [f"- {c}" for c in fig.claims]
    md += [
        "",
        "Rows: `rows.csv` (accuracy by model, difficulty and steps); `efficiency.csv` (validation "
        "accuracy vs training images for every run).",
    ]
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text("\n".join(md) + "\n")
