"""``locrnn reproduce``: the paper's figures as data, trained, swept and reported."""

from .figures import EXPERIMENTS, FIGURES, VARIANTS, Figure, Run, Sweep, figure, find_run, size_figure
from .make import make_figure
from .recipes import recipe
from .runs import ensure_trained
from .size_extrapolation import make_size_figure

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
    "make_size_figure",
    "recipe",
    "size_figure",
]
