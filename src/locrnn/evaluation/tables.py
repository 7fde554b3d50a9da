"""Plain-text tables of sweep and halting rows, for people (``locrnn sweep``, the demo, reports)."""

from __future__ import annotations

import math

from ..scoring import best_steps, first_nonfinite


def fmt_pct(v: float | None) -> str:
    """A share as a percentage with one decimal, 5 wide (``nan`` for a missing value)."""
    return "nan" if v is None or math.isnan(v) else f"{100 * v:5.1f}"


def summary_table(rows: list[dict]) -> str:
    """A plain-text table: per difficulty, accuracy at the trained steps, best steps, onset."""
    by: dict = {}
    for r in rows:
        by.setdefault(r["difficulty"], {})[r["steps"]] = r
    lines = [
        f"{'difficulty':>10} {'@trained':>9} {'best':>6} {'@best':>6} {'max steps':>9} "
        f"{'@max':>6} {'non-finite from':>15}"
    ]
    for d, res in by.items():
        any_row = next(iter(res.values()))
        t = any_row.get("trained_steps")
        acc = {k: v for k, v in res.items()}
        if None in acc:
            lines.append(f"{d:>10} {fmt_pct(acc[None]['accuracy']):>9} {'-':>6} {'-':>6} {'-':>9} {'-':>6} {'-':>15}")
            continue
        b, bacc = best_steps(acc)
        top = max(acc)
        onset = first_nonfinite(acc)
        at_t = fmt_pct(acc[t]["accuracy"]) if t in acc else "-"
        lines.append(
            f"{d:>10} {at_t:>9} {b:>6} {fmt_pct(bacc):>6} {top:>9} "
            f"{fmt_pct(acc[top]['accuracy']):>6} {onset if onset else '-':>15}"
        )
    return "\n".join(lines)


def halting_table(rows: list[dict]) -> str:
    """Per difficulty: accuracy with halting, mean and median steps used, share halted early."""
    lines = [f"{'difficulty':>10} {'accuracy':>9} {'mean steps':>11} {'median':>7} {'halted':>7}"]
    for r in rows:
        lines.append(
            f"{r['difficulty']:>10} {fmt_pct(r['accuracy']):>9} {r['mean_steps']:>11.1f} "
            f"{r['median_steps']:>7.0f} {fmt_pct(r['halted_share']):>7}"
        )
    return "\n".join(lines)
