"""``locrnn reproduce``: the paper's figures as data, trained, swept and reported."""

from .figures import EXPERIMENTS, FIGURES, VARIANTS, Figure, Run, Sweep, figure
from .runner import make_figure, recipe

__all__ = ["EXPERIMENTS", "FIGURES", "VARIANTS", "Figure", "Run", "Sweep", "figure", "make_figure", "recipe"]
