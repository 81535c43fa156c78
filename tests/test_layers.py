"""Stacked and Bidirectional against torch.nn's multi-layer, two-direction
modules with the same weights, copied by hand here."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqmodels import GRUCell, LSTMCell, LSTMState, Recurrent, RNNCell
from seqmodels.layers import Bidirectional, Stacked

F64 = torch.float64
TOL = {"atol": 1e-10, "rtol": 0.0}
KINDS = {
    "rnn": (nn.RNN, RNNCell),
    "lstm": (nn.LSTM, LSTMCell),
    "gru": (nn.GRU, GRUCell),
}


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def copy_from(module: nn.Module, stack: Stacked) -> None:
    """Copy a torch module's weights into the matching cells of ``stack``."""
    weights = module.state_dict()
    for k, layer in enumerate(stack.layers):
        runs = (
            [("", layer.forward_layer), ("_reverse", layer.backward_layer)]
            if isinstance(layer, Bidirectional)
            else [("", layer)]
        )
        for suffix, run in runs:
            names = dict(run.cell.named_parameters())
            run.cell.load_state_dict({n: weights[f"{n}_l{k}{suffix}"] for n in names})


def build(
    kind: str,
    input_size: int,
    hidden: int,
    layers: int,
    bidirectional: bool,
    bias: bool = True,
):
    module_type, cell_type = KINDS[kind]
    torch.manual_seed(0)
    module = module_type(
        input_size,
        hidden,
        num_layers=layers,
        bidirectional=bidirectional,
        bias=bias,
        batch_first=True,
    ).double()
    stack = Stacked.build(
        lambda size: cell_type(size, hidden, bias=bias).double(),
        input_size,
        num_layers=layers,
        bidirectional=bidirectional,
    )
    copy_from(module, stack)
    return module, stack


def torch_state(final, kind: str):
    """Our per-layer state as torch's [L * D, B, H] (and c for an LSTM)."""
    flat = []
    for layer_state in final:
        if isinstance(layer_state, tuple) and not isinstance(layer_state, LSTMState):
            flat.extend(layer_state)  # (forward, backward)
        else:
            flat.append(layer_state)
    if kind == "lstm":
        return torch.stack([s.h for s in flat]), torch.stack([s.c for s in flat])
    return torch.stack(flat)


def compare(module, stack, kind, xs, lengths=None) -> None:
    if lengths is None:
        expected, hx = module(xs)
    else:
        packed = pack_padded_sequence(
            xs, lengths, batch_first=True, enforce_sorted=False
        )
        out, hx = module(packed)
        expected, _ = pad_packed_sequence(
            out, batch_first=True, total_length=xs.shape[1]
        )
    outputs, final = stack(xs, lengths=lengths)
    torch.testing.assert_close(outputs, expected, **TOL)
    ours = torch_state(final, kind)
    if kind == "lstm":
        torch.testing.assert_close(ours[0], hx[0], **TOL)
        torch.testing.assert_close(ours[1], hx[1], **TOL)
    else:
        torch.testing.assert_close(ours, hx, **TOL)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_equals_torch_multi_layer(kind: str, bidirectional: bool) -> None:
    module, stack = build(kind, 3, 4, 3, bidirectional)
    compare(module, stack, kind, randn(2, 5, 3))


@pytest.mark.parametrize("kind", KINDS)
def test_equals_torch_with_lengths_bidirectional(kind: str) -> None:
    module, stack = build(kind, 3, 4, 2, True)
    compare(module, stack, kind, randn(4, 6, 3), torch.tensor([6, 2, 1, 4]))


def test_no_bias() -> None:
    module, stack = build("gru", 3, 4, 2, True, bias=False)
    compare(module, stack, "gru", randn(2, 5, 3))


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    batch=st.integers(1, 4),
    steps=st.integers(1, 6),
    input_size=st.integers(1, 5),
    hidden=st.integers(1, 5),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    padded=st.booleans(),
    data=st.data(),
)
def test_property_equals_torch(
    kind, batch, steps, input_size, hidden, layers, bidirectional, padded, data
) -> None:
    module, stack = build(kind, input_size, hidden, layers, bidirectional)
    lengths = None
    if padded:
        lengths = torch.tensor(
            data.draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
        )
    compare(module, stack, kind, randn(batch, steps, input_size), lengths)


def test_bidirectional_is_forward_and_reversed_runs_side_by_side() -> None:
    f, b = LSTMCell(3, 4).double(), GRUCell(3, 2).double()  # any two cells
    layer = Bidirectional(f, b)
    xs, lengths = randn(3, 5, 3), torch.tensor([5, 3, 1])
    outputs, (f_state, b_state) = layer(xs, lengths=lengths)
    f_out, f_expected = Recurrent(f)(xs, lengths=lengths)
    b_out, b_expected = Recurrent(b, reverse=True)(xs, lengths=lengths)
    torch.testing.assert_close(outputs, torch.cat([f_out, b_out], -1), **TOL)
    torch.testing.assert_close(f_state.c, f_expected.c, **TOL)
    torch.testing.assert_close(b_state, b_expected, **TOL)
    assert layer.output_size == 6


def test_wrappers_reuse_the_cells_given() -> None:
    cell = LSTMCell(3, 4)
    stack = Stacked([cell, GRUCell(4, 2)])
    assert stack.layers[0].cell is cell
    assert stack.output_size == 2


class Spy(nn.Module):
    """Records what reaches it; passes its input through (an identity layer)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.input_size = self.output_size = size
        self.seen: list[torch.Tensor] = []

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, 1, device=device, dtype=dtype)

    def forward(self, xs, state=None, lengths=None):
        self.seen.append(xs)
        return xs, torch.zeros(xs.shape[0], 1)


def test_dropout_between_layers_never_after_the_last() -> None:
    spy = Spy(4)
    stack = Stacked([LSTMCell(3, 4), spy, Spy(4)], dropout=0.5)
    torch.manual_seed(0)
    stack.train()
    outputs, _ = stack(torch.ones(8, 20, 3))
    # The second layer saw dropped-out features: zeros and doubled values.
    seen = spy.seen[-1]
    assert 0.3 < float((seen == 0).float().mean()) < 0.7
    # The last layer's output is not dropped out: it is what the last layer
    # received, which the layer below produced (itself dropped out once).
    below = stack.layers[2].seen[-1]
    torch.testing.assert_close(outputs, below)

    stack.eval()
    plain, _ = stack(torch.ones(8, 20, 3))
    assert torch.count_nonzero(plain) == plain.numel()


def test_dropout_matches_torch_in_eval_mode() -> None:
    module, _ = build("lstm", 3, 4, 2, False)
    module.dropout = 0.3
    stack = Stacked.build(
        lambda n: LSTMCell(n, 4).double(), 3, num_layers=2, dropout=0.3
    )
    copy_from(module, stack)
    module.eval(), stack.eval()
    compare(module, stack, "lstm", randn(2, 4, 3))


def test_a_stack_can_run_step_by_step() -> None:
    stack = Stacked.build(lambda n: GRUCell(n, 4).double(), 3, num_layers=2)
    xs = randn(2, 5, 3)
    outputs, final = stack(xs)
    state, steps = None, []
    for t in range(5):
        out, state = stack(xs[:, t : t + 1], state)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps, 1), outputs, **TOL)
    torch.testing.assert_close(state[1], final[1], **TOL)
    assert stack.causal and not Bidirectional(GRUCell(3, 2), GRUCell(3, 2)).causal


def test_trace_names_layers_and_directions() -> None:
    stack = Stacked.build(lambda n: LSTMCell(n, 4), 3, num_layers=2, bidirectional=True)
    trace = stack.trace(torch.zeros(1, 5, 3))
    assert {"0.forward.f", "1.backward.c", "1.forward.h"} <= set(trace.values)
    torch.testing.assert_close(trace.outputs, stack(torch.zeros(1, 5, 3))[0])


# Bad input -------------------------------------------------------------------


@pytest.mark.parametrize("dropout", [-0.1, 1.0, 1.5])
def test_dropout_outside_zero_one(dropout: float) -> None:
    with pytest.raises(
        ValueError, match=rf"Stacked: dropout must be in \[0, 1\), got {dropout}"
    ):
        Stacked([LSTMCell(3, 4), LSTMCell(4, 4)], dropout=dropout)


def test_dropout_with_one_layer_warns() -> None:
    with pytest.warns(UserWarning, match="has no effect with one layer"):
        Stacked([LSTMCell(3, 4)], dropout=0.2)


def test_layer_sizes_must_chain() -> None:
    with pytest.raises(
        ValueError, match="layer 1 takes 5 input features but layer 0 gives 4"
    ):
        Stacked([LSTMCell(3, 4), LSTMCell(5, 4)])
    with pytest.raises(
        ValueError,
        match="forward layer takes 3 input features but the backward layer takes 2",
    ):
        Bidirectional(GRUCell(3, 4), GRUCell(2, 4))


def test_state_errors() -> None:
    stack = Stacked([GRUCell(3, 4), GRUCell(4, 4)])
    with pytest.raises(ValueError, match="tuple of 2 layer states, got a tuple of 3"):
        stack(torch.zeros(1, 2, 3), (torch.zeros(1, 4),) * 3)
    with pytest.raises(TypeError, match="tuple of 2 layer states, got Tensor"):
        stack(torch.zeros(1, 2, 3), torch.zeros(1, 4))
    layer = Bidirectional(GRUCell(3, 4), GRUCell(3, 4))
    with pytest.raises(TypeError, match=r"\(forward, backward\) pair, got Tensor"):
        layer(torch.zeros(1, 2, 3), torch.zeros(1, 4))


def test_bad_layers() -> None:
    with pytest.raises(TypeError, match=r"Stacked: expected a cell .* got Linear"):
        Stacked([nn.Linear(3, 4)])
    with pytest.raises(ValueError, match="at least one layer"):
        Stacked([])
    with pytest.raises(ValueError, match="backward layer must run in reverse"):
        Bidirectional(GRUCell(3, 4), Recurrent(GRUCell(3, 4)))
    with pytest.raises(ValueError, match="num_layers must be at least 1, got 0"):
        Stacked.build(lambda n: GRUCell(n, 4), 3, num_layers=0)
