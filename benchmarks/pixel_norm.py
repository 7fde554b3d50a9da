"""The pixel norm of ``locrnn-mazes-local`` (``norm_scope="pixel"``), timed against ``torch.var_mean``.

    .venv/bin/python benchmarks/pixel_norm.py            # a minute or two
    .venv/bin/python benchmarks/pixel_norm.py --quick    # a smoke test

The model is the shape of issue #18's recipe: LocRNN width 32 with the pixel norm on real 9x9
mazes (24 px), 15 steps, batch 32. Three versions of the model are timed in interleaved rounds
(``_common.interleaved``), each scored by its best round: the shipped pixel norm
(``models.layers.pixel_group_norm``: the variance written out as the mean of squared deviations),
the same model with the norm computed by ``torch.var_mean`` over the channel dimension (the
implementation before 2 Dec 2026, kept here as the baseline), and the image-wide norm (LocRNN's
default) for scale. Each is timed for a training step (forward, backward, clipping, AdamW, in fp32: the
precision ``auto`` picks on an AVX2-only CPU and the one that makes the rows comparable across CPUs)
and for a forward pass without gradients (evaluation, halting on large mazes). The two pixel norms
agree to float rounding (checked before timing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import fmt_table, interleaved, loadavg, machine  # noqa: E402
from speed import make_batch, train_step  # noqa: E402

import locrnn.models.locrnn as locrnn_module  # noqa: E402
from locrnn.models import build_model  # noqa: E402
from locrnn.models.layers import pixel_group_norm  # noqa: E402
from locrnn.tasks import get_task  # noqa: E402


def var_mean_norm(
    x: torch.Tensor, groups: int, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """The baseline: the same norm with its statistics from ``torch.var_mean`` over dim 2."""
    b, c, h, w = x.shape
    xg = x.view(b, groups, c // groups, h, w)
    var, mean = torch.var_mean(xg, dim=2, unbiased=False, keepdim=True)
    y = ((xg - mean) * torch.rsqrt(var + eps)).view(b, c, h, w)
    return torch.addcmul(bias.view(1, -1, 1, 1).to(y.dtype), y, weight.view(1, -1, 1, 1).to(y.dtype))


def with_norm(norm, fn):
    """``fn`` run with LocRNN's cell using ``norm`` as its pixel norm."""

    def run():
        saved = locrnn_module.pixel_group_norm
        locrnn_module.pixel_group_norm = norm
        try:
            return fn()
        finally:
            locrnn_module.pixel_group_norm = saved

    return run


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="batch 4, 2 rounds (a smoke test)")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    batch, rounds = (4, 2) if args.quick else (32, args.rounds)
    task = get_task("mazes")
    x, y = make_batch("mazes", 9, batch)
    torch.manual_seed(0)
    pixel = build_model("locrnn", task="mazes", width=32, steps=15, norm_scope="pixel")
    image = build_model("locrnn", task="mazes", width=32, steps=15)
    with torch.no_grad():
        new, old = pixel(x), with_norm(var_mean_norm, lambda: pixel(x))()
    gap = (new - old).abs().max().item()
    if gap > 1e-3:
        raise SystemExit(f"the two pixel norms disagree by {gap:.2e}")

    def step(model):
        opt = torch.optim.AdamW(model.parameters(), 1e-3)

        return lambda: train_step(model, x, y, task, None, opt)

    def infer(model):
        def run():
            with torch.no_grad():
                model(x)

        return run

    print(f"# pixel norm: {machine()}; load {loadavg()}; batch {batch}, 15 steps, fp32", flush=True)
    variants = {
        "pixel norm (shipped)": pixel_group_norm,
        "pixel norm, torch.var_mean (baseline)": var_mean_norm,
    }
    rows = []
    for kind, make in (("training step", step), ("forward, no gradients", infer)):
        fns = {name: with_norm(norm, make(pixel)) for name, norm in variants.items()}
        fns["image-wide norm (LocRNN default)"] = make(image)
        res = interleaved(fns, rounds)
        base = res["pixel norm, torch.var_mean (baseline)"]["best"]
        for name, r in res.items():
            rows.append(
                {
                    "what": kind,
                    "model": name,
                    "img/s": batch / r["best"],
                    "x baseline": base / r["best"],
                    "cpu": r["cpu"],
                }
            )
    cols = [("what", "timed"), ("model", "model"), ("img/s", "images/s")]
    cols += [("x baseline", "x var_mean"), ("cpu", "CPU/wall")]
    print(fmt_table(rows, cols))
    print(f"# the two pixel norms agree within {gap:.1e}; load {loadavg()}")


if __name__ == "__main__":
    main()
