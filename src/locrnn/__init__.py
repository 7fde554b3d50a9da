"""locrnn: recurrent vision models that think longer on harder problems.

Reimplements *Cortically motivated recurrence enables task extrapolation* (LocRNN): data
generators for Mazes and PathFinder, a model zoo with one contract (steps at call time),
training, and extrapolation sweeps.
"""

from .models import build_model, list_models

__version__ = "0.1.0"
__all__ = ["__version__", "build_model", "list_models"]
