"""The optimizer's parameter groups and the learning-rate schedule (training/optim.py): the
recurrent block's LR factor and the exponential warm-up of DeepThinking's recipe."""

import math
from types import SimpleNamespace

import pytest
import torch

from locrnn.io import UserError
from locrnn.models import build_model
from locrnn.training.config import make_config
from locrnn.training.guard import grad_norm
from locrnn.training.optim import lr_factor, make_optimizer, param_groups
from locrnn.training.trainer import _set_lr


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def test_dt_recall_s_recurrent_block_is_the_recall_conv_and_the_two_blocks():
    net = build_model("dt_recall", task="mazes", width=8)
    names = {n for n, p in net.named_parameters() if id(p) in _ids(net.recurrent_parameters())}
    assert names == {n for n, _ in net.named_parameters() if n.startswith(("cell.recall.", "cell.recur_block."))}
    assert not any(n.startswith(("cell.projection", "head", "stem")) for n in names)
    locrnn = build_model("locrnn", task="mazes", width=8)
    assert _ids(locrnn.recurrent_parameters()) == _ids(locrnn.cell.parameters())  # the default: the cell
    assert build_model("resnet12", task="mazes", width=8).recurrent_parameters() == []


def test_the_recurrent_block_gets_the_factor_and_the_rest_the_lr():
    net = build_model("dt_recall", task="mazes", width=8)
    cfg = make_config(None, model="dt_recall", optimizer="adam", lr=1e-3, recurrent_lr_factor=1 / 30)
    opt = make_optimizer(net, cfg)
    rest, slow = opt.param_groups
    assert _ids(slow["params"]) == _ids(net.recurrent_parameters())
    assert _ids(rest["params"]) | _ids(slow["params"]) == _ids(net.parameters())
    assert not _ids(rest["params"]) & _ids(slow["params"])
    assert (rest["lr_factor"], slow["lr_factor"]) == (1.0, 1 / 30)
    assert rest["lr"] == pytest.approx(1e-3) and slow["lr"] == pytest.approx(1e-3 / 30)
    # the trainer's schedule keeps the ratio at every point of training
    run = SimpleNamespace(pos={"iteration": 5}, total=10, cfg=cfg, opt=opt, schedule=lr_factor(cfg, 10), clock={})
    _set_lr(run)
    assert slow["lr"] == pytest.approx(rest["lr"] / 30) and rest["lr"] == pytest.approx(1e-3 * run.schedule(0.5))


def test_a_factor_of_one_or_a_model_without_a_recurrent_block_keeps_one_group():
    net = build_model("dt_recall", task="mazes", width=8)
    assert len(param_groups(net, make_config(None, model="dt_recall"))) == 1
    ff = build_model("resnet12", task="mazes", width=8)
    (group,) = param_groups(ff, make_config(None, model="resnet12", recurrent_lr_factor=0.1))
    assert _ids(group["params"]) == _ids(ff.parameters()) and group["lr_factor"] == 1.0
    with pytest.raises(UserError, match="recurrent_lr_factor"):
        make_config(None, recurrent_lr_factor=0.0)


def test_the_exponential_warm_up_is_deepthinking_s_curve():
    total = 1000
    cfg = make_config(None, schedule="constant", warmup_kind="exponential", warmup=0.2)
    f = lr_factor(cfg, total)
    for p in (0.0, 0.1, 0.2, 0.5, 0.999):
        assert f(p) == pytest.approx(1 - math.exp(-(p + 1 / total) / 0.2))
    assert f(0.0) == pytest.approx(1 - math.exp(-1 / 200))  # the first step's LR is small but not 0
    assert f(0.2 - 1 / total) == pytest.approx(1 - math.exp(-1))  # 63% at the time constant
    assert f(0.999) > 0.99  # and 99.3% at the end of training (5 time constants)
    # DeepThinking's per-epoch factor 1 - exp(-(e + 1) / 10) over 50 epochs is this curve at the
    # end of each epoch
    per_epoch = lr_factor(cfg, 50)
    assert [per_epoch(e / 50) for e in range(50)] == pytest.approx([1 - math.exp(-(e + 1) / 10) for e in range(50)])
    linear = lr_factor(make_config(None, schedule="constant", warmup=0.2), total)
    assert linear(0.1) == pytest.approx((0.1 + 1 / total) / 0.2) and linear(0.5) == 1.0
    assert lr_factor(make_config(None, schedule="constant", warmup=0.0, warmup_kind="exponential"), total)(0) == 1.0
    with pytest.raises(UserError, match="warmup_kind"):
        make_config(None, warmup_kind="cosine")


def test_clip_zero_clips_nothing():
    net = torch.nn.Linear(4, 1)
    (100 * net(torch.ones(2, 4))).sum().backward()
    before = [p.grad.clone() for p in net.parameters()]
    norm = grad_norm(net, 0.0)
    assert norm > 1 and all(torch.equal(a, p.grad) for a, p in zip(before, net.parameters()))
    grad_norm(net, 1.0)
    assert torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in net.parameters()])) == pytest.approx(1.0)
