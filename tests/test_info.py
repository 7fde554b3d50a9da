"""``locrnn info``: what predicts locrnn's speed on this machine, measured in a few seconds.

A CPU with AVX2 only is emulated in a fresh process: oneDNN and ATen then use AVX2 kernels and
``_is_mkldnn_bf16_supported()`` says False, as on such a CPU.
"""

import json
import os
import platform
import sys

import pytest
import torch

from emulation import AVX2_ONLY, avx2_emulation_works, run_python
from locrnn.cli import main
from locrnn.info import CPU_FLAGS, conv_flops, cpu_flags, cpu_model
from locrnn.runtime import cpu_has_bf16, pick_dtype

INFO_KEYS = {
    "locrnn",
    "torch",
    "device",
    "cpu_model",
    "cpu_capability",
    "cpu_flags",
    "cpu_native_bf16",
    "cpu_native_fp16",
    "threads",
    "malloc_reuse",
    "auto_precision",
    "conv_gflops_fp32",
    "conv_gflops_auto",
}


def _info(env: dict[str, str] | None = None) -> dict:
    r = run_python(["-m", "locrnn", "info", "--json", "--device", "cpu", "--seconds", "0.2"], env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_info_json_reports_this_machine():
    info = _info()
    assert INFO_KEYS <= set(info)
    assert info["torch"] == torch.__version__ and info["device"] == "cpu"
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["cpu_native_bf16"] == cpu_has_bf16()
    assert info["auto_precision"] == {None: "fp32", torch.bfloat16: "bf16"}[pick_dtype("auto", torch.device("cpu"))]
    assert info["conv_gflops_fp32"] > 0 and info["conv_gflops_auto"] > 0
    assert info["threads"] >= 1 and info["cpu_model"]
    if os.environ.get("LOCRNN_MALLOC", "").lower() != "system":  # the command keeps freed memory on glibc
        assert info["malloc_reuse"] is (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc")
    assert info["cpu_flags"] == cpu_flags()
    if info["cpu_flags"] is not None:
        assert set(info["cpu_flags"]) == set(CPU_FLAGS)


def test_info_on_an_avx2_only_cpu_picks_fp32():
    if not avx2_emulation_works():
        pytest.skip("this CPU or torch build cannot emulate an AVX2-only CPU")
    info = _info(AVX2_ONLY)
    assert info["cpu_capability"] == "AVX2"
    assert info["cpu_native_bf16"] is False
    assert info["auto_precision"] == "fp32"
    assert info["conv_gflops_auto"] == info["conv_gflops_fp32"] > 0  # auto is fp32: measured once


def test_info_prints_one_line_per_item(capsys):
    assert main(["info", "--device", "cpu", "--seconds", "0.05"]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [line.split(":", 1)[0] for line in lines]
    assert INFO_KEYS <= set(keys)
    rate = next(line for line in lines if line.startswith("conv_gflops_fp32:"))
    assert rate.endswith("GFLOP/s") and float(rate.split()[1]) > 0
    assert main(["info", "--seconds", "0"]) == 2  # a user error, one line


def test_cpuinfo_parsing():
    text = "processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\nflags\t\t: fpu sse avx2 avx512f amx_tile\n"
    assert cpu_model(text) == "Some CPU @ 2.0GHz"
    assert cpu_flags(text) == {"avx2": True, "avx512f": True, "avx512_bf16": False, "amx_bf16": False}
    assert cpu_flags("") is None  # no /proc/cpuinfo (macOS, Windows): unknown, not "none"
    assert cpu_model("")  # falls back to the platform module
    assert conv_flops((32, 64, 32, 28, 5)) == 2 * 32 * 32 * 28 * 28 * 64 * 25


def test_keep_freed_memory_is_on_once_called_unless_told_not_to(monkeypatch):
    """``runtime.keep_freed_memory`` (called by every ``locrnn`` command) turns glibc's mmap of large
    blocks off on glibc (elsewhere it changes nothing); LOCRNN_MALLOC=system keeps glibc's defaults."""
    import locrnn.runtime as runtime

    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    monkeypatch.setattr(runtime, "_malloc_tuned", False)
    monkeypatch.setenv("LOCRNN_MALLOC", "system")
    assert runtime.keep_freed_memory() is False and runtime._malloc_tuned is False
    monkeypatch.setenv("LOCRNN_MALLOC", "")
    assert runtime.keep_freed_memory() is on_glibc and runtime._malloc_tuned is on_glibc
    assert runtime.keep_freed_memory() is on_glibc  # a second call is a no-op
