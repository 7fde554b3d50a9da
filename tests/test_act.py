"""Learned adaptive computation time: per-sample halting, its training objective and its CLI."""

import csv

import numpy as np
import pytest
import torch

from locrnn.cli import main
from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes
from locrnn.evaluation.halting import evaluate_halting
from locrnn.models import build_model, list_models
from locrnn.models.act import act_forward
from locrnn.tasks import get_task


def _model():
    torch.manual_seed(3)
    model = build_model("locrnn", task="mazes", width=8, steps=3, halting="act").eval()
    with torch.no_grad():  # halting probabilities that cross 1/2 after 2-4 steps, differently per sample
        model.halt.fc.weight.copy_(torch.tensor([[4.0, 0.0]]))
        model.halt.fc.bias.fill_(-8.0)
    return model


def test_act_matches_a_per_sample_replay():
    model = _model()
    x, _ = ArrayDataset(*generate_mazes(12, 5, seed=4)).batch(np.arange(12))
    budget, eps = 9, 0.01
    with torch.no_grad():
        res = act_forward(model, x, budget, eps)
        hs = [model.cell.output(s) for s in model.states(x, budget)]
        lams = [model.halt(h) for h in hs]
        for i in range(len(x)):
            cum, mix = 0.0, 0
            for t in range(1, budget + 1):
                lam = float(lams[t - 1][i])
                if cum + lam >= 1 - eps or t == budget:
                    mix = mix + (1 - cum) * hs[t - 1][i]
                    assert res.steps[i] == t and res.remainder[i] == pytest.approx(1 - cum, abs=1e-6)
                    break
                mix, cum = mix + lam * hs[t - 1][i], cum + lam
            torch.testing.assert_close(res.logits[i], model.head(mix[None])[0], atol=1e-5, rtol=1e-4)
    assert len(set(res.steps.tolist())) > 1  # samples halt at different steps


def test_act_can_be_attached_to_every_recurrent_model_and_nothing_else():
    for name in list_models("mazes"):
        model = build_model(name, task="mazes", width=8)
        if getattr(model, "recurrent", False):
            halted = build_model(name, task="mazes", width=8, halting="act")
            assert halted.config["halting"] == "act"
            res = act_forward(halted, torch.rand(2, 3, 8, 8), 2)
            assert res.logits.shape == halted(torch.rand(2, 3, 8, 8)).shape
        else:
            with pytest.raises(ValueError, match="needs a recurrent model"):
                build_model(name, task="mazes", width=8, halting="act")
    with pytest.raises(ValueError, match="unknown halting"):
        build_model("locrnn", task="mazes", width=8, halting="magic")
    with pytest.raises(ValueError, match="no halting head"):
        act_forward(build_model("locrnn", task="mazes", width=8), torch.rand(1, 3, 8, 8), 2)


def test_act_halting_evaluation_counts_steps():
    model = _model()
    task = get_task("mazes")
    data = ArrayDataset(*generate_mazes(20, 5, seed=5, split="test"))
    res = evaluate_halting(model, data, task, rule="act", max_steps=9, batch_size=7)
    with torch.no_grad():
        x, y = data.batch(np.arange(len(data)))
        ref = act_forward(model, x, 9)
    assert np.array_equal(res["steps_used"], ref.steps.numpy())
    expect = task.correct_prediction(task.predict(ref.logits, x), x, y).float().mean().item()
    assert res["accuracy"] == pytest.approx(expect)


def test_act_training_round_trip(tmp_path, capsys):
    """--objective act trains the halting head, keeps it in the checkpoint, and sweep --halt act uses it."""
    args = ["train", "--size", "5", "--width", "8", "--steps", "3", "--max-steps", "6", "--objective", "act"]
    args += ["--n-train", "64", "--n-val", "16", "--batch-size", "16", "--out", str(tmp_path), "--name", "act"]
    args += ["--progress", "false", "--precision", "fp32"]
    assert main(args) == 0
    from locrnn.models.hub import load_model

    model = load_model(tmp_path / "act" / "best")
    assert model.config["halting"] == "act" and model.halt.fc.bias.item() != -5.0  # trained
    args = ["sweep", str(tmp_path / "act"), "--sizes", "5", "--halt", "act", "--max-steps", "12", "--n", "16"]
    assert main(args + ["--precision", "fp32"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "act" / "halting" / "halting.csv")))
    assert rows and all(1 <= float(r["mean_steps"]) <= 12 for r in rows)


def test_act_warm_up_keeps_halting_off(tmp_path):
    """During the warm-up the loss is the one after the whole budget: the halting head gets no gradient."""
    from locrnn.models.hub import load_model

    args = ["train", "--size", "5", "--width", "8", "--steps", "3", "--max-steps", "6", "--objective", "act"]
    args += ["--n-train", "64", "--n-val", "16", "--batch-size", "16", "--out", str(tmp_path), "--name", "warm"]
    args += ["--progress", "false", "--precision", "fp32", "--act-warmup", "1.0"]
    assert main(args) == 0
    model = load_model(tmp_path / "warm" / "last")
    assert model.halt.fc.bias.item() == -5.0  # untouched: halting never switched on
