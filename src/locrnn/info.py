"""What predicts this machine's speed: versions, device, CPU, precisions, a measured convolution rate.

``system_info()`` returns it as a dict (``locrnn info`` prints it). The rate is measured on the
convolution LocRNN spends its time in on 9x9 mazes: 5x5, 64 -> 32 channels, batch 32 at 28x28.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import torch

from . import __version__, runtime
from .runtime import cpu_capability, cpu_has_bf16, cpu_has_fp16, pick_device, pick_dtype

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
# (batch, in channels, out channels, side, kernel) of the measured convolution
CONV_SHAPE = (32, 64, 32, 28, 5)
PRECISION_NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def cpu_flags(cpuinfo: str | None = None) -> dict[str, bool] | None:
    """Which of ``CPU_FLAGS`` the CPU has (from /proc/cpuinfo); None where that is not known."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            have = set(value.split())
            return {f: f in have for f in CPU_FLAGS}
    return None


def conv_flops(shape: tuple[int, int, int, int, int] = CONV_SHAPE) -> int:
    """Multiply-adds x 2 of one convolution of ``shape`` (same padding)."""
    n, cin, cout, side, k = shape
    return 2 * n * cout * side * side * cin * k * k


def conv_gflops(
    device: torch.device,
    dtype: torch.dtype | None = None,
    seconds: float = 1.0,
    shape: tuple[int, int, int, int, int] = CONV_SHAPE,
) -> float:
    """Measured GFLOP/s of the forward convolution of ``shape`` at ``dtype`` (None: fp32), autocast
    as in training; two warm-up calls, then as many calls as fit in ``seconds`` (at least one)."""
    n, cin, cout, side, k = shape
    conv = torch.nn.Conv2d(cin, cout, k, padding=k // 2).to(device)
    x = torch.randn(n, cin, side, side, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    ctx = torch.autocast(device.type, dtype=dtype) if dtype is not None else torch.autocast(device.type, enabled=False)
    with torch.inference_mode(), ctx:
        for _ in range(2):
            conv(x)
        sync()
        calls, start = 0, time.perf_counter()
        while True:
            conv(x)
            calls += 1
            if calls % 4 == 0 or device.type != "cuda":
                sync()
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    break
    return conv_flops(shape) * calls / elapsed / 1e9


def system_info(device: str = "auto", seconds: float = 1.0) -> dict[str, object]:
    """What a user needs to predict locrnn's speed here; the rates take about ``seconds`` each."""
    dev = pick_device(device)
    auto = pick_dtype("auto", dev)
    fp32 = conv_gflops(dev, None, seconds)
    flags = cpu_flags()
    return {
        "locrnn": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": sys.platform,
        "device": f"{dev} ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else str(dev),
        "cpu_model": cpu_model(),
        "cpu_capability": cpu_capability(),
        "cpu_flags": flags,
        "cpu_native_bf16": cpu_has_bf16(),
        "cpu_native_fp16": cpu_has_fp16(),
        "threads": torch.get_num_threads(),
        # glibc keeps freed memory for reuse (runtime.keep_freed_memory; LOCRNN_MALLOC=system: off)
        "malloc_reuse": runtime._malloc_tuned,
        "auto_precision": PRECISION_NAMES[auto],
        "conv": "5x5 conv 64->32 channels, batch 32 at 28x28 (LocRNN on 9x9 mazes)",
        "conv_gflops_fp32": round(fp32, 2),
        "conv_gflops_auto": round(fp32 if auto is None else conv_gflops(dev, auto, seconds), 2),
    }


def format_info(info: dict[str, object]) -> str:
    """``system_info()`` as aligned ``key: value`` lines."""
    lines = []
    for key, value in info.items():
        if isinstance(value, dict):
            value = " ".join(f"{k}={'yes' if v else 'no'}" for k, v in value.items())
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, float):
            value = f"{value:.1f} GFLOP/s"
        elif value is None:
            value = "unknown"
        lines.append(f"{key + ':':18s} {value}")
    return "\n".join(lines)
