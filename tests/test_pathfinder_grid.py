"""The occupancy grid: a committed paddle blocks what lies within D of it, and nothing else."""

import numpy as np
import pytest

from locrnn.data.pathfinder_grid import COLLIDE, WEIGHT, OccupancyGrid
from locrnn.data.pathfinder_params import PathFinderParams
from locrnn.io import UserError

P = PathFinderParams(canvas=100, size=100, padding=5.0, margin=(3.0,))


def _grid_with_a_paddle():
    grid = OccupancyGrid(P, slots=2)
    D, Dw = np.full(2, P.spacing(3.0)), np.full(2, P.weight_zone(3.0))
    grid.stamp(np.array([0]), np.array([[40.0, 50.0, 45.0, 50.0]]))
    assert not grid.blocked(np.array([0]), np.array([42.0]), np.array([50.0]))  # queued, not drawn yet
    grid.flush(D, Dw)
    return grid, D[0], Dw[0]


def test_a_stamped_paddle_blocks_its_slot_within_d_only():
    grid, D, Dw = _grid_with_a_paddle()
    assert grid.res == 1 and (D, Dw) == (6.5, 6.75)  # cells of one canvas unit, judged by their centres
    rows = np.zeros(4, dtype=np.int64)
    y = 50.5 + np.array([0.0, 5.0, 6.0, 7.0])  # cell centres 0.5, 5.5, 6.5, 7.5 from the paddle
    x = np.full(4, 42.5)
    assert grid.blocked(rows, x, y, COLLIDE).tolist() == [True, True, False, False]
    assert grid.blocked(rows, x, y, WEIGHT).tolist() == [True, True, True, False]
    assert not grid.blocked(np.ones(4, dtype=np.int64), x, y, WEIGHT).any()  # the other slot is empty
    grid.clear(np.array([0]))
    assert not grid.blocked(rows, x, y, WEIGHT).any()


def test_free_paddles_refuses_crossing_and_the_border():
    grid, D, _ = _grid_with_a_paddle()
    segs = np.array([[[42.0, 45.0, 42.0, 55.0], [42.0, 60.0, 47.0, 60.0], [1.0, 50.0, 6.0, 50.0]]])
    assert grid.free_paddles(np.array([0]), segs).tolist() == [[False, True, False]]
    assert grid.lo == P.padding + D / 2 and grid.hi == P.canvas - grid.lo


def test_padding_that_leaves_no_room_is_refused_by_name():
    with pytest.raises(UserError, match="pathfinder padding 48 leaves no room"):
        OccupancyGrid(PathFinderParams(canvas=100, padding=48.0), slots=1)


def test_clearing_a_slot_drops_its_queued_paddles_too():
    """A redrawn target pair (balance_distance) must not find its old last paddles in the grid."""
    grid = OccupancyGrid(P, slots=2)
    D, Dw = np.full(2, P.spacing(3.0)), np.full(2, P.weight_zone(3.0))
    grid.stamp(np.array([0, 1]), np.array([[40.0, 50.0, 45.0, 50.0], [40.0, 50.0, 45.0, 50.0]]))
    grid.clear(np.array([0]))
    grid.flush(D, Dw)
    x, y = np.array([42.0]), np.array([50.0])
    assert not grid.blocked(np.array([0]), x, y) and grid.blocked(np.array([1]), x, y)
