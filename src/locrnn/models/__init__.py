"""The model zoo: importing this package registers every model family.

``build_model`` (models/hub.py) builds a registered model, freshly initialised or with shipped
pretrained weights; checkpoints are saved and loaded by the hub too (``locrnn.models.hub``).
"""

from . import convgru, convrnn, cornet, hconvgru, locrnn, recall, resnet  # noqa: F401  (registers)
from ._registry import get_entry, list_models, register_model
from .base import FeedForwardNet, RecurrentCell, RecurrentNet, check_input
from .hub import build_model

__all__ = [
    "FeedForwardNet",
    "RecurrentCell",
    "RecurrentNet",
    "build_model",
    "check_input",
    "get_entry",
    "list_models",
    "register_model",
]
