"""``locrnn reproduce``: the paper's figures as data, trained, swept and reported."""

from .figures import EXPERIMENTS, FIGURES, VARIANTS, Figure, Run, Sweep, figure, find_run
from .make import make_figure
from .recipes import recipe
from .runs import ensure_trained

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
