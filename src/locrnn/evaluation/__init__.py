"""Test a trained checkpoint: accuracy over test-time steps (sweeps) or with per-sample halting."""

from .extrapolation import evaluate_checkpoint, halting_checkpoint, sweep_checkpoint
from .spec import SweepSpec

__all__ = ["SweepSpec", "evaluate_checkpoint", "halting_checkpoint", "sweep_checkpoint"]
