"""Peak memory, each measurement in a fresh subprocess.

Method: the child builds the model and the batch, resets the kernel's resident-set high-water
mark (``echo 5 > /proc/self/clear_refs``; where that is not allowed, the lifetime peak
``ru_maxrss`` is used), runs the measured work, then reads the peak (``VmHWM``). It reports the
peak resident set of the whole process and its *growth* over the resident set just before the
work (the memory the work itself needed).

* ``sweep``: a no-gradient extrapolation sweep, ``evaluate_steps`` scoring every step 1..N.
* ``train``: the forward and backward pass of one training step at N recurrent steps (under the
  trainer's automatic precision), with or without per-step gradient checkpointing
  (``RecurrentNet.checkpoint_steps``, ``TrainConfig.grad_checkpoint``). Its time cost is
  measured in-process, side by side (:func:`checkpoint_time`).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _status_kib(field: str) -> int | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _child(args: dict) -> dict:
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from speed import autocast, fast_dtype, make_batch

    from locrnn.data.arrays import ArrayDataset
    from locrnn.models import build_model
    from locrnn.scoring import evaluate_steps
    from locrnn.tasks import get_task

    torch.set_num_threads(args["threads"])
    torch.manual_seed(0)
    task = get_task("mazes")
    model = build_model("locrnn", task="mazes", width=args["width"])
    x, y = make_batch("mazes", args["size"], args["batch"])
    if args["kind"] == "train":
        model.checkpoint_steps = args["checkpoint"]

        def work(n=args["steps"], x=x, y=y):  # forward and backward: what is kept for the backward
            with autocast(fast_dtype()):
                loss = task.loss(model(x, n), x, y)
            loss.backward()

    else:

        def work(n=args["steps"], x=x, y=y):
            data = ArrayDataset(x.to(torch.uint8).numpy(), y.numpy())
            evaluate_steps(model, data, task, range(1, n + 1), batch_size=len(x))

    work(2, x[:1], y[:1])  # load the code paths (lazy imports, kernels) on one image first
    exact = _reset_peak()
    before = _status_kib("VmRSS")
    t0 = time.perf_counter()
    work()
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mib": peak / 1024, "growth_mib": (peak - before) / 1024, "seconds": seconds, "exact": exact}


def measure(kind: str, **args) -> dict:
    """Run one measurement in a fresh Python process; return its JSON result."""
    import torch

    spec = {"kind": kind, "threads": torch.get_num_threads(), **args}
    out = subprocess.run(
        [sys.executable, __file__, json.dumps(spec)], capture_output=True, text=True, check=False, timeout=1800
    )
    if out.returncode != 0:
        raise RuntimeError(f"memory measurement {spec} failed: {out.stderr.strip().splitlines()[-1:]}")
    return {**args, **json.loads(out.stdout.strip().splitlines()[-1])}


def sweep_memory(steps=(1, 15, 100, 1000), *, width: int = 64, size: int = 13, batch: int = 16) -> list[dict]:
    return [measure("sweep", steps=n, width=width, size=size, batch=batch) for n in steps]


def checkpoint_memory(steps=(15, 60), *, width: int = 64, size: int = 11, batch: int = 8) -> list[dict]:
    rows = []
    for n in steps:
        for ckpt in (False, True):
            rows.append(measure("train", steps=n, checkpoint=ckpt, width=width, size=size, batch=batch))
    return rows


def checkpoint_time(steps: int = 15, *, width: int = 64, size: int = 11, batch: int = 8, rounds: int = 3) -> dict:
    """Training images/s with and without per-step checkpointing, interleaved in this process."""
    import torch
    from _common import interleaved
    from speed import fast_dtype, make_batch, trainer

    from locrnn.models import build_model
    from locrnn.tasks import get_task

    task = get_task("mazes")
    x, y = make_batch("mazes", size, batch)
    fns = {}
    for ckpt in (False, True):
        torch.manual_seed(0)
        model = build_model("locrnn", task="mazes", width=width, steps=steps)
        model.checkpoint_steps = ckpt
        fns[ckpt] = trainer(model, x, y, task, fast_dtype())
    t = interleaved(fns, rounds)
    return {"steps": steps, "ips": batch / t[False]["best"], "ips_ckpt": batch / t[True]["best"]}


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
