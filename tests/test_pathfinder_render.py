"""Rendering: anti-aliased paddles and markers, byte-scaled to 8 bits."""

import numpy as np

from locrnn.data.pathfinder_params import PathFinderParams
from locrnn.data.pathfinder_render import render

P = PathFinderParams(length=1, size=40, canvas=40, thickness=2.0, marker_radius=2.0, n_distractors=0)
SEG = np.array([[[[10.0, 12.0, 30.0, 12.0]], [[10.0, 30.0, 30.0, 30.0]]]])  # two one-paddle targets


def test_paddles_and_markers_are_drawn_where_they_lie():
    images, markers = render(P, SEG, np.array([[1, 1]]), np.array([1]), np.array([0]))
    img = images[0]
    assert img.dtype == np.uint8 and img.shape == (40, 40) and img.max() == 255
    assert img[11, 20] == img[12, 20] == 255  # a 2 px line centred on y = 12
    assert img[29, 20] == img[30, 20] == 255
    assert img[5, 5] == img[21, 20] == img[39, 39] == 0  # background stays black
    assert np.array_equal(markers[0], [[10.0, 12.0], [30.0, 12.0]])  # both ends of path 0: connected


def test_a_negative_puts_the_second_marker_on_the_other_path_and_contrast_scales_paddles():
    p = PathFinderParams(**{**P.__dict__, "target_contrast": 0.5})
    images, markers = render(p, SEG, np.array([[1, 1]]), np.array([0]), np.array([0]))
    assert np.array_equal(markers[0], [[10.0, 12.0], [30.0, 30.0]])
    img = images[0]
    assert img[12, 10] == 255 and img[30, 30] == 255  # the markers: intensity 1
    assert abs(int(img[12, 20]) - 128) <= 1  # a paddle at half contrast
