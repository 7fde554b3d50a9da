"""PathFinder statistics: path shape against the original generator's, and the marker-distance
shortcut (gone with ``balance_distance``, every layout recording the option)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from locrnn.cli import main
from locrnn.data.pathfinder import generate_pathfinder, published_params
from locrnn.data.pathfinder_stats import interval_rule, interval_rule_accuracy, marker_distances, path_stats
from locrnn.data.pathfinder_write import dataset_name, write_pathfinder

# length: (marker distance mean, sd (px at 150), total turning mean, sd (degrees))
ORIGINAL = {6: (28.4, 2.3, 75, 25), 9: (42.6, 4.2, 119, 31), 14: (63.3, 9.4, 196, 40)}


@pytest.mark.parametrize("length", sorted(ORIGINAL))
def test_paths_have_the_original_generators_shape(length):
    """Mean and sd of a target path's end-to-end distance (= a positive's marker distance) and of
    its total turning (sum of |turn| between paddles) within 10 % of the original generator's.

    Reference numbers (paper geometry: 300 px canvas drawn at 150 px, L 5, margin 3, continuity
    1.8; distractors, thickness and markers do not move a target path's ends):
    * distances: issue #19, measured on drewlinsley/pathfinder at ab9c130 run with its main
      wrapper, 600 images per length;
    * turning: ``benchmarks/pathfinder_original.py`` (the original's target-path growth
      re-implemented from its code: integer pixels, ceil-rounded pivots, candidate heads on the
      digital circle, occupancy masks), 3,000 images per length; its distances agree with the
      issue's (28.5 / 2.1, 42.7 / 3.9, 63.8 / 8.8).
    Before the pivots were rounded up like the original's, the distance sd was 1.3 / 3.1 / 7.5.
    """
    s = path_stats(length, 300, seed=0)  # 600 paths
    got = (s["d_mean"], s["d_sd"], s["t_mean"], s["t_sd"])
    for name, value, ref in zip(("distance mean", "distance sd", "turning mean", "turning sd"), got, ORIGINAL[length]):
        assert abs(value - ref) <= 0.1 * ref, f"length {length}: {name} {value:.2f} vs the original's {ref}"


def test_the_interval_rule_finds_the_best_interval():
    d = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    y = np.array([0, 0, 1, 1, 0, 1, 1, 0])
    assert interval_rule(d, y) == (3.0, 7.0)  # +1 +1 -1 +1 +1
    assert interval_rule_accuracy(d, y, held_out=False) == 7 / 8
    rng = np.random.default_rng(0)
    d, y = rng.random(4000), rng.integers(0, 2, 4000)  # distance tells nothing
    assert abs(interval_rule_accuracy(d, y) - 0.5) < 0.03 < interval_rule_accuracy(d, y, held_out=False) - 0.5 + 0.03


# length 14 draws the longest paths (~25 s on a 2-core AVX2 CPU): with the slow tests, .ci/run runs it
@pytest.mark.parametrize("length,n", [(6, 600), (9, 600), pytest.param(14, 400, marks=pytest.mark.slow)])
def test_balanced_marker_distance_tells_nothing_about_the_label(length, n):
    """The best distance-only interval rule, fitted on half the images and scored on the other
    half, is within 3 points of chance, plus two standard errors of an accuracy on n images
    (2 x 0.5 / sqrt(n): 4.1 points at 600, 5 at 400); unbalanced, the same rule scores ~0.87 /
    0.78 / 0.63 (3,000 images: benchmarks/pathfinder_shortcut.py)."""
    p = published_params(length, 150, balance_distance=True)
    _, y, geo = generate_pathfinder(n, p, seed=0, split="test", geometry=True, workers=1)
    d = marker_distances(geo)
    assert abs(interval_rule_accuracy(d, y) - 0.5) <= 0.03 + 1 / np.sqrt(n)
    pos, neg = d[y == 1], d[y == 0]
    assert abs(neg.mean() - pos.mean()) < 0.05 * pos.mean() and abs(neg.std() - pos.std()) < 0.2 * pos.std()
    if length == 6:  # the default generator keeps its shortcut, and its positives are untouched
        x0, y0, geo0 = generate_pathfinder(n, p.replace(balance_distance=False), seed=0, split="test", geometry=True)
        assert interval_rule_accuracy(marker_distances(geo0), y0) > 0.8
        assert np.array_equal(y0, y) and np.allclose(marker_distances(geo0)[y0 == 1], pos)


@pytest.mark.parametrize("layout", ["lra", "2018", "imagefolder"])
def test_every_layout_records_the_balance_option(tmp_path, layout):
    p = published_params(6, 32, family="paper", balance_distance=True)
    folders = write_pathfinder(tmp_path, p, 8, layout=layout, workers=1)
    assert len(folders) == (1 if layout == "lra" else 2)
    for folder in folders:
        info = json.loads((folder / "params.json").read_text())
        assert info["params"]["balance_distance"] is True and info["layout"] == layout


def test_cli_balance_distance(tmp_path, capsys):
    args = ["data", "pathfinder", "--length", "6", "--n", "8", "--size", "32", "--root", str(tmp_path)]
    assert main(args + ["--workers", "1", "--balance-distance", "--layout", "2018"]) == 0
    assert "marker distance balanced" in capsys.readouterr().out
    info = json.loads((tmp_path / f"{dataset_name(6)}_neg" / "params.json").read_text())
    assert info["params"]["balance_distance"] is True


def test_training_with_balance_distance_records_it_and_sweeps_draw_the_same_way(tmp_path, monkeypatch):
    """``locrnn train --balance-distance``: the training, validation and sweep images are all drawn
    balanced; the run's config and its checkpoint (alone, outside its folder) record the setting."""
    import shutil

    import locrnn.tasks

    drawn = []  # (split, balance_distance) of every generated set

    def recording(n, p, **kw):
        drawn.append((kw.get("split"), p.balance_distance))
        return generate_pathfinder(n, p, **kw)

    monkeypatch.setattr(locrnn.tasks, "generate_pathfinder", recording)
    args = ["train", "--task", "pathfinder", "--balance-distance", "--length", "3", "--image-size", "32"]
    args += ["--width", "4", "--steps", "2", "--n-train", "16", "--n-val", "8", "--batch-size", "8", "--epochs", "1"]
    args += ["--progress", "false", "--precision", "fp32", "--device", "cpu", "--out", str(tmp_path), "--name", "r"]
    assert main(args) == 0
    run = tmp_path / "r"
    assert json.loads((run / "config.json").read_text())["balance_distance"] is True
    assert json.loads((run / "best.json").read_text())["trained_on"]["balance_distance"] is True
    assert drawn == [("train", True), ("val", True)]
    shutil.copy(run / "best.safetensors", tmp_path / "alone.safetensors")  # no config.json beside it
    shutil.copy(run / "best.json", tmp_path / "alone.json")
    for checkpoint in (str(run), str(tmp_path / "alone")):
        drawn.clear()
        sweep = ["sweep", checkpoint, "--sizes", "3", "--steps", "2", "--n", "8", "--device", "cpu"]
        assert main([*sweep, "--out", str(tmp_path / "sw")]) == 0
        assert drawn == [("test", True)]


def test_balance_distance_is_a_pathfinder_setting():
    from locrnn.training.config import make_config

    with pytest.raises(ValueError, match="balance_distance must be false"):
        make_config(None, task="mazes", balance_distance=True)
    assert make_config("pathfinder-cpu", balance_distance=True).balance_distance is True
