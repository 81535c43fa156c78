"""Recurrent against a hand loop over the cell and against torch.nn.RNN, LSTM and
GRU; padded batches; running in reverse; tracing."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqmodels import GRUCell, LSTMCell, LSTMState, Recurrent, RNNCell
from seqmodels.recurrent import reverse_padded

F64 = torch.float64
TOL = {"atol": 1e-10, "rtol": 0.0}


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


class PlainCell(nn.Module):
    """A user's cell with no input projection: h' = tanh(W [x, h])."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.linear = nn.Linear(input_size + hidden_size, hidden_size)

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, state):
        h = torch.tanh(self.linear(torch.cat([x, state], dim=1)))
        return h, h


CELLS = {
    "rnn": lambda: RNNCell(3, 4),
    "lstm": lambda: LSTMCell(3, 4),
    "lstm-proj": lambda: LSTMCell(3, 5, proj_size=2),
    "gru": lambda: GRUCell(3, 4),
    "gru-paper": lambda: GRUCell(3, 4, reset_after=False),
    "plain": lambda: PlainCell(3, 4),
}


def hand_loop(cell, xs, state):
    outputs = []
    for t in range(xs.shape[1]):
        out, state = cell(xs[:, t], state)
        outputs.append(out)
    return torch.stack(outputs, 1), state


def assert_states_close(a, b) -> None:
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, **TOL)
    else:
        for x, y in zip(a, b, strict=True):
            assert_states_close(x, y)


def row(state, b: int):
    if isinstance(state, torch.Tensor):
        return state[b : b + 1]
    return type(state)(*(row(s, b) for s in state))


@pytest.mark.parametrize("name", CELLS)
def test_equals_a_hand_loop(name: str) -> None:
    cell = CELLS[name]().double()
    xs = randn(3, 6, 3)
    state = cell.initial_state(3, dtype=F64)
    outputs, final = Recurrent(cell)(xs)
    expected, expected_state = hand_loop(cell, xs, state)
    torch.testing.assert_close(outputs, expected, **TOL)
    assert_states_close(final, expected_state)


@pytest.mark.parametrize(
    ("make", "module"),
    [
        (lambda: RNNCell(3, 4), lambda: nn.RNN(3, 4, batch_first=True)),
        (
            lambda: RNNCell(3, 4, nonlinearity="relu"),
            lambda: nn.RNN(3, 4, nonlinearity="relu", batch_first=True),
        ),
        (lambda: LSTMCell(3, 4), lambda: nn.LSTM(3, 4, batch_first=True)),
        (lambda: GRUCell(3, 4), lambda: nn.GRU(3, 4, batch_first=True)),
    ],
    ids=["rnn", "rnn-relu", "lstm", "gru"],
)
def test_equals_torch_nn_with_the_same_weights(make, module) -> None:
    torch.manual_seed(0)
    reference = module().double()
    cell = make().double()
    cell.load_state_dict({k[:-3]: v for k, v in reference.state_dict().items()})
    xs = randn(3, 6, 3)
    outputs, final = Recurrent(cell)(xs)
    expected, hx = reference(xs)
    torch.testing.assert_close(outputs, expected, **TOL)
    if isinstance(final, LSTMState):
        torch.testing.assert_close(final.h, hx[0][0], **TOL)
        torch.testing.assert_close(final.c, hx[1][0], **TOL)
    else:
        torch.testing.assert_close(final, hx[0], **TOL)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("reverse", [False, True])
def test_lengths_equal_running_each_row_alone(name: str, reverse: bool) -> None:
    cell = CELLS[name]().double()
    run = Recurrent(cell, reverse=reverse)
    xs = randn(4, 6, 3)
    lengths = torch.tensor([2, 6, 1, 4])  # any order
    state = cell.initial_state(4, dtype=F64)
    state = (
        type(state)(*(s + 0.3 for s in state))
        if isinstance(state, tuple)
        else state + 0.3
    )
    outputs, final = run(xs, state, lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_state = run(xs[b : b + 1, :n], row(state, b))
        torch.testing.assert_close(outputs[b : b + 1, :n], alone, **TOL)
        assert torch.count_nonzero(outputs[b, n:]) == 0  # zero past the length
        assert_states_close(row(final, b), alone_state)


def test_lengths_match_torch_packed_sequences() -> None:
    torch.manual_seed(0)
    reference = nn.LSTM(3, 4, batch_first=True).double()
    cell = LSTMCell(3, 4).double()
    cell.load_state_dict({k[:-3]: v for k, v in reference.state_dict().items()})
    xs, lengths = randn(4, 5, 3), torch.tensor([3, 5, 1, 2])
    packed = pack_padded_sequence(xs, lengths, batch_first=True, enforce_sorted=False)
    out, (h, c) = reference(packed)
    expected, _ = pad_packed_sequence(out, batch_first=True, total_length=5)
    outputs, final = Recurrent(cell)(xs, lengths=lengths)
    torch.testing.assert_close(outputs, expected, **TOL)
    torch.testing.assert_close(final.h, h[0], **TOL)
    torch.testing.assert_close(final.c, c[0], **TOL)


def test_lengths_as_a_list_and_all_full() -> None:
    cell = GRUCell(3, 4).double()
    xs = randn(2, 3, 3)
    full, _ = Recurrent(cell)(xs)
    as_list, _ = Recurrent(cell)(xs, lengths=[3, 3])
    torch.testing.assert_close(full, as_list, **TOL)


def test_reverse_equals_the_flipped_loop() -> None:
    cell = LSTMCell(3, 4).double()
    xs = randn(2, 5, 3)
    outputs, final = Recurrent(cell, reverse=True)(xs)
    expected, expected_state = Recurrent(cell)(xs.flip(1))
    torch.testing.assert_close(outputs, expected.flip(1), **TOL)
    assert_states_close(final, expected_state)


def test_reverse_padded_is_its_own_inverse() -> None:
    xs = randn(3, 5, 2)
    lengths = torch.tensor([5, 2, 3])
    once = reverse_padded(xs, lengths)
    torch.testing.assert_close(once[1, :2], xs[1, :2].flip(0))
    torch.testing.assert_close(once[1, 2:], xs[1, 2:])
    torch.testing.assert_close(reverse_padded(once, lengths), xs)


@pytest.mark.parametrize("name", ["lstm", "gru", "plain"])
def test_gradcheck_with_lengths(name: str) -> None:
    cell = CELLS[name]().double()
    xs = randn(3, 4, 3).requires_grad_()
    lengths = torch.tensor([4, 1, 2])

    def run(xs: torch.Tensor) -> torch.Tensor:
        outputs, final = Recurrent(cell)(xs, lengths=lengths)
        last = final.h if isinstance(final, LSTMState) else final
        return torch.cat([outputs.flatten(), last.flatten()])

    assert torch.autograd.gradcheck(run, (xs,))


def test_empty_batch_and_empty_time() -> None:
    run = Recurrent(LSTMCell(3, 4))
    outputs, _ = run(torch.zeros(0, 5, 3), lengths=torch.zeros(0, dtype=torch.long))
    assert outputs.shape == (0, 5, 4)
    outputs, state = run(torch.zeros(2, 0, 3))
    assert outputs.shape == (2, 0, 4) and state.h.shape == (2, 4)


def test_trace_keeps_gates_and_states() -> None:
    cell = LSTMCell(3, 4).double()
    xs = randn(2, 5, 3)
    trace = Recurrent(cell).trace(xs, lengths=torch.tensor([5, 3]))
    outputs, _ = Recurrent(cell)(xs, lengths=torch.tensor([5, 3]))
    torch.testing.assert_close(trace.outputs, outputs, **TOL)
    torch.testing.assert_close(trace.values["h"], outputs, **TOL)
    assert trace.values["f"].shape == (2, 5, 4)
    assert torch.count_nonzero(trace.values["f"][1, 3:]) == 0

    # The forget gate at step 2, by the equation.
    h = trace.values["h"][:, 1]
    pre = (
        xs[:, 2] @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    )
    torch.testing.assert_close(
        trace.values["f"][:, 2], torch.sigmoid(pre[:, 4:8]), **TOL
    )


def test_trace_of_a_cell_without_details_holds_states() -> None:
    trace = Recurrent(PlainCell(3, 4)).trace(torch.zeros(2, 3, 3))
    assert sorted(trace.values) == ["h"]


def test_trace_in_reverse_is_aligned_with_the_input() -> None:
    cell = GRUCell(3, 4).double()
    xs = randn(2, 5, 3)
    trace = Recurrent(cell, reverse=True).trace(xs)
    flipped = Recurrent(cell).trace(xs.flip(1))
    torch.testing.assert_close(trace.values["z"], flipped.values["z"].flip(1), **TOL)


# Bad input -------------------------------------------------------------------


def test_lengths_errors() -> None:
    run = Recurrent(GRUCell(3, 4))
    xs = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match=r"lengths of shape \[2\] .* got \[3\]"):
        run(xs, lengths=torch.tensor([1, 2, 3]))
    with pytest.raises(
        TypeError, match=r"expected integer lengths, got dtype torch\.float32"
    ):
        run(xs, lengths=torch.tensor([1.0, 2.0]))
    with pytest.raises(
        ValueError, match=r"lengths must be in \[1, 5\] \(T = 5\), got 0"
    ):
        run(xs, lengths=torch.tensor([0, 2]))
    with pytest.raises(
        ValueError, match=r"lengths must be in \[1, 5\] \(T = 5\), got 6"
    ):
        run(xs, lengths=[6, 2])
    with pytest.raises(
        TypeError, match=r"expected integer lengths, got dtype torch\.bool"
    ):
        run(xs, lengths=[True, True])


def test_input_errors() -> None:
    run = Recurrent(LSTMCell(3, 4))
    with pytest.raises(
        ValueError,
        match=r"Recurrent\(LSTMCell\): expected input with 3 features, got 5",
    ):
        run(torch.zeros(2, 4, 5))
    with pytest.raises(
        ValueError, match=r"expected input of shape \[B, T, 3\], got \[2, 3\]"
    ):
        run(torch.zeros(2, 3))
    with pytest.raises(
        TypeError, match=r"floating-point input, got dtype torch\.int64"
    ):
        run(torch.zeros(2, 4, 3, dtype=torch.long))
    with pytest.raises(
        ValueError, match="h has batch size 3 but the input has batch size 2"
    ):
        run(torch.zeros(2, 4, 3), LSTMState(torch.zeros(3, 4), torch.zeros(3, 4)))
    with pytest.raises(TypeError, match="expected state as LSTMState"):
        run(torch.zeros(2, 4, 3), torch.zeros(2, 4))


def test_not_a_cell() -> None:
    with pytest.raises(TypeError, match=r"Recurrent: expected a cell .* got Linear"):
        Recurrent(nn.Linear(3, 4))  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="forward_projected needs a cell with input_weight"
    ):
        Recurrent(PlainCell(3, 4)).forward_projected(torch.zeros(1, 2, 4))
