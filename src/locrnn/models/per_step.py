"""Per-step modules (per-timestep norms) whose count follows the weights that are loaded.

Some baselines (hConvGRU, CORnet-S) keep one norm per *trained* step. A :class:`StepList`
holds those modules, one per step ``0 .. T-1``; what a step ``t >= T`` uses is the owning cell's
documented rule. Loading a state dict resizes the list to the number of steps that state dict
holds, so weights trained for T steps load into a model built for any step count (the cell's
rule then decides what steps beyond T use).
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn


class StepList(nn.ModuleList):
    """``make(t)`` for t in range(n); resized to the loaded state dict's step count on load."""

    def __init__(self, make: Callable[[int], nn.Module], n: int) -> None:
        super().__init__(make(t) for t in range(n))
        self._make = make  # a module-level function or functools.partial (picklable)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        heads = {k[len(prefix) :].split(".", 1)[0] for k in state_dict if k.startswith(prefix)}
        indices = [int(h) for h in heads if h.isdigit()]
        if indices:  # none at all: leave as is, so a strict load reports the missing keys
            self.resize(max(indices) + 1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def resize(self, n: int) -> None:
        """Keep the first ``n`` modules, appending freshly made ones if there are fewer."""
        ref = next((p for m in self for p in m.parameters()), None)
        while len(self) < n:
            module = self._make(len(self)).train(self.training)
            if ref is not None:
                module = module.to(device=ref.device, dtype=ref.dtype)
            self.append(module)
        del self[n:]
