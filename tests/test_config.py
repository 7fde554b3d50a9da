"""Training configuration (training/config.py): checked when it is made, read from strings and presets."""

import dataclasses

import pytest

from locrnn.io import UserError
from locrnn.training.config import FIELD_NOTES, FIELDS, TrainConfig, list_presets, make_config, parse_value


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"epochs": "3"}, "epochs must be an integer, got '3'"),
        ({"epochs": True}, "epochs must be an integer, got True"),
        ({"lr": "fast"}, "lr must be a number, got 'fast'"),
        ({"objective": "bogus"}, "objective must be one of fixed, random_steps, progressive, deep, act"),
        ({"optimizer": "lion"}, "optimizer must be one of adam, adamw, sgd, got 'lion'"),
        ({"penalty_power": 3}, "penalty_power must be one of 1, 2, got 3"),
        ({"penalty_power": True}, "penalty_power must be one of 1, 2, got True"),
        ({"val_steps": [1, "2"]}, "val_steps must be a JSON list of integers or none"),
        ({"model_args": {"width": 0}}, 'model_args must be a JSON object whose "width" is an integer >= 1'),
        ({"min_steps": 5, "max_steps": 2}, "max_steps must be at least min_steps (5), got 2"),
        ({"warmup": 2.0}, "warmup must be a number between 0 and 1, got 2.0"),
    ],
)
def test_a_bad_value_is_refused_when_the_config_is_made(bad, message):
    with pytest.raises(UserError) as e:
        TrainConfig(**bad)
    assert message in str(e.value)


def test_a_config_from_a_file_names_the_field_there():
    with pytest.raises(UserError, match=r"^cannot resume: run/config.json: epochs must be an integer, got '3'$"):
        TrainConfig(epochs="3", where="cannot resume: run/config.json")
    assert "where" not in FIELDS and "where" not in TrainConfig().to_dict()


def test_a_changed_config_is_checked_again_before_work():
    cfg = make_config("cpu")
    cfg.batch_size = 0
    with pytest.raises(UserError, match="batch_size must be an integer >= 1, got 0"):
        cfg.validate()
    with pytest.raises(UserError, match="lr must be a number > 0"):
        dataclasses.replace(make_config("cpu"), lr=-1.0)


def test_unknown_task_model_and_fields_are_named():
    with pytest.raises(UserError, match="unknown model 'nope'"):
        make_config("cpu", model="nope")
    with pytest.raises(UserError, match="unknown config field 'colour'"):
        make_config("cpu", colour="red")
    with pytest.raises(UserError, match="unknown preset 'gpu'"):
        make_config("gpu")


def test_parse_value_reads_the_declared_type():
    assert parse_value("epochs", "3") == 3
    assert parse_value("lr", "1e-3") == 1e-3
    assert parse_value("steps", "none") is None
    assert parse_value("penalty_power", "1") == 1
    assert parse_value("objective", "deep") == "deep"
    assert parse_value("val_steps", "[2, 4]") == [2, 4]
    assert parse_value("model_args", '{"width": 8}') == {"width": 8}
    assert parse_value("grad_checkpoint", "yes") is True
    with pytest.raises(UserError, match="epochs: cannot read 'x' as an integer"):
        parse_value("epochs", "x")
    with pytest.raises(UserError, match="objective must be one of"):
        parse_value("objective", "bogus")
    with pytest.raises(UserError, match="lr must be a number, got None"):
        TrainConfig(lr=None)


def test_every_preset_makes_a_valid_config_and_notes_are_help():
    for name in list_presets():
        assert isinstance(make_config(name), TrainConfig)
    assert FIELD_NOTES["size"].startswith("maze size S")
    assert set(FIELD_NOTES) <= set(FIELDS)


def test_model_kwargs_add_the_step_count_and_the_halting_head():
    assert make_config("cpu").model_kwargs() == {"width": 32}
    assert make_config("cpu", steps=6).model_kwargs() == {"width": 32, "steps": 6}
    act = make_config("cpu", objective="act")
    assert act.model_kwargs() == {"width": 32, "halting": "act"} and act.model_args == {"width": 32}


def test_a_preset_serves_every_model_of_its_task_and_an_explicit_setting_is_kept():
    """The PathFinder CPU preset sets LocRNN's step count and ``init``: a feed-forward ResNet or a
    ConvGRU built from it gets only what it takes; a step count given explicitly is kept (and the
    feed-forward model then refuses it by name)."""
    from locrnn.io import UserError
    from locrnn.models import build_model
    from locrnn.training.config import make_config

    ff = make_config("pathfinder-cpu", task="pathfinder", model="resnet18")
    assert ff.steps is None and "init" not in ff.model_args and ff.model_args["width"] == 16
    build_model("resnet18", task="pathfinder", **ff.model_kwargs())
    gru = make_config("pathfinder-cpu", task="pathfinder", model="convgru")
    assert gru.steps == 4 and "init" not in gru.model_args
    loc = make_config("pathfinder-cpu", task="pathfinder", model="locrnn")
    assert loc.steps == 4 and loc.model_args["init"] == "embed"
    explicit = make_config("pathfinder-cpu", task="pathfinder", model="resnet18", steps=4)
    with pytest.raises(UserError, match="takes no step count"):
        build_model("resnet18", task="pathfinder", **explicit.model_kwargs())
