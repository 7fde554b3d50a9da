"""The command line end to end at tiny sizes: data -> train -> sweep, as a user runs it."""

import csv
import json
import subprocess
import sys

import pytest

from locrnn.cli import build_parser, main
from locrnn.cli.sweep import parse_steps
from locrnn.data.maze_io import load_mazes


def test_data_train_sweep(tmp_path, capsys):
    root = tmp_path / "data"
    assert main(["data", "mazes", "--size", "5", "--split", "train", "--n", "300", "--root", str(root)]) == 0
    assert main(["data", "mazes", "--size", "7", "--split", "test", "--n", "40", "--root", str(root)]) == 0
    x, y = load_mazes(root, "train", 5)
    assert x.shape == (300, 3, 16, 16) and y.shape == (300, 16, 16)
    assert (
        main(
            [
                "train",
                "--task",
                "mazes",
                "--size",
                "5",
                "--width",
                "8",
                "--steps",
                "3",
                "--data-root",
                str(root),
                "--n-val",
                "40",
                "--batch-size",
                "20",
                "--precision",
                "fp32",
                "--progress",
                "false",
                "--out",
                str(tmp_path / "runs"),
                "--name",
                "r",
            ]
        )
        == 0
    )
    run = tmp_path / "runs" / "r"
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model_args"] == {"width": 8} and cfg["steps"] == 3 and cfg["data_root"] == str(root)
    capsys.readouterr()
    assert (
        main(
            [
                "sweep",
                str(run),
                "--sizes",
                "7",
                "--steps",
                "1:6",
                "--n",
                "40",
                "--data-root",
                str(root),
                "--precision",
                "fp32",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "sweep.png" in out
    rows = list(csv.DictReader(open(run / "sweep" / "sweep.csv")))
    assert [int(r["steps"]) for r in rows] == list(range(1, 7))
    assert {r["difficulty"] for r in rows} == {"7"} and all(r["n"] == "40" for r in rows)
    assert (run / "sweep" / "sweep.png").stat().st_size > 1000
    assert (
        main(
            [
                "sweep",
                str(run),
                "--sizes",
                "7",
                "--halt",
                "prediction",
                "--max-steps",
                "8",
                "--patience",
                "2",
                "--n",
                "40",
                "--data-root",
                str(root),
                "--precision",
                "fp32",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(open(run / "halting" / "halting.csv")))
    assert [r["difficulty"] for r in rows] == ["7"]
    assert all(1 <= float(r["mean_steps"]) <= 8 for r in rows)
    assert float(rows[0]["damping"]) == 1.0
    assert (run / "halting" / "halting.png").is_file()
    halt = ["sweep", str(run), "--sizes", "7", "--halt", "prediction", "--max-steps", "8", "--n", "40"]
    halt += ["--data-root", str(root), "--precision", "fp32", "--out", str(tmp_path / "damped")]
    assert main([*halt, "--damping", "0.5"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "damped" / "halting.csv")))
    assert float(rows[0]["damping"]) == 0.5 and 1 <= float(rows[0]["mean_steps"]) <= 8
    assert main([*halt, "--damping", "1.5"]) == 2
    assert "--damping must be in (0, 1]" in capsys.readouterr().err


def test_models_listing(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "locrnn" in out and "335,648" in out


def test_module_entry_point_and_one_line_errors(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "locrnn", "data", "mazes", "--size", "8", "--n", "2", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == ["locrnn data: error: maze size must be an odd integer >= 3, got 8"]
    r = subprocess.run(
        [sys.executable, "-m", "locrnn", "train", "--model", "nope", "--progress", "false", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "unknown model 'nope'" in r.stderr and "Traceback" not in r.stderr


def test_pretrained_checkpoints_load_by_name(monkeypatch, tmp_path, capsys):
    import locrnn.models.hub as pt
    from locrnn import build_model
    from locrnn.io import UserError
    from locrnn.models.hub import save_model

    save_model(tmp_path / "locrnn-mazes", build_model("locrnn", task="mazes", width=8, steps=3))
    monkeypatch.setattr(pt, "_folder", lambda: tmp_path)
    assert pt.list_pretrained() == ["locrnn-mazes"]
    model = build_model("locrnn", task="mazes", pretrained=True)
    assert model.trained_steps == 3 and model.config["width"] == 8
    with pytest.raises(UserError, match="no pretrained checkpoint 'convgru-mazes'"):
        build_model("convgru", task="mazes", pretrained=True)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--pretrained", "locrnn-mazes", "--sizes", "5", "--steps", "1:4", "--n", "8"]) == 0
    assert (tmp_path / "runs" / "pretrained" / "locrnn-mazes" / "sweep" / "sweep.csv").is_file()


def test_shipped_pretrained_checkpoints_work():
    from locrnn import build_model
    from locrnn.io import UserError
    from locrnn.models.hub import list_pretrained

    assert {"locrnn-mazes", "locrnn-pathfinder", "locrnn-mazes-stable"} <= set(list_pretrained())
    for key in list_pretrained():
        name, task, *tag = key.split("-")
        model = build_model(name, task=task, pretrained=tag[0] if tag else True)
        assert model.recurrent
    with pytest.raises(UserError, match="no pretrained checkpoint 'locrnn-mazes-nope'"):
        build_model("locrnn", task="mazes", pretrained="nope")


@pytest.mark.slow
def test_shipped_stable_maze_model_holds_its_answer_far_past_its_training_steps():
    """locrnn-mazes-stable (docs/stability.md, trained with at most 60 steps) is as right at 240
    steps (4x) as at 30, on mazes it has not seen, and its state has stopped moving."""
    from locrnn import build_model
    from locrnn.scoring import evaluate_steps
    from locrnn.tasks import get_task

    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="stable").eval()
    res = evaluate_steps(model, task.test_data(9, 48, seed=321), task, [30, 240])
    assert res[30]["accuracy"] >= 0.95 and res[240]["accuracy"] >= res[30]["accuracy"] - 0.03


@pytest.mark.slow
def test_shipped_local_maze_model_solves_19x19_mazes_after_training_on_9x9_only():
    """locrnn-mazes-local (pixel norm, docs/size-extrapolation.md) finishes 19x19 mazes given the
    steps, and keeps its answer: trained on 9x9 only, with at most 60 steps."""
    from locrnn import build_model
    from locrnn.scoring import evaluate_steps
    from locrnn.tasks import get_task

    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="local").eval()
    assert model.config["norm_scope"] == "pixel"
    res = evaluate_steps(model, task.test_data(19, 24, seed=321), task, [30, 150, 300])
    assert res[150]["accuracy"] >= 0.85 and res[150]["accuracy"] > res[30]["accuracy"] + 0.5
    assert res[300]["accuracy"] >= res[150]["accuracy"] - 0.05


def test_shipped_local_model_halts_with_its_recommended_test_time_settings(tmp_path, capsys):
    """locrnn sweep takes the damping and patience that locrnn-mazes-local's JSON recommends
    (docs/size-extrapolation.md) unless given; the 13x13 mazes it never saw all halt, right."""
    base = ["sweep", "--pretrained", "locrnn-mazes-local", "--halt", "prediction", "--sizes", "13", "--n", "20"]
    assert main([*base, "--max-steps", "650", "--out", str(tmp_path / "a"), "--precision", "fp32"]) == 0
    (row,) = list(csv.DictReader(open(tmp_path / "a" / "halting.csv")))
    assert (float(row["damping"]), int(row["patience"])) == (0.8, 10)
    assert float(row["accuracy"]) >= 0.95 and float(row["halted_share"]) == 1.0
    assert main([*base, "--max-steps", "650", "--out", str(tmp_path / "b"), "--damping", "1", "--patience", "5"]) == 0
    (row,) = list(csv.DictReader(open(tmp_path / "b" / "halting.csv")))
    assert (float(row["damping"]), int(row["patience"])) == (1.0, 5)


def test_shipped_maze_model_solves_mazes_and_extrapolates():
    """The shipped quick-scale LocRNN solves held-out 9x9 mazes and more 13x13 ones with more steps."""
    from locrnn import build_model
    from locrnn.scoring import evaluate_steps
    from locrnn.tasks import get_task

    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained=True).eval()
    small = evaluate_steps(model, task.test_data(9, 100, seed=123), task, [15])
    large = evaluate_steps(model, task.test_data(13, 100, seed=123), task, [15, 30])
    assert small[15]["accuracy"] >= 0.8
    assert large[30]["accuracy"] > large[15]["accuracy"] + 0.1


def test_shipped_pathfinder_model_is_well_above_chance(tmp_path):
    """The shipped PathFinder LocRNN, tested at the image size it was trained at (48 px, length 6)."""
    from locrnn.evaluation import SweepSpec, sweep_checkpoint
    from locrnn.models.hub import pretrained_path

    spec = SweepSpec(
        pretrained_path("locrnn-pathfinder"),
        difficulties=[6],
        steps=[4],
        n=200,
        seed=7,
        out=tmp_path,
        progress=False,
        precision="fp32",
    )
    rows, _ = sweep_checkpoint(spec)
    assert rows[0]["accuracy"] >= 0.7


def test_train_help_explains_each_option(capsys):
    """Each TrainConfig field's comment is its option's help text."""
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--contraction FLOAT progressive: weight of the contraction penalty" in out
    assert "--init-from STR start from these weights" in out and "(default 0.002)" in out
    # a Literal field shows its choices (from the dataclass's type), not the name of its type
    assert "--objective {fixed,random_steps,progressive,deep,act}" in out and "--penalty-power {1,2}" in out
    assert "--geometry {paper,lra}" in out and "--clip FLOAT " in out and "--model-args DICT " in out


def test_probe_dynamics_script_reports_every_asked_step(tmp_path):
    """scripts/probe_dynamics.py (docs/stability.md's diagnostics) runs on any maze checkpoint."""
    from pathlib import Path

    from locrnn import build_model
    from locrnn.models.hub import save_model

    save_model(tmp_path / "m", build_model("locrnn", task="mazes", width=8, steps=3))
    script = Path(__file__).parents[1] / "scripts" / "probe_dynamics.py"
    args = [str(tmp_path / "m"), "--size", "5", "--n", "4", "--steps", "1,2,5", "--kick", "2", "--iters", "3"]
    r = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["step", "accuracy", "change^2", "perturbation", "growth"]
    assert [int(line.split()[0]) for line in lines[1:]] == [1, 2, 5]
    assert "nan" in lines[1] and "nan" not in lines[3]  # the perturbation exists from --kick on


def test_sweep_takes_path_lengths_under_their_own_name():
    for flag in ("--sizes", "--difficulties", "--lengths"):
        args = build_parser().parse_args(["sweep", "--pretrained", "locrnn-pathfinder", flag, "4,9"])
        assert args.difficulties == "4,9"


def test_parse_steps():
    assert parse_steps("1:5") == [1, 2, 3, 4, 5]
    assert parse_steps("1:10:4") == [1, 5, 9, 10]
    assert parse_steps("3,6") == [3, 6]
    assert parse_steps("1:3,10:30:10,3") == [1, 2, 3, 10, 20, 30]
    with pytest.raises(ValueError):
        parse_steps("0:3")
