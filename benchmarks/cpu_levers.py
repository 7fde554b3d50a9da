"""The CPU speed levers of LocRNN maze training in the demo's configuration, side by side.

    .venv/bin/python benchmarks/cpu_levers.py --json cpu_levers.json      # the timed run (a few minutes)
    .venv/bin/python benchmarks/cpu_levers.py --quick                     # few rounds, no compile (a smoke test)
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 .venv/bin/python benchmarks/cpu_levers.py   # as on an AVX2 CPU

The configuration is ``locrnn demo``'s (``locrnn.demo``): LocRNN width 32 on 9x9 mazes (24 px), 15
recurrent steps, the demo's AdamW and clipping, batch 8. Every variant trains on the same batch and
all are timed in interleaved rounds (``_common.interleaved``), each scored by its best round, as a
ratio to the plain eager fp32 oracle (``tests/oracle.py``) at batch 8. The levers: the fused cell
(the model as built), channels-last, ``torch.compile``, the batch size, the thread count and, only
where this CPU computes bf16 natively, bf16 autocast (on an AVX2-only CPU oneDNN emulates bf16 at a
small fraction of the fp32 rate, so ``precision="auto"`` picks fp32 there and so does this script).

Share of peak: training FLOPs per image (counted by ``torch.utils.flop_counter``) x images/s over the
convolution peak of the row's precision, measured in the same run with all threads (fp32, plus bf16
where native). The summary line is the issue's floor: the demo's training in the precision ``auto``
picks at >= 70% of this machine's convolution peak in that precision.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _common import (  # noqa: E402
    PEAK_SHAPES,
    PEAK_SHAPES_QUICK,
    conv_peak,
    count_flops,
    fmt_table,
    interleaved,
    loadavg,
    machine,
)
from speed import make_batch, precision_name, train_step  # noqa: E402

from locrnn.demo import BATCH, SIZE, TRAIN_STEPS, WIDTH, demo_config  # noqa: E402
from locrnn.models import build_model  # noqa: E402
from locrnn.runtime import cpu_capability, cpu_has_bf16, pick_dtype  # noqa: E402
from locrnn.tasks import get_task  # noqa: E402
from locrnn.training.optim import make_optimizer  # noqa: E402
from oracle import PlainLocRNN  # noqa: E402  (tests/, on the path once _common is imported)

FLOOR = 0.70  # the floor: share of the convolution peak of the precision `auto` picks
BASELINE = "plain oracle, fp32 (baseline)"
FUSED = "fused cell, fp32 (the model as built)"


def cpu_class() -> str:
    """E.g. ``AVX-512 + bf16 (native)`` or ``AVX2 (fp32 only)``, and how the ISA was capped, if it was."""
    cap = cpu_capability()
    pretty = {"AVX512": "AVX-512", "AVX2": "AVX2", "DEFAULT": "no AVX2 (DEFAULT)"}.get(cap, cap)
    isa, aten = os.environ.get("ONEDNN_MAX_CPU_ISA"), os.environ.get("ATEN_CPU_CAPABILITY")
    if cpu_has_bf16():
        amx = _has_amx() and (not isa or "AMX" in isa.upper() or isa.upper() == "ALL")
        text = f"{pretty} + {'AMX ' if amx else ''}bf16 (native)"
    else:
        text = f"{pretty} (fp32 only)"
    if isa:
        text += f", emulated {isa.upper()} via ONEDNN_MAX_CPU_ISA"
        if aten:
            text += f" (ATEN_CPU_CAPABILITY={aten})"
    elif aten:
        text += f", ATen kernels capped via ATEN_CPU_CAPABILITY={aten}"
    return text


def _has_amx() -> bool:
    """Whether the CPU has AMX tiles (oneDNN's bf16 convolutions then run several times the fp32 peak)."""
    try:
        return bool(torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def _bf16_name(b: int, batch: int) -> str:
    return "fused, bf16 autocast" + ("" if b == batch else f", batch {b}")


class Variant:
    """One row: a model, its input batch, autocast dtype and thread count; ``fn`` runs ``reps``
    training steps with the demo's optimizer, setting the thread count before and restoring it after."""

    def __init__(self, name, model, x, y, dtype, threads, cfg, reps, note=""):
        self.name, self.model, self.x, self.y, self.dtype = name, model, x, y, dtype
        self.threads, self.reps, self.note = threads, reps, note
        self.batch = len(x)
        self.task = get_task("mazes")
        self.opt = make_optimizer(model, cfg)
        model.train()

    def step(self) -> None:
        train_step(self.model, self.x, self.y, self.task, self.dtype, self.opt)

    def fn(self) -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            for _ in range(self.reps):
                self.step()
        finally:
            torch.set_num_threads(before)

    def flops_per_image(self) -> float:
        """Convolution/matmul FLOPs of one training step (forward + backward) per image."""
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return count_flops(self.step) / self.batch
        finally:
            torch.set_num_threads(before)


def measure(
    *,
    width: int = WIDTH,
    size: int = SIZE,
    batch: int = BATCH,
    batches: tuple[int, ...] = (4, 8, 16, 32),
    bf16_batches: tuple[int, ...] = (8, 32),
    rounds: int = 5,
    warmup: int = 1,
    images_per_call: int = 64,
    peak_shapes=PEAK_SHAPES,
    compile_too: bool = True,
) -> dict:
    """Every lever in one set of interleaved rounds; returns the peak, the rows and the summary.

    Each timed call trains ``max(1, images_per_call // batch)`` steps, so that small batches are
    timed over as many images as large ones. Every variant has already trained one step (counting
    its FLOPs) before the ``warmup`` calls.
    """
    cfg = demo_config(Path("unused"), "cpu-levers", 0)
    threads = torch.get_num_threads()
    native_bf16 = cpu_has_bf16()
    auto = pick_dtype("auto", torch.device("cpu"))
    precisions = ["fp32"] + (["bf16"] if native_bf16 else [])
    peak = conv_peak(rounds, precisions=tuple(precisions), shapes=peak_shapes)

    torch.manual_seed(cfg.seed)
    base = build_model(cfg.model, task=cfg.task, **{**cfg.model_args, "width": width})
    if getattr(base, "trained_steps", TRAIN_STEPS) != TRAIN_STEPS:
        raise RuntimeError(f"the model unrolls {base.trained_steps} steps, the demo {TRAIN_STEPS}")
    data = {b: make_batch("mazes", size, b) for b in sorted({batch, *batches, *bf16_batches})}

    def reps(b: int) -> int:
        return max(1, images_per_call // b)

    def variant(name, model, b, dtype=None, n_threads=threads, x=None, note=""):
        x_b, y_b = data[b]
        return Variant(name, model, x_b if x is None else x, y_b, dtype, n_threads, cfg, reps(b), note)

    x8 = data[batch][0]
    vs = [
        variant(BASELINE, PlainLocRNN(base), batch),
        variant(FUSED, copy.deepcopy(base), batch),
        variant(
            "fused, fp32, channels-last",
            copy.deepcopy(base).to(memory_format=torch.channels_last),
            batch,
            x=x8.contiguous(memory_format=torch.channels_last),
        ),
    ]
    vs += [variant(f"fused, fp32, batch {b}", copy.deepcopy(base), b) for b in batches if b != batch]
    if threads != 1:
        vs.append(variant("fused, fp32, 1 thread", copy.deepcopy(base), batch, n_threads=1))
    if (os.cpu_count() or threads) != threads:
        n = os.cpu_count()
        vs.append(variant(f"fused, fp32, all {n} logical CPUs", copy.deepcopy(base), batch, n_threads=n))
    if native_bf16:
        vs += [variant(_bf16_name(b, batch), copy.deepcopy(base), b, torch.bfloat16) for b in bf16_batches]

    flops = {v.name: v.flops_per_image() for v in vs}  # before timing: counting also trains one step
    compile_s = compile_error = None
    if compile_too:  # compiled (and timed) first, then timed in the same rounds as the others
        v = variant("fused, fp32, torch.compile", torch.compile(copy.deepcopy(base)), batch)
        t0 = time.perf_counter()
        try:
            v.step()
        except Exception as e:  # e.g. no C++ compiler for inductor: say so, time the rest
            compile_error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            print(f"torch.compile failed, row left out: {compile_error}", flush=True)
        else:
            compile_s = time.perf_counter() - t0
            v.note = f"compile + first step {compile_s:.0f} s (inductor cache as found)"
            flops[v.name] = flops[FUSED]  # the same convolutions as the eager fused cell
            vs.append(v)

    timing = interleaved({v.name: v.fn for v in vs}, rounds, warmup=warmup)
    ips = {v.name: v.reps * v.batch / timing[v.name]["best"] for v in vs}
    rows = []
    for v in vs:
        prec = precision_name(v.dtype)
        rows.append(
            {
                "variant": v.name,
                "batch": v.batch,
                "precision": prec,
                "threads": v.threads,
                "train_ips": ips[v.name],
                "x_oracle": ips[v.name] / ips[BASELINE],
                "gflop_per_img": flops[v.name] / 1e9,
                "peak_share": flops[v.name] * ips[v.name] / 1e9 / peak[prec]["gflops"],
                "cpu": timing[v.name]["cpu"],
                "steps_per_call": v.reps,
                "note": v.note,
            }
        )
    auto_name = precision_name(auto)
    demo_row = next(r for r in rows if r["variant"] == (FUSED if auto is None else _bf16_name(batch, batch)))
    demo = (width, size, batch) == (WIDTH, SIZE, BATCH)
    what = "demo config" if demo else f"width {width}, maze {size}, batch {batch}: not the demo's"
    summary = (
        f"auto picks {auto_name}; LocRNN ({what}) trains at {demo_row['train_ips']:.3g} img/s = "
        f"{100 * demo_row['peak_share']:.0f}% of this machine's {auto_name} convolution peak "
        f"({demo_row['x_oracle']:.2f}x the plain fp32 oracle; floor {100 * FLOOR:.0f}%: "
        f"{'met' if demo_row['peak_share'] >= FLOOR else 'NOT met'})"
    )
    return {
        "config": {"width": width, "size": size, "pixels": int(x8.shape[-1]), "steps": TRAIN_STEPS, "batch": batch},
        # speed.train_step clips the gradient norm at 1.0, as the demo does (cfg.clip)
        "optimizer": f"{cfg.optimizer} lr {cfg.lr:g}, weight decay {cfg.weight_decay:g}, clip 1.0",
        "cpu_class": cpu_class(),
        "cpu_capability": cpu_capability(),
        "native_bf16": native_bf16,
        "auto_precision": auto_name,
        "threads": threads,
        "peak": peak,
        "rows": rows,
        "compile_s": compile_s,
        "compile_error": compile_error,
        "summary": summary,
        "floor_met": demo_row["peak_share"] >= FLOOR,
        "demo_share_of_peak": demo_row["peak_share"],
        "demo_train_ips": demo_row["train_ips"],
    }


COLUMNS = [
    ("variant", "variant"),
    ("batch", "batch"),
    ("threads", "threads"),
    ("train_ips", "train img/s"),
    ("x_oracle", "x oracle"),
    ("gflop_per_img", "GFLOP/img"),
    ("peak_share", "share of peak"),
    ("cpu", "CPU/wall"),
    ("note", "note"),
]


def report(res: dict, rounds: int) -> str:
    c = res["config"]
    peak_rows = [{"precision": k, **v} for k, v in res["peak"].items()]
    lines = [
        f"### {res['cpu_class']}",
        "",
        f"machine: {machine()}",
        f"CPU class: {res['cpu_class']} (ATen capability {res['cpu_capability']}, "
        f"native bf16: {res['native_bf16']}); precision 'auto' picks {res['auto_precision']}",
        "",
        "Convolution peak (all threads; the reference for every share of peak):",
        "",
        fmt_table(
            peak_rows,
            [("precision", "precision"), ("gflops", "GFLOP/s"), ("shape", "best shape"), ("layout", "layout")],
        ),
        "",
        f"LocRNN maze training in the demo's configuration (width {c['width']}, maze {c['size']} ({c['pixels']} px), "
        f"{c['steps']} steps, {res['optimizer']}; ratios to the plain fp32 oracle at batch {c['batch']}; "
        f"{rounds} interleaved rounds, best round):",
        "",
        fmt_table(res["rows"], COLUMNS),
        "",
        "Share of peak: FLOPs per image (forward + backward, counted) x images/s over the convolution peak of the "
        "row's precision with all threads (so a 1-thread row is measured against the all-thread peak). CPU/wall: "
        "process CPU time over wall time of the best round (near the thread count: the round had the cores).",
        "",
        f"**{res['summary']}**",
    ]
    if res.get("compile_error"):
        lines[-1:-1] = [f"torch.compile failed, so it has no row: {res['compile_error']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", help="1 round, no warm-up, one step per call, no compile (a smoke test)"
    )
    mode.add_argument("--smoke", action="store_true", help="tiny sizes, to check the harness (seconds)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5; --quick 1)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile lever (minutes on 2 cores)")
    p.add_argument("--compile", action="store_true", help="time torch.compile even with --quick")
    p.add_argument("--threads", type=int, default=None, help="torch threads of every row but the thread rows")
    p.add_argument("--json", default=None, help="also write the rows and raw numbers to this JSON file")
    args = p.parse_args(argv)
    kw: dict = {}
    if args.quick or args.smoke:
        kw.update(rounds=1, warmup=0, images_per_call=0, peak_shapes=PEAK_SHAPES_QUICK, compile_too=False)
    if args.smoke:
        kw.update(width=8, size=5, batch=2, batches=(2, 4), bf16_batches=(2,))
    if args.rounds:
        kw["rounds"] = args.rounds
    if args.no_compile:
        kw["compile_too"] = False
    elif args.compile:
        kw["compile_too"] = True
    before = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        mode_name = "smoke" if args.smoke else "quick" if args.quick else "full"
        load_start = loadavg()
        print(f"# CPU levers ({mode_name}); load average at start: {load_start}", flush=True)
        t0 = time.time()
        res = measure(**kw)
        res["mode"] = mode_name
        print(report(res, kw.get("rounds", 5)))
        res["loadavg"] = {"start": load_start, "end": loadavg()}
        print(f"\nload average at end: {res['loadavg']['end']}; total {time.time() - t0:.0f} s")
        if args.json:
            res["machine"] = machine()
            Path(args.json).write_text(json.dumps(res, indent=1, default=str) + "\n")
    finally:
        torch.set_num_threads(before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
