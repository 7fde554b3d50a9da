"""Scoring (scoring.py): accuracy at many step counts from one pass, as sweeps and validation use it;
the head runs only at the steps asked for."""

import weakref

import numpy as np
import pytest
import torch

from fakes import FakeBar
from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes
from locrnn.metrics import maze_correct
from locrnn.models import build_model
from locrnn.scoring import StepBar, best_steps, evaluate_steps, first_nonfinite
from locrnn.tasks import get_task


def test_sweep_equals_separate_evaluations():
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", width=8, steps=3).eval()
    data = ArrayDataset(*generate_mazes(40, 5, seed=1, split="test"))
    sweep = evaluate_steps(model, data, task, [1, 2, 5, 7], batch_size=16)
    x, y = data.batch(np.arange(len(data)))
    with torch.no_grad():
        for k in (1, 2, 5, 7):
            acc = maze_correct(model(x, steps=k), x, y).float().mean().item()
            assert sweep[k]["accuracy"] == pytest.approx(acc)
            assert sweep[k]["n"] == 40


def test_a_feed_forward_model_is_scored_once_under_none():
    task = get_task("mazes")
    model = build_model("resnet12", task="mazes", width=8)  # in training mode
    data = ArrayDataset(*generate_mazes(12, 5, seed=2, split="test"))
    res = evaluate_steps(model, data, task, None, batch_size=5)
    assert list(res) == [None] and res[None]["n"] == 12
    assert 0 <= res[None]["pixel_accuracy"] <= 1 and res[None]["nonfinite"] == 0
    assert model.training  # scored in eval mode, its mode then given back


def test_best_steps_prefers_the_fewest_steps_among_equals():
    res = {1: {"accuracy": 0.5}, 3: {"accuracy": 0.9}, 5: {"accuracy": 0.9}, 9: {"accuracy": 0.7}}
    assert best_steps(res) == (3, 0.9)
    assert best_steps({None: {"accuracy": 0.4}}) == (None, 0.4)


def test_first_nonfinite_names_the_first_step_count_that_blew_up():
    res = {1: {"nonfinite": 0.0}, 4: {"nonfinite": 0.25}, 2: {"nonfinite": 0.5}, 8: {}}
    assert first_nonfinite(res) == 2
    assert first_nonfinite({1: {"nonfinite": 0.0}, None: {"nonfinite": 1.0}}) is None


def every_step_reference(model, data, task, steps, batch_size):
    """The scoring of before: the readout at every step, the steps not asked for thrown away."""
    sums = {}
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x, y = data.batch(np.arange(start, min(start + batch_size, len(data))))
            for t, logits in enumerate(model.iterate(x, max(steps)), 1):
                if t in steps:
                    row = sums.setdefault(t, {"correct": 0.0, "pixel": 0.0})
                    row["correct"] += task.correct(logits, x, y).sum().item()
                    row["pixel"] += task.extra_metrics(logits, x, y)["pixel_accuracy"].sum().item()
    n = len(data)
    return {t: {"accuracy": r["correct"] / n, "pixel_accuracy": r["pixel"] / n} for t, r in sums.items()}


def test_sparse_steps_score_as_before_with_the_head_run_only_there():
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="stable").eval()
    data = ArrayDataset(*generate_mazes(20, 9, seed=3, split="test"))
    steps = [5, 10, 30, 60, 10]
    heads = []
    hook = model.head.register_forward_hook(lambda m, a, out: heads.append(out.shape[0]))
    res = evaluate_steps(model, data, task, steps, batch_size=8)
    assert heads == [8] * 4 + [8] * 4 + [4] * 4  # 4 distinct step counts x 3 batches, not 60 x 3
    hook.remove()
    ref = every_step_reference(model, data, task, set(steps), batch_size=8)
    assert sorted(res) == sorted(ref)
    for t in ref:
        assert res[t]["accuracy"] == ref[t]["accuracy"] and res[t]["n"] == 20
        assert res[t]["pixel_accuracy"] == pytest.approx(ref[t]["pixel_accuracy"], rel=1e-12)
        assert res[t]["nonfinite"] == 0


def test_memory_does_not_grow_with_steps():
    """No graph and no past states kept: over 300 steps at most a few states are alive at once."""
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", width=4, steps=2).eval()
    data = ArrayDataset(*generate_mazes(3, 3, seed=0, split="test"))
    refs, alive = [], []

    def hook(module, args, out):
        refs.append(weakref.ref(out))
        alive.append((sum(r() is not None for r in refs), out.requires_grad))

    model.cell.register_forward_hook(hook)
    evaluate_steps(model, data, task, [1, 150, 300])
    assert len(alive) == 300
    assert max(n for n, _ in alive) <= 3 and not any(g for _, g in alive)


def test_progress_counts_image_steps(monkeypatch):
    import locrnn.scoring

    monkeypatch.setattr(locrnn.scoring, "tqdm", FakeBar)
    FakeBar.made = []
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", width=4, steps=2).eval()
    data = ArrayDataset(*generate_mazes(10, 5, seed=0, split="test"))
    evaluate_steps(model, data, task, [2, 7], batch_size=4, progress=True)
    (bar,) = FakeBar.made
    assert bar.closed and bar.n == bar.total == 10 * 7
    assert bar.postfix == "step 7/7, 2 running, 2 left"  # the last batch of 2, at its last step


def test_step_bar_budget_shrinks_as_samples_stop(monkeypatch):
    import locrnn.scoring

    monkeypatch.setattr(locrnn.scoring, "tqdm", FakeBar)
    bar = StepBar(4, 10, desc="x")
    assert bar.bar.total == 40
    bar.advance(3, 4)
    bar.stop(1)  # one sample stopped at step 3: 7 steps of budget dropped
    assert (bar.bar.n, bar.bar.total) == (12, 33)
    bar.advance(2, 3)
    bar.stop(3)
    assert bar.bar.n == bar.bar.total == 18 and bar.left == 0
