"""The hub (models/hub.py): checkpoints that rebuild their model, shipped weights, build_model."""

import ast
import inspect
import json
from pathlib import Path

import pytest
import torch

import locrnn.models as models_pkg
from locrnn.io import UserError
from locrnn.models import build_model, get_entry
from locrnn.models.hub import list_pretrained, load_model, pretrained_path, read_checkpoint, save_model


def _outputs(model, steps=5):
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return torch.stack(list(model.eval().iterate(x, steps)))


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model = build_model("convgru", task="mazes", width=8, steps=3, kernel=3)
    save_model(tmp_path / "ck", model, val_accuracy=0.5)
    again = load_model(tmp_path / "ck")
    assert again.config == model.config and again.trained_steps == 3
    assert again.checkpoint_meta["val_accuracy"] == 0.5
    torch.testing.assert_close(_outputs(again), _outputs(model), rtol=0, atol=0)
    _, meta = read_checkpoint(tmp_path / "ck.safetensors", expect="convgru")  # any of the stem's names
    assert meta["model"]["name"] == "convgru"


def test_the_checkpoint_stores_every_resolved_argument(tmp_path, monkeypatch):
    """Defaults included, so a later change of a default does not change a saved model."""
    save_model(tmp_path / "ck", build_model("locrnn", task="mazes", width=8))
    stored = json.loads((tmp_path / "ck.json").read_text())["model"]
    params = set(inspect.signature(get_entry("locrnn").fn).parameters)
    assert set(stored) == params | {"name"}
    assert stored["long_kernel"] == 5 and stored["steps"] == 15 and stored["init"] == "zeros"
    monkeypatch.setitem(get_entry("locrnn").defaults["mazes"], "long_kernel", 7)
    monkeypatch.setitem(get_entry("locrnn").defaults["mazes"], "steps", 20)
    assert build_model("locrnn", task="mazes", width=8).cell.w_l.kernel_size == (7, 7)  # the new default
    again = load_model(tmp_path / "ck")  # the saved model is unchanged
    assert again.cell.w_l.kernel_size == (5, 5) and again.trained_steps == 15


def test_a_checkpoint_with_a_partial_config_still_loads(tmp_path):
    """Checkpoints written before the full config was stored: missing arguments take the defaults."""
    model = build_model("hconvgru", task="mazes", width=8, steps=3)
    save_model(tmp_path / "old", model)
    meta = json.loads((tmp_path / "old.json").read_text())
    meta["model"] = {"name": "hconvgru", "task": "mazes", "width": 8, "steps": 3}
    (tmp_path / "old.json").write_text(json.dumps(meta))
    again = load_model(tmp_path / "old")
    assert again.config == model.config
    torch.testing.assert_close(_outputs(again, 6), _outputs(model, 6), rtol=0, atol=0)


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    save_model(tmp_path / "ck", build_model("locrnn", task="mazes", width=8, steps=2))
    with pytest.raises(UserError, match="holds a 'locrnn' model, not 'convgru'"):
        load_model(tmp_path / "ck", expect="convgru")
    with pytest.raises(UserError, match="holds a 'locrnn' model, not 'locrnn_no_s'"):
        load_model(tmp_path / "ck.json", expect="locrnn_no_s")


def test_a_description_that_does_not_fit_the_weights_or_this_version_is_refused(tmp_path):
    save_model(tmp_path / "ck", build_model("locrnn", task="mazes", width=8))
    meta = json.loads((tmp_path / "ck.json").read_text())
    meta["model"]["width"] = 16
    (tmp_path / "ck.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="do not match the model"):
        load_model(tmp_path / "ck")
    meta["format_version"] = 99
    (tmp_path / "ck.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="format version"):
        load_model(tmp_path / "ck")


@pytest.mark.parametrize("name", ["cornet_s", "hconvgru"])
def test_a_checkpoint_loads_with_a_new_default_step_count(tmp_path, name):
    """Per-step norms trained with T steps load unchanged with a new default count."""
    model = build_model(name, task="mazes", width=8, steps=3)
    save_model(tmp_path / "ck", model)
    again = load_model(tmp_path / "ck", steps=7)
    assert again.trained_steps == 7 and len(again.cell.step_norms) == 3  # the weights' norms
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(x, steps=3), model.eval()(x, steps=3))
        assert again(x).shape == (1, 2, 16, 16)


def test_run_folders_and_missing_files_are_named(tmp_path):
    save_model(tmp_path / "last", build_model("locrnn", task="mazes", width=8, steps=2))
    stem, _ = read_checkpoint(tmp_path)  # a run folder: best, else last
    assert stem == tmp_path / "last"
    with pytest.raises(UserError, match="missing checkpoint file"):
        load_model(tmp_path / "nope")
    (tmp_path / "last.safetensors").unlink()
    with pytest.raises(UserError, match="missing weights file"):
        load_model(tmp_path / "last")


def test_shipped_checkpoints_record_their_full_config():
    for key in list_pretrained():
        stored = json.loads(pretrained_path(key).with_suffix(".json").read_text())["model"]
        params = set(inspect.signature(get_entry(stored["name"]).fn).parameters)
        assert set(stored) == params | {"name"}, key


def test_build_model_loads_shipped_weights():
    model = build_model("locrnn", task="mazes", pretrained=True, steps=20)
    assert model.trained_steps == 20 and model.config["width"] == 32
    assert model.checkpoint_meta["model"]["steps"] == 15


def test_only_the_hub_knows_the_hub():
    """The registry and the model families never import models/hub.py (it imports the registry)."""
    folder = Path(models_pkg.__file__).parent
    for path in folder.glob("*.py"):
        if path.name in ("hub.py", "__init__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                assert not any(n == "hub" or n.endswith(".hub") for n in names), path.name
