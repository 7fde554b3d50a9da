"""Scoring (scoring.py): accuracy at many step counts from one pass, as sweeps and validation use it."""

import numpy as np
import pytest
import torch

from locrnn.data.arrays import ArrayDataset
from locrnn.data.mazes import generate_mazes
from locrnn.metrics import maze_correct
from locrnn.models import build_model
from locrnn.scoring import best_steps, evaluate_steps, first_nonfinite
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
