"""Tasks are frozen values: looked up by name with their settings, rebuilt from a run's record."""

import dataclasses

import pytest
import torch

from locrnn.io import UserError
from locrnn.tasks import get_task, list_tasks, task_from_run, task_settings


def test_a_task_is_a_frozen_value_with_its_settings():
    task = get_task("pathfinder", image_size=64, geometry="lra")
    assert (task.image_size, task.geometry) == (64, "lra") and task == get_task(
        "pathfinder", image_size=64, geometry="lra"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.image_size = 32
    assert task.params(9).size == 64 and get_task("pathfinder", geometry="lra").params(9).size == 32


def test_unknown_tasks_and_settings_are_refused_by_name():
    assert list_tasks() == ["mazes", "pathfinder"] and task_settings("mazes") == ()
    with pytest.raises(UserError, match="unknown task 'sudoku'; choose one of: mazes, pathfinder"):
        get_task("sudoku")
    with pytest.raises(UserError, match="task 'mazes' has no setting 'image_size'"):
        get_task("mazes", image_size=48)


def test_a_runs_record_gives_the_same_task_again():
    """Unset (None) settings take the task's defaults; what is not a setting of the task is ignored."""
    recorded = {"task": "pathfinder", "size": 9, "image_size": 48, "geometry": None, "lr": 0.1}
    assert task_from_run("pathfinder", recorded) == get_task("pathfinder", image_size=48)
    assert task_from_run("mazes", recorded) == get_task("mazes")


def test_every_task_weights_its_loss_by_the_terms_it_averages():
    x = torch.zeros(2, 3, 5, 5)
    x[:, :, 1:4, 1:3] = 1  # 6 open pixels per maze
    assert float(get_task("mazes").loss_weight(x, None)) == 12
    assert float(get_task("pathfinder").loss_weight(x, None)) == 2
