"""Test-time halting: each sample answers once its prediction (or state) stops changing."""

import numpy as np
import pytest
import torch

from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes
from locrnn.evaluation.halting import evaluate_halting
from locrnn.models import build_model
from locrnn.tasks import get_task


@pytest.mark.parametrize("rule", ["prediction", "state"])
def test_halting_matches_a_per_sample_replay(rule):
    torch.manual_seed(1)
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", width=8, steps=3).eval()
    data = ArrayDataset(*generate_mazes(24, 5, seed=2, split="test"))
    patience, max_steps, tol = 2, 12, 0.05
    res = evaluate_halting(model, data, task, max_steps=max_steps, patience=patience, rule=rule, tol=tol, batch_size=10)
    x, y = data.batch(np.arange(len(data)))
    with torch.no_grad():
        states = [model.cell.output(s) for s in model.states(x, max_steps)]
        preds = [task.predict(model.head(h), x) for h in states]
    correct = []
    for i in range(len(data)):
        stable, stop = 0, max_steps
        for t in range(1, max_steps + 1):
            if t > 1:
                if rule == "prediction":
                    same = bool((preds[t - 1][i] == preds[t - 2][i]).all())
                else:
                    h, g = states[t - 1][i], states[t - 2][i]
                    same = bool((h - g).norm() / h.norm().clamp_min(1e-6) < tol)
                stable = stable + 1 if same else 0
            if stable >= patience:
                stop = t
                break
        assert res["steps_used"][i] == stop
        correct.append(bool((preds[stop - 1][i] == y[i]).all()))
    assert res["accuracy"] == pytest.approx(np.mean(correct))
    assert res["mean_steps"] == pytest.approx(res["steps_used"].mean())


def test_halting_needs_a_known_rule():
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", width=8)
    data = ArrayDataset(*generate_mazes(2, 5))
    with pytest.raises(ValueError, match="halting rule"):
        evaluate_halting(model, data, task, rule="magic")


@pytest.mark.parametrize("rule", ["prediction", "state"])
def test_halting_on_pathfinder_classes(rule):
    """One class per sample (PathFinder) halts like a map per sample (mazes)."""
    torch.manual_seed(0)
    task = get_task("pathfinder", image_size=32)
    model = build_model("locrnn", task="pathfinder", width=8, steps=2).eval()
    data = task.test_data(6, 12, seed=1)
    res = evaluate_halting(model, data, task, rule=rule, max_steps=6, patience=2, tol=0.5, batch_size=5)
    assert res["n"] == 12 and 0 <= res["accuracy"] <= 1
    assert ((res["steps_used"] >= 3) & (res["steps_used"] <= 6)).all()  # patience 2: never before step 3
