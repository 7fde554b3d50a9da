"""Run Python in a subprocess as on an AVX2-only CPU (no native bf16), for the precision tests."""

from __future__ import annotations

import functools
import os
import subprocess
import sys

# oneDNN capped at AVX2 and ATen's kernels at AVX2: bf16 is then emulated, as on an AVX2-only CPU
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def run_python(args: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python ARGS`` with ``env`` added to this process's environment; output captured as text."""
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


@functools.cache
def avx2_emulation_works() -> bool:
    """Whether this CPU and torch build honour the AVX2 cap (else the emulated tests skip)."""
    r = run_python(["-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"], AVX2_ONLY)
    return r.returncode == 0 and r.stdout.strip() == "AVX2"
