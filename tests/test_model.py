"""SequenceModel: the one-hot lookup path, stacks and directions, step, trace."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from seqmodels import (
    Embedding,
    GRUCell,
    LSTMCell,
    OneHotEmbedding,
    Recurrent,
    RNNCell,
    SequenceModel,
)
from seqmodels.interop import from_torch
from seqmodels.layers import Bidirectional, Stacked

F64 = torch.float64
TOL = {"atol": 1e-10, "rtol": 0.0}
V = 9


def ids(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(V, shape, generator=torch.Generator().manual_seed(seed))


def flat(state) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    return [t for part in state for t in flat(part)]


def model_of(layer, embedding=None) -> SequenceModel:
    g = torch.Generator().manual_seed(0)
    embedding = embedding or OneHotEmbedding(V, dtype=F64)
    return SequenceModel(embedding, layer, V, generator=g).double()


LAYERS = {
    "rnn": lambda: RNNCell(V, 5),
    "lstm": lambda: LSTMCell(V, 5),
    "lstm-proj": lambda: LSTMCell(V, 5, proj_size=3),
    "gru": lambda: GRUCell(V, 5),
    "stacked": lambda: Stacked.build(lambda n: LSTMCell(n, 4), V, num_layers=2),
    "bidirectional": lambda: Bidirectional(GRUCell(V, 4), GRUCell(V, 3)),
    "both": lambda: Stacked.build(
        lambda n: GRUCell(n, 4), V, num_layers=2, bidirectional=True
    ),
}


@pytest.mark.parametrize("name", LAYERS)
def test_lookup_path_equals_the_dense_product(name: str) -> None:
    model = model_of(LAYERS[name]())
    x = ids(3, 6)
    hidden, state = model.run(x)
    dense = F.one_hot(x, V).to(F64)
    expected, expected_state = model.recurrent(dense)
    torch.testing.assert_close(hidden, expected, **TOL)
    for ours, theirs in zip(flat(state), flat(expected_state), strict=True):
        torch.testing.assert_close(ours, theirs, **TOL)
    logits, _ = model(x)
    torch.testing.assert_close(logits, model.head(expected), **TOL)


@pytest.mark.parametrize("name", LAYERS)
def test_one_hot_path_never_builds_b_t_v(name: str, monkeypatch) -> None:
    model = model_of(LAYERS[name]())

    def refuse(*args, **kwargs):
        raise AssertionError("the [B, T, V] one-hot tensor was built")

    monkeypatch.setattr(OneHotEmbedding, "forward", refuse)
    monkeypatch.setattr(F, "one_hot", refuse)
    logits, state = model(ids(2, 4))
    assert logits.shape == (2, 4, V)
    model.trace(ids(2, 4))
    if name != "bidirectional" and name != "both":
        model.step(ids(2), state)


def test_one_hot_model_memory_does_not_grow_with_v_times_t() -> None:
    # With V = 50,000 and B * T = 2,000, a dense one-hot would take 400 MB.
    big = 50_000
    model = SequenceModel(OneHotEmbedding(big), GRUCell(big, 4), vocab_size=3)
    x = torch.randint(big, (4, 500), generator=torch.Generator().manual_seed(0))
    hidden, _ = model.run(x)
    assert hidden.shape == (4, 500, 4)


def test_model_equals_torch_lstm_stack_and_head() -> None:
    torch.manual_seed(0)
    reference = nn.LSTM(
        V, 4, num_layers=2, bidirectional=True, batch_first=True
    ).double()
    model = model_of(from_torch(reference))
    x = ids(2, 5)
    expected, _ = reference(F.one_hot(x, V).to(F64))
    logits, _ = model(x)
    torch.testing.assert_close(logits, model.head(expected), **TOL)


def test_learned_embedding_and_a_users_cell_path() -> None:
    class Plain(nn.Module):
        input_size, hidden_size, output_size = 3, 4, 4

        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(7, 4)

        def initial_state(self, batch_size, *, device=None, dtype=None):
            return torch.zeros(batch_size, 4, device=device, dtype=dtype)

        def forward(self, x, state):
            h = torch.tanh(self.linear(torch.cat([x, state], 1)))
            return h, h

    embedding = Embedding(V, 3, generator=torch.Generator().manual_seed(0))
    model = model_of(Plain(), embedding)
    x = ids(2, 5)
    hidden, _ = model.run(x)
    expected, _ = Recurrent(model.cell)(embedding(x))
    torch.testing.assert_close(hidden, expected, **TOL)


@pytest.mark.parametrize("name", ["lstm", "stacked", "lstm-proj"])
def test_step_equals_forward(name: str) -> None:
    model = model_of(LAYERS[name]())
    x = ids(2, 6)
    logits, final = model(x)
    state, steps = None, []
    for t in range(6):
        step_logits, state = model.step(x[:, t], state)
        steps.append(step_logits)
    torch.testing.assert_close(torch.stack(steps, 1), logits, **TOL)
    for ours, theirs in zip(flat(state), flat(final), strict=True):
        torch.testing.assert_close(ours, theirs, **TOL)


def test_trace_of_a_model() -> None:
    model = model_of(LAYERS["lstm"]())
    x = ids(1, 4)
    trace = model.trace(x)
    logits, _ = model(x)
    torch.testing.assert_close(trace.outputs, logits, **TOL)
    assert set(trace.values) == {"i", "f", "g", "o", "h", "c"}
    assert trace.values["o"].shape == (1, 4, 5)
    stacked = model_of(LAYERS["both"]()).trace(x)
    assert "1.backward.z" in stacked.values


def test_initial_state_of_a_stack() -> None:
    model = model_of(LAYERS["stacked"]())
    state = model.initial_state(3, dtype=F64)
    assert len(state) == 2 and state[1].h.shape == (3, 4)


# Bad input -------------------------------------------------------------------


def test_bidirectional_cannot_step() -> None:
    model = model_of(LAYERS["bidirectional"]())
    with pytest.raises(ValueError, match="Bidirectional layer sees the whole sequence"):
        model.step(ids(2), None)


def test_cell_of_a_stack_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="runs a Stacked, not one cell"):
        model_of(LAYERS["stacked"]()).cell  # noqa: B018


def test_model_errors() -> None:
    with pytest.raises(
        ValueError,
        match="the embedding gives 9 features but the cell expects input_size 4",
    ):
        SequenceModel(OneHotEmbedding(V), LSTMCell(4, 5), V)
    model = model_of(LAYERS["gru"]())
    with pytest.raises(
        ValueError, match=r"SequenceModel: ids must be in \[0, 8\] .* got 9"
    ):
        model(torch.tensor([[1, 9]]))
    with pytest.raises(
        TypeError, match=r"expected integer ids, got dtype torch\.float32"
    ):
        model(torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"expected ids of shape \[B, T\], got \[3\]"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(
        ValueError, match=r"step expects ids of shape \[B\], got \[1, 2\]"
    ):
        model.step(torch.tensor([[1, 2]]))
    with pytest.raises(
        ValueError, match="state has batch size 3 but the input has batch size 2"
    ):
        model(ids(2, 3), torch.zeros(3, 5, dtype=F64))
