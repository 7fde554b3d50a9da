"""Trainer, checkpoints, losses and sweeps on tiny runs."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from locrnn.cli import parse_steps
from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes
from locrnn.io import UserError
from locrnn.metrics import maze_correct
from locrnn.models import build_model
from locrnn.models.hub import load_model, save_model
from locrnn.scoring import evaluate_steps
from locrnn.tasks import get_task
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


def test_exact_match_forces_black_pixels_to_zero():
    x = torch.zeros(1, 3, 4, 4)
    x[0, :, 1:3, 1:3] = 1
    y = torch.zeros(1, 4, 4, dtype=torch.long)
    y[0, 1, 1] = 1
    logits = torch.zeros(1, 2, 4, 4)
    logits[0, 1] = 5.0  # predicts "path" everywhere
    assert not maze_correct(logits, x, y).item()
    logits[0, 1, 1:3, 1:3] = -5.0
    logits[0, 1, 1, 1] = 5.0  # right on open pixels, wrong only on black ones
    assert maze_correct(logits, x, y).item()


def test_checkpoint_of_another_model_is_refused(tmp_path):
    model = build_model("locrnn", task="mazes", width=8)
    save_model(tmp_path / "ck", model)
    with pytest.raises(UserError, match="holds a 'locrnn' model"):
        load_model(tmp_path / "ck", expect="locrnn_no_s")
    meta = json.loads((tmp_path / "ck.json").read_text())
    meta["model"]["width"] = 16
    (tmp_path / "ck.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="do not match the model"):
        load_model(tmp_path / "ck")
    meta["format_version"] = 99
    (tmp_path / "ck.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="format version"):
        load_model(tmp_path / "ck")


@pytest.mark.parametrize("objective", ["random_steps", "progressive", "deep"])
@pytest.mark.parametrize("penalty", [0.0, 0.5])
def test_objectives_train(tmp_path, objective, penalty):
    cfg = tiny_cfg(tmp_path, objective=objective, min_steps=2, max_steps=9, n_train=64, state_penalty=penalty)
    run = train(cfg, argv=["t"])
    assert (run / "best.json").is_file()


def test_relative_change_penalty_is_zero_at_a_fixed_point():
    from locrnn.training.objectives import relative_change

    h = torch.rand(3, 4, 5, 5)
    assert relative_change(h, h).item() == 0
    assert relative_change(h, 2 * h).item() == pytest.approx(0.25)
    assert relative_change(h, 2 * h, power=1).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="penalty_power"):
        relative_change(h, h, power=3)


def test_plain_ratio_penalty_keeps_its_gradient_near_a_fixed_point():
    """Squared: the pull towards the fixed point shrinks with the drift; power 1: it does not."""
    from locrnn.training.objectives import relative_change

    h, d = torch.rand(2, 4, 5, 5), torch.randn(2, 4, 5, 5)
    norms = {}
    for power in (1, 2):
        for eps in (1e-2, 1e-4):
            last = (h + eps * d).requires_grad_()
            relative_change(h, last, power).backward()
            norms[power, eps] = last.grad.norm().item()
    assert norms[2, 1e-4] < 0.02 * norms[2, 1e-2]
    assert norms[1, 1e-4] == pytest.approx(norms[1, 1e-2], rel=0.05)


def test_plain_ratio_penalty_trains(tmp_path):
    cfg = tiny_cfg(tmp_path, objective="progressive", max_steps=9, n_train=64, state_penalty=0.5, penalty_power=1)
    run = train(cfg, argv=["t"])
    assert json.loads((run / "config.json").read_text())["penalty_power"] == 1


def test_parse_steps():
    assert parse_steps("1:5") == [1, 2, 3, 4, 5]
    assert parse_steps("1:10:4") == [1, 5, 9, 10]
    assert parse_steps("3,6") == [3, 6]
    assert parse_steps("1:3,10:30:10,3") == [1, 2, 3, 10, 20, 30]
    with pytest.raises(ValueError):
        parse_steps("0:3")


def test_checkpoint_loads_at_another_step_count(tmp_path):
    """Per-step norms (hConvGRU) trained with T steps load unchanged with a new default count."""
    model = build_model("hconvgru", task="mazes", width=8, steps=3).eval()
    save_model(tmp_path / "h", model)
    again = load_model(tmp_path / "h", steps=7).eval()
    assert again.trained_steps == 7
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(again(x, steps=3), model(x, steps=3))
        assert again(x).shape == (1, 2, 16, 16)


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


@pytest.mark.parametrize("bad", [{"val_steps": [0, 5]}, {"val_steps": []}, {"penalty_power": 3}])
def test_bad_objective_settings_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad)).replace("_", "[-_]")):  # as its option, --val-steps
        make_config("cpu", **bad)


class _ScaleCell(torch.nn.Module):
    """f(s) = a * s along the first channel, 0.5 * s elsewhere: one-step growth max(|a|, 0.5)."""

    def __init__(self, a: float) -> None:
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))

    def forward(self, drive, s, t):
        return torch.cat([self.a * s[:, :1], 0.5 * s[:, 1:]], 1) + drive


@pytest.mark.parametrize("a", [2.0, 1.2, 0.7])
def test_contraction_penalty_finds_the_growing_mode(a):
    from locrnn.training.contraction import contraction_penalty

    torch.manual_seed(0)
    cell, s, drive = _ScaleCell(a), torch.rand(4, 6, 3, 3) + 0.5, torch.zeros(4, 6, 3, 3)
    pen = contraction_penalty(cell, drive, s, t=5, iters=12, rho=0.9)
    assert pen.item() == pytest.approx(max(a - 0.9, 0.0) ** 2, rel=0.02, abs=1e-6)
    pen.backward()
    assert cell.a.grad.item() == pytest.approx(2 * max(a - 0.9, 0.0), rel=0.02, abs=1e-6)


def test_contraction_objective_trains(tmp_path):
    cfg = tiny_cfg(
        tmp_path, objective="progressive", max_steps=9, n_train=64, state_penalty=0.5, penalty_power=1, contraction=1.0
    )
    run = train(cfg, argv=["t"])
    assert (run / "best.json").is_file()


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


def _recurrent_models():
    from locrnn.models import get_entry, list_models

    return [
        m for m in list_models() if "mazes" in get_entry(m).tasks and build_model(m, task="mazes", width=8).recurrent
    ]


@pytest.mark.parametrize("name", _recurrent_models())
def test_every_recurrent_model_takes_the_stability_objectives(name):
    """Each objective of docs/stability.md, penalties and contraction included, gives a finite
    loss and a gradient for every weight that the model's output uses, on every recurrent model."""
    import random

    from locrnn.training.objectives import objective_loss

    torch.manual_seed(0)
    model = build_model(name, task="mazes", width=8, steps=3)
    x, y = ArrayDataset(*generate_mazes(4, 5, seed=1)).batch(np.arange(4))
    task = get_task("mazes")
    for spec in (
        dict(objective="deep", min_steps=2, max_steps=4, state_penalty=1.0),
        dict(objective="progressive", max_steps=8, state_penalty=1.0, penalty_power=1, contraction=10.0),
    ):
        cfg = make_config("cpu", **spec)
        model.zero_grad()
        rng = random.Random(3)
        rng.randint = lambda a, b: b if b > a else a  # the longest window: the contraction term is on
        loss = objective_loss(model, x, y, task, cfg, rng)
        assert torch.isfinite(loss)
        loss.backward()
        grads = [p.grad for p in model.cell.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), spec


def test_stop_at_ends_training_at_the_validation_target(tmp_path, monkeypatch):
    """Validation reaching stop_at ends the run there; resuming it trains no further."""
    import locrnn.training.trainer as trainer

    def solved(net, data, task, steps, **kw):  # a validation that says: every maze solved
        return {s: {"accuracy": 1.0, "n": len(data)} for s in steps}

    monkeypatch.setattr(trainer, "evaluate_steps", solved)
    run = train(tiny_cfg(tmp_path, n_train=256, val_every=3, stop_at=0.9), argv=["t"])
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 3 and summary["best_val_accuracy"] == 1.0
    again = train(None, resume=run, argv=["t"])
    assert json.loads((again / "summary.json").read_text())["iterations"] == 3


def test_grad_steps_truncates_backpropagation():
    """grad_steps = k: the same loss as the full unroll, and the gradient of the state detached
    after T - k steps."""
    import random

    from locrnn.training.objectives import objective_loss

    task = get_task("mazes")
    x, y = (torch.from_numpy(a) for a in generate_mazes(4, 5, seed=0))
    x, y = x.float(), y.long()
    torch.manual_seed(0)
    net = build_model("locrnn", task="mazes", width=8, steps=6).eval()
    cfg = make_config(None, model_args={"width": 8}, steps=6, grad_steps=2)
    loss = objective_loss(net, x, y, task, cfg, random.Random(0))
    truncated = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)
    full = task.loss(net(x, steps=6), x, y)
    assert torch.allclose(loss, full)
    # by hand: detach the state after 4 steps, run 2 more
    features = net.stem(x)
    drive = net.cell.prepare(features)
    state = net.final_state(x, 4).detach()
    for t in (4, 5):
        state = net.cell(drive, state, t)
    manual = task.loss(net.head(net.cell.output(state)), x, y)
    expected = torch.autograd.grad(manual, list(net.parameters()), allow_unused=True)
    for a, b in zip(truncated, expected):
        assert (a is None) == (b is None) and (a is None or torch.allclose(a, b, atol=1e-6))
    fully = torch.autograd.grad(full, list(net.parameters()), allow_unused=True)
    assert any(a is not None and not torch.allclose(a, b) for a, b in zip(truncated, fully))
