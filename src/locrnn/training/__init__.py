"""Train a run: ``train(make_config(preset, **overrides))`` writes a run folder (see trainer.py)."""

from .config import TrainConfig, make_config
from .trainer import train

__all__ = ["TrainConfig", "make_config", "train"]
