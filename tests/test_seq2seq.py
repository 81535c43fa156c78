"""Seq2Seq: against torch.nn.GRU/LSTM encoder and decoder with copied weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqmodels import GRUCell, LSTMCell, OneHotEmbedding, SequenceModel
from seqmodels.seq2seq import Encoder, Seq2Seq

DTYPE = torch.float64
S_VOCAB, T_VOCAB, HIDDEN = 6, 7, 5


def torch_copy(cell: nn.Module, kind: type[nn.RNNBase]) -> nn.RNNBase:
    rnn = kind(cell.input_size, cell.hidden_size, batch_first=True).to(DTYPE)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rnn, f"{name}_l0").copy_(getattr(cell, name))
    return rnn


@pytest.mark.parametrize(("cell", "kind"), [("gru", nn.GRU), ("lstm", nn.LSTM)])
def test_teacher_forcing_equals_torch(cell: str, kind: type[nn.RNNBase]) -> None:
    g = torch.Generator().manual_seed(0)
    model = Seq2Seq.build(S_VOCAB, T_VOCAB, HIDDEN, cell=cell, bos_id=0, eos_id=1)
    model = model.to(DTYPE)
    encoder = torch_copy(model.encoder.recurrent.cell, kind)
    decoder = torch_copy(model.decoder.cell, kind)
    source = torch.randint(0, S_VOCAB, (3, 4), generator=g)
    lengths = torch.tensor([4, 2, 3])
    targets = torch.randint(2, T_VOCAB, (3, 5), generator=g)

    logits = model(source, model.decoder_inputs(targets), lengths)
    for b in range(3):
        onehot = nn.functional.one_hot(source[b : b + 1, : lengths[b]], S_VOCAB)
        _, state = encoder(onehot.to(DTYPE))
        inputs = torch.cat([torch.tensor([[0]]), targets[b : b + 1, :-1]], dim=1)
        hidden, _ = decoder(nn.functional.one_hot(inputs, T_VOCAB).to(DTYPE), state)
        want = model.decoder.head(hidden)
        torch.testing.assert_close(logits[b : b + 1], want, rtol=0, atol=1e-10)


def test_greedy_generation_equals_a_hand_loop() -> None:
    torch.manual_seed(1)
    model = Seq2Seq.build(S_VOCAB, T_VOCAB, HIDDEN, bos_id=0, eos_id=1)
    source = [2, 5, 3]
    state = model.encode(torch.tensor([source]))
    token, want = torch.tensor([0]), []
    with torch.no_grad():
        for _ in range(6):
            logits, state = model.decoder.step(token, state)
            token = logits.argmax(dim=-1)
            if int(token) == 1:
                break
            want.append(int(token))
    assert model.generate(source, 6) == want
    batch = model.generate_batch([[4], source, [1, 1, 1, 1, 1]], 6)
    assert batch[1] == want
    assert batch[0] == model.generate([4], 6)
    beams = model.generate_batch([[4], source], 6, beam_width=3)
    assert beams == [model.generate(s, 6, beam_width=3) for s in ([4], source)]


def test_it_learns_to_reverse_short_words() -> None:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    # ids: 0 <bos>, 1 <eos>, 2.. letters; every word of length 3 over 3 letters
    words = torch.cartesian_prod(*[torch.arange(2, 5)] * 3)
    targets = torch.cat([words.flip(1), torch.ones(len(words), 1, dtype=torch.long)], 1)
    model = Seq2Seq.build(5, 5, 32, bos_id=0, eos_id=1, generator=g)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(80):
        logits = model(words, model.decoder_inputs(targets))
        loss = nn.functional.cross_entropy(logits.transpose(1, 2), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    got = model.generate_batch(words.tolist(), 5)
    assert got == words.flip(1).tolist()


def test_mismatched_states_and_ids_are_refused() -> None:
    encoder = Encoder(OneHotEmbedding(4), GRUCell(4, 3))
    lstm = SequenceModel(OneHotEmbedding(4), LSTMCell(4, 3), vocab_size=4)
    wide = SequenceModel(OneHotEmbedding(4), GRUCell(4, 8), vocab_size=4)
    gru = SequenceModel(OneHotEmbedding(4), GRUCell(4, 3), vocab_size=4)
    with pytest.raises(ValueError, match=r"encoder's state .* must match the decod"):
        Seq2Seq(encoder, lstm, bos_id=0, eos_id=1)
    with pytest.raises(ValueError, match="same kind of cell and hidden size"):
        Seq2Seq(encoder, wide, bos_id=0, eos_id=1)
    with pytest.raises(ValueError, match=r"eos_id must be a target id in \[0, 3\]"):
        Seq2Seq(encoder, gru, bos_id=0, eos_id=4)
    with pytest.raises(TypeError, match="expected an Encoder, got GRUCell"):
        Seq2Seq(GRUCell(4, 3), gru, bos_id=0, eos_id=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="embedding gives 5 features but the cell"):
        Encoder(OneHotEmbedding(5), GRUCell(4, 3))
    with pytest.raises(ValueError, match="unknown cell 'tcn'"):
        Seq2Seq.build(3, 3, 2, cell="tcn", bos_id=0, eos_id=1)
    model = Seq2Seq(encoder, gru, bos_id=0, eos_id=1)
    with pytest.raises(ValueError, match=r"Encoder: expected ids of shape \[B, S\]"):
        model.encode(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="a source has no ids"):
        model.generate([], 3)
    with pytest.raises(ValueError, match="beam_width must be >= 1"):
        model.generate([2], 3, beam_width=0)
