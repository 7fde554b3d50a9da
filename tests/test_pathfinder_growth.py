"""The growth rules: seeds where the paper puts them, and the pivot rule for the next paddle."""

import math

import numpy as np

from locrnn.data.pathfinder_growth import SEED_TRIES, TRIES, Growth
from locrnn.data.pathfinder_params import PathFinderParams

P = PathFinderParams(canvas=300, size=150, paddle_length=5.0, margin=(3.0,), continuity=1.8, seed_distance=27.0)


def test_seeds_fall_in_their_regions_at_the_seed_distance():
    g = Growth(P, lo=25.0, hi=275.0)
    u = np.random.default_rng(0).random((200, 2 * SEED_TRIES + 1))
    first = g.first_seeds(u[:, :3])
    band = max(P.padding, 2 * P.seed_distance)
    assert (first[:, :2] >= band).all() and (first[:, :2] <= P.canvas - band).all()
    assert np.allclose(np.hypot(first[:, 2] - first[:, 0], first[:, 3] - first[:, 1]), P.paddle_length)
    second = g.second_seeds(first, u[:, 3:5])
    assert np.allclose(np.hypot(*(second[:, :2] - first[:, :2]).T), P.seed_distance)
    x, y = g.seed_points(u)
    assert x.shape == (200, SEED_TRIES) and (x >= 25).all() and (y <= 275).all()
    assert np.all(np.abs(g.seed_angle(u)) <= math.pi)


def test_the_next_paddle_pivots_about_the_head_and_turns_less_than_the_cap():
    g = Growth(P, lo=25.0, hi=275.0)
    n, m, L = 64, 3.0, P.paddle_length
    prev = np.tile([100.0, 150.0, 105.0, 150.0], (n, 1))  # pointing along +x
    u = np.random.default_rng(1).random((n, 2 * TRIES))
    segs, alive = g.extensions(prev, np.full(n, m), u, lambda inside, hx, hy: np.zeros(inside.sum(), bool))
    assert segs.shape == (n, TRIES, 4) and alive.all()
    pivot = np.array([105.0 + m, 150.0])
    tails, heads = segs[..., :2], segs[..., 2:]
    assert np.allclose(np.hypot(*(tails - pivot).T), m)  # tail = P + m u(theta')
    assert np.allclose(np.hypot(*(heads - tails).T), L)  # a paddle of length L
    turn = np.arctan2(heads[..., 1] - tails[..., 1], heads[..., 0] - tails[..., 0])
    assert np.abs(turn).max() < math.pi / (2 * P.continuity)  # |c d| < 90 degrees
    assert np.abs(turn).mean() < 0.5 * math.pi / (2 * P.continuity)  # cos^2 favours small turns


def test_a_path_whose_candidate_heads_are_all_blocked_is_a_dead_end():
    g = Growth(P, lo=25.0, hi=275.0)
    prev = np.array([[100.0, 150.0, 105.0, 150.0], [263.0, 150.0, 268.0, 150.0]])  # the 2nd faces the border
    u = np.full((2, 2 * TRIES), 0.5)
    _, alive = g.extensions(prev, np.full(2, 3.0), u, lambda inside, hx, hy: np.ones(inside.sum(), bool))
    assert not alive.any()
    _, alive = g.extensions(prev, np.full(2, 3.0), u, lambda inside, hx, hy: np.zeros(inside.sum(), bool))
    assert alive.tolist() == [True, False]
