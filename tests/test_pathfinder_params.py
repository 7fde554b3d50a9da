"""PathFinderParams: the derived distances, and checks (when a value is made) that name the setting at fault."""

import dataclasses

import pytest

from locrnn.data.pathfinder_params import PathFinderParams
from locrnn.io import UserError


def test_derived_distances_follow_the_margin_and_thickness():
    p = PathFinderParams(size=150, canvas=300, thickness=1.5)
    assert p.scale == 0.5
    assert p.spacing(3.0) == 2 * 3.0 + 1.5 - 1.0  # D = 2 m + t - 1
    assert p.spacing(0.1) == 1.5 + 0.5  # never below t + 0.5
    assert p.weight_zone(3.0) == max(p.spacing(3.0), 2 * 3.0 + 1.5 / 2)


def test_the_margin_is_normalised_to_a_tuple_of_floats():
    assert PathFinderParams(margin=3).margin == (3.0,)
    assert PathFinderParams(margin=[2, 3]).margin == (2.0, 3.0)
    assert PathFinderParams(margin=(3,)) == PathFinderParams()


@pytest.mark.parametrize(
    "change,words",
    [
        ({"length": 0}, "pathfinder length must be an integer >= 1"),
        ({"size": 2.5}, "pathfinder size must be an integer >= 4"),
        ({"n_distractors": True}, "pathfinder n_distractors must be an integer >= 0"),
        ({"paddle_length": 0.0}, "pathfinder paddle_length must be > 0"),
        ({"seed_distance": -1.0}, "pathfinder seed_distance must be >= 0"),
        ({"margin": (0.0,)}, "pathfinder margin must be > 0"),
        ({"target_contrast": 0.0, "distractor_contrast": 0.0}, None),  # markers stay visible: allowed
    ],
)
def test_bad_values_are_refused_by_their_setting_name_when_made(change, words):
    if words is None:
        p = dataclasses.replace(PathFinderParams(), **change)
        assert all(getattr(p, k) == v for k, v in change.items())
        return
    with pytest.raises(UserError, match=words) as e:
        dataclasses.replace(PathFinderParams(), **change)
    assert "\n" not in str(e.value) and "--" not in str(e.value)


def test_replace_checks_the_new_value_and_describe_names_it():
    p = PathFinderParams().replace(continuity=1.2, n_distractors=3)
    assert "continuity 1.2, 3 distractors of 4" in p.describe()
    with pytest.raises(UserError, match="continuity"):
        p.replace(continuity=0)
