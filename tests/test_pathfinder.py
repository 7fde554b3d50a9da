"""PathFinder: labels checked from the recorded geometry, the path rules, determinism, the CLI,
the task and a tiny training run. (The file layouts: test_pathfinder_write.py, test_pathfinder_read.py.)"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from locrnn.cli import main
from locrnn.data.pathfinder import balanced_labels, generate_pathfinder, preset_params, published_params
from locrnn.data.pathfinder_geometry import segment_distance
from locrnn.data.pathfinder_write import write_pathfinder

SETS = {
    "pf9": preset_params("pf9"),
    "pf14": preset_params("pf14"),
    "pf18": preset_params("pf18"),
    "lra32": preset_params("lra32", length=9),
    "two-margins": published_params(9, 100, family="paper", margin=(2.0, 3.0), n_distractors=4),
}


@pytest.fixture(scope="module", params=list(SETS))
def generated(request):
    p = SETS[request.param]
    x, y, geo = generate_pathfinder(24, p, seed=3, workers=1, geometry=True)
    return p, x, y, geo


def _paddles(sample):
    """Every paddle as (path id, index in path, segment (4,)): targets are paths 0 and 1."""
    paths = sample.targets + sample.distractors
    return [(k, j, seg.reshape(4)) for k, path in enumerate(paths) for j, seg in enumerate(path)]


def test_label_follows_from_the_markers_on_the_path_ends(generated):
    p, x, y, geo = generated
    for img, label, s in zip(x, y, geo):
        origins = [t[0, 0] for t in s.targets]  # first tail of each target path
        ends = [t[-1, 1] for t in s.targets]  # last head
        on_origin = [k for k in (0, 1) if np.allclose(s.markers[0], origins[k], atol=1e-6)]
        on_end = [k for k in (0, 1) if np.allclose(s.markers[1], ends[k], atol=1e-6)]
        assert len(on_origin) == 1 and len(on_end) == 1, "each marker sits on exactly one target-path tip"
        assert label == int(on_origin[0] == on_end[0]) == s.label
        for d in s.distractors:  # markers are never on a distractor
            assert np.abs(d.reshape(-1, 2)[:, None] - s.markers[None]).sum(-1).min() > 1e-3
        for cx, cy in s.markers:  # both markers are drawn
            assert img[min(int(cy), p.size - 1), min(int(cx), p.size - 1)] > 100


def test_paths_follow_the_continuity_and_spacing_rules(generated):
    p, _, _, geo = generated
    s_ = p.scale
    cap = math.pi / (2 * p.continuity)
    for s in geo:
        assert [len(t) for t in s.targets] == [p.length, p.length]
        assert all(len(d) == p.distractor_length for d in s.distractors)
        assert len(s.distractors) <= p.n_distractors
        m = s.margin * s_
        for path in s.targets + s.distractors:
            v = path[:, 1] - path[:, 0]
            assert np.allclose(np.hypot(v[:, 0], v[:, 1]), p.paddle_length * s_)
            th = np.arctan2(v[:, 1], v[:, 0])
            turn = (np.diff(th) + np.pi) % (2 * np.pi) - np.pi
            assert np.all(np.abs(turn) < cap + 1e-9), "turns are capped at 90/c degrees"
            u = np.stack([np.cos(th), np.sin(th)], 1)
            # the next tail is m along the new direction from the pivot P, and P is the point m
            # beyond the previous head rounded up to whole canvas units (three round-ups after the seed)
            pivot = (path[1:, 0] - m * u[1:]) / s_
            assert np.allclose(pivot, np.round(pivot), atol=1e-6), "pivots sit on whole canvas units"
            up = pivot - (path[:-1, 1] + m * u[:-1]) / s_
            assert up.min() > -1e-6 and up[1:].max() < 1 + 1e-6 and up[:1].max() < 3 + 1e-6
        pts = np.concatenate([q.reshape(-1, 2) for q in s.targets + s.distractors])
        assert pts.min() >= p.padding * s_ - 1e-9 and pts.max() <= p.size - p.padding * s_ + 1e-9
        # non-consecutive paddles of any two paths keep the spacing, up to one occupancy cell
        pad = _paddles(s)
        segs = np.stack([q for _, _, q in pad])
        dist = segment_distance(segs[:, None], segs[None])
        owner = np.array([k for k, _, _ in pad])
        index = np.array([j for _, j, _ in pad])
        exempt = (owner[:, None] == owner[None]) & (np.abs(index[:, None] - index[None]) <= 1)
        cell = s_ / max(1, math.ceil(4 / p.spacing(s.margin)))
        assert dist[~exempt].min() >= s.spacing - cell


def test_turns_follow_the_cosine_squared_rule():
    """Under weights cos^2(c d), E|c d| = (pi^2/16 - 1/4) / (pi/4) = 0.467: straighter for larger c."""
    for name in ("pf14", "pf18"):
        p = SETS[name]
        _, _, geo = generate_pathfinder(32, p, workers=1, geometry=True)
        turns = []
        for s in geo:
            for path in s.targets:
                v = path[:, 1] - path[:, 0]
                th = np.arctan2(v[:, 1], v[:, 0])
                turns += list(np.abs((np.diff(th) + np.pi) % (2 * np.pi) - np.pi))
        expected = (math.pi**2 / 16 - 0.25) / (math.pi / 4) / p.continuity
        assert 0.8 * expected < np.mean(turns) < 1.25 * expected


def test_images_are_8bit_byte_scaled_with_a_black_background(generated):
    p, x, _, _ = generated
    assert x.dtype == np.uint8 and x.shape[1:] == (p.size, p.size)
    assert np.all(x.reshape(len(x), -1).max(1) == 255)
    assert np.median(x) == 0
    assert 0.005 < (x > 30).mean() < 0.3


def test_image_i_depends_only_on_seed_split_and_index():
    p = published_params(9, 48)
    x, y = generate_pathfinder(20, p, seed=5, workers=1)
    x2, y2 = generate_pathfinder(10, p, seed=5, start=10, workers=2)
    assert np.array_equal(x[10:], x2) and np.array_equal(y[10:], y2)
    x3, _ = generate_pathfinder(20, p, seed=5, workers=2)
    assert np.array_equal(x, x3)
    assert not np.array_equal(x, generate_pathfinder(20, p, seed=6, workers=1)[0])
    assert not np.array_equal(x, generate_pathfinder(20, p, seed=5, split="test", workers=1)[0])


def test_labels_are_balanced_in_every_pair():
    y = balanced_labels(0, 0, np.arange(20000))
    pairs = y.reshape(-1, 2)
    assert np.all(pairs.sum(1) == 1)
    assert 0.45 < pairs[:, 0].mean() < 0.55  # which of the two is positive is random
    assert not np.array_equal(y, balanced_labels(1, 0, np.arange(20000)))
    _, labels = generate_pathfinder(16, published_params(9, 32), workers=1)
    assert np.array_equal(labels, balanced_labels(0, 0, np.arange(16)))


def test_bad_parameters_give_one_line_errors():
    with pytest.raises(ValueError, match="path length"):
        published_params(1)
    with pytest.raises(ValueError, match="continuity"):
        published_params(9, continuity=0)
    with pytest.raises(ValueError, match="LRA"):
        published_params(9, 100, family="lra")
    with pytest.raises(ValueError, match="unknown PathFinder preset"):
        preset_params("pf99")
    with pytest.raises(ValueError, match="could not fit"):
        generate_pathfinder(2, published_params(30, 32, family="lra", max_restarts=30), workers=1)


# --------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def small():
    p = published_params(9, 32, family="paper")
    x, y = generate_pathfinder(30, p, seed=1, workers=1)
    return p, x, y


def test_cli_writes_the_layout_and_a_preview(tmp_path, capsys):
    args = ["data", "pathfinder", "--length", "6", "--n", "12", "--size", "32", "--root", str(tmp_path)]
    assert main(args + ["--workers", "1", "--preview", "--continuity", "1.2", "--distractors", "3"]) == 0
    out = capsys.readouterr().out
    assert "wrote 12 PathFinder images" in out and "continuity 1.2, 3 distractors" in out
    folder = tmp_path / "curv_baseline"
    assert len(list(folder.rglob("*.png"))) == 12 and (folder / "params.json").is_file()
    preview = np.asarray(Image.open(tmp_path / "curv_baseline_preview.png"))
    assert preview.ndim == 2 and preview.shape[0] == 2 * (150 + 18)
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    assert main(["data", "pathfinder", "--length", "1", "--n", "2", "--root", str(tmp_path / "x")]) == 2
    assert "path length" in capsys.readouterr().err


# --------------------------------------------------------------------------- task and training


def test_the_task_gives_3_channel_float_inputs_and_int64_labels(tmp_path, small):
    from locrnn.tasks import get_task

    task = get_task("pathfinder", image_size=32)
    assert task.default_difficulties == (9, 14, 18) and task.check_difficulty(21) == 21
    with pytest.raises(ValueError):
        task.check_difficulty(1)
    train, val = task.datasets(9, 6, 4)
    xb, yb = train.batch(np.arange(6))
    assert xb.dtype == torch.float32 and xb.shape == (6, 3, 32, 32) and yb.dtype == torch.int64
    assert 0 <= xb.min() and xb.max() == 1 and torch.equal(xb[:, 0], xb[:, 2])
    x, _ = generate_pathfinder(6, published_params(9, 32, family="paper"), workers=1)
    assert torch.allclose(xb[:, 0], torch.from_numpy(x).float() / 255)  # the train stream of seed 0
    assert len(val) == 4 and task.test_data(14, 5).batch(np.arange(5))[0].shape[-1] == 32  # size kept
    write_pathfinder(tmp_path, small[0], 30, seed=1, workers=1)
    test = get_task("pathfinder", image_size=16)
    xt, yt = test.test_data(9, 0, root=str(tmp_path)).batch(np.arange(3))
    assert xt.shape == (3, 3, 16, 16) and torch.equal(yt, torch.from_numpy(small[2][27:30]))


def test_the_locrnn_pathfinder_model_runs_on_these_images():
    from locrnn.models import build_model

    model = build_model("locrnn", task="pathfinder", width=8, steps=3)
    for size in (150, 48):
        x, _ = generate_pathfinder(2, published_params(14, size, family="paper"), workers=1)
        xb = torch.from_numpy(x).float().div(255)[:, None].expand(-1, 3, -1, -1)
        out = model(xb)
        assert out.shape == (2, 2) and torch.isfinite(out).all()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny LocRNN trained through the trainer on an easy set read from disk (short paths, no
    distractors, 48 px). ``init="embed"``: with zero initial states the max-pool readout of the
    PathFinder head tends to die early (constant output) at these tiny scales."""
    from locrnn.training.config import make_config
    from locrnn.training.trainer import train

    tmp = tmp_path_factory.mktemp("pf_train")
    write_pathfinder(tmp / "data", published_params(3, 48, family="paper", n_distractors=0), 3000, workers=2)
    cfg = make_config(
        None,
        task="pathfinder",
        size=3,
        image_size=48,
        data_root=str(tmp / "data"),
        model="locrnn",
        model_args={"width": 16, "init": "embed"},
        steps=4,
        n_train=0,
        n_val=300,
        batch_size=32,
        epochs=3,
        lr=1e-3,
        out=str(tmp / "runs"),
        name="run",
        progress=False,
        precision="fp32",
        log_every=10,
        ckpt_every=10**6,
    )
    return train(cfg, argv=["test"], log=lambda *a: None)


@pytest.mark.slow
def test_a_tiny_training_run_beats_chance(trained_run):
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["best_val_accuracy"] >= 0.65  # 300 balanced images: chance is 0.50 +- 0.03


@pytest.mark.slow  # shares the training of trained_run
def test_the_sweep_tests_pathfinder_runs_at_their_image_size(trained_run, capsys):
    from locrnn.evaluation.extrapolation import _task_for

    assert _task_for("pathfinder", trained_run / "best").image_size == 48
    assert main(["sweep", str(trained_run), "--sizes", "3,6", "--steps", "1:5", "--n", "16", "--device", "cpu"]) == 0
    rows = json.loads((trained_run / "sweep" / "sweep.json").read_text())
    assert sorted({(r["difficulty"], r["steps"]) for r in rows}) == [(d, s) for d in (3, 6) for s in range(1, 6)]
    assert all(0 <= r["accuracy"] <= 1 and r["n"] == 16 for r in rows)
    assert (trained_run / "sweep" / "sweep.png").is_file() and "difficulty" in capsys.readouterr().out


def test_a_checkpoint_outside_its_run_folder_is_tested_at_its_image_size(tmp_path):
    """Shipped checkpoints have no config.json beside them: the checkpoint records the image size."""
    from locrnn.evaluation.extrapolation import _task_for
    from locrnn.models import build_model
    from locrnn.models.hub import save_model

    save_model(tmp_path / "pf", build_model("locrnn", task="pathfinder", width=8), trained_on={"image_size": 48})
    assert _task_for("pathfinder", tmp_path / "pf").image_size == 48


def test_lra_geometry_draws_the_long_range_arena_sets_and_checkpoints_remember_it(tmp_path):
    """``geometry="lra"``: the LRA sets drawn natively (32 px by default); sweeps of such a
    checkpoint test on the same geometry, and an unknown geometry is refused by name."""
    from locrnn.evaluation.extrapolation import _task_for
    from locrnn.models import build_model
    from locrnn.models.hub import save_model
    from locrnn.tasks import get_task
    from locrnn.training.config import make_config

    task = get_task("pathfinder", geometry="lra")
    train, _ = task.datasets(6, 4, 2)
    x, _ = generate_pathfinder(4, published_params(6, 32, family="lra"), workers=1)
    assert torch.allclose(train.batch(np.arange(4))[0][:, 0], torch.from_numpy(x).float() / 255)
    assert task.params(9) == published_params(9, 32, family="lra")  # other lengths: same family
    with pytest.raises(ValueError, match="geometry"):
        make_config(None, task="pathfinder", geometry="lrb")
    save_model(tmp_path / "pf", build_model("locrnn", task="pathfinder", width=8), trained_on={"geometry": "lra"})
    assert _task_for("pathfinder", tmp_path / "pf").params(14) == published_params(14, 32, family="lra")
