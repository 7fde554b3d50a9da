"""``locrnn reproduce``: the paper's figures as data, trained, swept and reported."""

from .figures import EXPERIMENTS, FIGURES, VARIANTS, Figure, Run, Sweep, figure, find_run
from .runner import ensure_trained, make_figure, recipe

__all__ = [
    "EXPERIMENTS",
    "FIGURES",
    "VARIANTS",
    "Figure",
    "Run",
    "Sweep",
    "ensure_trained",
    "figure",
    "find_run",
    "make_figure",
    "recipe",
]
