"""`locrnn reproduce size-extrapolation`: its definition (sizes, budgets, counts, models) and the
machinery end to end on tiny mazes with a tiny model (reproduce/sizes.py, size_extrapolation.py)."""

import csv
import json
import os

import pytest
import torch

from locrnn.cli import main
from locrnn.io import UserError
from locrnn.models import build_model
from locrnn.models.hub import save_model
from locrnn.reproduce import figure, recipe, size_figure
from locrnn.reproduce.figures import VARIANTS, find_run, runs_to_train
from locrnn.reproduce.recipes import QUICK_DT
from locrnn.reproduce.size_extrapolation import make_size_figure
from locrnn.reproduce.sizes import SizeTest, budget, size_tests, step_grid


def test_quick_scale_trains_on_9_and_tests_9_to_59_with_enough_mazes():
    tests = size_tests("quick")
    assert [t.size for t in tests] == [9, 13, 19, 25, 33, 59]
    assert all(t.n >= 100 for t in tests if t.size < 59) and tests[-1].n >= 30
    assert [t.size for t in size_tests("quick", large=True)][-1] == 99
    assert [t.size for t in size_tests("paper")][-1] == 99  # 99x99 always at paper scale
    for t in tests:
        assert 0 < t.n_sweep <= t.n
        assert t.grid == step_grid(t.budget) and t.grid[-1] == t.budget  # the sweep reaches the budget
        assert list(t.grid) == sorted(set(t.grid)) and t.grid[0] == 10


def test_the_budget_grows_with_the_size_to_a_few_thousand_steps():
    budgets = [t.budget for t in size_tests("paper")]
    assert budgets == sorted(budgets) and len(set(budgets)) == len(budgets)
    assert budget(9) >= 10 * 15  # 10x the trained steps of the shipped models on the training size
    assert 2000 <= budget(59) <= 5000 and budget(99) <= 5000


def test_the_runs_are_stabilitys_so_the_run_cache_reuses_them_and_dt_recall_is_defined():
    quick = size_figure(scale="quick")
    stability = {r.key for r in figure("stability", scale="quick").runs}
    assert {r.key for r in quick.runs} == {"mazes9-locrnn-s0", "mazes9-locrnn-contractive-s0"} <= stability
    assert quick == figure("size-extrapolation", scale="quick") and quick.kind == "size"
    assert {(sw.run.key, sw.difficulties, sw.steps) for sw in quick.sweeps} == {
        (r.key, (t.size,), t.grid) for r in quick.runs for t in quick.extra["tests"]
    }
    (dt,) = [r for r in size_figure(scale="quick", dt=True).runs if r.model == "dt_recall"]
    assert dt in figure("size-extrapolation").runs  # at paper scale it is one of the models
    cfg = recipe(dt, "quick")
    assert (cfg.model, cfg.size, cfg.objective, cfg.alpha, cfg.steps) == ("dt_recall", 9, "progressive", 0.01, 30)
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.batch_size) == ("adam", 1e-3, 2e-4, 50)
    # the recurrent block at lr / max_iters, the exponential warm-up over 10 of 50 epochs, no clipping
    assert (cfg.recurrent_lr_factor, cfg.warmup_kind, cfg.warmup) == (1 / 30, "exponential", 0.2)
    assert (cfg.schedule, cfg.clip) == ("constant", 0.0)
    assert cfg.model_args["width"] == QUICK_DT["width"] and cfg.n_train == QUICK_DT["n_train"]
    paper = recipe(dt, "paper")  # DeepThinking's own width (the model's default)
    assert "width" not in paper.model_args and paper.recurrent_lr_factor == 1 / 30 and paper.clip == 0.0
    assert VARIANTS[dt.variant]["objective"] == "progressive"
    assert {r.variant for r in figure("stability").runs} == set(VARIANTS) - {"deepthinking"}


def _tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model("locrnn", task="mazes", width=8, steps=3)
    save_model(tmp_path / "tiny", model)
    return str(tmp_path / "tiny")


@pytest.mark.slow  # ~10-25 s on 2 shared cores
def test_the_experiment_tests_each_size_with_halting_and_a_sweep_and_writes_its_files(tmp_path):
    tests = (SizeTest(5, n=3, budget=8, n_sweep=2, grid=(2, 4, 8)), SizeTest(7, n=2, budget=12, n_sweep=2, grid=(12,)))
    fig = size_figure(scale="smoke")
    fig = type(fig)(**{**fig.__dict__, "extra": {"tests": tests}})
    out = make_size_figure(fig, scale="smoke", root=tmp_path, pretrained=[_tiny_checkpoint(tmp_path)], log=print)
    for f in ("README.md", "accuracy_vs_size.png", "accuracy_vs_steps_5.png", "accuracy_vs_steps_7.png"):
        assert (out / f).stat().st_size > 1000, f
    halting = list(csv.DictReader(open(out / "halting.csv")))
    assert [(int(h["difficulty"]), int(h["n"]), int(h["max_steps"])) for h in halting] == [(5, 3, 8), (7, 2, 12)]
    assert all(h["rule"] == "prediction" and float(h["seconds"]) >= 0 and h["load_avg"] for h in halting)
    assert all(1 <= float(h["mean_steps"]) <= int(h["max_steps"]) for h in halting)
    rows = list(csv.DictReader(open(out / "rows.csv")))
    assert [(int(r["difficulty"]), int(r["steps"]), int(r["n"])) for r in rows] == [
        (5, 2, 2),
        (5, 4, 2),
        (5, 8, 2),
        (7, 12, 2),
    ]
    page = (out / "README.md").read_text()
    assert "| tiny | 5 | 3 |" in page and "CPU class" in page and "precision" in page
    swept = out / "sizes" / "tiny" / "5" / "sweep" / "sweep.json"
    stamp = swept.stat().st_mtime
    make_size_figure(fig, scale="smoke", root=tmp_path, pretrained=[str(tmp_path / "tiny")], log=print)
    assert swept.stat().st_mtime == stamp  # a redraw re-runs nothing
    assert json.loads((out / "timing.json").read_text())["seconds"] == pytest.approx(
        sum(float(h["seconds"]) for h in halting) + sum({r["difficulty"]: float(r["seconds"]) for r in rows}.values())
    )


@pytest.mark.slow
def test_the_command_tests_a_shipped_checkpoint_without_training(tmp_path, capsys):
    args = ["reproduce", "size-extrapolation", "--scale", "smoke", "--root", str(tmp_path), "--n-test", "2"]
    assert main(args + ["--pretrained", "locrnn-mazes-stable"]) == 0
    halting = list(csv.DictReader(open(tmp_path / "size-extrapolation" / "halting.csv")))
    assert [(h["model"], h["n"]) for h in halting] == [("locrnn-mazes-stable", "2")] * 2
    assert not (tmp_path / "runs").exists()
    assert main(["reproduce", "fig4", "--scale", "smoke", "--root", str(tmp_path), "--large"]) == 2
    assert "size-extrapolation only" in capsys.readouterr().err


def test_shipped_checkpoints_stand_in_for_locrnn_s_runs_only():
    fig = size_figure(scale="quick", dt=True)
    assert runs_to_train(fig) == fig.runs
    assert [r.key for r in runs_to_train(fig, ["locrnn-mazes-stable"])] == ["mazes9-dt_recall-deepthinking-s0"]
    assert find_run("mazes9-dt_recall-deepthinking-s0", scale="quick").model == "dt_recall"  # trainable by name


@pytest.mark.slow  # ~10-20 s on 2 shared cores
def test_cached_only_models_are_read_from_earlier_cells_and_never_computed(tmp_path):
    small, large = SizeTest(5, n=2, budget=6, n_sweep=2, grid=(6,)), SizeTest(7, n=2, budget=6, n_sweep=2, grid=(6,))
    fig = size_figure(scale="smoke")
    first = _tiny_checkpoint(tmp_path)
    torch.manual_seed(1)
    save_model(tmp_path / "other", build_model("locrnn", task="mazes", width=8, steps=3))
    both = [first, str(tmp_path / "other")]
    make_size_figure(type(fig)(**{**fig.__dict__, "extra": {"tests": (small,)}}), scale="smoke", root=tmp_path,
                     pretrained=[first], log=print)  # fmt: skip
    os.utime(tmp_path / "tiny.safetensors", (1, 1))  # a new checkout of the same weights: a new file time
    fig = type(fig)(**{**fig.__dict__, "extra": {"tests": (small, large)}})
    out = make_size_figure(fig, scale="smoke", root=tmp_path, pretrained=both, cached_only=[first], log=print)
    halting = list(csv.DictReader(open(out / "halting.csv")))
    assert [(h["model"], h["difficulty"]) for h in halting] == [("tiny", "5"), ("other", "5"), ("other", "7")]
    assert not (out / "sizes" / "tiny" / "7").exists()
    page = (out / "README.md").read_text()
    assert "--cached-only" in page and "| tiny | " in page and " | - |" in page
    with pytest.raises(UserError, match="cached_only"):
        make_size_figure(fig, scale="smoke", root=tmp_path, pretrained=both, cached_only=["nothing"], log=print)
