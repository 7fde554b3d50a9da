"""Distances between points and segments, and grouping for scattered writes."""

import numpy as np

from locrnn.data.pathfinder_geometry import distinct_rounds, point_segment_distance, segment_distance


def test_point_segment_distance_projects_onto_the_segment_or_its_ends():
    d = point_segment_distance(np.array([1.0, -3.0, 5.0]), np.array([2.0, 0.0, 0.0]), 0.0, 0.0, 4.0, 0.0)
    assert np.allclose(d, [2.0, 3.0, 1.0])  # above the middle, beyond the tail, beyond the head


def test_segment_distance_is_zero_when_crossing_and_symmetric():
    a = np.array([[0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 4.0, 0.0], [0.0, 0.0, 4.0, 0.0]])
    b = np.array([[2.0, -1.0, 2.0, 1.0], [0.0, 3.0, 4.0, 3.0], [6.0, 0.0, 9.0, 4.0]])
    assert np.allclose(segment_distance(a, b), [0.0, 3.0, 2.0])
    assert np.allclose(segment_distance(b, a), segment_distance(a, b))
    assert segment_distance(a[:, None, :], b[None, :, :]).shape == (3, 3)  # broadcasts


def test_distinct_rounds_cover_every_position_once_with_no_repeated_row():
    rows = np.array([3, 1, 3, 3, 0, 1])
    groups = distinct_rounds(rows)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(rows)))
    assert all(len(set(rows[g].tolist())) == len(g) for g in groups)
    assert len(groups) == 3  # row 3 appears three times
    assert [g.tolist() for g in distinct_rounds(np.array([2, 0, 1]))] == [[0, 1, 2]]
