"""A markdown page per figure: measured numbers beside the paper's claims, and its plots."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from ..evaluation.tables import fmt_pct
from ..io import atomic_path, load_json
from ..models.hub import load_model
from ..plots import plot_bars, plot_efficiency, plot_panels, plot_predictions, plot_sweep
from ..tasks import get_task
from .figures import Figure


@torch.no_grad()
def step_predictions(folder: Path, steps: tuple[int, ...], size: int, n: int = 3):
    """Fig. 4's data: ``n`` test mazes of ``size``, their targets and the predicted path
    probability after each of ``steps`` (black pixels 0), by the run's best checkpoint; and the
    mean |logit difference| per step (the prediction's activity)."""
    model = load_model(folder / "best").eval()
    data = get_task("mazes").test_data(size, n, seed=20_000)
    x, y = data.batch(np.arange(n))
    outs = {t: o.float() for t, o in enumerate(model.iterate(x, max(steps)), 1) if t in steps}
    activity = [float((outs[t][:, 1] - outs[t][:, 0]).abs().mean()) for t in steps]
    probs = {t: (torch.softmax(outs[t], 1)[:, 1] * (x.amax(1) > 0)).numpy() for t in steps}
    return x.numpy(), y.numpy(), probs, activity, model.trained_steps


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


def budget_lines(folders: dict) -> list[str]:
    """What a time budget (``--time-budget``) left of each budgeted run's recipe: the images it
    trained against the recipe's epochs x training images (empty when no run had a budget)."""
    lines = []
    for key, folder in sorted(folders.items()):
        cfg, done = load_json(Path(folder) / "config.json"), load_json(Path(folder) / "summary.json")
        if cfg.get("time_budget"):
            full, n = cfg["epochs"] * cfg["n_train"], done["images"]
            lines.append(
                f"| {key} | {cfg['time_budget']:g} s | {n:,} of {full:,} ({100 * n / full:.0f}%) "
                f"| {done['images_per_second']:,.0f} | {fmt_pct(done['best_val_accuracy']).strip()}% |"
            )
    if not lines:
        return []
    head = [
        "Each run below was stopped at its time budget with its learning-rate schedule stretched to fit "
        "(`--time-budget`): it saw part of its recipe's images (epochs x training set).",
        "",
        "| run | budget | images trained of the recipe's | images/s | best validation |",
        "|---|---|---|---|---|",
    ]
    return head + lines + [""]


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
    md += budget_lines(folders)
    rows = label_variants(fig, rows)
    if fig.kind in ("bars", "efficiency"):  # efficiency: the curves are efficiency.png
        plot_bars(rows, out / f"{fig.folder}.png", fig.title)
    elif fig.kind == "steps" and len({r["model"] for r in rows}) > 1:
        plot_panels(rows, out / f"{fig.folder}.png", fig.title)
    elif fig.kind in ("steps", "predictions"):
        plot_sweep(rows, out / f"{fig.folder}.png", title=fig.title)
    if fig.kind == "predictions":
        run = fig.runs[0]
        x, y, probs, activity, trained = step_predictions(folders[run.key], fig.extra["steps"], run.difficulty)
        title = f"LocRNN trained with {trained} steps: path probability after each step"
        plot_predictions(x, y, probs, out / "predictions.png", title=title)
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
