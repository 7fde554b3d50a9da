"""Faults and bad inputs (issue 17): a run never silently wrong, nothing counted twice, every
failure one line that names what went wrong. docs/reliability.md lists what these tests try."""

import json
from pathlib import Path

import pytest
import torch

from locrnn.cli import main
from locrnn.models import build_model
from locrnn.training import guard

TINY = ["--task", "mazes", "--size", "5", "--width", "8", "--steps", "2", "--n-train", "64", "--n-val", "16"]
TINY += ["--batch-size", "16", "--progress", "false", "--precision", "fp32", "--device", "cpu"]


def run_cli(capsys, argv) -> tuple[int, list[str]]:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    return rc, [line for line in err.splitlines() if line.strip()]


def fails(capsys, argv, *expected: str, code: int = 2) -> str:
    rc, lines = run_cli(capsys, argv)
    assert rc == code, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"locrnn {argv[0]}: error: "), lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# --- 1. divergence -------------------------------------------------------------------------------


def test_a_diverging_run_stops_naming_the_iteration_and_cause_and_saves_no_best(tmp_path, capsys):
    argv = ["train", *TINY, "--n-train", "256", "--epochs", "2", "--lr", "1e3", "--ckpt-every", "1"]
    line = fails(capsys, [*argv, "--out", tmp_path, "--name", "run", "--log-every", "1"], code=1)
    assert "training diverged at iteration" in line and "learning rate (1000) is likely too high" in line
    run = tmp_path / "run"
    assert not list(run.glob("best.*")) and not (run / "summary.json").exists()  # never a success
    state = torch.load(run / "trainer_state.pt", weights_only=True)
    stopped = int(line.split("iteration ")[1].split(":")[0])
    assert state["position"]["iteration"] < stopped  # the last checkpoint written before the blow-up
    assert f"(iteration {state['position']['iteration']}) is kept" in line
    assert max(r["iteration"] for r in rows(run)) == stopped


def test_the_guard_stops_on_huge_weights_even_when_the_loss_looks_calm():
    model = build_model("locrnn", task="mazes", width=8, steps=2)
    pos = {"iteration": 7}
    assert guard.check(pos, 0.7, 1.0, model) is None and not pos["suspect"]
    with torch.no_grad():
        next(model.parameters()).mul_(0).add_(8e17)  # the 0.693 plateau of a blown-up run
    assert "a weight reached magnitude 8e+17" in guard.check(pos, 0.693, 0.0, model)
    assert "gradient norm became nan" in guard.check({}, 0.7, float("nan"), build_model("locrnn", width=8))


def test_the_guard_waits_out_one_spike_but_holds_checkpoints_meanwhile():
    model = build_model("locrnn", task="mazes", width=8, steps=2)
    pos: dict = {}
    for loss in (0.7, 0.5, 0.4):
        assert guard.check(pos, loss, 1.0, model) is None
    assert guard.check(pos, 50.0, 1.0, model) is None and pos["suspect"]  # a spike: no checkpoint now
    assert guard.check(pos, 0.45, 1.0, model) is None and not pos["suspect"]  # back: checkpoints again
    for _ in range(guard.PATIENCE - 1):
        assert guard.check(pos, 50.0, 1.0, model) is None
    assert "stayed above 10x its lowest value (0.4)" in guard.check(pos, 50.0, 1.0, model)
