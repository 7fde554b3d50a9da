"""``locrnn reproduce``: the paper's figures as data, trained, swept and reported."""

from .figures import FIGURES, Figure, Run, Sweep, figure
from .runner import make_figure, recipe

__all__ = ["FIGURES", "Figure", "Run", "Sweep", "figure", "make_figure", "recipe"]
