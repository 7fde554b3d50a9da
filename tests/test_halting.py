"""Test-time halting: each sample answers once its prediction (or state) stops changing."""

import numpy as np
import pytest
import torch

from fakes import FakeBar
from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes
from locrnn.evaluation.halting import evaluate_halting
from locrnn.models import build_model
from locrnn.tasks import get_task


def replay(model, data, task, *, rule, max_steps, patience, tol):
    """Per-sample halting replayed from one run of the whole set to ``max_steps`` (no sample
    dropped): the steps each sample uses and whether its answer is right."""
    x, y = data.batch(np.arange(len(data)))
    with torch.no_grad():
        states = [model.cell.output(s) for s in model.states(x, max_steps)]
        preds = [task.predict(model.head(h), x) for h in states]
    used, correct = [], []
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
        used.append(stop)
        correct.append(bool((preds[stop - 1][i] == y[i]).all()))
    return np.array(used), np.array(correct)


@pytest.mark.parametrize("rule", ["prediction", "state"])
def test_halting_matches_a_per_sample_replay(rule):
    torch.manual_seed(1)
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", width=8, steps=3).eval()
    data = ArrayDataset(*generate_mazes(24, 5, seed=2, split="test"))
    patience, max_steps, tol = 2, 12, 0.05
    res = evaluate_halting(model, data, task, max_steps=max_steps, patience=patience, rule=rule, tol=tol, batch_size=10)
    used, correct = replay(model, data, task, rule=rule, max_steps=max_steps, patience=patience, tol=tol)
    assert (res["steps_used"] == used).all()
    assert res["accuracy"] == pytest.approx(np.mean(correct))
    assert res["mean_steps"] == pytest.approx(res["steps_used"].mean())
    halted = used < max_steps
    assert res["halted_share"] == pytest.approx(halted.mean())
    if halted.any():  # the accuracy of the samples that halted before the budget
        assert res["halted_accuracy"] == pytest.approx(correct[halted].mean())
    else:
        assert np.isnan(res["halted_accuracy"])


@pytest.mark.parametrize("rule,tol", [("prediction", 0.0), ("state", 0.02)])
def test_dropping_halted_samples_changes_no_answer(rule, tol):
    """The shipped model halts its samples at many different steps; dropping each from the batch
    once it halts gives the steps and answers of running the whole set to the end."""
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="stable").eval()
    data = ArrayDataset(*generate_mazes(24, 9, seed=2, split="test"))
    kw = dict(rule=rule, max_steps=60, patience=3, tol=tol)
    res = evaluate_halting(model, data, task, batch_size=24, **kw)
    used, correct = replay(model, data, task, **kw)
    assert len(set(used.tolist())) > 3, "the test needs samples that halt at different steps"
    assert (res["steps_used"] == used).all()
    assert res["accuracy"] == pytest.approx(np.mean(correct))


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


def _track_cell(model):
    """Record the batch size of every cell call and how many of the states it made are alive then."""
    import weakref

    calls, refs = [], []

    def hook(module, args, out):
        refs.append(weakref.ref(out))
        alive = sum(r() is not None for r in refs)
        calls.append((out.shape[0], alive, out.requires_grad))

    model.cell.register_forward_hook(hook)
    return calls


def test_halted_samples_leave_the_batch():
    """Compute follows the samples still running: the cell sees exactly sum(steps used) images,
    in batches that shrink as samples halt."""
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="stable").eval()
    data = ArrayDataset(*generate_mazes(24, 9, seed=2, split="test"))
    calls = _track_cell(model)
    res = evaluate_halting(model, data, task, max_steps=60, patience=3, batch_size=24)
    sizes = [c[0] for c in calls]
    assert len(set(res["steps_used"].tolist())) > 1, "the test needs samples that halt at different steps"
    assert sum(sizes) == res["steps_used"].sum()
    assert sizes[0] == 24 and sizes == sorted(sizes, reverse=True) and sizes[-1] < 24


def test_memory_does_not_grow_with_steps():
    """No graph and no past states kept: over a long run at most a few states are alive at once."""
    torch.manual_seed(0)
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", width=4, steps=2).eval()
    data = ArrayDataset(*generate_mazes(3, 3, seed=0, split="test"))
    calls = _track_cell(model)
    # patience beyond the budget: nothing halts, every sample runs all 300 steps
    res = evaluate_halting(model, data, task, max_steps=300, patience=1000, rule="state", tol=0.0, batch_size=3)
    assert (res["steps_used"] == 300).all() and len(calls) == 300
    assert max(alive for _, alive, _ in calls) <= 3
    assert not any(grad for _, _, grad in calls)


def test_progress_counts_image_steps(monkeypatch):
    """The bar's budget starts at samples x max_steps and ends at the image-steps run."""
    import locrnn.scoring

    monkeypatch.setattr(locrnn.scoring, "tqdm", FakeBar)
    FakeBar.made = []
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="stable").eval()
    data = ArrayDataset(*generate_mazes(10, 9, seed=2, split="test"))
    quiet = evaluate_halting(model, data, task, max_steps=40, patience=3, batch_size=4)
    shown = evaluate_halting(model, data, task, max_steps=40, patience=3, batch_size=4, progress=True)
    assert quiet["accuracy"] == shown["accuracy"] and (quiet["steps_used"] == shown["steps_used"]).all()
    (bar,) = FakeBar.made
    assert bar.closed and bar.n == bar.total == shown["steps_used"].sum()
    assert bar.postfix.startswith("step ") and "running" in bar.postfix and bar.postfix.endswith(" left")


def test_state_rule_reads_out_only_where_samples_stop():
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="stable").eval()
    data = ArrayDataset(*generate_mazes(12, 9, seed=2, split="test"))
    heads = []
    model.head.register_forward_hook(lambda m, a, out: heads.append(out.shape[0]))
    res = evaluate_halting(model, data, task, rule="state", tol=0.02, max_steps=60, patience=3, batch_size=12)
    assert sum(heads) == 12 and len(heads) == len(set(res["steps_used"].tolist()))


def test_large_maze_benchmark_old_and_new_paths_agree():
    """benchmarks/large_mazes.py times the old path (whole batch to its last halt, every step read
    out) beside the new one; both give the same answers and steps."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import large_mazes

    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="stable").eval()
    rows = large_mazes.score_halting(model, task, 9, 12, max_steps=40, patience=3, dtype=None)
    rows += large_mazes.score_sweep(model, task, 9, 6, [5, 10, 15], dtype=None)
    assert all(r["same"] for r in rows)
    old, new = rows[0], rows[1]
    assert new["img_steps"] < old["img_steps"]  # halted samples left the batch


def test_damping_moves_each_step_part_of_the_way_and_keeps_fixed_points():
    """damping beta: s_t = s_{t-1} + beta (F(s_{t-1}) - s_{t-1}) after the first step; a fixed
    point of the plain step is one of the damped step; halting runs the damped model."""
    torch.manual_seed(3)
    model = build_model("locrnn", task="mazes", width=8, steps=3).eval()
    x = torch.from_numpy(generate_mazes(4, 5, seed=1, split="test")[0]).float()
    with torch.no_grad():
        plain = list(model.states(x, 3))
        model.damping = 0.25
        damped = list(model.states(x, 3))
        drive, _ = model.prepare(x)
        assert torch.equal(damped[0], plain[0])  # the first step is not damped
        for t in (1, 2):
            want = damped[t - 1] + 0.25 * (model.cell(drive, damped[t - 1], t) - damped[t - 1])
            torch.testing.assert_close(damped[t], want)
        assert not torch.allclose(damped[2], plain[2])
        # a fixed point s* = F(s*) of the plain step stays put under damping
        s = plain[-1]
        for t in range(3, 400):
            s = model.cell(drive, s, t)
        model.damping = 1.0
        residual = (model.cell(drive, s, 400) - s).abs().max()
        model.damping = 0.25
        assert (model.step(drive, s, 400) - s).abs().max() <= 0.25 * residual + 1e-6
    task = get_task("mazes")
    data = ArrayDataset(*generate_mazes(12, 5, seed=2, split="test"))
    model.damping = 0.5
    res = evaluate_halting(model, data, task, max_steps=12, patience=2, batch_size=5)
    used, correct = replay(model, data, task, rule="prediction", max_steps=12, patience=2, tol=0.0)
    assert (res["steps_used"] == used).all()
    assert res["accuracy"] == pytest.approx(np.mean(correct))
