"""Emulated bf16/fp16 on a CPU without native support is honoured and named once per process.

A CPU with AVX2 only is emulated in a fresh process: oneDNN and ATen then use AVX2 kernels and
``_is_mkldnn_bf16_supported()`` says False, as on such a CPU.
"""

import re
import warnings

import pytest
import torch

from emulation import AVX2_ONLY, avx2_emulation_works, run_python
from locrnn.runtime import cpu_has_bf16, cpu_has_fp16, pick_dtype

_PICK = """
import warnings, torch
warnings.simplefilter("default")
from locrnn.runtime import pick_dtype
cpu = torch.device("cpu")
got = [pick_dtype(p, cpu) for p in ("bf16", "bf16", "fp16", "fp16", "auto", "fp32")]
print([str(d) for d in got])
"""


def test_emulated_half_precision_is_named_once_per_process():
    if not avx2_emulation_works():
        pytest.skip("this CPU or torch build cannot emulate an AVX2-only CPU")
    r = run_python(["-c", _PICK], AVX2_ONLY)
    assert r.returncode == 0, r.stderr
    # still honoured: results stay correct, only slower
    assert r.stdout.strip() == str(
        ["torch.bfloat16", "torch.bfloat16", "torch.float16", "torch.float16", "None", "None"]
    )
    notes = [line for line in r.stderr.splitlines() if "emulated" in line]
    assert len(notes) == 2, r.stderr  # one for bf16, one for fp16, however often they are asked for
    bf16, fp16 = notes
    assert "bf16 on this CPU (AVX2, no native bf16)" in bf16 and "slower than fp32" in bf16
    assert "fp16 on this CPU (AVX2, no native fp16)" in fp16
    assert "precision 'auto' or 'fp32'" in bf16 and "--" not in bf16  # library code names no flag


@pytest.mark.parametrize(
    "precision,dtype,native", [("bf16", torch.bfloat16, cpu_has_bf16), ("fp16", torch.float16, cpu_has_fp16)]
)
def test_native_half_precision_is_not_warned_about(precision, dtype, native):
    if not native():
        pytest.skip(f"this CPU has no native {precision}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pick_dtype(precision, torch.device("cpu")) == dtype


def test_cli_user_sees_the_emulation_warning_on_stderr(tmp_path):
    if not avx2_emulation_works():
        pytest.skip("this CPU or torch build cannot emulate an AVX2-only CPU")
    args = ["-m", "locrnn", "sweep", "--pretrained", "locrnn-mazes", "--sizes", "9", "--steps", "1:2"]
    args += ["--n", "4", "--batch-size", "4", "--device", "cpu", "--precision", "bf16", "--out", str(tmp_path)]
    r = run_python(args, AVX2_ONLY, timeout=300)
    assert r.returncode == 0, r.stderr
    notes = [line for line in r.stderr.splitlines() if "emulated" in line]
    assert len(notes) == 1, r.stderr  # one line, in the CLI's warning format
    assert re.fullmatch(
        r"locrnn sweep: warning: bf16 on this CPU \(AVX2, no native bf16\) is emulated and ~\d+x slower than fp32; "
        r"use precision 'auto' or 'fp32'",
        notes[0],
    ), notes[0]
    assert (tmp_path / "sweep.csv").exists()
