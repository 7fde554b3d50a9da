"""The marker-distance shortcut of PathFinder: how well distance alone predicts the label.

    .venv/bin/python benchmarks/pathfinder_shortcut.py                 # 2000 images per length 6, 9, 14
    .venv/bin/python benchmarks/pathfinder_shortcut.py --n 3000 --lengths 6,9,14,18
    .venv/bin/python benchmarks/pathfinder_shortcut.py --size 48 --lengths 6   # the quick task's images

For the default generator and for ``balance_distance=True`` side by side (paper sets at
``--size`` px, 150 by default; test split), per length: the accuracy of the best rule "positive
iff a <= distance <= b", fitted and scored on the same images (the issue's measure, which scores
above chance by about 1 / sqrt(n) even when distance tells nothing) and held out (fitted on half,
scored on the other half: chance is 0.5), with the positives' and negatives' marker distances
(mean / sd, px at ``--size``).
Issue #19 measured 0.87 / 0.76 / 0.64 (in-sample) for the original generator at lengths 6 / 9 / 14.
"""

from __future__ import annotations

import argparse
import time

from locrnn.data.pathfinder import generate_pathfinder, published_params
from locrnn.data.pathfinder_stats import interval_rule_accuracy, marker_distances


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="images per length and generator")
    ap.add_argument("--lengths", default="6,9,14")
    ap.add_argument("--size", type=int, default=150, help="image side (48: the pathfinder-cpu preset's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args()
    head = ("length", "generator", "in-sample", "held-out", "positives (px)", "negatives (px)", "s")
    print(f"{head[0]:>6} {head[1]:>10} {head[2]:>10} {head[3]:>9} {head[4]:>15} {head[5]:>15} {head[6]:>6}")
    for length in (int(v) for v in a.lengths.split(",")):
        for balanced in (False, True):
            t0 = time.perf_counter()
            p = published_params(length, a.size, family="paper", balance_distance=balanced)
            _, y, geo = generate_pathfinder(a.n, p, seed=a.seed, split="test", geometry=True, workers=a.workers)
            d = marker_distances(geo)
            pos, neg = d[y == 1], d[y == 0]
            print(
                f"{length:>6} {'balanced' if balanced else 'default':>10} "
                f"{interval_rule_accuracy(d, y, held_out=False):>10.3f} {interval_rule_accuracy(d, y):>9.3f} "
                f"{f'{pos.mean():.1f} / {pos.std():.1f}':>15} {f'{neg.mean():.1f} / {neg.std():.1f}':>15} "
                f"{time.perf_counter() - t0:>6.1f}"
            )


if __name__ == "__main__":
    main()
