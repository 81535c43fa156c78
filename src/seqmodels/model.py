"""SequenceModel: embedding, recurrent layer and output head."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqmodels.embeddings import check_ids
from seqmodels.protocols import Cell, Embedding, ProjectedCell, State
from seqmodels.recurrent import Recurrent

__all__ = ["SequenceModel"]


class SequenceModel(nn.Module):
    """Embedding, then a recurrent cell over time, then a linear head.

    Args:
        embedding: ids ``[B, T]`` to ``[B, T, E]`` (``OneHotEmbedding``,
            ``Embedding`` or your own, following the ``Embedding`` protocol).
        cell: one time step (``RNNCell``, ``LSTMCell``, ``GRUCell`` or your
            own, following the ``Cell`` protocol), with ``input_size == E``.
            A ``Recurrent`` wrapping a cell is accepted too.
        vocab_size: ``V``, the number of classes the head scores.
        generator: draws the head's initial parameters, for reproducible models.

    ``model(ids, state=None) -> (logits, state)``: ids ``[B, T]`` to logits
    ``[B, T, V]`` (scores for the token after each position) and the state
    after the last step. ``model.step(ids, state)`` does one step, ids ``[B]``
    to logits ``[B, V]``: decoding and free-running training use it, so each
    new token costs one step.

    With an embedding that has ``project`` and a cell that has an input
    projection (every built-in pair), the embedding and the cell's input product
    are one operation: for the one-hot embedding, a column lookup that never
    builds the ``[B, T, V]`` one-hot tensor.

    >>> import torch
    >>> from seqmodels import LSTMCell, OneHotEmbedding
    >>> model = SequenceModel(OneHotEmbedding(10), LSTMCell(10, 8), vocab_size=10)
    >>> logits, state = model(torch.tensor([[1, 2, 3]]))
    >>> logits.shape
    torch.Size([1, 3, 10])
    """

    def __init__(
        self,
        embedding: Embedding,
        cell: Cell | Recurrent,
        vocab_size: int,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        recurrent = cell if isinstance(cell, Recurrent) else Recurrent(cell)
        if not isinstance(embedding, Embedding):
            raise TypeError(
                "SequenceModel: expected an embedding with output_size, __call__"
                f" and project(), got {type(embedding).__name__}"
            )
        if embedding.output_size != recurrent.cell.input_size:
            raise ValueError(
                f"SequenceModel: the embedding gives {embedding.output_size}"
                f" features but the cell expects input_size"
                f" {recurrent.cell.input_size}"
            )
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
            raise TypeError(
                "SequenceModel: vocab_size must be an int,"
                f" got {type(vocab_size).__name__}"
            )
        if vocab_size < 1:
            raise ValueError(
                f"SequenceModel: vocab_size must be at least 1, got {vocab_size}"
            )
        self.embedding = embedding
        self.recurrent = recurrent
        self.vocab_size = vocab_size
        self.head = nn.Linear(recurrent.output_size, vocab_size)
        self.reset_head(generator)

    @property
    def cell(self) -> Cell:
        """The cell that runs each time step."""
        return self.recurrent.cell

    @property
    def input_vocab_size(self) -> int | None:
        """How many ids the embedding accepts, when it says so."""
        size = getattr(self.embedding, "vocab_size", None)
        return size if isinstance(size, int) else None

    def reset_head(self, generator: torch.Generator | None = None) -> None:
        """Draw the head's parameters uniform in ``[-1/sqrt(H), 1/sqrt(H)]``."""
        bound = 1.0 / math.sqrt(self.head.in_features)
        with torch.no_grad():
            for p in self.head.parameters():
                p.uniform_(-bound, bound, generator=generator)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """The cell's zero state for a batch of ``B``."""
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def forward(
        self,
        ids: Tensor,
        state: State | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        """Ids ``[B, T]`` to ``(logits [B, T, V], state)``.

        ``lengths`` (``[B]``) marks a padded batch, as in ``Recurrent``.
        """
        if isinstance(ids, Tensor) and ids.dim() != 2:
            raise ValueError(
                f"SequenceModel: expected ids of shape [B, T], got {list(ids.shape)}"
            )
        hidden, state = self.run(ids, state, lengths)
        logits: Tensor = self.head(hidden)
        return logits, state

    def run(
        self,
        ids: Tensor,
        state: State | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        """Ids ``[B, T]`` to the recurrent layer's outputs ``[B, T, H]`` and
        state, without the head."""
        cell = self.cell
        if isinstance(cell, ProjectedCell):
            size = self.input_vocab_size
            if size is not None:
                check_ids("SequenceModel", ids, size)
            gx = self.embedding.project(ids, cell.input_weight, cell.input_bias)
            return self.recurrent.forward_projected(gx, state, lengths)
        result: tuple[Tensor, State] = self.recurrent(
            self.embedding(ids), state, lengths
        )
        return result

    def step(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One step: ids ``[B]`` and the state to ``(logits [B, V], state)``."""
        if not isinstance(ids, Tensor) or ids.dim() != 1:
            got = list(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
            raise ValueError(f"SequenceModel: step expects ids of shape [B], got {got}")
        logits, state = self(ids.unsqueeze(1), state)
        return logits.squeeze(1), state
