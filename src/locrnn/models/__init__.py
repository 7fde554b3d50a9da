"""The model zoo: importing this package registers every model family."""

from . import convgru, convrnn, cornet, hconvgru, locrnn, recall, resnet  # noqa: F401  (registers)
from ._registry import build_model, get_entry, list_models, register_model
from .base import FeedForwardNet, RecurrentCell, RecurrentNet, check_input

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
