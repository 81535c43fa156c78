"""SequenceModel: embedding, recurrent layer and output head."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import torch
from torch import Tensor, nn

from seqmodels.embeddings import Embedding as LearnedEmbedding
from seqmodels.embeddings import check_ids
from seqmodels.layers import as_layer, layer_input_projection, run_layer, trace_layer
from seqmodels.protocols import (
    Cell,
    Embedding,
    ProjectedCell,
    SequenceLayer,
    State,
    Tokenizer,
)
from seqmodels.recurrent import Recurrent, Trace

__all__ = ["SequenceModel"]


class SequenceModel(nn.Module):
    """Embedding, then a recurrent cell (or layers of them) over time, then a
    linear head.

    Args:
        embedding: ids ``[B, T]`` to ``[B, T, E]`` (``OneHotEmbedding``,
            ``Embedding`` or your own, following the ``Embedding`` protocol).
        cell: one time step (``RNNCell``, ``LSTMCell``, ``GRUCell`` or your
            own, following the ``Cell`` protocol), with ``input_size == E``;
            or a layer: ``Recurrent``, ``Stacked``, ``Bidirectional`` or your
            own ``SequenceLayer``.
        vocab_size: ``V``, the number of classes the head scores.
        generator: draws the head's initial parameters, for reproducible models.

    ``model(ids, state=None) -> (logits, state)``: ids ``[B, T]`` to logits
    ``[B, T, V]`` (scores for the token after each position) and the state
    after the last step. ``model.step(ids, state)`` does one step, ids ``[B]``
    to logits ``[B, V]``: decoding and free-running training use it, so each
    new token costs one step (not for a ``Bidirectional`` layer, which needs
    the whole sequence). ``model.trace(ids)`` keeps every step's gates.

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
        cell: Cell | SequenceLayer,
        vocab_size: int,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        recurrent = as_layer(cell, name="SequenceModel")
        if not isinstance(embedding, Embedding):
            raise TypeError(
                "SequenceModel: expected an embedding with output_size, __call__"
                f" and project(), got {type(embedding).__name__}"
            )
        if embedding.output_size != recurrent.input_size:
            raise ValueError(
                f"SequenceModel: the embedding gives {embedding.output_size}"
                f" features but the cell expects input_size"
                f" {recurrent.input_size}"
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
        self.recurrent: SequenceLayer = recurrent
        self.vocab_size = vocab_size
        # Made empty and drawn below: nothing is drawn from the global generator.
        like = next(self.recurrent_parameters(), torch.empty(0))
        size = recurrent.output_size
        self.head = nn.Linear(size, vocab_size, device="meta", dtype=like.dtype)
        self.head.to_empty(device=like.device)
        self.reset_head(generator)

    @property
    def cell(self) -> Cell:
        """The cell that runs each time step (a model with one ``Recurrent``
        layer; for stacks, see ``model.recurrent``)."""
        if not isinstance(self.recurrent, Recurrent):
            raise TypeError(
                "SequenceModel: the model runs a"
                f" {type(self.recurrent).__name__}, not one cell; its cells are in"
                " model.recurrent"
            )
        return self.recurrent.cell

    @property
    def input_vocab_size(self) -> int | None:
        """How many ids the embedding accepts, when it says so."""
        size = getattr(self.embedding, "vocab_size", None)
        return size if isinstance(size, int) else None

    def recurrent_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters of the recurrent layer (and its cells)."""
        layer = self.recurrent
        return layer.parameters() if isinstance(layer, nn.Module) else iter(())

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
        """The recurrent layer's zero state for a batch of ``B``."""
        return self.recurrent.initial_state(batch_size, device=device, dtype=dtype)

    def forward(
        self,
        ids: Tensor,
        state: State | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, State]:
        """Ids ``[B, T]`` to ``(logits [B, T, V], state)``.

        ``lengths`` (``[B]``) marks a padded batch, as in ``Recurrent``.
        """
        self._check_ids_shape(ids)
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
        state, without the head.

        When the layer has an input projection (every built-in cell), the
        embedding computes it directly (``Embedding.project``): for the one-hot
        embedding a column lookup, so ``[B, T, V]`` is never built.
        """
        gx, projected = self._inputs(ids)
        return run_layer(self.recurrent, gx, state, lengths, projected)

    def trace(
        self,
        ids: Tensor,
        state: State | None = None,
        lengths: Tensor | None = None,
    ) -> Trace:
        """Run over ids ``[B, T]`` and keep what happened at each step.

        Returns a ``Trace`` whose ``outputs`` are the logits ``[B, T, V]`` and
        whose ``values`` hold each step's gate activations and states
        ``[B, T, ·]`` by name (``"f"`` is an LSTM's forget gate; stacked
        layers prefix their index, ``"0.f"``). See ``Recurrent.trace``.

        >>> import torch
        >>> from seqmodels import LSTMCell, OneHotEmbedding
        >>> model = SequenceModel(OneHotEmbedding(5), LSTMCell(5, 3), 5)
        >>> trace = model.trace(torch.tensor([[0, 4, 2]]))
        >>> trace.outputs.shape, trace.values["f"].shape
        (torch.Size([1, 3, 5]), torch.Size([1, 3, 3]))
        """
        self._check_ids_shape(ids)
        gx, projected = self._inputs(ids)
        trace = trace_layer(self.recurrent, gx, state, lengths, projected)
        return Trace(self.head(trace.outputs), trace.state, trace.values)

    def _inputs(self, ids: Tensor) -> tuple[Tensor, bool]:
        """The layer's input for ids: its input projection when it has one
        (``True``), else the embedding's vectors (``False``)."""
        projection = layer_input_projection(self.recurrent)
        if projection is None or type(self.embedding) is LearnedEmbedding:
            # A learned embedding's projection is the same product the layer
            # does itself, where torch's fused kernel can run it.
            return self.embedding(ids), False
        size = self.input_vocab_size
        if size is not None:
            check_ids("SequenceModel", ids, size)
        return self.embedding.project(ids, *projection), True

    @staticmethod
    def _check_ids_shape(ids: Tensor) -> None:
        if isinstance(ids, Tensor) and ids.dim() != 2:
            raise ValueError(
                f"SequenceModel: expected ids of shape [B, T], got {list(ids.shape)}"
            )

    def step(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One step: ids ``[B]`` and the state to ``(logits [B, V], state)``."""
        if not isinstance(ids, Tensor):
            raise TypeError(
                f"SequenceModel: step expects ids as a tensor, got {type(ids).__name__}"
            )
        if ids.dim() != 1:
            raise ValueError(
                f"SequenceModel: step expects ids of shape [B], got {list(ids.shape)}"
            )
        if not getattr(self.recurrent, "causal", True):
            raise ValueError(
                f"SequenceModel: a {type(self.recurrent).__name__} layer sees the"
                " whole sequence, so it cannot run one step at a time (step,"
                " generation, free running)"
            )
        layer = self.recurrent
        projection = layer.input_projection() if type(layer) is Recurrent else None
        if type(layer) is Recurrent and projection is not None:
            # One cell step without the time loop's machinery: the hot path of
            # decoding and free-running training. Same math as the loop.
            if self.input_vocab_size is not None:
                check_ids("SequenceModel", ids, self.input_vocab_size)
            gx = self.embedding.project(ids.unsqueeze(1), *projection)[:, 0]
            cell = cast(ProjectedCell, layer.cell)
            batch, device, dtype = ids.shape[0], gx.device, gx.dtype
            state = cell.check_state(state, batch, device=device, dtype=dtype)
            out, state = cell.step(gx, state)
            return self.head(out), state
        logits, state = self(ids.unsqueeze(1), state)
        return logits.squeeze(1), state

    def save(self, directory: str | Path, tokenizer: Tokenizer | None = None) -> Path:
        """Save this model (and its tokenizer) as one folder; see
        ``seqmodels.serialization.save_model``."""
        from seqmodels.serialization import save_model

        return save_model(self, directory, tokenizer)

    @classmethod
    def load(cls, directory: str | Path, *, device: str = "cpu") -> SequenceModel:
        """Load a model saved with ``save`` (its tokenizer: ``load_model``)."""
        from seqmodels.serialization import load_model

        model, _ = load_model(directory, device=device)
        return model
