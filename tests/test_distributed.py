"""Data-parallel training (torchrun, 2 CPU processes, gloo) makes the single-process update.

The runs use mazes whose open-pixel counts differ from maze to maze (some open pixels off the
path are blacked out), so each process's half-batch holds a different number of loss terms; the
objective is deep supervision, which calls the net outside its ``forward``.

They run in float64 (``python -m locrnn`` with torch's default dtype set to float64): in float32
two runs that differ only in rounding (summation order) agree to ~1e-6 for a dozen iterations,
then a ReLU whose input rounds to the other side of zero makes them drift apart by 1e-4..1e-3,
which a float32 test cannot tell from an error. In float64 the 2-process run matches the
1-process one to 3e-14 after 24 iterations (measured), while per-process BatchNorm statistics,
per-process loss normalisation, or DDP around the model alone move the weights by 3e-2, 7e-3
and 8e-2 respectively.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from locrnn.data.arrays import ArrayDataset, BatchLoader
from locrnn.data.maze_io import write_mazes
from locrnn.data.mazes import generate_mazes

TOL = 1e-8  # max |weight difference| allowed (weights are O(1)); measured: see the docstring

# `python -m locrnn` in float64
FP64 = "import runpy, torch; torch.set_default_dtype(torch.float64); runpy.run_module('locrnn', run_name='__main__')"

ARGS = dict(
    task="mazes",
    size=5,
    model_args={"width": 8},
    steps=4,
    objective="deep",
    min_steps=2,
    lr=1e-3,
    n_val=32,
    batch_size=16,
    epochs=2,  # 12 iterations each
    precision="fp32",  # no autocast: the runs are float64 (see above)
    device="cpu",
    log_every=1,
    ckpt_every=4,
    progress=False,
)


def cli_args(**kw) -> list[str]:
    out = []
    for k, v in {**ARGS, **kw}.items():
        if k == "model_args":
            k, v = "width", v["width"]
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def launch(*args: str, processes: int = 2, **popen) -> subprocess.Popen:
    """``torchrun --nproc_per_node 2 -m locrnn train ...`` in float64 (``python`` for 1 process)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    cmd = [sys.executable]
    if processes > 1:
        cmd += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), "--no-python"]
        cmd += [sys.executable]
    return subprocess.Popen([*cmd, "-c", FP64, "train", *args], env=env, **popen)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return out


PIPES = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def weights(run) -> dict:
    return load_file(str(run / "last.safetensors"))  # as saved (float64), not cast to the default dtype


def max_weight_difference(a, b) -> float:
    sa, sb = weights(a), weights(b)
    assert sa.keys() == sb.keys() and sa["stem.0.weight"].dtype == torch.float64
    return max((sa[k] - sb[k]).abs().max().item() for k in sa if sa[k].is_floating_point())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Uneven mazes on disk; a 1-process and a 2-process run on them (launched side by side)."""
    root = tmp_path_factory.mktemp("ddp")
    x, y = generate_mazes(224, 5, seed=0, split="train")
    rng = np.random.default_rng(0)
    off_path = (x.max(1) > 0) & (y == 0)
    drop = off_path & (rng.random(off_path.shape) > rng.random((len(x), 1, 1)))
    x = x * ~drop[:, None]
    counts = (x.max(1) > 0).sum((1, 2))
    assert counts.min() < counts.max() - 10  # the halves of a batch hold different counts
    write_mazes(root / "data", "train", 5, x, y)
    one = launch(*cli_args(data_root=root / "data", out=root, name="one"), processes=1, **PIPES)
    two = launch(*cli_args(data_root=root / "data", out=root, name="two"), **PIPES)
    finish(one)
    return root, finish(two)


@pytest.mark.slow
def test_two_processes_make_the_one_process_update(runs):
    root, out = runs
    diff = max_weight_difference(root / "one", root / "two")
    assert diff < TOL, f"2-process weights differ from 1-process weights by {diff:.3g}"
    # rank 0 alone writes the run folder, and logs the loss of the global batch
    assert out.count("run saved in") == 1
    losses = [
        [json.loads(r).get("loss") for r in (root / n / "metrics.jsonl").read_text().splitlines()]
        for n in ("one", "two")
    ]
    assert len(losses[0]) == len(losses[1]) > 24
    for a, b in zip(*losses):
        assert (a is None) == (b is None) and (a is None or abs(a - b) < 1e-10), (a, b)


@pytest.mark.slow
def test_killed_two_process_run_resumes_exactly(runs):
    """SIGKILL the launcher and both processes mid-run, resume under torchrun, get the same weights."""
    root, _ = runs
    proc = launch(
        *cli_args(data_root=root / "data", out=root, name="part"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = root / "part" / "trainer_state.pt"
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    workers = children(proc.pid)  # torchrun starts each worker in a session of its own
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert workers, "no worker processes found"
    assert not (root / "part" / "summary.json").exists()
    saved = torch.load(state, weights_only=True)["position"]["iteration"]
    assert 0 < saved < 24
    finish(launch("--resume", str(root / "part"), **PIPES))
    a, b = weights(root / "two"), weights(root / "part")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    rows = [
        [
            {k: v for k, v in json.loads(r).items() if k != "time"}
            for r in (root / n / "metrics.jsonl").read_text().splitlines()
        ]
        for n in ("two", "part")
    ]
    assert rows[0] == rows[1]  # the rows logged after the checkpoint were dropped on resume, not logged twice


def test_shards_partition_the_global_batch():
    x = np.arange(40, dtype=np.float32).reshape(40, 1, 1, 1)
    data = ArrayDataset(x, np.zeros(40, dtype=np.int64))
    whole = [b[0].flatten().tolist() for b in BatchLoader(data, 8, seed=3).epoch(1)]
    halves = [BatchLoader(data, 8, seed=3, rank=r, world=2).epoch(1) for r in (0, 1)]
    for batch, (a, b) in zip(whole, zip(*halves)):
        assert sorted(a[0].flatten().tolist() + b[0].flatten().tolist()) == sorted(batch)
        assert len(a[0]) == len(b[0]) == 4
    with pytest.raises(ValueError, match="not divisible by 3 processes"):
        BatchLoader(data, 8, world=3)


@pytest.mark.slow
def test_reproduce_trains_a_figures_runs_under_torchrun_and_rank_0_reports(tmp_path):
    """Several runs in one torchrun command share one process group (a second group in one
    process hangs under gloo); rank 0 alone sweeps and writes the page."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "locrnn", "reproduce", "fig7", "--scale", "smoke", "--root", str(tmp_path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for key in ("mazes11-locrnn-s0", "mazes11-convgru-s0"):
        assert (tmp_path / "runs" / "smoke" / key / "summary.json").is_file()
        assert proc.stdout.count(f"[{key}] training") == 1  # logged once, by rank 0
    assert (tmp_path / "fig7" / "fig7.png").is_file() and proc.stdout.count("fig7: ") == 1


def test_a_rank_weighted_task_scales_only_the_loss():
    """The weighting (see distributed.py) is an explicit frozen value over the task, not a proxy."""
    import dataclasses

    from locrnn.runtime import Runtime
    from locrnn.tasks import get_task
    from locrnn.training.distributed import RankWeightedTask, rank_weighted

    task = get_task("mazes")
    x, y = ArrayDataset(*generate_mazes(4, 5, seed=0)).batch(np.arange(4))
    logits = torch.randn(4, 2, *y.shape[1:])
    assert rank_weighted(task, x, y, Runtime(torch.device("cpu"), None)) is task  # one process: unchanged
    weighted = RankWeightedTask(task, 0.25)
    torch.testing.assert_close(weighted.loss(logits, x, y), 0.25 * task.loss(logits, x, y))
    assert torch.equal(weighted.correct(logits, x, y), task.correct(logits, x, y))
    assert torch.equal(weighted.loss_weight(x, y), task.loss_weight(x, y))
    assert weighted.extra_metrics(logits, x, y).keys() == task.extra_metrics(logits, x, y).keys()
    assert (weighted.name, weighted.difficulty, weighted.check_difficulty(9)) == ("mazes", "size", 9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        weighted.scale = 1.0
