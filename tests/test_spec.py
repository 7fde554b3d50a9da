"""A sweep is one frozen SweepSpec, checked when made, its messages naming settings (not flags)."""

import dataclasses

import pytest

from locrnn.evaluation import SweepSpec
from locrnn.io import UserError


def test_a_spec_is_frozen_and_holds_tuples():
    spec = SweepSpec("run", difficulties=[9, 13], steps=range(1, 4))
    assert spec.difficulties == (9, 13) and spec.steps == (1, 2, 3) and spec.folder == "sweep"
    assert SweepSpec("run", steps="trained").steps == "trained"
    assert SweepSpec("run", halt="state").folder == "halting"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.n = 5


@pytest.mark.parametrize(
    "settings, expected",
    [
        (dict(n=0), "n must be at least 1, got 0"),
        (dict(batch_size=0), "batch_size must be at least 1, got 0"),
        (dict(patience=0), "patience must be at least 1, got 0"),
        (dict(max_steps=0), "max_steps must be at least 1, got 0"),
        (dict(tol=0.0), "tol must be positive, got 0.0"),
        (dict(steps=[0, 3]), "steps must be step counts >= 1"),
        (dict(halt="magic"), "unknown halting rule 'magic'"),
        (dict(damping=0.0), r"damping must be in \(0, 1\]"),
        (dict(damping=1.5), r"damping must be in \(0, 1\]"),
    ],
)
def test_a_bad_setting_is_refused_when_the_spec_is_made(settings, expected):
    with pytest.raises(UserError, match=expected) as e:
        SweepSpec("run", **settings)
    assert "--" not in str(e.value)
