"""Recurrent: runs a cell over time, forwards or backwards, with padded batches.

The loop it runs is the plain one; for a cell ``cell`` and input ``xs [B, T, E]``::

    state = cell.initial_state(B)
    for t in range(T):
        out, state = cell(xs[:, t], state)
        outputs.append(out)
    return stack(outputs, dim=1), state

For a cell with a separate input projection (the ``ProjectedCell`` protocol,
which the built-in cells follow) the projection of every time step is one matrix
product before the loop, and the loop does only the recurrent part.

The built-in cells (exactly ``RNNCell``, ``LSTMCell`` and ``GRUCell`` with
``reset_after=True``) run instead through torch's fused kernels, the ones
``torch.nn.LSTM`` and friends call, when no ``lengths`` are given and the run is
not reversed (``seqmodels.fused``): the same numbers as the loop, as fast as
``torch.nn``.

``Recurrent.trace`` runs the same loop and keeps what happened at each step:
gate activations and states, for looking inside a trained cell.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

import torch
from torch import Tensor, nn

from seqmodels import fused
from seqmodels.protocols import Cell, ProjectedCell, State

StepFn: TypeAlias = Callable[..., tuple[Tensor, State]]

__all__ = ["Recurrent", "Trace", "check_lengths", "map_state", "reverse_padded"]


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor of a state, keeping its kind (tensor, tuple,
    named tuple, nested tuples).

    >>> import torch
    >>> from seqmodels import LSTMState
    >>> map_state(lambda t: t + 1, LSTMState(torch.zeros(1), torch.ones(1)))
    LSTMState(h=tensor([1.]), c=tensor([2.]))
    """
    if isinstance(state, Tensor):
        return fn(state)
    mapped = [map_state(fn, s) for s in state]
    if hasattr(state, "_fields"):  # a named tuple such as LSTMState
        return type(state)(*mapped)
    return tuple(mapped)


def _where_state(keep: Tensor, new: State, old: State) -> State:
    """``new`` in rows where ``keep [B, 1]`` is true, ``old`` elsewhere."""
    if isinstance(new, Tensor):
        assert isinstance(old, Tensor)
        return torch.where(keep, new, old)
    assert not isinstance(old, Tensor)
    merged = [_where_state(keep, n, o) for n, o in zip(new, old, strict=True)]
    return type(new)(*merged) if hasattr(new, "_fields") else tuple(merged)


def _named_state(state: State, prefix: str = "") -> dict[str, Tensor]:
    """The tensors of a state by name: ``h`` for a bare tensor, field names for
    a named tuple (``h``, ``c``), positions otherwise (``state.0``)."""
    if isinstance(state, Tensor):
        return {prefix or "h": state}
    names: Sequence[str] = getattr(state, "_fields", None) or [
        f"state.{k}" for k in range(len(state))
    ]
    named: dict[str, Tensor] = {}
    for name, part in zip(names, state, strict=True):
        named.update(_named_state(part, f"{prefix}.{name}" if prefix else name))
    return named


def reverse_padded(xs: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each row of ``xs [B, T, ...]`` within its first ``lengths[b]``
    steps, leaving the padding where it is. It is its own inverse.

    >>> import torch
    >>> reverse_padded(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2]))
    tensor([[3, 2, 1],
            [5, 4, 0]])
    """
    if lengths is None:
        return xs.flip(1)
    steps = torch.arange(xs.shape[1], device=xs.device).unsqueeze(0)  # [1, T]
    rows = lengths.to(xs.device).unsqueeze(1)  # [B, 1]
    index = torch.where(steps < rows, rows - 1 - steps, steps)  # [B, T]
    index = index.reshape(*index.shape, *([1] * (xs.dim() - 2))).expand_as(xs)
    return xs.gather(1, index)


def _accepts_details(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` takes a ``details`` keyword (or ``**kwargs``); for a
    module, whether its ``forward`` does."""
    if isinstance(fn, nn.Module):
        fn = fn.forward
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "details" or p.kind is inspect.Parameter.VAR_KEYWORD
        for p in parameters
    )


@dataclass(frozen=True)
class Trace:
    """What a layer (or a model) did at each step.

    Attributes:
        outputs: the outputs, ``[B, T, H]`` (a model's trace: logits
            ``[B, T, V]``).
        state: the final state, as the layer returns it.
        values: per-step tensors ``[B, T, ...]`` by name: the cell's gate
            activations by the letters of its equations (``i, f, g, o`` for
            ``LSTMCell``, ``r, z, n`` for ``GRUCell``) and its state after each
            step (``h``, and ``c`` for an LSTM). Steps past a row's length are
            zero. Layers built of several cells prefix the names with the
            layer's index and direction: ``"1.backward.f"``.
    """

    outputs: Tensor
    state: State
    values: dict[str, Tensor] = field(default_factory=dict)


def check_lengths(
    name: str,
    lengths: Tensor | Sequence[int] | None,
    batch: int,
    steps: int,
    device: torch.device | str | None = None,
) -> Tensor | None:
    """Lengths as a ``[B]`` integer tensor on ``device``, checked to lie in
    ``[1, T]``; ``None`` when there are none or every row is full."""
    if lengths is None:
        return None
    if not isinstance(lengths, Tensor):
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(
                f"{name}: expected lengths as a [B] integer tensor or a list of"
                f" ints, got {type(lengths).__name__}"
            ) from None
    if (
        lengths.is_floating_point()
        or lengths.is_complex()
        or (lengths.dtype == torch.bool)
    ):
        raise TypeError(f"{name}: expected integer lengths, got dtype {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(
            f"{name}: expected lengths of shape [{batch}] (one per row of the"
            f" batch), got {list(lengths.shape)}"
        )
    if batch == 0:
        return None
    low, high = int(lengths.min()), int(lengths.max())
    if low < 1 or high > steps:
        bad = low if low < 1 else high
        raise ValueError(
            f"{name}: lengths must be in [1, {steps}] (T = {steps}), got {bad}"
        )
    if low == steps:
        return None  # nothing is padded: the plain loop is exact
    return lengths.to(device=device, dtype=torch.long)


class Recurrent(nn.Module):
    """Runs a cell over the time axis, batch first.

    Args:
        cell: any object that follows the ``Cell`` protocol: a built-in cell or
            one of your own.
        reverse: run from the last valid step of each row to the first (the
            backward half of a bidirectional layer). Outputs stay aligned with
            the input steps.

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

    def __init__(self, cell: Cell, *, reverse: bool = False) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(
                "Recurrent: expected a cell with input_size, hidden_size,"
                " output_size, initial_state() and __call__(x, state),"
                f" got {type(cell).__name__}"
            )
        if not isinstance(reverse, bool):
            raise TypeError(
                f"Recurrent: reverse must be a bool, got {type(reverse).__name__}"
            )
        self.cell = cell
        self.reverse = reverse
        self._projected = isinstance(cell, ProjectedCell)

    @property
    def _name(self) -> str:
        return f"Recurrent({type(self.cell).__name__})"

    @property
    def input_size(self) -> int:
        """``E``: features of each input step."""
        return self.cell.input_size

    @property
    def output_size(self) -> int:
        """``H``: features of each output step."""
        return self.cell.output_size

    @property
    def causal(self) -> bool:
        """Whether output ``t`` depends only on steps up to ``t`` (not reversed),
        so that the layer can run one step at a time."""
        return not self.reverse

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """The cell's zero state for a batch of ``B``."""
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def input_projection(self) -> tuple[Tensor, Tensor | None] | None:
        """``(weight [G, E], bias [G])`` of the cell's input map, or ``None`` for
        a cell without one. ``forward_projected`` takes its result."""
        if not self._projected:
            return None
        cell = cast(ProjectedCell, self.cell)  # checked once, in __init__
        return cell.input_weight, cell.input_bias

    def forward(
        self,
        xs: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
    ) -> tuple[Tensor, State]:
        """Run over ``xs [B, T, E]``; see the class docstring."""
        self._check_sequence(xs, "input", self.cell.input_size)
        if lengths is None and not self.reverse and fused.can_fuse(self.cell, xs):
            return fused.run_fused(self.cell, xs, state)  # torch's own kernel
        if self._projected:
            cell = cast(ProjectedCell, self.cell)  # checked once, in __init__
            gx = nn.functional.linear(xs, cell.input_weight, cell.input_bias)
            return self._run(gx, state, lengths, projected=True)
        return self._run(xs, state, lengths, projected=False)

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
        self._check_projected(gx)
        cell = self.cell
        if lengths is None and not self.reverse and fused.can_fuse_projected(cell, gx):
            return fused.run_fused_projected(cell, gx, state)  # torch's own kernel
        return self._run(gx, state, lengths, projected=True)

    def trace(
        self,
        xs: Tensor,
        state: State | None = None,
        lengths: Tensor | Sequence[int] | None = None,
        *,
        projected: bool = False,
    ) -> Trace:
        """Run like ``forward`` and keep each step's gates and states.

        ``xs`` is ``[B, T, E]``, or ``gx [B, T, G]`` with ``projected=True``.
        A cell reports its gates when its ``step`` (or, for a cell without an
        input projection, its ``__call__``) takes a ``details`` keyword: a dict
        it fills with ``[B, ·]`` tensors by name. Without it the trace still
        holds the states.

        >>> import torch
        >>> from seqmodels import LSTMCell
        >>> trace = Recurrent(LSTMCell(3, 4)).trace(torch.zeros(2, 5, 3))
        >>> sorted(trace.values), trace.values["f"].shape
        (['c', 'f', 'g', 'h', 'i', 'o'], torch.Size([2, 5, 4]))
        """
        values: dict[str, Tensor] = {}
        if projected:
            self._check_projected(xs)
            gx = xs
        else:
            self._check_sequence(xs, "input", self.cell.input_size)
            projection = self.input_projection()
            gx = xs if projection is None else nn.functional.linear(xs, *projection)
        outputs, state = self._run(
            gx, state, lengths, projected=projected or gx is not xs, record=values
        )
        return Trace(outputs, state, values)

    def _run(
        self,
        inputs: Tensor,
        state: State | None,
        lengths: Tensor | Sequence[int] | None,
        *,
        projected: bool,
        record: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, State]:
        """The time loop over ``inputs [B, T, E or G]``; see the module docstring.

        ``record``, when given, receives each step's details and states as
        ``[B, T, ...]`` tensors (padded steps zero).
        """
        cell = self.cell
        batch, steps = inputs.shape[0], inputs.shape[1]
        checked = self._check_lengths(lengths, batch, steps, inputs.device)
        if projected:
            projected_cell = cast(ProjectedCell, cell)  # checked once, in __init__
            state = projected_cell.check_state(
                state, batch, device=inputs.device, dtype=inputs.dtype
            )
            step = cast(StepFn, projected_cell.step)
        else:
            if state is None:
                state = cell.initial_state(
                    batch, device=inputs.device, dtype=inputs.dtype
                )
            step = cast(StepFn, cell)
        with_details = record is not None and _accepts_details(step)

        # A reversed run is a forward run over each row's valid steps, flipped.
        if self.reverse:
            inputs = reverse_padded(inputs, checked)
        valid_steps = steps if checked is None else int(checked.max())

        # unbind, not inputs[:, t]: the backward pass then stacks the steps'
        # gradients once instead of writing a [B, T, ·] tensor at every step.
        outputs: list[Tensor] = []
        collected: dict[str, list[Tensor]] = {}
        for t, x_t in enumerate(inputs.unbind(1)[:valid_steps]):
            details: dict[str, Tensor] | None = {} if with_details else None
            if details is None:
                result = step(x_t, state)
            else:
                result = step(x_t, state, details=details)
            if t == 0:
                self._check_step_result(result, batch)
            out, new_state = result
            keep = None if checked is None else (checked > t).unsqueeze(1)
            if keep is not None:
                out = out.masked_fill(~keep, 0.0)
                new_state = _where_state(keep, new_state, state)
            if record is not None:
                named = {**(details or {}), **_named_state(new_state)}
                for name, value in named.items():
                    if keep is not None:
                        value = value.masked_fill(~keep, 0.0)
                    collected.setdefault(name, []).append(value)
            outputs.append(out)
            state = new_state

        stacked = self._stack(outputs, inputs, steps, self.cell.output_size)
        if self.reverse:
            stacked = reverse_padded(stacked, checked)
        if record is not None:
            for name, values in collected.items():
                value = self._stack(values, inputs, steps, values[0].shape[-1])
                record[name] = reverse_padded(value, checked) if self.reverse else value
        return stacked, state

    @staticmethod
    def _stack(outputs: list[Tensor], like: Tensor, steps: int, size: int) -> Tensor:
        """``[B, T, size]`` from per-step outputs ``[B, size]``, zero-padded to
        ``steps``."""
        if not outputs:
            return like.new_zeros(like.shape[0], steps, size)
        stacked = torch.stack(outputs, dim=1)
        missing = steps - stacked.shape[1]
        if missing:
            pad = stacked.new_zeros(stacked.shape[0], missing, *stacked.shape[2:])
            stacked = torch.cat([stacked, pad], dim=1)
        return stacked

    def _check_step_result(self, result: object, batch: int) -> None:
        """Check a cell's first step: ``(output [B, H], state)``, ``H`` its
        ``output_size``; a cell that says otherwise would give wrong shapes."""
        size = self.cell.output_size
        if not isinstance(result, tuple) or len(result) != 2:
            got = (
                f"a tuple of {len(result)}"
                if isinstance(result, tuple)
                else type(result).__name__
            )
            raise TypeError(
                f"{self._name}: the cell must return (output, state), got {got}"
            )
        out = result[0]
        if not isinstance(out, Tensor) or tuple(out.shape) != (batch, size):
            shape = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"{self._name}: the cell's output must be [B, output_size] ="
                f" [{batch}, {size}], got {shape}"
            )

    def _check_projected(self, gx: object) -> None:
        projection = self.input_projection()
        if projection is None:
            raise TypeError(
                f"{self._name}: forward_projected needs a cell with input_weight,"
                " input_bias, check_state() and step()"
            )
        self._check_sequence(gx, "projected input", projection[0].shape[0])

    def _check_sequence(self, xs: object, what: str, features: int) -> None:
        if not isinstance(xs, Tensor):
            raise TypeError(
                f"{self._name}: expected {what} as a tensor, got {type(xs).__name__}"
            )
        if not xs.is_floating_point():
            raise TypeError(
                f"{self._name}: expected a floating-point {what}, got dtype"
                f" {xs.dtype} (token ids go through an embedding first)"
            )
        if xs.dim() != 3:
            raise ValueError(
                f"{self._name}: expected {what} of shape [B, T, {features}],"
                f" got {list(xs.shape)}"
            )
        if xs.shape[2] != features:
            raise ValueError(
                f"{self._name}: expected {what} with {features} features,"
                f" got {xs.shape[2]} (shape {list(xs.shape)})"
            )
        if self._projected:
            want = cast(ProjectedCell, self.cell).input_weight.dtype
            if xs.dtype != want:
                raise TypeError(
                    f"{self._name}: expected {what} of dtype {want} (the cell's"
                    f" parameters), got {xs.dtype}; convert one to the other,"
                    f" e.g. xs.to({want}) or layer.to({xs.dtype})"
                )

    def _check_lengths(
        self,
        lengths: Tensor | Sequence[int] | None,
        batch: int,
        steps: int,
        device: torch.device,
    ) -> Tensor | None:
        return check_lengths(self._name, lengths, batch, steps, device)

    def extra_repr(self) -> str:
        return "reverse=True" if self.reverse else ""
