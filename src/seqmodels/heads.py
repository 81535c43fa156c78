"""The many-to-one shape: one output per sequence, from its last valid step.

    x [B, T, E] (or ids [B, T] through an embedding)
        ──Recurrent(cell)──▶ h [B, T, H] ──last valid step──▶ [B, H]
        ──Linear──▶ [B, O]

For classification the ``O`` outputs are class scores (train with
``torch.nn.functional.cross_entropy``); for regression or forecasting they
are the predicted values (train with ``mse_loss``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqmodels.protocols import Cell, Embedding
from seqmodels.recurrent import Recurrent

__all__ = ["ManyToOne", "last_step"]


def last_step(outputs: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Each row's output at its last valid step: ``[B, T, H]`` to ``[B, H]``.

    ``lengths`` (``[B]``, each in ``[1, T]``) marks a padded batch; ``None``
    takes step ``T - 1`` of every row.

    >>> import torch
    >>> outputs = torch.arange(12.0).reshape(2, 3, 2)
    >>> last_step(outputs, torch.tensor([1, 3]))
    tensor([[ 0.,  1.],
            [10., 11.]])
    """
    if not isinstance(outputs, Tensor) or outputs.dim() != 3:
        got = list(outputs.shape) if isinstance(outputs, Tensor) else type(outputs)
        raise ValueError(f"last_step: expected outputs [B, T, H], got {got}")
    if lengths is None:
        return outputs[:, -1]
    lengths = torch.as_tensor(lengths, device=outputs.device)
    batch, steps = outputs.shape[0], outputs.shape[1]
    if lengths.shape != (batch,):
        raise ValueError(
            f"last_step: expected lengths of shape [{batch}], got {list(lengths.shape)}"
        )
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
        raise ValueError(
            f"last_step: lengths must be in [1, {steps}], got {lengths.tolist()}"
        )
    rows = torch.arange(batch, device=outputs.device)
    return outputs[rows, lengths.long() - 1]


class ManyToOne(nn.Module):
    """A recurrent layer read at each row's last valid step, then a linear head.

    Args:
        cell: the cell (or a ``Recurrent``) that runs over the sequence; its
            ``input_size`` is ``E``.
        output_size: ``O``, the number of classes or predicted values.
        embedding: optional; with one, the input is token ids ``[B, T]``
            (``OneHotEmbedding``, ``Embedding`` or your own); without, it is
            features ``[B, T, E]`` (a time series, say).
        generator: draws the head's initial parameters, for reproducible
            models.

    ``model(inputs, lengths=None) -> [B, O]``. ``lengths`` (``[B]``) marks a
    padded batch: each row is read at step ``lengths[b] - 1``, so padding
    never reaches the output.

    >>> import torch
    >>> from seqmodels import GRUCell
    >>> model = ManyToOne(GRUCell(1, 8), output_size=1)
    >>> model(torch.zeros(4, 10, 1)).shape
    torch.Size([4, 1])
    """

    def __init__(
        self,
        cell: Cell | Recurrent,
        output_size: int,
        *,
        embedding: Embedding | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        recurrent = cell if isinstance(cell, Recurrent) else Recurrent(cell)
        if isinstance(output_size, bool) or not isinstance(output_size, int):
            raise TypeError(
                "ManyToOne: output_size must be an int,"
                f" got {type(output_size).__name__}"
            )
        if output_size < 1:
            raise ValueError(
                f"ManyToOne: output_size must be at least 1, got {output_size}"
            )
        if embedding is not None:
            if not isinstance(embedding, Embedding):
                raise TypeError(
                    "ManyToOne: expected an embedding with output_size, __call__"
                    f" and project(), got {type(embedding).__name__}"
                )
            if embedding.output_size != recurrent.cell.input_size:
                raise ValueError(
                    f"ManyToOne: the embedding gives {embedding.output_size}"
                    " features but the cell expects input_size"
                    f" {recurrent.cell.input_size}"
                )
        self.embedding = embedding
        self.recurrent = recurrent
        # Made empty and drawn below: nothing is drawn from the global generator.
        like = next(recurrent.parameters(), torch.empty(0))
        size = recurrent.output_size
        self.head = nn.Linear(size, output_size, device="meta", dtype=like.dtype)
        self.head.to_empty(device=like.device)
        bound = 1.0 / math.sqrt(recurrent.output_size)
        with torch.no_grad():
            for p in self.head.parameters():
                p.uniform_(-bound, bound, generator=generator)

    def forward(self, inputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Features ``[B, T, E]`` (or ids ``[B, T]`` with an embedding) to
        ``[B, O]``."""
        xs = inputs if self.embedding is None else self.embedding(inputs)
        outputs, _ = self.recurrent(xs, None, lengths)
        result: Tensor = self.head(last_step(outputs, lengths))
        return result
