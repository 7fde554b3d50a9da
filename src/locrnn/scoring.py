"""Accuracy at many step counts from one pass per batch: what sweeps and validation score.

The cell runs to the largest step count asked for (``model.states``) and the head only at the
step counts asked for (``model.readout``) (a sweep at 100:3000:100 reads out 30 times, not 3000); nothing is kept
from step to step, so without gradients the memory of a sweep does not grow with the steps. The
trainer validates with it, the sweeps of ``locrnn.evaluation`` test with it. :class:`StepBar` is
the progress bar of long runs (thousands of steps on large mazes), here and in halting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch
from tqdm.auto import tqdm

from .data.arrays import ArrayDataset
from .tasks import Task


@torch.no_grad()
def evaluate_steps(
    model,
    data: ArrayDataset,
    task: Task,
    steps: Iterable[int] | None,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    autocast=None,
    progress: bool = False,
    desc: str = "",
) -> dict[int | None, dict[str, float]]:
    """Accuracy (and task extras) of ``model`` on ``data`` at each step count in ``steps``.

    A feed-forward model takes ``steps=None`` and gives one entry keyed ``None``. Outputs that
    stop being finite are counted as wrong and reported as ``nonfinite`` (the fraction of samples).
    """
    was_training = model.training
    model.eval()
    wanted = sorted(set(steps)) if steps is not None else None
    top = wanted[-1] if wanted else 1
    sums: dict[int | None, dict[str, float]] = {}
    bar = StepBar(len(data), top, desc=desc or "evaluate") if progress else None
    for start in range(0, len(data), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(data))).numpy()
        x, y = data.batch(idx)
        x, y = x.to(device), y.to(device)
        with autocast if autocast is not None else contextlib.nullcontext():
            for key, logits in _outputs(model, x, wanted, bar):
                logits = logits.float()
                finite = torch.isfinite(logits).flatten(1).all(1)
                row = sums.setdefault(key, {"correct": 0.0, "n": 0.0, "nonfinite": 0.0})
                row["correct"] += (task.correct(logits, x, y) & finite).sum().item()
                row["n"] += len(x)
                row["nonfinite"] += (~finite).sum().item()
                for name, v in task.extra_metrics(logits, x, y).items():
                    row[name] = row.get(name, 0.0) + torch.where(finite, v, 0).sum().item()
        if bar is not None:
            bar.finish(len(x))
    if bar is not None:
        bar.close()
    model.train(was_training)
    result = {}
    for key, row in sums.items():
        n = row.pop("n")
        result[key] = {"accuracy": row.pop("correct") / n, "n": int(n), **{k: v / n for k, v in row.items()}}
    return result


def _outputs(model, x: torch.Tensor, wanted: list[int] | None, bar: StepBar | None):
    """``(t, logits)`` at each step count in ``wanted`` (the head runs only there), or
    ``(None, logits)`` once for a feed-forward model."""
    if not wanted:
        if bar is not None:
            bar.advance(1, len(x))
        yield None, model(x)
        return
    marks = set(wanted)
    for t, state in enumerate(model.states(x, wanted[-1]), 1):
        if bar is not None:
            bar.advance(1, len(x))
        if t in marks:
            yield t, model.readout(state)


def best_steps(results: dict[int | None, dict[str, float]]) -> tuple[int | None, float]:
    """The step count of the highest accuracy (the fewest steps among equals) and that accuracy."""
    key = max(results, key=lambda k: (results[k]["accuracy"], -(k or 0)))
    return key, results[key]["accuracy"]


def first_nonfinite(results: dict[int | None, dict[str, float]]) -> int | None:
    """The first step count at which some output was not finite (None: never)."""
    bad = [k for k, r in results.items() if k is not None and r.get("nonfinite", 0) > 0]
    return min(bad) if bad else None


class StepBar:
    """A tqdm bar over image-steps (one image advanced one step) for runs of many steps.

    It starts from a budget of ``n`` samples x ``max_steps`` steps and shows the step the current
    batch is at and the samples left; samples that stop early (halting) give back the steps they
    did not use (:meth:`stop`), so the ETA is an upper bound that tightens as samples finish.
    """

    def __init__(self, n: int, max_steps: int, *, desc: str) -> None:
        self.max_steps, self.left, self.t = max_steps, n, 0
        self.bar = tqdm(total=n * max_steps, desc=desc, unit="img-step", unit_scale=True, leave=False)

    def advance(self, steps: int, running: int) -> None:
        """``running`` samples advanced by ``steps`` steps."""
        self.t += steps
        self.bar.set_postfix_str(f"step {self.t}/{self.max_steps}, {running} running, {self.left} left", refresh=False)
        self.bar.update(steps * running)

    def stop(self, count: int) -> None:
        """``count`` samples stopped at the current step (their remaining budget is dropped)."""
        self.left -= count
        self.bar.total -= count * (self.max_steps - self.t)

    def ran(self, steps_used: torch.Tensor) -> None:
        """A batch ran without per-step progress; ``steps_used``: the steps of each of its samples."""
        done = int(steps_used.sum())
        self.bar.update(done)
        self.left -= len(steps_used)
        self.bar.total -= len(steps_used) * self.max_steps - done

    def finish(self, count: int) -> None:
        """A batch of ``count`` samples is done: its unused steps are dropped; the next starts at step 0."""
        self.stop(count)
        self.t = 0

    def close(self) -> None:
        self.bar.close()
