"""The encoder-decoder shape: read a whole source sequence, then write a target.

    source ids [B, S] ──Encoder (embedding + Recurrent)──▶ state
    state, <bos> target[:-1] [B, T] ──decoder SequenceModel──▶ logits [B, T, V]

The encoder's final state (at each row's last valid step) is the decoder's
initial state, so the two cells must have states of the same shape (the same
kind of cell and hidden size). Training uses teacher forcing: the decoder's
input at step ``t`` is the true target token ``t - 1`` (``<bos>`` first).
Generation starts from ``<bos>`` and runs the ``SequenceDecoder`` over the
decoder, with every strategy it has.

Notes:
    The decoder sees the source only through the encoder's final state (no
    attention), as in the first sequence-to-sequence networks; long sources
    are harder for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.decoding import SequenceDecoder
from seqmodels.embeddings import OneHotEmbedding, check_ids
from seqmodels.model import SequenceModel
from seqmodels.protocols import Cell, Embedding, ProjectedCell, State
from seqmodels.recurrent import Recurrent, map_state

__all__ = ["CELLS", "Encoder", "Seq2Seq"]

CELLS: dict[str, type[RNNCell] | type[LSTMCell] | type[GRUCell]] = {
    "rnn": RNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
}
"""The built-in cells by name."""


class Encoder(nn.Module):
    """An embedding and a recurrent layer, without a head: ids ``[B, S]`` to
    ``(outputs [B, S, H], final state)``.

    >>> import torch
    >>> encoder = Encoder(OneHotEmbedding(5), GRUCell(5, 3))
    >>> outputs, h = encoder(torch.tensor([[1, 2, 0]]), torch.tensor([2]))
    >>> outputs.shape, h.shape
    (torch.Size([1, 3, 3]), torch.Size([1, 3]))
    """

    def __init__(self, embedding: Embedding, cell: Cell | Recurrent) -> None:
        super().__init__()
        recurrent = cell if isinstance(cell, Recurrent) else Recurrent(cell)
        if not isinstance(embedding, Embedding):
            raise TypeError(
                "Encoder: expected an embedding with output_size, __call__ and"
                f" project(), got {type(embedding).__name__}"
            )
        if embedding.output_size != recurrent.cell.input_size:
            raise ValueError(
                f"Encoder: the embedding gives {embedding.output_size} features"
                f" but the cell expects input_size {recurrent.cell.input_size}"
            )
        self.embedding = embedding
        self.recurrent = recurrent

    def forward(
        self, ids: Tensor, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """Ids ``[B, S]`` (``lengths [B]`` for a padded batch) to outputs
        ``[B, S, H]`` and the state after each row's last valid step."""
        if not isinstance(ids, Tensor) or ids.dim() != 2:
            got = list(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
            raise ValueError(f"Encoder: expected ids of shape [B, S], got {got}")
        cell = self.recurrent.cell
        if isinstance(cell, ProjectedCell):
            size = getattr(self.embedding, "vocab_size", None)
            if isinstance(size, int):
                check_ids("Encoder", ids, size)
            gx = self.embedding.project(ids, cell.input_weight, cell.input_bias)
            return self.recurrent.forward_projected(gx, None, lengths)
        result: tuple[Tensor, State] = self.recurrent(
            self.embedding(ids), None, lengths
        )
        return result


def _state_shapes(state: State) -> object:
    """The shapes of a state's tensors, nested as the state is."""
    if isinstance(state, Tensor):
        return tuple(state.shape)
    return [type(state).__name__, [_state_shapes(s) for s in state]]


class Seq2Seq(nn.Module):
    """An encoder and a decoder ``SequenceModel`` joined by the encoder's state.

    Args:
        encoder: reads the source, ``Encoder``.
        decoder: writes the target, a ``SequenceModel`` over the target
            vocabulary whose cell's state has the shape of the encoder's.
        bos_id: the target id that starts every decoder input.
        eos_id: the target id that ends a target; generation stops at it.

    ``model(source, decoder_inputs, source_lengths=None) -> logits [B, T, V]``:
    teacher forcing, with ``decoder_inputs = model.decoder_inputs(targets)``.

    >>> import torch
    >>> model = Seq2Seq.build(6, 7, hidden_size=8, bos_id=0, eos_id=1)
    >>> targets = torch.tensor([[4, 5, 1]])
    >>> model(torch.tensor([[2, 3]]), model.decoder_inputs(targets)).shape
    torch.Size([1, 3, 7])
    >>> len(model.generate([2, 3], max_new_tokens=4)) <= 4
    True
    """

    def __init__(
        self, encoder: Encoder, decoder: SequenceModel, *, bos_id: int, eos_id: int
    ) -> None:
        super().__init__()
        if not isinstance(encoder, Encoder):
            raise TypeError(
                f"Seq2Seq: expected an Encoder, got {type(encoder).__name__}"
            )
        if not isinstance(decoder, SequenceModel):
            raise TypeError(
                f"Seq2Seq: expected a SequenceModel decoder,"
                f" got {type(decoder).__name__}"
            )
        source_state = encoder.recurrent.cell.initial_state(1)
        target_state = decoder.cell.initial_state(1)
        if _state_shapes(source_state) != _state_shapes(target_state):
            raise ValueError(
                "Seq2Seq: the encoder's state"
                f" {_state_shapes(source_state)} ({type(source_state).__name__})"
                " must match the decoder's"
                f" {_state_shapes(target_state)} ({type(target_state).__name__});"
                " use the same kind of cell and hidden size on both sides"
            )
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"Seq2Seq: {name} must be an int, got {type(value).__name__}"
                )
            if not 0 <= value < decoder.vocab_size:
                raise ValueError(
                    f"Seq2Seq: {name} must be a target id in"
                    f" [0, {decoder.vocab_size - 1}], got {value}"
                )
        self.encoder = encoder
        self.decoder = decoder
        self.bos_id = bos_id
        self.eos_id = eos_id

    @classmethod
    def build(
        cls,
        source_vocab_size: int,
        target_vocab_size: int,
        hidden_size: int,
        *,
        cell: str = "gru",
        bos_id: int,
        eos_id: int,
        generator: torch.Generator | None = None,
    ) -> Seq2Seq:
        """One-hot embeddings and two cells of one kind (``"rnn"``,
        ``"lstm"``, ``"gru"``) of ``hidden_size``."""
        if cell not in CELLS:
            raise ValueError(
                f"Seq2Seq: unknown cell {cell!r}; expected one of {sorted(CELLS)}"
            )
        kind = CELLS[cell]
        encoder = Encoder(
            OneHotEmbedding(source_vocab_size),
            kind(source_vocab_size, hidden_size, generator=generator),
        )
        decoder = SequenceModel(
            OneHotEmbedding(target_vocab_size),
            kind(target_vocab_size, hidden_size, generator=generator),
            vocab_size=target_vocab_size,
            generator=generator,
        )
        return cls(encoder, decoder, bos_id=bos_id, eos_id=eos_id)

    def decoder_inputs(self, targets: Tensor) -> Tensor:
        """Teacher forcing: ``<bos>`` then ``targets[:, :-1]``, ``[B, T]``."""
        if not isinstance(targets, Tensor) or targets.dim() != 2:
            got = (
                list(targets.shape)
                if isinstance(targets, Tensor)
                else type(targets).__name__
            )
            raise ValueError(f"Seq2Seq: expected targets [B, T], got {got}")
        bos = torch.full_like(targets[:, :1], self.bos_id)
        return torch.cat([bos, targets[:, :-1]], dim=1)

    def encode(self, source: Tensor, lengths: Tensor | None = None) -> State:
        """The decoder's initial state from source ids ``[B, S]``."""
        state: State = self.encoder(source, lengths)[1]
        return state

    def forward(
        self,
        source: Tensor,
        decoder_inputs: Tensor,
        source_lengths: Tensor | None = None,
    ) -> Tensor:
        """Source ids ``[B, S]`` and decoder inputs ``[B, T]`` to the target
        scores ``[B, T, V]`` (step ``t`` scores target token ``t``)."""
        state = self.encode(source, source_lengths)
        logits: Tensor = self.decoder(decoder_inputs, state)[0]
        return logits

    def generate(
        self,
        source: Sequence[int],
        max_new_tokens: int,
        **options: object,
    ) -> list[int]:
        """The target ids for one source (without ``<bos>`` and ``<eos>``).

        ``options`` go to ``SequenceDecoder.generate_ids``: ``temperature``,
        ``top_k``, ``top_p``, ``beam_width``, ``seed``, ...
        """
        return self.generate_batch([source], max_new_tokens, **options)[0]

    def generate_batch(
        self,
        sources: Sequence[Sequence[int]],
        max_new_tokens: int,
        **options: object,
    ) -> list[list[int]]:
        """``generate`` for several sources, encoded as one padded batch."""
        if not sources:
            return []
        rows = [list(s) for s in sources]
        if any(not r for r in rows):
            raise ValueError("Seq2Seq: a source has no ids; give at least one")
        device = next(self.parameters()).device
        lengths = torch.tensor([len(r) for r in rows], device=device)
        ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
        for b, r in enumerate(rows):
            ids[b, : len(r)] = torch.tensor(r)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                state = self.encode(ids.to(device), lengths)
                state = map_state(lambda s: s.detach(), state)
            decoder = SequenceDecoder(self.decoder)
            return decoder.generate_batch_ids(
                [[self.bos_id]] * len(rows),
                max_new_tokens,
                stop_ids=[self.eos_id],
                state=state,
                **options,  # type: ignore[arg-type]
            )
        finally:
            self.train(was_training)
