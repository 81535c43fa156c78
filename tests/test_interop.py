"""Weights to and from torch.nn modules and Keras layers."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from seqmodels import GRUCell, LSTMCell, LSTMState, Recurrent, RNNCell
from seqmodels.interop import (
    from_keras,
    from_keras_layer,
    from_torch,
    state_from_torch,
    state_to_torch,
    to_keras,
    to_torch,
)
from seqmodels.layers import Bidirectional, Stacked

F64 = torch.float64
TOL = {"atol": 1e-10, "rtol": 0.0}


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def assert_hx_close(a, b) -> None:
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, **TOL)
    else:
        torch.testing.assert_close(a, b, **TOL)


def random_hx(module: nn.Module, batch: int):
    directions = 2 if module.bidirectional else 1
    count = module.num_layers * directions
    out = getattr(module, "proj_size", 0) or module.hidden_size
    h = randn(count, batch, out, seed=5)
    if isinstance(module, nn.LSTM):
        return h, randn(count, batch, module.hidden_size, seed=6)
    return h


MODULES = {
    "rnn": lambda **kw: nn.RNN(3, 4, **kw),
    "rnn-relu": lambda **kw: nn.RNN(3, 4, nonlinearity="relu", **kw),
    "lstm": lambda **kw: nn.LSTM(3, 4, **kw),
    "lstm-proj": lambda **kw: nn.LSTM(3, 5, proj_size=2, **kw),
    "gru": lambda **kw: nn.GRU(3, 4, **kw),
}


def check_from_torch(module: nn.Module, batch: int = 2, steps: int = 5) -> None:
    module = module.double().eval()
    layer = from_torch(module)
    assert isinstance(layer, Stacked)
    layer.eval()
    xs = randn(batch, steps, 3)
    hx = random_hx(module, batch)
    their_xs = xs if module.batch_first else xs.transpose(0, 1)
    expected, expected_hx = module(their_xs, hx)
    if not module.batch_first:
        expected = expected.transpose(0, 1)
    outputs, state = layer(xs, state_from_torch(layer, hx))
    torch.testing.assert_close(outputs, expected, **TOL)
    assert_hx_close(state_to_torch(layer, state), expected_hx)

    # And back: to_torch gives a module with the same function.
    back = to_torch(layer, batch_first=module.batch_first).eval()
    again, again_hx = back(their_xs, hx)
    torch.testing.assert_close(again, module(their_xs, hx)[0], **TOL)
    assert_hx_close(again_hx, expected_hx)
    for name, p in module.named_parameters():
        assert torch.equal(p, getattr(back, name)), name


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_from_torch_and_back(name: str, num_layers: int, bidirectional: bool) -> None:
    torch.manual_seed(0)
    module = MODULES[name](
        num_layers=num_layers, bidirectional=bidirectional, batch_first=True
    )
    check_from_torch(module)


@pytest.mark.parametrize("name", MODULES)
def test_from_torch_no_bias_time_first(name: str) -> None:
    torch.manual_seed(1)
    check_from_torch(MODULES[name](num_layers=2, bias=False, bidirectional=True))


@settings(max_examples=25, deadline=None)
@given(
    name=st.sampled_from(sorted(MODULES)),
    batch=st.integers(1, 3),
    steps=st.integers(1, 5),
    num_layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    bias=st.booleans(),
)
def test_property_from_torch(
    name, batch, steps, num_layers, bidirectional, batch_first, bias
) -> None:
    torch.manual_seed(batch * 7 + steps)
    module = MODULES[name](
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        bias=bias,
    )
    check_from_torch(module, batch, steps)


def test_from_torch_keeps_dropout_and_mode() -> None:
    module = nn.GRU(3, 4, num_layers=2, dropout=0.25).eval()
    layer = from_torch(module)
    assert layer.dropout == 0.25 and not layer.training
    assert to_torch(layer).dropout == 0.25


@pytest.mark.parametrize(
    "module",
    [
        nn.RNNCell(3, 4),
        nn.RNNCell(3, 4, nonlinearity="relu"),
        nn.LSTMCell(3, 4),
        nn.GRUCell(3, 4, bias=False),
    ],
)
def test_torch_cells_both_ways(module: nn.Module) -> None:
    module = module.double()
    cell = from_torch(module)
    x = randn(2, 3)
    out, _ = cell(x)
    expected = module(x)
    expected = expected[0] if isinstance(expected, tuple) else expected
    torch.testing.assert_close(out, expected, **TOL)
    back = to_torch(cell)
    assert type(back) is type(module)
    for name, p in module.named_parameters():
        assert torch.equal(p, getattr(back, name))


def test_to_torch_from_our_own_layers() -> None:
    layer = Stacked(
        [
            Bidirectional(LSTMCell(3, 4), LSTMCell(3, 4)),
            Bidirectional(LSTMCell(8, 4), LSTMCell(8, 4)),
        ]
    ).double()
    module = to_torch(layer)
    assert (
        isinstance(module, nn.LSTM) and module.num_layers == 2 and module.bidirectional
    )
    xs = randn(2, 4, 3)
    torch.testing.assert_close(layer(xs)[0], module(xs)[0], **TOL)
    single = to_torch(Recurrent(GRUCell(3, 4).double()))
    assert isinstance(single, nn.GRU) and single.num_layers == 1


# Bad input -------------------------------------------------------------------


def test_torch_errors() -> None:
    with pytest.raises(
        TypeError, match=r"from_torch: expected torch.nn.RNN, .* got Linear"
    ):
        from_torch(nn.Linear(3, 4))
    weighted = nn.utils.parametrizations.weight_norm(nn.GRUCell(3, 4), "weight_hh")
    with pytest.raises(ValueError, match="parametrized weights"):
        from_torch(weighted)
    with pytest.raises(
        ValueError, match=r"GRUCell\(reset_after=False\) has no torch.nn equivalent"
    ):
        to_torch(GRUCell(3, 4, reset_after=False))
    with pytest.raises(ValueError, match=r"torch.nn.LSTMCell has no proj_size"):
        to_torch(LSTMCell(3, 5, proj_size=2))
    with pytest.raises(ValueError, match="layer 0 is a Recurrent running in reverse"):
        to_torch(Recurrent(GRUCell(3, 4), reverse=True))
    with pytest.raises(ValueError, match="layer 1 holds GRUCell"):
        to_torch(Stacked([LSTMCell(3, 4), GRUCell(4, 4)]))
    with pytest.raises(ValueError, match="layer 1 has 2 direction"):
        to_torch(Stacked([GRUCell(3, 4), Bidirectional(GRUCell(4, 4), GRUCell(4, 4))]))


# Keras ------------------------------------------------------------------------


def keras_reference(
    kind: str,
    weights,
    xs: np.ndarray,
    *,
    reset_after=True,
    go_backwards=False,
    activation="tanh",
):
    """The Keras equations in numpy, from Keras' documentation of its layers."""

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    kernel, recurrent = weights[0], weights[1]
    bias = (
        weights[2]
        if len(weights) == 3
        else np.zeros(
            (2, kernel.shape[1]) if kind == "GRU" and reset_after else kernel.shape[1]
        )
    )
    hidden = recurrent.shape[0]
    h = np.zeros((xs.shape[0], hidden))
    c = np.zeros_like(h)
    steps = range(xs.shape[1])[::-1] if go_backwards else range(xs.shape[1])
    outputs = []
    for t in steps:
        x = xs[:, t]
        if kind == "SimpleRNN":
            a = x @ kernel + h @ recurrent + bias
            h = np.tanh(a) if activation == "tanh" else np.maximum(a, 0)
        elif kind == "LSTM":
            z = x @ kernel + h @ recurrent + bias
            i, f, g, o = np.split(z, 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        else:
            b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, 0 * bias)
            xz, xr, xh = np.split(x @ kernel + b_in, 3, axis=1)
            uz, ur, uh = np.split(recurrent, 3, axis=1)
            bz, br, bh = np.split(np.broadcast_to(b_rec, (3 * hidden,)), 3)
            z = sigmoid(xz + h @ uz + bz)
            r = sigmoid(xr + h @ ur + br)
            hh = (
                np.tanh(xh + r * (h @ uh + bh))
                if reset_after
                else np.tanh(xh + (r * h) @ uh)
            )
            h = z * h + (1 - z) * hh
        outputs.append(h)
    return np.stack(outputs, 1), h


def keras_weights(
    kind: str, input_size: int, hidden: int, *, reset_after=True, bias=True, seed=0
):
    rng = np.random.default_rng(seed)
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[kind]
    weights = [
        rng.standard_normal((input_size, gates * hidden)),
        rng.standard_normal((hidden, gates * hidden)) * 0.5,
    ]
    if bias:
        shape = (2, 3 * hidden) if kind == "GRU" and reset_after else (gates * hidden,)
        weights.append(rng.standard_normal(shape))
    return weights


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("SimpleRNN", {}),
        ("SimpleRNN", {"activation": "relu"}),
        ("LSTM", {}),
        ("GRU", {"reset_after": True}),
        ("GRU", {"reset_after": False}),
        ("GRU", {"reset_after": False, "go_backwards": True}),
        ("LSTM", {"go_backwards": True}),
    ],
)
@pytest.mark.parametrize("bias", [True, False])
def test_from_keras_arrays(kind: str, options: dict, bias: bool) -> None:
    weights = keras_weights(
        kind, 3, 4, reset_after=options.get("reset_after", True), bias=bias
    )
    xs = np.random.default_rng(1).standard_normal((2, 5, 3))
    expected, expected_h = keras_reference(kind, weights, xs, **options)
    run = from_keras(kind, weights, **options)
    outputs, state = run(torch.as_tensor(xs))
    if options.get("go_backwards"):
        outputs = outputs.flip(1)  # Keras returns the sequence in running order
    np.testing.assert_allclose(outputs.detach().numpy(), expected, atol=1e-10, rtol=0)
    h = state.h if isinstance(state, LSTMState) else state
    np.testing.assert_allclose(h.detach().numpy(), expected_h, atol=1e-10, rtol=0)

    # And back to Keras' layout: the same function.
    again = from_keras(kind, to_keras(run.cell), **options)
    torch.testing.assert_close(
        again(torch.as_tensor(xs))[0], run(torch.as_tensor(xs))[0], **TOL
    )


def test_keras_unit_forget_bias_is_counted_once() -> None:
    hidden = 3
    bias = np.concatenate([np.zeros(hidden), np.ones(hidden), np.zeros(2 * hidden)])
    weights = [np.zeros((2, 4 * hidden)), np.zeros((hidden, 4 * hidden)), bias]
    cell = from_keras("LSTM", weights).cell
    assert torch.equal(cell.input_bias, torch.as_tensor(bias))
    assert torch.count_nonzero(cell.bias_hh) == 0


@pytest.mark.parametrize(
    ("kind", "weights", "match"),
    [
        (
            "LSTM",
            [np.zeros((3, 12)), np.zeros((4, 12))],
            r"recurrent_kernel of shape \[H, 4H\] = \[4, 16\], got \[4, 12\]",
        ),
        (
            "LSTM",
            [np.zeros((3, 15)), np.zeros((4, 16))],
            r"kernel of shape \[E, 4H\] = \[E, 16\], got \[3, 15\]",
        ),
        (
            "GRU",
            [np.zeros((3, 12)), np.zeros((4, 12)), np.zeros(12)],
            r"bias of shape \[2, 12\], got \[12\]",
        ),
        (
            "SimpleRNN",
            [np.zeros((3, 4)), np.zeros(4)],
            r"recurrent_kernel of shape \[H, H\], got \[4\]",
        ),
        ("LSTM", [np.zeros((3, 4))], r"expected \[kernel, recurrent_kernel\]"),
        (
            "Conv",
            [np.zeros((3, 4)), np.zeros((4, 4))],
            r"kind must be 'SimpleRNN', 'LSTM' or 'GRU', got 'Conv'",
        ),
    ],
)
def test_keras_shape_errors(kind: str, weights, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        from_keras(kind, weights)


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("SimpleRNN", {}),
        ("LSTM", {"unit_forget_bias": True}),
        ("GRU", {"reset_after": True}),
        ("GRU", {"reset_after": False}),
        ("LSTM", {"go_backwards": True}),
        ("GRU", {"go_backwards": True, "use_bias": False}),
    ],
)
def test_against_keras_itself(keras, kind: str, options: dict) -> None:
    layer = getattr(keras.layers, kind)(
        4, return_sequences=True, return_state=True, **options
    )
    xs = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    result = layer(xs)
    expected = keras.ops.convert_to_numpy(result[0])
    expected_h = keras.ops.convert_to_numpy(result[1])
    # Make the (otherwise zero) biases count, and check that import reads them.
    if options.get("use_bias", True):
        weights = layer.get_weights()
        weights[2] = weights[2] + 0.1 * np.random.default_rng(1).standard_normal(
            weights[2].shape
        )
        layer.set_weights(weights)
        result = layer(xs)
        expected = keras.ops.convert_to_numpy(result[0])
        expected_h = keras.ops.convert_to_numpy(result[1])
    run = from_keras_layer(layer)
    outputs, state = run(torch.as_tensor(xs))
    if options.get("go_backwards"):
        outputs = outputs.flip(1)
    h = state.h if isinstance(state, LSTMState) else state
    np.testing.assert_allclose(outputs.detach().numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(h.detach().numpy(), expected_h, atol=1e-5)
    if kind == "LSTM" and options.get("unit_forget_bias"):
        assert torch.count_nonzero(run.cell.bias_hh) == 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_keras_unsupported_options(keras) -> None:
    layer = keras.layers.LSTM(4, recurrent_activation="hard_sigmoid")
    layer.build((1, 2, 3))
    with pytest.raises(
        ValueError, match=r"recurrent_activation='hard_sigmoid'.* not supported"
    ):
        from_keras_layer(layer)
    with pytest.raises(
        TypeError, match="expected a Keras SimpleRNN, LSTM or GRU layer, got Dense"
    ):
        from_keras_layer(keras.layers.Dense(3))


def test_to_keras_refuses_what_keras_lacks() -> None:
    with pytest.raises(ValueError, match="Keras' LSTM has no projection"):
        to_keras(LSTMCell(3, 5, proj_size=2))
    assert [w.shape for w in to_keras(RNNCell(3, 4))] == [(3, 4), (4, 4), (4,)]
