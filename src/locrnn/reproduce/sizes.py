"""The size-extrapolation experiment as data (issue #18): train on 9x9 mazes only, test on larger
ones with halting, and sweep a sparse grid of step counts per size.

No step count is chosen by hand: every maze halts by its model's rule (the prediction rule: its
answer has not changed for 5 steps) within a budget that grows with the size, 50 steps per unit
of size (450 at 9x9, 2,950 at 59x59, 4,950 at 99x99; DeepThinking runs 3,000 at every size).
The sweep reads out at a log-spaced grid up to that budget (``scoring`` runs the head only there).
"""

from __future__ import annotations

from dataclasses import dataclass

SIZE_TRAIN = 9  # every model of the experiment is trained on 9x9 mazes only
SIZE_TESTS = (9, 13, 19, 25, 33, 59)
SIZE_LARGE = 99  # with ``large`` (``--large``), and always at paper scale
STEPS_PER_SIZE = 50  # the halting budget (and the sweep's last step) per unit of maze size
# LocRNN's variants that matter here (docs/stability.md): the paper's objective and the contractive
# fine-tune (locrnn-mazes / locrnn-mazes-stable); the same run names as ``stability``'s, so the
# run cache reuses them. dt_recall with DeepThinking's recipe joins with ``dt`` (and at paper scale).
SIZE_VARIANTS = (("locrnn", "paper"), ("locrnn", "contractive"))
SIZE_DT = ("dt_recall", "deepthinking")
GRID = (10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000)

# mazes tested per size with halting / swept (the first ones of the same set), by scale
_COUNTS = {
    "quick": {"halting": (100, {59: 30, 99: 10}), "sweep": (100, {25: 30, 33: 30, 59: 10, 99: 5})},
    "paper": {"halting": (1000, {59: 100, 99: 100}), "sweep": (100, {})},
    "smoke": {"halting": (4, {}), "sweep": (4, {})},
}
_SMOKE_SIZES = (5, 7)  # a plumbing check: tiny mazes, tiny budgets


@dataclass(frozen=True)
class SizeTest:
    """Test on ``size``: ``n`` mazes with halting within ``budget`` steps; the first ``n_sweep``
    of them swept at ``grid`` (step counts up to the budget)."""

    size: int
    n: int
    budget: int
    n_sweep: int
    grid: tuple[int, ...]


def budget(size: int) -> int:
    """The halting budget on mazes of ``size``: grows with the size (50 steps per unit)."""
    return STEPS_PER_SIZE * size


def step_grid(top: int) -> tuple[int, ...]:
    """The sweep's step counts: the log-spaced ``GRID`` below ``top``, then ``top``."""
    return tuple(s for s in GRID if s < top) + (top,)


def size_tests(scale: str, large: bool = False) -> tuple[SizeTest, ...]:
    """Every test size of the experiment at ``scale`` (99x99 too with ``large`` or at paper scale)."""
    if scale == "smoke":
        sizes = _SMOKE_SIZES
    else:
        sizes = SIZE_TESTS + ((SIZE_LARGE,) if large or scale == "paper" else ())
    counts = _COUNTS[scale]
    tests = []
    for s in sizes:
        n = counts["halting"][1].get(s, counts["halting"][0])
        n_sweep = min(n, counts["sweep"][1].get(s, counts["sweep"][0]))
        top = budget(s) if scale != "smoke" else 4 * s
        tests.append(SizeTest(s, n, top, n_sweep, step_grid(top)))
    return tuple(tests)
