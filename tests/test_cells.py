"""The built-in cells against torch.nn with copied weights, and against the
equations written out in plain torch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqmodels import GRUCell, LSTMCell, LSTMState, RNNCell
from seqmodels.testing import check_cell

F64 = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


PAIRS = [
    (lambda: RNNCell(3, 5), lambda: nn.RNNCell(3, 5)),
    (
        lambda: RNNCell(3, 5, nonlinearity="relu"),
        lambda: nn.RNNCell(3, 5, nonlinearity="relu"),
    ),
    (lambda: RNNCell(3, 5, bias=False), lambda: nn.RNNCell(3, 5, bias=False)),
    (lambda: LSTMCell(3, 5), lambda: nn.LSTMCell(3, 5)),
    (lambda: LSTMCell(3, 5, bias=False), lambda: nn.LSTMCell(3, 5, bias=False)),
    (lambda: GRUCell(3, 5), lambda: nn.GRUCell(3, 5)),
    (lambda: GRUCell(3, 5, bias=False), lambda: nn.GRUCell(3, 5, bias=False)),
]
IDS = ["rnn", "rnn-relu", "rnn-nobias", "lstm", "lstm-nobias", "gru", "gru-nobias"]


def lstm_flat(cell: LSTMCell):
    """``cell`` as a function of tensors to a tuple of tensors, for gradcheck."""

    def run(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        out, new = cell(x, LSTMState(h, c))
        return out, new.c

    return run


def as_torch_state(state: object) -> object:
    return tuple(state) if isinstance(state, LSTMState) else state


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_equals_torch_with_their_weights(ours, theirs) -> None:
    torch.manual_seed(0)
    reference = theirs().double()
    cell = ours().double()
    cell.load_state_dict(reference.state_dict())

    x = randn(4, 3, seed=1)
    state = cell.initial_state(4, dtype=F64)
    state = (
        type(state)(*(randn(4, 5, seed=2 + k) for k in range(len(state))))
        if (isinstance(state, tuple))
        else randn(4, 5, seed=2)
    )
    out, new = cell(x, state)
    expected = reference(x, as_torch_state(state))
    if isinstance(expected, tuple):
        torch.testing.assert_close(out, expected[0], atol=1e-10, rtol=0)
        torch.testing.assert_close(new.c, expected[1], atol=1e-10, rtol=0)
    else:
        torch.testing.assert_close(out, expected, atol=1e-10, rtol=0)
        torch.testing.assert_close(new, expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_torch_loads_our_state_dict(ours, theirs) -> None:
    cell = ours().double()
    reference = theirs().double()
    reference.load_state_dict(cell.state_dict())
    x = randn(2, 3)
    out, _ = cell(x)
    expected = reference(x)
    expected = expected[0] if isinstance(expected, tuple) else expected
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=0)


@pytest.mark.parametrize("make", [p[0] for p in PAIRS], ids=IDS)
def test_gradcheck(make) -> None:
    cell = make().double()
    x = randn(2, 3).requires_grad_()
    if isinstance(cell, LSTMCell):
        h, c = randn(2, 5, seed=1), randn(2, 5, seed=2)
        h.requires_grad_(), c.requires_grad_()
        assert torch.autograd.gradcheck(lstm_flat(cell), (x, h, c))
    else:
        h = randn(2, 5, seed=1).requires_grad_()
        assert torch.autograd.gradcheck(lambda x, h: cell(x, h)[0], (x, h))


def test_lstm_projection_equals_torch_lstm_proj_size() -> None:
    torch.manual_seed(0)
    reference = nn.LSTM(3, 6, proj_size=2, batch_first=True).double()
    cell = LSTMCell(3, 6, proj_size=2).double()
    cell.load_state_dict(
        {k[: -len("_l0")]: v for k, v in reference.state_dict().items()}
    )
    xs = randn(4, 5, 3)
    h0, c0 = randn(4, 2, seed=1), randn(4, 6, seed=2)
    expected, (h_n, c_n) = reference(xs, (h0[None], c0[None]))
    state = LSTMState(h0, c0)
    outs = []
    for t in range(5):
        out, state = cell(xs[:, t], state)
        outs.append(out)
    assert state.h.shape == (4, 2) and state.c.shape == (4, 6)
    torch.testing.assert_close(torch.stack(outs, 1), expected, atol=1e-10, rtol=0)
    torch.testing.assert_close(state.c, c_n[0], atol=1e-10, rtol=0)
    torch.testing.assert_close(state.h, h_n[0], atol=1e-10, rtol=0)


def test_lstm_projection_gradcheck() -> None:
    cell = LSTMCell(3, 5, proj_size=2).double()
    x, h, c = randn(2, 3), randn(2, 2, seed=1), randn(2, 5, seed=2)
    for t in (x, h, c):
        t.requires_grad_()
    assert torch.autograd.gradcheck(lstm_flat(cell), (x, h, c))


def test_gru_paper_variant_against_plain_torch() -> None:
    cell = GRUCell(3, 4, reset_after=False).double()
    x, h = randn(5, 3), randn(5, 4, seed=1)
    out, _ = cell(x, h)

    # The equations of Cho et al. (2014), written out: reset before the product.
    w_ir, w_iz, w_in = cell.weight_ih.chunk(3)
    w_hr, w_hz, w_hn = cell.weight_hh.chunk(3)
    b_ir, b_iz, b_in = cell.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ w_ir.T + b_ir + h @ w_hr.T + b_hr)
    z = torch.sigmoid(x @ w_iz.T + b_iz + h @ w_hz.T + b_hz)
    n = torch.tanh(x @ w_in.T + b_in + (r * h) @ w_hn.T + b_hn)
    expected = (1 - z) * n + z * h
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=0)

    # The variants differ with the same weights.
    other = GRUCell(3, 4).double()
    other.load_state_dict(cell.state_dict())
    assert (other(x, h)[0] - out).abs().max() > 1e-3


def test_lstm_equations_in_plain_torch() -> None:
    cell = LSTMCell(3, 4).double()
    x, h, c = randn(2, 3), randn(2, 4, seed=1), randn(2, 4, seed=2)
    out, new = cell(x, LSTMState(h, c))
    pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    i, f, g, o = pre.chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    torch.testing.assert_close(new.c, c_new, atol=1e-10, rtol=0)
    torch.testing.assert_close(
        out, torch.sigmoid(o) * torch.tanh(c_new), atol=1e-10, rtol=0
    )


def test_forget_bias_is_counted_once() -> None:
    cell = LSTMCell(3, 4, forget_bias=1.0, generator=torch.Generator().manual_seed(0))
    forget = slice(4, 8)
    assert torch.equal(cell.bias_ih[forget], torch.ones(4))
    assert torch.equal(cell.bias_hh[forget], torch.zeros(4))
    assert torch.equal(cell.input_bias[forget], torch.ones(4))
    # With zero weights the forget gate is exactly sigmoid(1).
    with torch.no_grad():
        cell.weight_ih.zero_(), cell.weight_hh.zero_()
    details: dict[str, torch.Tensor] = {}
    cell(torch.zeros(1, 3), details=details)
    torch.testing.assert_close(details["f"], torch.sigmoid(torch.ones(1, 4)))


def test_generator_makes_parameters_reproducible() -> None:
    a = GRUCell(3, 4, generator=torch.Generator().manual_seed(7))
    b = GRUCell(3, 4, generator=torch.Generator().manual_seed(7))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RNNCell(3, 4),
        lambda: RNNCell(3, 4, nonlinearity="relu"),
        lambda: LSTMCell(3, 4),
        lambda: LSTMCell(3, 5, proj_size=2),
        lambda: LSTMCell(3, 4, forget_bias=1.0),
        lambda: GRUCell(3, 4),
        lambda: GRUCell(3, 4, reset_after=False),
        lambda: GRUCell(3, 4, bias=False),
    ],
)
def test_builtin_cells_pass_check_cell(make) -> None:
    report = check_cell(make)
    assert "gradcheck" in report.passed
    assert "clear errors for bad input" in report.passed


# Bad input -------------------------------------------------------------------


@pytest.mark.parametrize("cell", [RNNCell(3, 4), LSTMCell(3, 4), GRUCell(3, 4)])
def test_wrong_features_name_both_numbers(cell) -> None:
    name = type(cell).__name__
    with pytest.raises(
        ValueError, match=f"{name}: expected input with 3 features, got 5"
    ):
        cell(torch.zeros(2, 5))


@pytest.mark.parametrize("cell", [RNNCell(3, 4), GRUCell(3, 4)])
def test_state_batch_mismatch_names_both_sizes(cell) -> None:
    with pytest.raises(
        ValueError, match="state has batch size 3 but the input has batch size 2"
    ):
        cell(torch.zeros(2, 3), torch.zeros(3, 4))


def test_lstm_state_batch_mismatch() -> None:
    cell = LSTMCell(3, 4)
    state = LSTMState(torch.zeros(2, 4), torch.zeros(5, 4))
    with pytest.raises(
        ValueError, match="c has batch size 5 but the input has batch size 2"
    ):
        cell(torch.zeros(2, 3), state)


def test_bare_tensor_to_lstm_is_a_type_error() -> None:
    with pytest.raises(
        TypeError, match=r"LSTMCell: expected state as LSTMState\(h, c\)"
    ):
        LSTMCell(3, 4)(torch.zeros(2, 3), torch.zeros(2, 4))


def test_tuple_to_gru_is_a_type_error() -> None:
    state = (torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(
        TypeError, match=r"GRUCell: expected state as a tensor of shape \[2, 4\]"
    ):
        GRUCell(3, 4)(torch.zeros(2, 3), state)


def test_state_of_wrong_width() -> None:
    with pytest.raises(
        ValueError, match=r"RNNCell: expected state of shape \[2, 4\], got \[2, 6\]"
    ):
        RNNCell(3, 4)(torch.zeros(2, 3), torch.zeros(2, 6))


def test_state_of_another_dtype() -> None:
    cell = RNNCell(3, 4).double()
    with pytest.raises(
        TypeError, match=r"expected state of dtype torch\.float64 .* got torch\.float32"
    ):
        cell(torch.zeros(2, 3, dtype=F64), torch.zeros(2, 4))


def test_integer_input_is_a_type_error() -> None:
    with pytest.raises(
        TypeError,
        match=r"GRUCell: expected a floating-point input, got dtype torch\.int64",
    ):
        GRUCell(3, 4)(torch.zeros(2, 3, dtype=torch.long))


@pytest.mark.parametrize("proj_size", [4, 9])
def test_proj_size_must_be_below_hidden_size(proj_size: int) -> None:
    with pytest.raises(
        ValueError,
        match=f"proj_size must be smaller than hidden_size \\(4\\), got {proj_size}",
    ):
        LSTMCell(3, 4, proj_size=proj_size)


def test_bad_sizes_and_options() -> None:
    with pytest.raises(
        ValueError, match="RNNCell: hidden_size must be a positive integer, got 0"
    ):
        RNNCell(3, 0)
    with pytest.raises(
        ValueError, match="nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"
    ):
        RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(
        ValueError, match="proj_size must be a non-negative integer, got -1"
    ):
        LSTMCell(3, 4, proj_size=-1)
    with pytest.raises(ValueError, match=r"forget_bias=1\.0 needs bias=True"):
        LSTMCell(3, 4, bias=False, forget_bias=1.0)
