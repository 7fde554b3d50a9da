"""The divergence guard: a run whose training blows up stops, instead of being saved as a success.

After every optimizer step the trainer hands the guard the step's loss, the gradient norm (taken
before clipping) and the model. The run has diverged when

* the loss or the gradient norm is not finite, or a weight is not finite;
* a weight's magnitude exceeds ``WEIGHT_LIMIT`` (1e6: trained weights are of order 1; a model
  pushed that far no longer computes anything, its loss may sit at chance level, e.g. ln 2);
* the loss stays above ``LOSS_FACTOR`` x its lowest value so far + 1 for ``PATIENCE``
  iterations in a row (an exploding loss, not a noisy one).

While the loss is above that bound (the streak has begun but is not yet long enough) the run is
*suspect*: the trainer writes no checkpoint then, so the last checkpoint on disk is always one
taken before the blow-up, and a diverged model is never written as ``best``. The guard's state
(the lowest loss and the streak) is part of the trainer's position, so a resumed run decides as
the uninterrupted one would.
"""

from __future__ import annotations

import math

import torch

WEIGHT_LIMIT = 1e6
LOSS_FACTOR = 10.0
PATIENCE = 3


class TrainingDiverged(FloatingPointError):
    """The training of a run blew up (see :mod:`locrnn.training.guard`): a failed run, not a bad input."""


def max_weight(model: torch.nn.Module) -> float:
    """The largest magnitude of any parameter (inf or nan when one is not finite)."""
    params = [p.detach() for p in model.parameters()]
    if not params:
        return 0.0
    mags = torch.stack([p.abs().max() if p.numel() else p.new_zeros(()) for p in params])
    return float(mags.float().max()) if torch.isfinite(mags).all() else float("nan")


def grad_norm(model: torch.nn.Module, clip: float | None) -> torch.Tensor:
    """The total gradient norm before clipping (clipping to ``clip`` when given); a tensor, so
    that reading it waits for nothing until the loss is read too."""
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return torch.zeros(())
    return torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))


def check(pos: dict, loss: float, gnorm: float, model: torch.nn.Module) -> str | None:
    """Update the guard's state in ``pos`` after an optimizer step; return why the run has
    diverged (one phrase), or None. ``pos["suspect"]`` says whether checkpoints must wait."""
    weight = max_weight(model)
    why = None
    if not math.isfinite(loss):
        why = f"the training loss became {loss}"
    elif not math.isfinite(gnorm):
        why = f"the gradient norm became {gnorm}"
    elif not math.isfinite(weight):
        why = "a weight became non-finite"
    elif weight > WEIGHT_LIMIT:
        why = f"a weight reached magnitude {weight:.3g} (limit {WEIGHT_LIMIT:.0e})"
    lowest = pos.get("lowest_loss", math.inf)
    bound = LOSS_FACTOR * lowest + 1 if math.isfinite(lowest) else math.inf
    high = math.isfinite(loss) and loss > bound
    pos["high_streak"] = pos.get("high_streak", 0) + 1 if high else 0
    if why is None and pos["high_streak"] >= PATIENCE:
        why = (
            f"the training loss stayed above {LOSS_FACTOR:g}x its lowest value ({lowest:.4g}) + 1 "
            f"for {pos['high_streak']} iterations (now {loss:.4g})"
        )
    if math.isfinite(loss) and not high:
        pos["lowest_loss"] = min(lowest, loss)
    pos["suspect"] = why is not None or pos["high_streak"] > 0
    return why


def message(why: str, pos: dict, cfg, run_dir, saved: int | None) -> str:
    """The one line a diverged run ends with: where, what, the likely cause, what is kept."""
    cause = f"the learning rate ({cfg.lr:g}) is likely too high"
    if cfg.precision == "fp16":
        cause += " (or fp16 overflowed: try precision bf16 or fp32)"
    elif not cfg.clip:
        cause += " (gradient clipping is off: try clip 1)"
    kept = (
        f"the last good checkpoint (iteration {saved}) is kept in {run_dir}"
        if saved
        else f"nothing was checkpointed before it ({run_dir})"
    )
    return f"training diverged at iteration {pos['iteration']}: {why}; {cause}; {kept}; no model was saved after it"
