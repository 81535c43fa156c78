"""ManyToOne and last_step: against torch.nn.LSTM/GRU with copied weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqmodels import GRUCell, LSTMCell, OneHotEmbedding
from seqmodels.heads import ManyToOne, last_step

DTYPE = torch.float64


def copy_into(torch_rnn: nn.Module, cell: nn.Module) -> None:
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(torch_rnn, f"{name}_l0").copy_(getattr(cell, name))


@pytest.mark.parametrize(("ours", "theirs"), [(LSTMCell, nn.LSTM), (GRUCell, nn.GRU)])
def test_many_to_one_equals_torch_at_each_rows_last_step(ours, theirs) -> None:
    g = torch.Generator().manual_seed(0)
    model = ManyToOne(ours(3, 5, generator=g), output_size=2, generator=g).to(DTYPE)
    reference = theirs(3, 5, batch_first=True).to(DTYPE)
    copy_into(reference, model.recurrent.cell)
    xs = torch.randn(4, 6, 3, generator=g, dtype=DTYPE)
    lengths = torch.tensor([6, 1, 3, 5])

    got = model(xs, lengths)
    for b in range(4):
        outputs, _ = reference(xs[b : b + 1, : lengths[b]])  # the row alone
        want = model.head(outputs[:, -1])
        torch.testing.assert_close(got[b : b + 1], want, rtol=0, atol=1e-10)
    no_lengths = model(xs)
    torch.testing.assert_close(no_lengths, model.head(reference(xs)[0][:, -1]))


def test_padding_never_reaches_the_output() -> None:
    g = torch.Generator().manual_seed(1)
    model = ManyToOne(GRUCell(2, 4, generator=g), output_size=3, generator=g)
    xs = torch.randn(2, 5, 2, generator=g)
    lengths = torch.tensor([2, 5])
    other = xs.clone()
    other[0, 2:] = 1e6  # change only row 0's padding
    torch.testing.assert_close(model(xs, lengths), model(other, lengths))


def test_ids_go_through_the_embedding() -> None:
    g = torch.Generator().manual_seed(2)
    model = ManyToOne(LSTMCell(4, 3, generator=g), 2, embedding=OneHotEmbedding(4))
    ids = torch.tensor([[0, 3, 2], [1, 1, 0]])
    plain = ManyToOne(model.recurrent, 2)
    plain.head = model.head
    onehot = nn.functional.one_hot(ids, 4).float()
    torch.testing.assert_close(model(ids), plain(onehot))


def test_last_step_picks_by_hand() -> None:
    outputs = torch.randn(3, 4, 2)
    lengths = torch.tensor([4, 1, 2])
    want = torch.stack([outputs[0, 3], outputs[1, 0], outputs[2, 1]])
    assert torch.equal(last_step(outputs, lengths), want)
    assert torch.equal(last_step(outputs), outputs[:, -1])


def test_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 4\]"):
        last_step(torch.zeros(2, 4, 3), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"expected lengths of shape \[2\]"):
        last_step(torch.zeros(2, 4, 3), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"expected outputs \[B, T, H\]"):
        last_step(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="output_size must be at least 1, got 0"):
        ManyToOne(GRUCell(2, 3), 0)
    with pytest.raises(TypeError, match="output_size must be an int, got float"):
        ManyToOne(GRUCell(2, 3), 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="embedding gives 5 features but the cell"):
        ManyToOne(GRUCell(2, 3), 1, embedding=OneHotEmbedding(5))
