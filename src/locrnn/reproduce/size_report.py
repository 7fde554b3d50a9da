"""The size-extrapolation page: accuracy with halting by model and size, how the halting went (the
steps used, who halted, whether those that halted were right), the best of the sweep beside it,
and the time each size took."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..evaluation.tables import fmt_pct
from ..io import atomic_path
from .figures import Figure, runs_to_train
from .sizes import SIZE_DT, SizeTest


def _best(rows: list[dict]) -> tuple[int, float]:
    """The sweep's step count of the highest accuracy (fewest steps among equals) and that accuracy."""
    best = max(rows, key=lambda r: (r["accuracy"], -r["steps"]))
    return best["steps"], best["accuracy"]


def size_table(halting: list[dict], rows: list[dict]) -> list[str]:
    """One line per model and size: halting (accuracy, steps, share halted, accuracy of those that
    halted), the sweep (best steps and accuracy, accuracy at the budget) and the seconds taken."""
    lines = [
        "| model | size | mazes | accuracy (halting) | mean / median steps | halted before budget "
        "| accuracy of those halted | swept mazes | best sweep (steps) | sweep at budget | seconds (halting + sweep) "
        "| CPU seconds | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for h in halting:
        sw = [r for r in rows if r["run"] == h["run"] and r["difficulty"] == h["difficulty"]]
        steps, acc = _best(sw)
        last = max(sw, key=lambda r: r["steps"])
        lines.append(
            f"| {h['model']} | {h['difficulty']} | {h['n']} | {fmt_pct(h['accuracy'])} | "
            f"{h['mean_steps']:.0f} / {h['median_steps']:.0f} | {fmt_pct(h['halted_share'])} | "
            f"{fmt_pct(h.get('halted_accuracy'))} | {sw[0]['n']} | {fmt_pct(acc)} ({steps}) | "
            f"{fmt_pct(last['accuracy'])} ({last['steps']}) | {h['seconds']:.1f} + {sw[0]['seconds']:.1f} | "
            f"{h.get('cpu_seconds', 0) + sw[0].get('cpu_seconds', 0):.0f} | {h['load_avg']:.1f} |"
        )
    return lines


def short_table(halting: list[dict]) -> list[str]:
    """Accuracy with halting, a column per size (the issue's table)."""
    sizes = sorted({h["difficulty"] for h in halting})
    models = list(dict.fromkeys(h["model"] for h in halting))
    acc = {(h["model"], h["difficulty"]): h for h in halting}
    lines = ["| model | " + " | ".join(str(s) for s in sizes) + " |", "|---|" + "---|" * len(sizes)]
    for m in models:
        cells = [
            f"{fmt_pct(acc[m, s]['accuracy']).strip()}% ({acc[m, s]['mean_steps']:.0f})" if (m, s) in acc else "-"
            for s in sizes
        ]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def write_size_report(
    fig: Figure,
    halting: list[dict],
    rows: list[dict],
    tests: Sequence[SizeTest],
    out: Path,
    *,
    scale: str,
    pretrained: Sequence[str],
    made: dict,
    cached_only: Sequence[str] = (),
) -> None:
    what = f"the checkpoints {', '.join(pretrained)}" if pretrained else "the figure's runs"
    if cached_only:
        what += f" ({', '.join(cached_only)}: only the sizes measured before; - where none)"
    runs = runs_to_train(fig, pretrained) if pretrained else ()
    what += f", and the runs {', '.join(r.key for r in runs)}" if runs else ""
    dt = scale != "paper" and any(r.model == SIZE_DT[0] for r in fig.runs)
    cmd = fig.command(scale) + (" --dt" if dt else "") + (f" --pretrained {' '.join(pretrained)}" if pretrained else "")
    cmd += f" --cached-only {' '.join(cached_only)}" if cached_only else ""
    md = [
        f"# {fig.folder}: {fig.title}",
        "",
        f"Scale: **{scale}** (`{cmd}`), models: {what}. Testing took {made['seconds'] / 60:.1f} min of "
        f"compute in all (the sum of the per-size seconds below, each measured when it ran; cached sizes are "
        f"not re-run); machine: {made.get('machine', 'not recorded')}.",
        "",
        "Halting by the prediction rule (a maze stops when its thresholded answer has not changed for 5 steps; "
        "no step count chosen by hand) within a budget of 50 steps per unit of size; the sweep reads out at a "
        "log-spaced grid up to the same budget, on the first mazes of the same set.",
        "",
        "| size | mazes (halting) | budget | mazes swept | sweep steps |",
        "|---|---|---|---|---|",
        *[f"| {t.size} | {t.n} | {t.budget} | {t.n_sweep} | {', '.join(map(str, t.grid))} |" for t in tests],
        "",
        "![accuracy vs size](accuracy_vs_size.png)",
        "",
        "## Accuracy with halting (mean steps used)",
        "",
        *short_table(halting),
        "",
        "## By model and size",
        "",
        *size_table(halting, rows),
        "",
        "## Accuracy vs steps, per size",
        "",
        *[f"![{t.size}](accuracy_vs_steps_{t.size}.png)" for t in tests],
        "",
        "## Claims",
        "",
        *[f"- {c}" for c in fig.claims],
        "",
        "Rows: `halting.csv` (one per model and size), `rows.csv` (the sweeps); per model and size under "
        "`sizes/<model>/<size>/`.",
    ]
    with atomic_path(out / "README.md") as tmp:
        tmp.write_text("\n".join(md) + "\n")
