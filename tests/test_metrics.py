"""Per-sample metrics (metrics.py): exact-match mazes, pixel accuracy, classification."""

import torch

from locrnn.metrics import class_correct, maze_correct, maze_pixel_accuracy, maze_predictions, open_mask


def _maze():
    """One 4x4 maze: a 2x2 open square in the middle, its top-left pixel on the path."""
    x = torch.zeros(1, 3, 4, 4)
    x[0, :, 1:3, 1:3] = 1
    y = torch.zeros(1, 4, 4, dtype=torch.long)
    y[0, 1, 1] = 1
    return x, y


def test_exact_match_forces_black_pixels_to_zero():
    x, y = _maze()
    logits = torch.zeros(1, 2, 4, 4)
    logits[0, 1] = 5.0  # predicts "path" everywhere
    assert not maze_correct(logits, x, y).item()
    logits[0, 1, 1:3, 1:3] = -5.0
    logits[0, 1, 1, 1] = 5.0  # right on open pixels, wrong only on black ones
    assert maze_correct(logits, x, y).item()


def test_open_pixels_and_predictions():
    x, y = _maze()
    x[0, 0, 0, 0] = 0.5  # one channel above zero is enough to be open
    assert open_mask(x).sum().item() == 5 and open_mask(x)[0, 0, 0]
    logits = torch.zeros(1, 2, 4, 4)
    logits[0, 1] = 1.0
    assert torch.equal(maze_predictions(logits, x), open_mask(x).long())


def test_pixel_accuracy_counts_every_pixel_after_black_ones_are_forced_to_zero():
    x, y = _maze()
    logits = torch.zeros(1, 2, 4, 4)
    logits[0, 1] = 5.0  # "path" everywhere: right on the 12 black pixels (forced) and on (1, 1)
    assert maze_pixel_accuracy(logits, x, y).item() == 13 / 16
    assert maze_pixel_accuracy(logits, x, y).shape == (1,)


def test_class_correct_reads_the_arg_max():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert class_correct(logits, torch.tensor([0, 1, 1])).tolist() == [True, True, False]
