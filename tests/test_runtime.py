"""The runtime (runtime.py): the device, the precision and compiling picked for a process, and
the helpers that are one-process no-ops. Emulated bf16/fp16 on a CPU without native support is
honoured and named once per process.

A CPU with AVX2 only is emulated in a fresh process: oneDNN and ATen then use AVX2 kernels and
``_is_mkldnn_bf16_supported()`` says False, as on such a CPU.
"""

import re
import warnings

import pytest
import torch

from emulation import AVX2_ONLY, avx2_emulation_works, run_python
from locrnn.io import UserError
from locrnn.runtime import (
    Runtime,
    all_sum,
    broadcast_value,
    cpu_has_bf16,
    cpu_has_fp16,
    main_first,
    pick_compile,
    pick_device,
    pick_dtype,
    setup,
)

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


def test_the_device_is_picked_by_name_and_a_bad_one_is_named():
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto") == (torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu"))
    with pytest.raises(UserError, match="unknown device 'gpu7'"):
        pick_device("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA device is available"):
            pick_device("cuda:1")


def test_precision_names_map_to_autocast_dtypes():
    cpu = torch.device("cpu")
    assert pick_dtype("fp32", cpu) is None
    assert pick_dtype("auto", cpu) == (torch.bfloat16 if cpu_has_bf16() else None)  # native only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the emulation note (tested above)
        assert pick_dtype("bf16", cpu) == torch.bfloat16 and pick_dtype("fp16", cpu) == torch.float16
    with pytest.raises(UserError, match="unknown precision 'fp8'"):
        pick_dtype("fp8", cpu)


def test_compiling_is_on_for_cuda_only_unless_set():
    assert pick_compile(None, torch.device("cuda", 0)) and not pick_compile(None, torch.device("cpu"))
    assert pick_compile(True, torch.device("cpu")) and not pick_compile(False, torch.device("cuda", 0))


def test_one_process_set_up_alone_and_its_collectives_are_identities(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")  # under torchrun, an evaluation works alone (join=False)
    monkeypatch.setenv("RANK", "2")
    rt = setup("cpu", "fp32", join=False)
    assert rt.device == torch.device("cpu") and rt.dtype is None
    assert (rt.rank, rt.world, rt.main, rt.owns_group) == (0, 1, True, False)
    assert all_sum([1.0, 2.5], rt) == [1.0, 2.5] and broadcast_value(3.0, rt) == 3.0
    assert main_first(lambda: "made", rt) == "made"
    with rt.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    bf16 = Runtime(torch.device("cpu"), torch.bfloat16)
    with bf16.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16
