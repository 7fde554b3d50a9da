"""The trainer (training/trainer.py, validation.py, resume.py) on tiny runs."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from locrnn.data.arrays import ArrayDataset
from locrnn.io import UserError
from locrnn.models import build_model
from locrnn.models.hub import load_model
from locrnn.training.config import make_config
from locrnn.training.trainer import train


def tiny_cfg(tmp_path, **kw):
    base = dict(
        task="mazes",
        size=5,
        model="locrnn",
        model_args={"width": 8},
        steps=4,
        n_train=256,
        n_val=64,
        batch_size=16,
        epochs=1,
        out=str(tmp_path),
        name="run",
        progress=False,
        precision="fp32",
        log_every=2,
        ckpt_every=8,
    )
    base.update(kw)
    return make_config(None, **base)


def test_loss_falls_and_run_folder_is_complete(tmp_path):
    run = train(tiny_cfg(tmp_path, epochs=3, lr=3e-3), argv=["test"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert np.mean(losses[-4:]) < 0.8 * np.mean(losses[:4])
    assert any("val_accuracy" in r for r in rows)
    for f in (
        "config.json",
        "command.txt",
        "best.safetensors",
        "best.json",
        "last.json",
        "trainer_state.pt",
        "summary.json",
    ):
        assert (run / f).is_file(), f
    model = load_model(run)
    assert model.trained_steps == 4 and model.config["width"] == 8


def test_an_unrolling_objective_with_its_penalties_learns_end_to_end(tmp_path):
    """The trainer does not depend on the objective (each objective's loss and gradients:
    test_objectives.py); a run of the one with the most parts (progressive, the state penalty as
    a plain ratio, contraction) learns: its training loss falls, and its config records them."""
    objective = dict(objective="progressive", max_steps=9, state_penalty=0.5, penalty_power=1, contraction=1.0)
    run = train(tiny_cfg(tmp_path, epochs=3, lr=3e-3, **objective), argv=["t"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    assert np.mean(losses[-4:]) < 0.85 * np.mean(losses[:4])  # measured: 0.78 -> 0.59
    assert (run / "best.json").is_file()
    recorded = json.loads((run / "config.json").read_text())
    assert (recorded["objective"], recorded["penalty_power"], recorded["contraction"]) == ("progressive", 1, 1.0)


def test_run_folder_is_never_overwritten(tmp_path):
    train(tiny_cfg(tmp_path, n_train=32), argv=["t"])
    with pytest.raises(UserError, match="already exists"):
        train(tiny_cfg(tmp_path, n_train=32), argv=["t"])


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """SIGKILL a training process mid-run, --resume it, and get the uninterrupted result."""
    args = [
        "--task",
        "mazes",
        "--size",
        "5",
        "--width",
        "8",
        "--steps",
        "4",
        "--n-train",
        "384",
        "--n-val",
        "32",
        "--batch-size",
        "16",
        "--epochs",
        "2",
        "--precision",
        "fp32",
        "--ckpt-every",
        "8",
        "--progress",
        "false",
        "--out",
        str(tmp_path),
    ]
    cmd = [sys.executable, "-m", "locrnn", "train", *args]
    subprocess.run([*cmd, "--name", "full"], check=True, capture_output=True)
    proc = subprocess.Popen([*cmd, "--name", "part"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "part" / "trainer_state.pt"
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "part" / "summary.json").exists()
    done = subprocess.run(
        [sys.executable, "-m", "locrnn", "train", "--resume", str(tmp_path / "part")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    a, b = load_model(tmp_path / "full" / "last"), load_model(tmp_path / "part" / "last")
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(v, w, rtol=0, atol=0, msg=k)
    full = json.loads((tmp_path / "full" / "summary.json").read_text())
    part = json.loads((tmp_path / "part" / "summary.json").read_text())
    assert full["best_val_accuracy"] == part["best_val_accuracy"]
    assert full["iterations"] == part["iterations"]


def test_time_budget_stops_training_and_stretches_the_schedule(tmp_path):
    run = train(tiny_cfg(tmp_path, n_train=50_000, time_budget=3.0, log_every=1), argv=["t"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] < 50_000 // 16
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows if "lr" in r]
    assert max(lrs) > 5 * lrs[-1]  # the cosine decay ran within the budget
    assert (run / "best.json").is_file()


def test_validation_over_a_range_of_steps_scores_the_lowest(tmp_path):
    """--val-steps: each validation logs the accuracy at every step count and keeps the lowest."""
    run = train(tiny_cfg(tmp_path, val_steps=[2, 4, 8], val_every=8), argv=["t"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in rows if "val_accuracy" in r]
    assert vals and all(set(r["val_by_step"]) == {"2", "4", "8"} for r in vals)
    assert all(r["val_accuracy"] == min(r["val_by_step"].values()) for r in vals)
    best = json.loads((run / "best.json").read_text())
    assert best["val_accuracy"] == max(r["val_accuracy"] for r in vals)


@pytest.mark.parametrize("score, stops", [("max", True), ("min", False)])
def test_validation_over_a_range_of_steps_can_score_the_best(tmp_path, monkeypatch, score, stops):
    """--val-score max: a model trained over a range of step counts is judged at its best one, and
    stop_at applies to that score (the demo's rule); min keeps judging it at its worst."""
    import locrnn.training.validation as validation

    by_step = {1: 0.25, 4: 0.5, 8: 0.75}  # a validation that is best at 8 steps

    def scored(net, data, task, steps, **kw):
        return {s: {"accuracy": by_step[s], "n": len(data)} for s in steps}

    monkeypatch.setattr(validation, "evaluate_steps", scored)
    cfg = tiny_cfg(tmp_path, n_train=256, val_steps=[1, 4, 8], val_every=3, val_score=score, stop_at=0.7)
    run = train(cfg, argv=["t"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in rows if "val_accuracy" in r]
    assert vals and all(r["val_accuracy"] == (0.75 if score == "max" else 0.25) for r in vals)
    iterations = json.loads((run / "summary.json").read_text())["iterations"]
    assert (iterations == 3) == stops  # 0.75 reaches stop_at 0.7 at the first validation; 0.25 never does


@pytest.mark.parametrize("bad", [{"val_steps": [0, 5]}, {"val_steps": []}, {"val_score": "mean"}, {"penalty_power": 3}])
def test_bad_objective_settings_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad)).replace("_", "[-_]")):  # as its option, --val-steps
        make_config("cpu", **bad)


def test_init_from_starts_from_a_checkpoint_and_refuses_another_model(tmp_path):
    first = train(tiny_cfg(tmp_path, name="a"), argv=["t"])
    base = load_model(first / "best")
    tuned = train(tiny_cfg(tmp_path, name="b", init_from=str(first / "best"), lr=1e-12, warmup=0.0), argv=["t"])
    again = load_model(tuned / "best")
    start = dict(base.named_parameters())  # an lr of 1e-12 leaves the loaded weights (AdamW's steps are ~lr)
    for name, p in again.named_parameters():
        torch.testing.assert_close(p, start[name], atol=1e-6, rtol=0)
    fresh = dict(build_model("locrnn", task="mazes", width=8).named_parameters())
    assert any(not torch.allclose(p, fresh[n]) for n, p in again.named_parameters())
    with pytest.raises(UserError, match="holds a 'locrnn' model, not 'convgru'"):
        train(tiny_cfg(tmp_path, name="c", model="convgru", init_from=str(first)), argv=["t"])


def test_fine_tunes_count_the_images_of_every_stage(tmp_path):
    """A checkpoint's images are its own run's; images_total adds those its --init-from had seen."""
    first = train(tiny_cfg(tmp_path, name="a"), argv=["t"])
    a = json.loads((first / "best.json").read_text())
    assert a["images_total"] == a["images"] > 0
    second = train(tiny_cfg(tmp_path, name="b", init_from=str(first / "best")), argv=["t"])
    b = json.loads((second / "best.json").read_text())
    assert b["images_total"] == a["images_total"] + b["images"]
    third = train(tiny_cfg(tmp_path, name="c", init_from=str(second / "last")), argv=["t"])
    c = json.loads((third / "last.json").read_text())
    last_b = json.loads((second / "last.json").read_text())
    assert c["images_total"] == last_b["images_total"] + c["images"]
    summary = json.loads((third / "summary.json").read_text())
    assert summary["images_total"] == last_b["images_total"] + summary["images"]


def test_stop_at_ends_training_at_the_validation_target(tmp_path, monkeypatch):
    """Validation reaching stop_at ends the run there; resuming it trains no further."""
    import locrnn.training.validation as validation

    def solved(net, data, task, steps, **kw):  # a validation that says: every maze solved
        return {s: {"accuracy": 1.0, "n": len(data)} for s in steps}

    monkeypatch.setattr(validation, "evaluate_steps", solved)
    run = train(tiny_cfg(tmp_path, n_train=256, val_every=3, stop_at=0.9), argv=["t"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 3 and summary["best_val_accuracy"] == 1.0
    again = train(None, resume=run, argv=["t"])
    assert json.loads((again / "summary.json").read_text())["iterations"] == 3


def test_each_process_validates_its_own_share_of_the_data():
    from locrnn.runtime import Runtime
    from locrnn.training.validation import shard

    data = ArrayDataset(np.arange(7 * 3 * 2 * 2, dtype=np.uint8).reshape(7, 3, 2, 2), np.zeros((7, 2, 2), np.int64))
    one = Runtime(torch.device("cpu"), None, rank=0, world=1)
    assert shard(data, one) is data
    shares = [shard(data, Runtime(torch.device("cpu"), None, rank=r, world=3)) for r in range(3)]
    assert [len(s) for s in shares] == [3, 2, 2]
    firsts = sorted(int(s.inputs[i, 0, 0, 0]) for s in shares for i in range(len(s)))
    assert firsts == [int(v) for v in data.inputs[:, 0, 0, 0]]  # every sample once
