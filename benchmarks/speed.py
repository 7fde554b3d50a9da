"""Training and inference images/s, side by side with a plain eager fp32 baseline.

The *fast path* is what ``locrnn train`` runs: the registered model under the runtime's automatic
precision (bf16 autocast on CPUs with bf16 support, else fp32). The *baseline* is the plain eager
fp32 oracle for LocRNN (``tests/oracle.py``: every term of Eq. 1-6 its own convolution) and, for
the other models, the same model in eager fp32 (their own code is already plain).
"""

from __future__ import annotations

import contextlib
import copy

import torch
from _common import count_flops, interleaved

from locrnn.data.mazes import generate_mazes
from locrnn.models import build_model, get_entry, list_models
from locrnn.runtime import pick_dtype
from locrnn.tasks import get_task
from oracle import PlainLocRNN

# task, difficulty (maze size / PathFinder image side), label for the table
PAPER_CONFIGS = [("mazes", 11, "maze 11 (28 px)"), ("mazes", 13, "maze 13 (32 px)"), ("pathfinder", 150, "PF 150 px")]


def fast_dtype() -> torch.dtype | None:
    """The autocast dtype ``precision="auto"`` picks on this CPU (None: fp32)."""
    return pick_dtype("auto", torch.device("cpu"))


def autocast(dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=dtype)


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def make_batch(task: str, difficulty: int, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Real mazes; random 3-channel images for PathFinder (the cost does not depend on content)."""
    if task == "mazes":
        x, y = generate_mazes(batch, difficulty, seed=seed, split="test", workers=1)
        return torch.from_numpy(x).float(), torch.from_numpy(y).long()
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, difficulty, difficulty, generator=g), torch.randint(0, 2, (batch,), generator=g)


def baseline_of(name: str, model: torch.nn.Module) -> tuple[torch.nn.Module, str]:
    """The plain eager fp32 counterpart of ``model`` and how it is made."""
    if name == "locrnn":
        return PlainLocRNN(model), "plain oracle"
    return copy.deepcopy(model), "same model"


def train_step(model, x, y, task, dtype, opt) -> None:
    """One step as the trainer takes it: forward under autocast, loss, backward, clip, Adam."""
    with autocast(dtype):
        loss = task.loss(model(x), x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()


def trainer(model, x, y, task, dtype):
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-3)
    model.train()
    return lambda: train_step(model, x, y, task, dtype, opt)


def inferer(model, x, dtype):
    model.eval()

    def run():
        with torch.no_grad(), autocast(dtype):
            model(x)

    return run


def flops_per_image(model, x, y, task, training: bool) -> int:
    """Convolution/matmul FLOPs per image (counted on two images: batch norm needs two), forward
    (+ backward if training)."""
    x2, y2 = x[:2], y[:2]
    if training:
        model.train()
        return count_flops(lambda: task.loss(model(x2), x2, y2).backward()) // len(x2)
    model.eval()
    with torch.no_grad():
        return count_flops(lambda: model(x2)) // len(x2)


def default_models() -> list[str]:
    """LocRNN and every other model of the paper: those with a registered paper configuration
    (``paper_params``) and those its figures train (e.g. CORnet-S and ConvRNN on PathFinder)."""
    from locrnn.reproduce.figures import MAZE_FEEDFORWARD, MAZE_RECURRENT, PF_MODELS

    names = {n for n in list_models() if get_entry(n).paper_params}
    names |= set(MAZE_RECURRENT + MAZE_FEEDFORWARD + PF_MODELS)
    return sorted(names | {"locrnn"}, key=lambda n: (n != "locrnn", n))


def model_speed(
    name: str, configs, *, batch: int, rounds: int, peak: dict, model_args: dict | None = None
) -> list[dict]:
    """One row per (model, config): fast-path and baseline images/s for training and inference."""
    dtype = fast_dtype()
    rows = []
    for task_name, difficulty, label in configs:
        if task_name not in get_entry(name).tasks:
            continue
        task = get_task(task_name)
        torch.manual_seed(0)
        model = build_model(name, task=task_name, **(model_args or {}))
        base, how = baseline_of(name, model)
        x, y = make_batch(task_name, difficulty, batch)
        train = interleaved(
            {"fast": trainer(model, x, y, task, dtype), "base": trainer(base, x, y, task, None)}, rounds
        )
        infer = interleaved({"fast": inferer(model, x, dtype), "base": inferer(base, x, None)}, rounds)
        f_train = flops_per_image(model, x, y, task, True)
        b_train = flops_per_image(base, x, y, task, True)
        fast_peak = peak[precision_name(dtype)]["gflops"]
        row = {
            "model": name,
            "config": label,
            "batch": batch,
            "precision": precision_name(dtype),
            "baseline": how,
            "train_gflop_per_img": f_train / 1e9,
            "train_ips": batch / train["fast"]["best"],
            "train_ips_base": batch / train["base"]["best"],
            "infer_ips": batch / infer["fast"]["best"],
            "infer_ips_base": batch / infer["base"]["best"],
            "cpu_per_wall": min(train["fast"]["cpu"], train["base"]["cpu"]),
        }
        row["train_x"] = row["train_ips"] / row["train_ips_base"]
        row["infer_x"] = row["infer_ips"] / row["infer_ips_base"]
        row["train_peak_share"] = f_train * row["train_ips"] / 1e9 / fast_peak
        row["train_peak_share_base"] = b_train * row["train_ips_base"] / 1e9 / peak["fp32"]["gflops"]
        rows.append(row)
    return rows
