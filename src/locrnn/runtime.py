"""Where and how a run executes: device, precision, seeding, torch.distributed set-up."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist

from .io import UserError

T = TypeVar("T")


@dataclass
class Runtime:
    device: torch.device
    dtype: torch.dtype | None  # autocast dtype, None = fp32
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this set-up joined the process group (and teardown leaves it)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 / AMX); elsewhere oneDNN emulates it."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_has_fp16() -> bool:
    """Whether this CPU computes fp16 natively (AVX512-FP16 / AMX-FP16); elsewhere oneDNN emulates it."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_fp16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_capability() -> str:
    """The vector instructions ATen's CPU kernels use here: ``AVX2``, ``AVX512``, ``DEFAULT``, ..."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        return "unknown"


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)
_malloc_tuned = False


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for reuse instead of giving it back to the system.

    By default glibc serves every allocation above 32 MiB with a fresh ``mmap`` and returns it with
    ``munmap`` when freed, so each elementwise op on a large tensor (a batch of 100 33x33 mazes at
    width 64 is 132 MB per state tensor) faults in new pages from the kernel: on a 2-core AVX2 EPYC
    halting on 33x33 mazes spent about as much CPU time in the kernel as in PyTorch and ran at 36
    image-steps/s; with ``mmap`` off and the heap kept it ran at 84 (2.3x), the small tensors of
    9x9 training unchanged (``benchmarks/malloc.py`` times both).
    The cost: memory freed at the top of the heap stays with the process. ``locrnn``'s commands call
    this at start; ``LOCRNN_MALLOC=system`` keeps glibc's defaults. Returns whether it is on (False
    off glibc, e.g. macOS or musl, where nothing is changed)."""
    global _malloc_tuned
    if _malloc_tuned:
        return True
    if os.environ.get("LOCRNN_MALLOC", "").lower() == "system":
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        _malloc_tuned = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False
    return _malloc_tuned


# fp32 rate / emulated rate of the maze convolution (``locrnn info``), measured on an AVX2 CPU
_EMULATED_SLOWDOWN = {"bf16": 30, "fp16": 50}


def emulated_precision(dtype: torch.dtype | None, device: torch.device) -> str | None:
    """One line saying why ``dtype`` is slow on ``device``, or None when it is not emulated there.

    On a CPU without native bf16 (or fp16) oneDNN emulates it: results stay correct, but a
    convolution runs tens of times slower than in fp32 (``_EMULATED_SLOWDOWN``).
    """
    if device.type != "cpu" or dtype not in (torch.bfloat16, torch.float16):
        return None
    name, native = ("bf16", cpu_has_bf16()) if dtype == torch.bfloat16 else ("fp16", cpu_has_fp16())
    if native:
        return None
    return (
        f"{name} on this CPU ({cpu_capability()}, no native {name}) is emulated and "
        f"~{_EMULATED_SLOWDOWN[name]}x slower than fp32; use precision 'auto' or 'fp32'"
    )


_warned_precisions: set[str] = set()  # one warning per precision and process


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} was asked for but no CUDA device is available")
    return dev


def pick_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None: fp32).

    ``auto`` picks bf16 (or fp16) only where the hardware computes it natively. Asking for bf16
    or fp16 on a CPU that only emulates it is honoured, with one warning per process.
    """
    if precision == "fp32":
        return None
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        note = emulated_precision(dtype, device)
        if note is not None and precision not in _warned_precisions:
            _warned_precisions.add(precision)
            warnings.warn(note, stacklevel=2)
        return dtype
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_bf16() else None
    raise UserError(f"unknown precision {precision!r}; choose auto, fp32, bf16 or fp16")


def pick_compile(setting: bool | None, device: torch.device) -> bool:
    """Whether to ``torch.compile`` the training step; ``None`` means: on CUDA only.

    On CUDA compiling fuses the many small per-step kernels; on a few CPU cores compiling the
    unrolled model takes minutes (``benchmarks/RESULTS.md``), more than short runs gain.
    """
    return device.type == "cuda" if setting is None else bool(setting)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup(device: str = "auto", precision: str = "auto", *, join: bool = True) -> Runtime:
    """The device and precision of this process. Launched by torchrun (WORLD_SIZE > 1), it joins
    the process group unless ``join`` is False: then it works alone (world 1, rank 0) on its own
    device, as an evaluation does."""
    world = int(os.environ.get("WORLD_SIZE", "1")) if join else 1
    rank = int(os.environ.get("RANK", "0")) if join else 0
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    owns = False
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend)
        owns = True
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Runtime(dev, pick_dtype(precision, dev), rank, world, local_rank, owns)


def teardown(rt: Runtime | None = None) -> None:
    """Leave the process group (only the one ``rt``'s set-up joined, when ``rt`` is given).

    Call it when every process has finished (it waits for all of them). The pause lets gloo's
    worker threads drop their last finished work, which needs the GIL: a process group joined
    while one of them waits for it deadlocks (seen with torch 2.13 when DDP is freed later).
    """
    if dist.is_initialized() and (rt is None or rt.owns_group):
        dist.barrier()
        time.sleep(0.05)
        dist.destroy_process_group()


def all_sum(values: list[float], rt: Runtime) -> list[float]:
    if rt.world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=rt.device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast_value(value: float, rt: Runtime) -> float:
    """Rank 0's ``value`` on every process (e.g. elapsed time, so that all take the same decision)."""
    if rt.world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=rt.device)
    dist.broadcast(t, src=0)
    return t.item()


def main_first(fn: Callable[[], T], rt: Runtime) -> T:
    """Run ``fn`` on rank 0 only and hand its result to every process.

    A ``UserError`` or ``ValueError`` raised on rank 0 is raised on every process (as
    ``UserError``), so that no process waits for a peer that has given up.
    """
    if rt.world == 1:
        return fn()
    box: list = [None, None]
    if rt.main:
        try:
            box[0] = fn()
        except (UserError, ValueError) as e:
            box[1] = str(e)
    dist.broadcast_object_list(box, src=0)
    if box[1] is not None:
        raise UserError(box[1])
    return box[0]
