"""The small protocols between the pieces, and the names of recurrent states.

Dimension letters, used in every shape in this library:

====  =====================================================
 B    batch size
 T    time steps (sequence length)
 V    vocabulary size
 E    features of the input to a cell (after the embedding)
 H    hidden size (features of a cell's output and state)
 G    features of a cell's input projection (gates × H)
====  =====================================================

Each protocol is structural (``typing.Protocol``): a user's class that has the
methods plugs in without inheriting from anything here.

    text ──Tokenizer──▶ ids [B, T] ──Embedding──▶ x [B, T, E]
         ──Recurrent(cell)──▶ h [B, T, H] ──head──▶ logits [B, T, V]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple, Protocol, TypeAlias, runtime_checkable

import torch
from torch import Tensor

__all__ = [
    "Cell",
    "Embedding",
    "LSTMState",
    "ProjectedCell",
    "SequenceLayer",
    "State",
    "Tokenizer",
    "Vocab",
]


class LSTMState(NamedTuple):
    """The state of an LSTM cell: hidden ``h`` and memory ``c``.

    ``h`` is ``[B, H]`` (``[B, P]`` with a projection), ``c`` is ``[B, H]``.
    The order is torch's ``(h, c)``.
    """

    h: Tensor
    c: Tensor


State: TypeAlias = Tensor | tuple["State", ...]
"""A state: one tensor ``[B, H]`` or a tuple of states.

A cell's state is a tensor or a tuple of tensors (``LSTMState``). A layer built
from several cells nests them: ``Stacked`` keeps one state per layer, in a
tuple, and ``Bidirectional`` a ``(forward, backward)`` pair.
"""


@runtime_checkable
class Vocab(Protocol):
    """An ordered set of tokens: ids are positions, iteration is in id order."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[str]: ...

    def __contains__(self, token: object) -> bool: ...


@runtime_checkable
class Tokenizer(Protocol):
    """Turns text into token ids and back.

    ``encode`` raises a ``ValueError`` naming the token when a token is not in
    the vocabulary and no unknown token is configured.
    """

    @property
    def vocab(self) -> Vocab: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


@runtime_checkable
class Embedding(Protocol):
    """Maps integer ids ``[B, T]`` to vectors ``[B, T, E]``.

    ``output_size`` is ``E``. ``project(ids, weight, bias)`` returns the
    embedding multiplied by ``weight`` (``[G, E]``) plus ``bias`` (``[G]``),
    ``[B, T, G]``: a cell's input projection. An embedding may compute it
    without building ``[B, T, E]`` at all (the one-hot embedding looks up
    columns of ``weight``).
    """

    @property
    def output_size(self) -> int: ...

    def __call__(self, ids: Tensor) -> Tensor: ...

    def project(self, ids: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor: ...


@runtime_checkable
class Cell(Protocol):
    """One time step of a recurrent network.

    ``cell(x, state) -> (output, new_state)`` with ``x`` of shape ``[B, E]``
    and ``output`` of shape ``[B, output_size]``. ``initial_state`` returns the
    zero state for a batch, on the given device and dtype.

    Any ``torch.nn.Module`` with these members is a cell; the built-in ones are
    ``RNNCell``, ``LSTMCell`` and ``GRUCell``. ``seqmodels.testing.check_cell``
    checks a cell against this protocol (docs/cells.md).

    Optionally, ``__call__`` (a module's ``forward``) may take a keyword
    ``details``: a dict that ``Recurrent.trace`` passes in and the cell fills
    with its gate activations ``[B, ·]`` by name.
    """

    input_size: int
    hidden_size: int

    @property
    def output_size(self) -> int: ...

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State: ...

    def __call__(self, x: Tensor, state: State) -> tuple[Tensor, State]: ...


@runtime_checkable
class ProjectedCell(Cell, Protocol):
    """A cell whose input enters only through one affine map.

    Such a cell splits its step in two: ``input_weight`` and ``input_bias`` give
    the map ``gx = x @ input_weight.T + input_bias`` (``[B, G]``), and
    ``step(gx, state)`` does the rest, without checking its arguments.
    ``check_state(state, batch_size)`` checks a state once before the loop (and
    returns the initial state for ``None``). ``Recurrent`` then computes the input
    projection of all time steps at once, outside the time loop, and a one-hot
    embedding turns it into a column lookup.
    """

    @property
    def input_weight(self) -> Tensor: ...

    @property
    def input_bias(self) -> Tensor | None: ...

    def check_state(
        self,
        state: State | None,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State: ...

    def step(self, gx: Tensor, state: State) -> tuple[Tensor, State]: ...


@runtime_checkable
class SequenceLayer(Protocol):
    """Runs over a whole sequence: ``Recurrent``, ``Stacked``, ``Bidirectional``.

    ``layer(xs, state=None, lengths=None) -> (outputs, final_state)`` with ``xs``
    ``[B, T, E]``, ``outputs`` ``[B, T, output_size]`` and ``lengths`` an
    optional ``[B]`` tensor of valid steps per row (padded batches).
    ``initial_state`` returns the zero state for a batch.
    """

    @property
    def input_size(self) -> int: ...

    @property
    def output_size(self) -> int: ...

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State: ...

    def __call__(
        self,
        xs: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, State]: ...
