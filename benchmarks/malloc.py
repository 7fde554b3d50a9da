"""glibc's malloc as it comes against ``runtime.keep_freed_memory`` (what ``locrnn``'s commands set).

    .venv/bin/python benchmarks/malloc.py            # ~3 minutes on 2 cores
    .venv/bin/python benchmarks/malloc.py --quick    # a smoke test

Each setting runs in its own process (malloc options hold for a whole process), the two settings
alternating, ``--rounds`` times each; a row keeps each setting's best round. Timed in every process:

* halting steps on large mazes as ``locrnn sweep --halt prediction`` takes them: one step of
  ``locrnn-mazes-local`` (pixel norm, damping 0.8) and its prediction, no gradients, fp32, on 100
  held-out 33x33 mazes (72 px) and on 30 of 59x59 (124 px), all in one batch;
* a training step of the demo's model (LocRNN width 32 on 9x9 mazes, 15 steps, batch 8, AdamW).

The process's system CPU time is printed beside it: without the setting, every elementwise op on
a large tensor gets fresh pages from the kernel (``mmap`` / ``munmap`` above 32 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fmt_table, loadavg, machine  # noqa: E402

SETTINGS = {"glibc default (LOCRNN_MALLOC=system)": False, "keep_freed_memory (locrnn's commands)": True}


def child(keep: bool, quick: bool) -> dict:
    """The timings of one process (run with ``--child``)."""
    import torch
    from speed import train_step

    from locrnn.data.mazes import generate_mazes
    from locrnn.models import build_model
    from locrnn.runtime import keep_freed_memory
    from locrnn.tasks import get_task

    on = keep_freed_memory() if keep else False
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", pretrained="local").eval()
    model.damping = 0.8
    rates: dict[str, float] = {}
    cases = [(33, 4, 4), (59, 2, 2)] if quick else [(33, 100, 20), (59, 30, 10)]
    for size, n, steps in cases:
        x = torch.from_numpy(generate_mazes(n, size, seed=7, split="test", workers=1)[0]).float()
        with torch.no_grad():
            drive, state = model.prepare(x)
            state = model.step(drive, state, 0)
            t0 = time.perf_counter()
            for t in range(1, steps + 1):
                state = model.step(drive, state, t)
                task.predict(model.readout(state).float(), x)
            rates[f"halting {size}x{size}"] = n * steps / (time.perf_counter() - t0)
    torch.manual_seed(0)
    net = build_model("locrnn", task="mazes", width=32, steps=15)
    xs, ys = generate_mazes(8, 9, seed=1, split="test", workers=1)
    x, y = torch.from_numpy(xs).float(), torch.from_numpy(ys).long()
    opt = torch.optim.AdamW(net.parameters(), 1e-3)

    def step():
        train_step(net, x, y, task, None, opt)

    step()
    reps = 2 if quick else 10
    t0 = time.perf_counter()
    for _ in range(reps):
        step()
    rates["training 9x9 (demo model, batch 8)"] = 8 * reps / (time.perf_counter() - t0)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"malloc_reuse": on, "rates": rates, "user_s": usage.ru_utime, "sys_s": usage.ru_stime}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny batches, one round (a smoke test)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child == "on", args.quick)))
        return 0
    rounds = 1 if args.quick else args.rounds
    print(f"# malloc: {machine()}; load {loadavg()}; fp32", flush=True)
    best: dict[str, dict] = {}
    for _ in range(rounds):
        for name, keep in SETTINGS.items():
            cmd = [sys.executable, __file__, "--child", "on" if keep else "off"] + (["--quick"] if args.quick else [])
            env = {**os.environ, "LOCRNN_MALLOC": "" if keep else "system"}
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
            res = json.loads(r.stdout.strip().splitlines()[-1])
            if keep and not res["malloc_reuse"]:
                print(f"# {name}: not available here (not glibc); its rows time glibc's default")
            if name not in best:  # the first round's CPU seconds; each rate's best round
                best[name] = res
            else:
                best[name]["rates"] = {k: max(v, res["rates"][k]) for k, v in best[name]["rates"].items()}
    base = best[next(iter(SETTINGS))]["rates"]
    rows = []
    for name, res in best.items():
        for what, rate in res["rates"].items():
            unit = "img/s" if what.startswith("training") else "img-steps/s"
            rows.append({"what": what, "malloc": name, "rate": f"{rate:.1f} {unit}", "x": rate / base[what]})
        cpu = f"{res['user_s']:.0f} user, {res['sys_s']:.0f} system"
        rows.append({"what": "process CPU seconds (first round)", "malloc": name, "rate": cpu})
    print(fmt_table(rows, [("what", "timed"), ("malloc", "malloc"), ("rate", "rate (best round)"), ("x", "x default")]))
    print(f"# load at end {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
