"""The model contract, swept over every registered model at tiny sizes."""

import pytest
import torch

from locrnn.models import build_model, get_entry, list_models
from oracle import oracle_locrnn_states

TINY = {"mazes": (3, 24), "pathfinder": (3, 48)}
CASES = [(n, t) for n in list_models() for t in get_entry(n).tasks]


def tiny(name, task, **kw):
    torch.manual_seed(0)
    return build_model(name, task=task, width=8, **kw)


def batch(task, n=2):
    c, s = TINY[task]
    return torch.rand(n, c, s, s)


def out_shape(task, x):
    return (x.shape[0], 2, *x.shape[2:]) if task == "mazes" else (x.shape[0], 2)


@pytest.mark.parametrize("name,task", CASES)
def test_shape_finite_and_gradients(name, task):
    model = tiny(name, task)
    x = batch(task)
    y = model(x)
    assert y.shape == out_shape(task, x)
    assert torch.isfinite(y).all()
    y.square().mean().backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {pname}"


@pytest.mark.parametrize("name,task", CASES)
def test_steps_at_call_time(name, task):
    model = tiny(name, task).eval()
    x = batch(task)
    if not model.recurrent:
        with pytest.raises(ValueError, match="feed-forward"):
            model(x, steps=3)
        return
    T = model.trained_steps
    with torch.no_grad():
        longer = model(x, steps=2 * T)
        assert longer.shape == out_shape(task, x) and torch.isfinite(longer).all()
        stepped = list(model.iterate(x, 2 * T))
        for k in sorted({1, 2, T - 1, T, T + 1, 2 * T} - {0}):
            torch.testing.assert_close(model(x, steps=k), stepped[k - 1], msg=f"step {k}")
        torch.testing.assert_close(model(x), stepped[T - 1])  # default = trained steps
    assert len(stepped) == 2 * T


@pytest.mark.parametrize("name,task", CASES)
def test_seeded_determinism(name, task):
    x = batch(task)
    a, b = tiny(name, task).eval(), tiny(name, task).eval()
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


@pytest.mark.parametrize("name,task", CASES)
def test_bad_inputs_are_named(name, task):
    model = tiny(name, task)
    with pytest.raises(ValueError, match="input channels"):
        model(torch.rand(1, 4, 24, 24))
    with pytest.raises(ValueError, match="shape"):
        model(torch.rand(3, 24, 24))


def test_duplicate_and_unknown_names():
    from locrnn.models import register_model

    with pytest.raises(ValueError, match="already registered"):
        register_model("locrnn")(lambda **kw: None)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model("nope")


def test_locrnn_matches_the_equations():
    """The fused cell equals a plain term-by-term implementation of Eq. 1-6."""
    model = build_model("locrnn", task="mazes", width=16).eval()
    x = torch.rand(2, 3, 24, 24)
    with torch.no_grad():
        X = model.stem(x)
        expected = oracle_locrnn_states(model.cell, X, 6)
        got = [model.cell.output(s) for s in model.states(x, 6)]
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_any_image_size_runs_through_the_same_weights():
    model = build_model("locrnn", task="mazes", width=8).eval()
    for side in (24, 32, 70):
        assert model(torch.rand(1, 3, side, side)).shape == (1, 2, side, side)


@pytest.mark.parametrize("name,task", CASES)
def test_states_continue_from_a_given_state(name, task):
    """states(x, k, state, start) after n steps gives the same states as one run of n + k steps;
    readout(state) is the model's output at that state."""
    model = tiny(name, task).eval()
    if not model.recurrent:
        return
    x = batch(task)
    with torch.no_grad():
        whole = list(model.states(x, 5))
        rest = list(model.states(x, 3, state=whole[1], start=2))
        for a, b in zip(whole[2:], rest):
            for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
                torch.testing.assert_close(u, v, rtol=0, atol=0)
        torch.testing.assert_close(model.readout(whole[-1]), model(x, steps=5), rtol=0, atol=0)
        out, features = model.readout(whole[-1], return_features=True)
        torch.testing.assert_close(features, model.cell.output(whole[-1]))


@pytest.mark.parametrize("name", list_models())
def test_entry_points_show_their_arguments(name):
    """Keyword-only, typed, and every argument resolved (task defaults included) on the model."""
    import inspect

    entry = get_entry(name)
    params = inspect.signature(entry.fn).parameters
    assert all(p.kind is p.KEYWORD_ONLY and p.annotation is not p.empty for p in params.values())
    assert set(entry.defaults) == set(entry.tasks) and "task" in params
    for task, defaults in entry.defaults.items():
        assert set(defaults) <= set(params)
        model = build_model(name, task=task, width=8)
        assert set(model.config) == set(params) | {"name"} and model.config["width"] == 8


def test_arguments_are_checked_before_any_layer_is_built():
    with pytest.raises(ValueError, match="model 'locrnn' takes no argument 'colour'"):
        build_model("locrnn", colour="red")
    with pytest.raises(ValueError, match="width must be an integer >= 1, got -8"):
        build_model("locrnn", width=-8)
    with pytest.raises(ValueError, match="does not support task 'pathfinder'"):
        build_model("resnet12", task="pathfinder")
    assert build_model("locrnn", task="mazes", width=None).config["width"] == 64  # None: the default


@pytest.mark.parametrize("name,task", CASES)
def test_samples_can_leave_a_run_midway(name, task):
    """Drives and states are batch first and samples never mix: dropping samples after a few
    steps (as halting does) leaves the others' states as in the run of the whole batch."""
    from locrnn.models.base import select_samples

    model = tiny(name, task).eval()
    if not model.recurrent:
        return
    x = batch(task, n=4)
    keep = torch.tensor([True, False, True, False])
    with torch.no_grad():
        whole = list(model.states(x, 5))
        drive, state = model.prepare(x)
        for t in range(5):
            state = model.step(drive, state, t)
            if t == 1:
                drive, state = select_samples(drive, keep), select_samples(state, keep)
    as_tuple = (lambda s: s) if isinstance(state, tuple) else (lambda s: (s,))
    for u, v in zip(as_tuple(state), as_tuple(whole[-1])):
        torch.testing.assert_close(u, v[keep])


def test_a_gated_update_takes_mixed_dtypes_as_cuda_autocast_gives_them():
    """Under CUDA autocast LocRNN's candidates are bf16 and its gate and state fp32 (GroupNorm runs
    in fp32 there); the update is done in fp32 and equals (1 - g) * old + g * new."""
    from locrnn.models.layers import blend

    old, new, gate = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4).bfloat16(), torch.rand(2, 3, 4, 4)
    out = blend(old, new, gate)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, (1 - gate) * old + gate * new.float())
    assert blend(old.bfloat16(), new, gate.bfloat16()).dtype == torch.bfloat16


def test_grouped_pointwise_is_the_grouped_convolution_in_value_and_gradient() -> None:
    """The batched-matmul form of a grouped 1x1 convolution (LocRNN's U_ll | U_ss) gives the
    convolution's output and the same gradients for input, weight and bias."""
    from locrnn.models.layers import grouped_pointwise

    torch.manual_seed(0)
    for groups, cin, cout, bias in [(2, 64, 64, True), (1, 16, 8, True), (4, 32, 16, False)]:
        conv = torch.nn.Conv2d(cin, cout, 1, groups=groups, bias=bias)
        x = torch.randn(3, cin, 5, 7, requires_grad=True)
        ref = conv(x)
        got = grouped_pointwise(x, conv)
        assert got.shape == ref.shape
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
        g = torch.randn_like(ref)
        params = [x, conv.weight] + ([conv.bias] if bias else [])
        for a, b in zip(torch.autograd.grad(ref, params, g), torch.autograd.grad(got, params, g)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_pixel_norm_normalises_each_pixel_over_its_group_and_couples_no_pixels() -> None:
    """norm_scope="pixel": a LayerNorm over each population's channels at every pixel, so a change
    at one pixel leaves every other pixel's output unchanged (the image-wide LN moves them all)."""
    from locrnn.models.layers import pixel_group_norm

    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 6)
    w, b = torch.ones(8), torch.zeros(8)
    y = pixel_group_norm(x, 2, w, b, 0.0).view(2, 2, 4, 5, 6)
    torch.testing.assert_close(y.mean(2), torch.zeros(2, 2, 5, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(2, unbiased=False), torch.ones(2, 2, 5, 6), atol=1e-4, rtol=0)
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1).reshape(2, 5, 6, 2, 4), (4,), eps=0.0)
    torch.testing.assert_close(y, ref.permute(0, 3, 4, 1, 2), atol=1e-5, rtol=0)
    # gradients (input, weight, bias) match the layer norm's over the same channels
    grads, inputs = [], (x * 3 + 1, torch.rand(8) + 0.5, torch.randn(8))
    for norm in ("pixel", "layer_norm"):
        xi, wi, bi = (t.clone().requires_grad_() for t in inputs)
        if norm == "pixel":
            out = pixel_group_norm(xi, 2, wi, bi, 1e-5)
        else:
            ln = torch.nn.functional.layer_norm(xi.permute(0, 2, 3, 1).reshape(2, 5, 6, 2, 4), (4,), eps=1e-5)
            out = ln.reshape(2, 5, 6, 8) * wi + bi
            out = out.permute(0, 3, 1, 2)
        out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
        grads.append((xi.grad, wi.grad, bi.grad))
    for a, r in zip(*grads):
        torch.testing.assert_close(a, r, atol=1e-4, rtol=1e-4)

    for scope, coupled in (("pixel", False), ("image", True)):
        torch.manual_seed(0)
        net = build_model("locrnn", task="mazes", width=8, steps=4, norm_scope=scope).eval()
        img = torch.rand(1, 3, 40, 40)
        moved = img.clone()
        moved[0, :, 2, 2] += 1.0  # one pixel in a corner; 4 steps of 5x5 kernels reach ~12 px from it
        with torch.no_grad():
            far = (net(img) - net(moved))[..., 30:, 30:].abs().max().item()
        assert (far > 1e-6) == coupled, (scope, far)


def test_an_unknown_norm_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="norm_scope"):
        build_model("locrnn", task="mazes", width=8, norm_scope="global")
