"""What each implementation lever gives LocRNN maze training (the floor's configuration).

Every variant trains the same weights on the same batch; all are timed in interleaved rounds and
reported as a ratio to the plain eager fp32 oracle. ``torch.compile`` is timed separately (its
compile time is part of the answer). A profile of the fast path splits its time by kind of op.
"""

from __future__ import annotations

import contextlib
import copy
import time

import torch
from _common import count_flops, interleaved
from speed import autocast, fast_dtype, make_batch, precision_name, trainer
from variants import no_zero_skip, out_of_place, two_tensor

from locrnn.models import build_model
from locrnn.tasks import get_task
from oracle import PlainLocRNN


def _model(width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("locrnn", task="mazes", width=width)


def _channels_last(model: torch.nn.Module) -> torch.nn.Module:
    return model.to(memory_format=torch.channels_last)


def levers(
    *,
    size: int = 11,
    width: int = 64,
    batch: int = 32,
    rounds: int = 3,
    compile_too: bool = True,
    cold_compile: bool = False,
):
    """Rows (variant, images/s, ratio to the oracle) for LocRNN maze training.

    ``cold_compile``: compile with an empty inductor cache (what a first run pays; many minutes
    on 2 cores) instead of the user's cache.
    """
    task = get_task("mazes")
    x, y = make_batch("mazes", size, batch)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    bf = fast_dtype() or torch.bfloat16
    base = _model(width)
    variants = {  # name -> (model, input, autocast dtype)
        "plain oracle, fp32 (baseline)": (PlainLocRNN(base), x, None),
        "fused, first version (state (L, S), cat per step), fp32": (two_tensor(copy.deepcopy(base)), x, None),
        "fused, one state tensor, no zero-step skip, fp32": (no_zero_skip(copy.deepcopy(base)), x, None),
        "fused (current cell), fp32": (copy.deepcopy(base), x, None),
        "plain oracle, bf16 autocast": (PlainLocRNN(base), x, bf),
        "fused, first version, bf16 autocast": (two_tensor(copy.deepcopy(base)), x, bf),
        "fused, no zero-step skip, bf16 autocast": (no_zero_skip(copy.deepcopy(base)), x, bf),
        "fused, activations out of place, bf16 autocast": (out_of_place(copy.deepcopy(base)), x, bf),
        "fused (current cell), bf16 autocast": (copy.deepcopy(base), x, bf),
        "fused, bf16 autocast, channels-last": (_channels_last(copy.deepcopy(base)), x_cl, bf),
    }
    fns = {k: trainer(m, xi, y, task, d) for k, (m, xi, d) in variants.items()}
    compile_s = None
    if compile_too:  # compiled first (cold cache), then timed in the same rounds as the others
        fns["fused, bf16 autocast, torch.compile"], compile_s = _compiled(base, x, y, task, bf, cold_compile)
    timing = interleaved(fns, rounds)
    ref = timing["plain oracle, fp32 (baseline)"]["best"]
    rows = []
    for name, t in timing.items():
        row = {"variant": name, "train_ips": batch / t["best"], "x_oracle": ref / t["best"], "cpu": t["cpu"]}
        if "compile" in name:
            cache = "empty inductor cache" if cold_compile else "inductor cache as found"
            row["note"] = f"compile + first step {compile_s:.0f} s ({cache})"
        rows.append(row)
    return rows


def _compiled(base, x, y, task, dtype, cold: bool):
    """A compiled copy's training step and the seconds its first call took (compiling forward and
    backward); ``cold``: with an empty inductor cache."""
    from torch._inductor.utils import fresh_cache

    with fresh_cache() if cold else contextlib.nullcontext():
        model = torch.compile(copy.deepcopy(base))
        fn = trainer(model, x, y, task, dtype)
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
    return fn, seconds


def agreement(*, size: int = 11, width: int = 64, batch: int = 8, steps: int | None = None) -> list[dict]:
    """How far the fast path's outputs are from the oracle's, on the same weights and batch."""
    x, _ = make_batch("mazes", size, batch, seed=1)
    model = _model(width).eval()
    oracle = PlainLocRNN(model).eval()
    rows = []
    with torch.no_grad():
        ref = oracle(x, steps)
        for name, dtype in (("fused, fp32", None), (f"fused, {precision_name(fast_dtype())} autocast", fast_dtype())):
            with autocast(dtype):
                out = model(x, steps).float()
            rows.append(_compare(name, out, ref))
    return rows


def _compare(name: str, out: torch.Tensor, ref: torch.Tensor) -> dict:
    diff = (out - ref).abs()
    scale = ref.abs().max().clamp_min(1e-12)
    same = (out.argmax(1) == ref.argmax(1)).float().mean().item()
    return {
        "variant": name,
        "max_abs_diff": diff.max().item(),
        "max_rel_to_max_logit": (diff.max() / scale).item(),
        "mean_abs_diff": diff.mean().item(),
        "same_argmax": same,
    }


def breakdown(*, size: int = 11, width: int = 64, batch: int = 32) -> list[dict]:
    """Self CPU time of one fast-path training step, by kind of op (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    task = get_task("mazes")
    x, y = make_batch("mazes", size, batch)
    fn = trainer(_model(width), x, y, task, fast_dtype())
    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    kinds: dict[str, float] = {}
    for ev in prof.key_averages():
        kinds[_kind(ev.key)] = kinds.get(_kind(ev.key), 0.0) + ev.self_cpu_time_total
    total = sum(kinds.values())
    return [{"kind": k, "share": v / total} for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])]


_COPIES = {"aten::cat", "aten::copy_", "aten::empty", "aten::empty_strided", "aten::fill_", "aten::zero_"}
_COPIES |= {"aten::to", "aten::_to_copy", "aten::clone", "aten::contiguous", "aten::new_zeros", "aten::zeros"}


def _kind(op: str) -> str:
    if "convolution_backward" in op:
        return "convolution backward"
    if "convolution" in op:
        return "convolution forward"
    if "group_norm" in op:
        return "group norm (fwd + bwd)"
    if op in _COPIES:
        return "copies, allocation, casts"
    if op.startswith("aten::_foreach") or op in ("aten::addcdiv_", "aten::addcmul_", "aten::linalg_vector_norm"):
        return "optimizer and clipping"
    if op.startswith("aten::"):
        return "other aten ops (activations, gates, adds, views)"
    return "autograd and Python overhead"


def flops(width: int = 64, size: int = 11) -> dict[str, float]:
    """Training GFLOP per image of the oracle and of the fused cell, counted from the layer shapes."""
    task = get_task("mazes")
    x, y = make_batch("mazes", size, 1)
    model = _model(width)
    out = {}
    for name, m in (("plain oracle", PlainLocRNN(model)), ("fused cell", model)):
        out[name] = count_flops(lambda m=m: task.loss(m(x), x, y).backward()) / 1e9
    return out
