"""Recurrent: runs a cell over time.

The loop it runs is the plain one; for a cell ``cell`` and input ``xs [B, T, E]``::

    state = cell.initial_state(B)
    for t in range(T):
        out, state = cell(xs[:, t], state)
        outputs.append(out)
    return stack(outputs, dim=1), state

For a cell with a separate input projection (the ``ProjectedCell`` protocol,
which the built-in cells follow) the projection of every time step is one matrix
product before the loop, and the loop does only the recurrent part.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from seqmodels.protocols import Cell, ProjectedCell, State

__all__ = ["Recurrent", "map_state"]


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor of a state, keeping its kind (tensor, tuple,
    named tuple)."""
    if isinstance(state, Tensor):
        return fn(state)
    mapped = [fn(s) for s in state]
    if hasattr(state, "_fields"):  # a named tuple such as LSTMState
        return type(state)(*mapped)
    return tuple(mapped)


def _where_state(keep: Tensor, new: State, old: State) -> State:
    """``new`` in rows where ``keep [B, 1]`` is true, ``old`` elsewhere."""
    if isinstance(new, Tensor):
        assert isinstance(old, Tensor)
        return torch.where(keep, new, old)
    merged = [torch.where(keep, n, o) for n, o in zip(new, old, strict=True)]
    return type(new)(*merged) if hasattr(new, "_fields") else tuple(merged)


class Recurrent(nn.Module):
    """Runs a cell over the time axis, batch first.

    Args:
        cell: any object that follows the ``Cell`` protocol: a built-in cell or
            one of your own.

    ``recurrent(xs, state=None, lengths=None) -> (outputs, final_state)``

    - ``xs``: ``[B, T, E]``.
    - ``state``: the cell's state for a batch of ``B``; zeros if ``None``.
    - ``lengths``: optional ``[B]`` integers in ``[1, T]``, in any order, for a
      padded batch. Row ``b`` then runs ``lengths[b]`` steps: its outputs past
      that are zero and its final state is the state after its last valid step,
      as if the row ran alone.
    - ``outputs``: ``[B, T, H]`` (``H`` is the cell's ``output_size``).
    - ``final_state``: the state after the last (valid) step.

    >>> import torch
    >>> from seqmodels import LSTMCell
    >>> run = Recurrent(LSTMCell(3, 5))
    >>> outputs, (h, c) = run(torch.zeros(2, 7, 3))
    >>> outputs.shape, h.shape
    (torch.Size([2, 7, 5]), torch.Size([2, 5]))
    """

    def __init__(self, cell: Cell) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(
                "Recurrent: expected a cell with input_size, hidden_size,"
                " output_size, initial_state() and __call__(x, state),"
                f" got {type(cell).__name__}"
            )
        self.cell = cell

    @property
    def _name(self) -> str:
        return f"Recurrent({type(self.cell).__name__})"

    @property
    def output_size(self) -> int:
        """``H``: features of each output step."""
        return self.cell.output_size

    def forward(
        self,
        xs: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, State]:
        """Run over ``xs [B, T, E]``; see the class docstring."""
        self._check_sequence(xs, "input", self.cell.input_size, floating=True)
        if isinstance(self.cell, ProjectedCell):
            gx = nn.functional.linear(xs, self.cell.input_weight, self.cell.input_bias)
            return self._run_projected(gx, state, lengths)

        batch, steps = xs.shape[0], xs.shape[1]
        lengths = self._check_lengths(lengths, batch, steps, xs.device)
        if state is None:
            state = self.cell.initial_state(batch, device=xs.device, dtype=xs.dtype)
        outputs = []
        for t in range(steps):
            out, new_state = self.cell(xs[:, t], state)
            if lengths is not None:
                keep = (lengths > t).unsqueeze(1)
                out = out * keep
                new_state = _where_state(keep, new_state, state)
            outputs.append(out)
            state = new_state
        return self._stack(outputs, xs), state

    def forward_projected(
        self,
        gx: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, State]:
        """Run over input projections ``gx [B, T, G]`` already computed, as
        ``x @ cell.input_weight.T + cell.input_bias`` (``ProjectedCell`` only).

        This is how a model with a one-hot embedding skips the one-hot tensor.
        """
        if not isinstance(self.cell, ProjectedCell):
            raise TypeError(
                f"{self._name}: forward_projected needs a cell with input_weight,"
                " input_bias, check_state() and step()"
            )
        size = self.cell.input_weight.shape[0]
        self._check_sequence(gx, "projected input", size, floating=True)
        return self._run_projected(gx, state, lengths)

    def _run_projected(
        self, gx: Tensor, state: State | None, lengths: Tensor | Sequence[int] | None
    ) -> tuple[Tensor, State]:
        cell = self.cell
        assert isinstance(cell, ProjectedCell)
        batch, steps = gx.shape[0], gx.shape[1]
        lengths = self._check_lengths(lengths, batch, steps, gx.device)
        state = cell.check_state(state, batch, device=gx.device, dtype=gx.dtype)
        outputs = []
        for t in range(steps):
            out, new_state = cell.step(gx[:, t], state)
            if lengths is not None:
                keep = (lengths > t).unsqueeze(1)
                out = out * keep
                new_state = _where_state(keep, new_state, state)
            outputs.append(out)
            state = new_state
        return self._stack(outputs, gx), state

    def _stack(self, outputs: list[Tensor], like: Tensor) -> Tensor:
        if outputs:
            return torch.stack(outputs, dim=1)
        size = self.cell.output_size
        return like.new_zeros(like.shape[0], 0, size)

    def _check_sequence(
        self, xs: object, what: str, features: int, *, floating: bool
    ) -> None:
        if not isinstance(xs, Tensor):
            raise TypeError(
                f"{self._name}: expected {what} as a tensor, got {type(xs).__name__}"
            )
        if floating and not xs.is_floating_point():
            raise TypeError(
                f"{self._name}: expected a floating-point {what}, got dtype"
                f" {xs.dtype} (token ids go through an embedding first)"
            )
        if xs.dim() != 3 or xs.shape[2] != features:
            raise ValueError(
                f"{self._name}: expected {what} of shape [B, T, {features}],"
                f" got {list(xs.shape)}"
            )

    def _check_lengths(
        self,
        lengths: Tensor | Sequence[int] | None,
        batch: int,
        steps: int,
        device: torch.device,
    ) -> Tensor | None:
        if lengths is None:
            return None
        name = self._name
        if not isinstance(lengths, Tensor):
            lengths = torch.as_tensor(lengths)
        if lengths.is_floating_point() or lengths.dtype == torch.bool:
            raise TypeError(
                f"{name}: expected integer lengths, got dtype {lengths.dtype}"
            )
        if lengths.shape != (batch,):
            raise ValueError(
                f"{name}: expected lengths of shape [{batch}] (one per row),"
                f" got {list(lengths.shape)}"
            )
        if batch:
            low, high = int(lengths.min()), int(lengths.max())
            if low < 1 or high > steps:
                bad = low if low < 1 else high
                raise ValueError(
                    f"{name}: lengths must be in [1, {steps}] (T = {steps}), got {bad}"
                )
        if high == steps and low == steps:
            return None  # nothing is padded: the plain loop is exact
        return lengths.to(device)
