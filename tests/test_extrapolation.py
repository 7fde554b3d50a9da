"""Evaluating a checkpoint (evaluation/extrapolation.py): a spec in, rows and files out."""

import pytest

from locrnn.evaluation import SweepSpec, evaluate_checkpoint, halting_checkpoint, sweep_checkpoint
from locrnn.models import build_model
from locrnn.models.hub import save_model


def test_a_sweep_scores_every_step_to_four_times_the_trained_count_and_writes_its_files(tmp_path):
    save_model(tmp_path / "run" / "best", build_model("locrnn", task="mazes", width=8, steps=2))
    spec = SweepSpec(tmp_path / "run", difficulties=[5, 7], n=6, out=tmp_path / "out", progress=False)
    rows, out = sweep_checkpoint(spec)
    assert out == tmp_path / "out"
    assert [(r["difficulty"], r["steps"]) for r in rows] == [(d, s) for d in (5, 7) for s in range(1, 9)]
    assert all(r["run"] == "run" and r["trained_steps"] == 2 and r["n"] == 6 for r in rows)
    assert {p.name for p in out.iterdir()} == {"sweep.csv", "sweep.json", "sweep.png"}
    trained, _ = sweep_checkpoint(SweepSpec(tmp_path / "run", difficulties=[5], n=6, steps="trained", out=out))
    assert [r["steps"] for r in trained] == [2]


def test_a_feed_forward_model_gives_one_row_per_difficulty(tmp_path):
    save_model(tmp_path / "ff", build_model("resnet12", task="mazes", width=8))
    rows, _ = evaluate_checkpoint(SweepSpec(tmp_path / "ff", difficulties=[5], n=4, out=tmp_path / "o"))
    assert [(r["difficulty"], r["steps"], r["trained_steps"]) for r in rows] == [(5, None, None)]


def test_halting_writes_a_row_per_difficulty_and_needs_a_rule(tmp_path):
    save_model(tmp_path / "m", build_model("locrnn", task="mazes", width=8, steps=2))
    spec = SweepSpec(tmp_path / "m", difficulties=[5], n=4, halt="prediction", max_steps=6, out=tmp_path / "h")
    rows, out = evaluate_checkpoint(spec)
    assert len(rows) == 1 and rows[0]["rule"] == "prediction" and rows[0]["max_steps"] == 6
    assert 1 <= rows[0]["mean_steps"] <= 6
    assert {p.name for p in out.iterdir()} == {"halting.csv", "halting.json", "halting.png"}
    with pytest.raises(ValueError, match="needs a spec with a halting rule"):
        halting_checkpoint(SweepSpec(tmp_path / "m", difficulties=[5], n=4, out=tmp_path / "x"))


def test_a_checkpoints_test_time_settings_apply_unless_the_spec_sets_them(tmp_path):
    """A checkpoint's JSON may recommend test-time damping and halting patience (``test_time``);
    a spec that leaves them at None takes them, one that sets them wins; bad values are refused."""
    import json

    from locrnn.io import UserError

    model = build_model("locrnn", task="mazes", width=8, steps=2)
    save_model(tmp_path / "m", model, test_time={"damping": 0.5, "patience": 3})
    spec = dict(difficulties=[5], n=6, halt="prediction", max_steps=8, progress=False)
    (row,), _ = halting_checkpoint(SweepSpec(tmp_path / "m", out=tmp_path / "a", **spec))
    assert (row["damping"], row["patience"]) == (0.5, 3)
    (row,), _ = halting_checkpoint(SweepSpec(tmp_path / "m", out=tmp_path / "b", damping=1.0, patience=5, **spec))
    assert (row["damping"], row["patience"]) == (1.0, 5)
    # a damped sweep says so in its rows; the same weights without damping answer differently
    damped, _ = sweep_checkpoint(SweepSpec(tmp_path / "m", difficulties=[5], n=6, steps=[6], out=tmp_path / "c"))
    plain, _ = sweep_checkpoint(
        SweepSpec(tmp_path / "m", difficulties=[5], n=6, steps=[6], damping=1.0, out=tmp_path / "d")
    )
    assert damped[0]["damping"] == 0.5 and "damping" not in plain[0]
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["test_time"] = {"damping": 2}
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"m.json: test_time damping must be in \(0, 1\], got 2"):
        halting_checkpoint(SweepSpec(tmp_path / "m", out=tmp_path / "e", **spec))
