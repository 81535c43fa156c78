"""The fused path equals the plain loop over the cell, values and gradients."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from seqmodels import (
    GRUCell,
    LSTMCell,
    LSTMState,
    OneHotEmbedding,
    Recurrent,
    RNNCell,
    SequenceModel,
    fused,
)
from seqmodels.protocols import State

F64 = torch.float64
TOL = 1e-10

CELLS: dict[str, Callable[[torch.Generator], nn.Module]] = {
    "lstm": lambda g: LSTMCell(5, 7, generator=g, dtype=F64),
    "lstm-nobias": lambda g: LSTMCell(5, 7, bias=False, generator=g, dtype=F64),
    "lstm-proj": lambda g: LSTMCell(5, 7, proj_size=3, generator=g, dtype=F64),
    "lstm-forget": lambda g: LSTMCell(5, 7, forget_bias=1.0, generator=g, dtype=F64),
    "gru": lambda g: GRUCell(5, 7, generator=g, dtype=F64),
    "gru-nobias": lambda g: GRUCell(5, 7, bias=False, generator=g, dtype=F64),
    "rnn": lambda g: RNNCell(5, 7, generator=g, dtype=F64),
    "rnn-relu": lambda g: RNNCell(5, 7, nonlinearity="relu", generator=g, dtype=F64),
}


def make(name: str, seed: int = 0) -> nn.Module:
    return CELLS[name](torch.Generator().manual_seed(seed))


def random_state(cell: nn.Module, batch: int, seed: int) -> State:
    g = torch.Generator().manual_seed(seed)
    zero = cell.initial_state(batch)
    if isinstance(zero, Tensor):
        return torch.randn(zero.shape, generator=g, dtype=F64)
    return LSTMState(*(torch.randn(s.shape, generator=g, dtype=F64) for s in zero))


def hand_loop(
    step: Callable[[Tensor, State], tuple[Tensor, State]], xs: Tensor, state: State
) -> tuple[Tensor, State]:
    """The oracle: the cell's own step, once per time step, in plain Python."""
    outputs = []
    for t in range(xs.shape[1]):
        out, state = step(xs[:, t], state)
        outputs.append(out)
    return torch.stack(outputs, dim=1), state


def leaves(state: State) -> list[Tensor]:
    return [state] if isinstance(state, Tensor) else list(state)


def outputs_and_grads(
    run: Callable[[Tensor, State], tuple[Tensor, State]],
    cell: nn.Module,
    xs: Tensor,
    state: State,
) -> list[Tensor]:
    """Outputs, final state, and the gradients of a fixed random function of
    both with respect to the input, the initial state and every parameter."""
    xs = xs.detach().requires_grad_()
    state_in = [s.detach().requires_grad_() for s in leaves(state)]
    start: State = state_in[0] if isinstance(state, Tensor) else LSTMState(*state_in)
    outputs, final = run(xs, start)
    g = torch.Generator().manual_seed(99)
    loss = (outputs * torch.randn(outputs.shape, generator=g, dtype=F64)).sum()
    for s in leaves(final):
        loss = loss + (s * torch.randn(s.shape, generator=g, dtype=F64)).sum()
    params = [p for p in cell.parameters()]
    wrt = [xs, *state_in, *params]
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    pairs = zip(grads, wrt, strict=True)
    grads = tuple(torch.zeros_like(w) if g is None else g for g, w in pairs)
    return [outputs, *leaves(final), *grads]


def assert_all_close(got: list[Tensor], want: list[Tensor]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= TOL


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("batch, steps", [(3, 6), (1, 1)])
def test_run_fused_equals_the_loop(name: str, batch: int, steps: int) -> None:
    cell = make(name)
    xs = torch.randn(batch, steps, 5, generator=torch.Generator().manual_seed(1))
    xs = xs.to(F64)
    state = random_state(cell, batch, seed=2)
    assert fused.can_fuse(cell, xs)

    def fast(x: Tensor, s: State) -> tuple[Tensor, State]:
        return fused.run_fused(cell, x, s)  # type: ignore[arg-type]

    got = outputs_and_grads(fast, cell, xs, state)
    want = outputs_and_grads(lambda x, s: hand_loop(cell, x, s), cell, xs, state)
    assert_all_close(got, want)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_run_fused_projected_equals_the_loop(name: str) -> None:
    cell = make(name)
    size = cell.input_weight.shape[0]
    gx = torch.randn(3, 6, size, generator=torch.Generator().manual_seed(1))
    gx = gx.to(F64)
    state = random_state(cell, 3, seed=2)
    assert fused.can_fuse_projected(cell, gx)

    def fast(x: Tensor, s: State) -> tuple[Tensor, State]:
        return fused.run_fused_projected(cell, x, s)  # type: ignore[arg-type]

    got = outputs_and_grads(fast, cell, gx, state)
    want = outputs_and_grads(lambda x, s: hand_loop(cell.step, x, s), cell, gx, state)
    assert_all_close(got, want)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_state_kinds_and_default_state(name: str) -> None:
    cell = make(name)
    xs = torch.randn(2, 4, 5, dtype=F64)
    outputs, state = fused.run_fused(cell, xs)  # type: ignore[arg-type]
    want_out, want_state = hand_loop(cell, xs, cell.initial_state(2))
    assert type(state) is type(want_state)
    assert (outputs - want_out).abs().max() <= TOL
    if name == "lstm":
        assert isinstance(state, LSTMState)


def test_matches_torch_nn_lstm_with_the_same_weights() -> None:
    cell = make("lstm")
    reference = nn.LSTM(5, 7, batch_first=True, dtype=F64)
    reference.load_state_dict(
        {f"{k}_l0": v for k, v in cell.state_dict().items()}, strict=True
    )
    xs = torch.randn(3, 6, 5, dtype=F64)
    outputs, state = fused.run_fused(cell, xs)  # type: ignore[arg-type]
    want, (h, c) = reference(xs)
    assert isinstance(state, LSTMState)
    assert (outputs - want).abs().max() <= TOL
    assert (state.h - h[0]).abs().max() <= TOL
    assert (state.c - c[0]).abs().max() <= TOL


class MyLSTM(LSTMCell):
    """A subclass may change the step, so it never takes the fused path."""


class NotACell:
    weight_hh = torch.zeros(1)


@pytest.mark.parametrize(
    "cell, xs",
    [
        (MyLSTM(5, 7, dtype=F64), torch.zeros(2, 3, 5, dtype=F64)),
        (GRUCell(5, 7, reset_after=False, dtype=F64), torch.zeros(2, 3, 5, dtype=F64)),
        (LSTMCell(5, 7), torch.zeros(2, 3, 5, dtype=F64)),  # dtype differs
        (LSTMCell(5, 7, dtype=F64), torch.zeros(0, 3, 5, dtype=F64)),  # B = 0
        (LSTMCell(5, 7, dtype=F64), torch.zeros(2, 0, 5, dtype=F64)),  # T = 0
        (NotACell(), torch.zeros(2, 3, 5)),
    ],
)
def test_cells_the_kernels_cannot_run_are_refused(cell: object, xs: Tensor) -> None:
    assert not fused.can_fuse(cell, xs)


def test_projected_is_refused_above_the_cost_limit() -> None:
    cell = LSTMCell(4, 64)  # G = 256
    small, large = 32, 33  # 32 * 256 * 256 == PROJECTED_MAX_COST
    assert fused.can_fuse_projected(cell, torch.zeros(small, 2, 256))
    assert fused.can_fuse(cell, torch.zeros(large, 2, 256))
    assert not fused.can_fuse_projected(cell, torch.zeros(large, 2, 256))


def test_recurrent_dispatches_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_run, real_projected = fused.run_fused, fused.run_fused_projected

    def spy_run(*args: object) -> tuple[Tensor, State]:
        calls.append("run")
        return real_run(*args)  # type: ignore[arg-type]

    def spy_projected(*args: object) -> tuple[Tensor, State]:
        calls.append("projected")
        return real_projected(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(fused, "run_fused", spy_run)
    monkeypatch.setattr(fused, "run_fused_projected", spy_projected)
    cell = make("lstm")
    layer = Recurrent(cell)
    xs = torch.randn(3, 6, 5, dtype=F64)
    want, _ = hand_loop(cell, xs, cell.initial_state(3))

    outputs, _ = layer(xs)
    assert calls == ["run"] and (outputs - want).abs().max() <= TOL
    gx = nn.functional.linear(xs, cell.input_weight, cell.input_bias)
    outputs, _ = layer.forward_projected(gx)
    assert calls[-1] == "projected" and (outputs - want).abs().max() <= TOL

    # Padded rows need the loop's masking: no fused call, still right.
    calls.clear()
    outputs, _ = layer(xs, lengths=torch.tensor([6, 2, 4]))
    assert calls == []
    assert (outputs[0] - want[0]).abs().max() <= TOL
    assert outputs[1, 2:].abs().max() == 0.0
    outputs, _ = Recurrent(MyLSTM(5, 7, dtype=F64))(xs)
    assert calls == []


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_model_step_equals_a_one_step_run(name: str) -> None:
    cell = make(name)
    cell = type(cell)(43, 7, generator=torch.Generator().manual_seed(0), dtype=F64)
    model = SequenceModel(OneHotEmbedding(43, dtype=F64), cell, vocab_size=43)
    model.to(F64)
    ids = torch.tensor([3, 41])
    state = random_state(cell, 2, seed=5)
    logits, new_state = model.step(ids, state)
    want_logits, want_state = model(ids.unsqueeze(1), state)
    assert (logits - want_logits[:, 0]).abs().max() <= TOL
    assert type(new_state) is type(want_state)
    for a, b in zip(leaves(new_state), leaves(want_state), strict=True):
        assert (a - b).abs().max() <= TOL
