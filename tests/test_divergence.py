"""Divergence is a result, not a crash: a sweep of a model whose state blows up records the step
from which its outputs stop being finite, keeps going to the last step, and the plot marks it."""

import csv

import matplotlib.pyplot as plt
import pytest
import torch

from locrnn.cli import main
from locrnn.models import build_model
from locrnn.models.hub import save_model
from locrnn.plots import sweep_figure
from locrnn.tasks import get_task

STEPS = 2000
N = 8


def unstable_model():
    """LocRNN without LayerNorm, recurrent weights x8: the state grows ~1.8x per step."""
    torch.manual_seed(0)
    model = build_model("locrnn_no_ln", task="mazes", width=8, steps=2)
    with torch.no_grad():
        for name, p in model.cell.named_parameters():
            if name.startswith(("w_l.", "w_s.")):
                p.mul_(8)
    return model.eval()


def test_sweep_records_the_onset_of_non_finite_outputs_and_keeps_going(tmp_path, capsys):
    model = unstable_model()
    save_model(tmp_path / "unstable", model)
    data = get_task("mazes").test_data(5, N)  # what the sweep evaluates
    x, _ = data.batch(torch.arange(N).numpy())
    with torch.no_grad():  # the reference: how many outputs are non-finite after each step
        bad = [int((~torch.isfinite(out).flatten(1).all(1)).sum()) for out in model.iterate(x, STEPS)]
    onset = next(t for t, b in enumerate(bad, 1) if b)
    assert 10 < onset < STEPS // 4 and bad[-1] == N  # it blows up early, and for good

    argv = ["sweep", tmp_path / "unstable", "--sizes", "5", "--steps", f"1:{STEPS}", "--n", N, "--out", tmp_path]
    assert main([str(a) for a in [*argv, "--precision", "fp32", "--device", "cpu"]]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "non-finite from" in table[0] and table[1].split()[-1] == str(onset)

    rows = list(csv.DictReader(open(tmp_path / "sweep.csv")))
    assert [int(r["steps"]) for r in rows] == list(range(1, STEPS + 1))  # nothing stopped at the blow-up
    assert [round(float(r["nonfinite"]) * N) for r in rows] == bad
    for r in rows[onset - 1 :]:  # non-finite outputs count as wrong
        assert float(r["accuracy"]) <= 1 - float(r["nonfinite"])

    fig = sweep_figure(rows)
    ax = fig.axes[0]
    marks = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":" and list(ln.get_xdata()) == [onset, onset]]
    assert len(marks) == 1
    assert any(t.get_text() == f"non-finite from {onset}" for t in ax.texts)
    plt.close(fig)
    assert (tmp_path / "sweep.png").stat().st_size > 1000


def test_a_feed_forward_sweep_is_drawn_as_labelled_lines_without_an_empty_legend():
    rows = [
        {"model": "resnet18", "task": "pathfinder", "difficulty": d, "steps": None, "accuracy": a}
        for d, a in ((6, 0.87), (9, 0.6))
    ]
    fig = sweep_figure(rows)
    ax = fig.axes[0]
    assert ax.get_legend() is None
    assert {t.get_text() for t in ax.texts} == {" resnet18 6", " resnet18 9"}
    assert sorted(ln.get_ydata()[0] for ln in ax.get_lines()) == pytest.approx([60, 87])
    plt.close(fig)
