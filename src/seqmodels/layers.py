"""Stacks and both directions: wrappers over any cell.

``Stacked`` runs layers one on top of the other, with dropout between them
(never after the last). ``Bidirectional`` runs one layer forwards and another
backwards over the same input and joins their outputs. Both take cells (each is
wrapped in a ``Recurrent``) or whole layers, so they work for your own cells as
for the built-in ones, and nest: a stack of bidirectional layers is
``torch.nn.LSTM(num_layers=..., bidirectional=True)``.

States nest the same way: a ``Stacked`` state is a tuple with one state per
layer, a ``Bidirectional`` state a ``(forward, backward)`` pair.
``seqmodels.interop.torch`` converts them to torch's ``[L * D, B, H]`` tensors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqmodels.protocols import Cell, SequenceLayer, State
from seqmodels.recurrent import Recurrent, Trace

__all__ = [
    "Bidirectional",
    "Stacked",
    "as_layer",
    "layer_input_projection",
    "run_layer",
    "trace_layer",
]

Lengths = Tensor | Sequence[int] | None


def as_layer(
    layer: Cell | SequenceLayer, *, reverse: bool = False, name: str = "as_layer"
) -> SequenceLayer:
    """A layer from a cell (wrapped in ``Recurrent``) or a layer (as it is).

    ``reverse=True`` asks for a backward layer: a cell is wrapped in
    ``Recurrent(cell, reverse=True)``; a layer must already run backwards.
    """
    if isinstance(layer, Recurrent | Stacked | Bidirectional):
        if reverse and getattr(layer, "causal", True):
            raise ValueError(
                f"{name}: the backward layer must run in reverse; pass a cell or"
                " Recurrent(cell, reverse=True)"
            )
        return layer
    if isinstance(layer, Cell):
        return Recurrent(layer, reverse=reverse)
    if isinstance(layer, SequenceLayer) and isinstance(layer, nn.Module):
        return layer
    raise TypeError(
        f"{name}: expected a cell (input_size, hidden_size, output_size,"
        " initial_state(), __call__(x, state)) or a layer (a torch.nn.Module with"
        " input_size, output_size, initial_state(), __call__(xs, state,"
        f" lengths)), got {type(layer).__name__}"
    )


def run_layer(
    layer: SequenceLayer,
    xs: Tensor,
    state: State | None,
    lengths: Lengths,
    projected: bool,
) -> tuple[Tensor, State]:
    """``layer(xs, ...)``, or ``layer.forward_projected(xs, ...)``."""
    run = getattr(layer, "forward_projected") if projected else layer  # noqa: B009
    result: tuple[Tensor, State] = run(xs, state, lengths)
    return result


def trace_layer(
    layer: SequenceLayer,
    xs: Tensor,
    state: State | None,
    lengths: Lengths,
    projected: bool,
) -> Trace:
    """``layer.trace`` where the layer has one, else its plain run."""
    trace = getattr(layer, "trace", None)
    if trace is not None:
        result: Trace = trace(xs, state, lengths, projected=projected)
        return result
    outputs, state = run_layer(layer, xs, state, lengths, projected)
    return Trace(outputs, state, {})


class Bidirectional(nn.Module):
    """Runs one layer forwards and one backwards, and joins their outputs.

    Args:
        forward: a cell or a layer that runs forwards.
        backward: a cell (run in reverse) or a layer that runs backwards.
            Its input size must equal ``forward``'s.

    ``layer(xs, state=None, lengths=None) -> (outputs, (forward_state,
    backward_state))``: ``xs [B, T, E]`` to ``outputs [B, T, Hf + Hb]``, the
    forward outputs then the backward ones at each step, as in
    ``torch.nn.LSTM(bidirectional=True)``. With ``lengths`` the backward layer
    starts at each row's last valid step. The output at step ``t`` depends on
    the whole sequence, so this layer cannot run one step at a time
    (``causal`` is false): use it to encode, tag or classify, not to generate.

    >>> import torch
    >>> from seqmodels import GRUCell
    >>> layer = Bidirectional(GRUCell(3, 4), GRUCell(3, 4))
    >>> outputs, (forward_h, backward_h) = layer(torch.zeros(2, 5, 3))
    >>> outputs.shape, backward_h.shape
    (torch.Size([2, 5, 8]), torch.Size([2, 4]))
    """

    causal = False

    def __init__(
        self, forward: Cell | SequenceLayer, backward: Cell | SequenceLayer
    ) -> None:
        super().__init__()
        self.forward_layer: SequenceLayer = as_layer(forward, name="Bidirectional")
        self.backward_layer: SequenceLayer = as_layer(
            backward, reverse=True, name="Bidirectional"
        )
        if not getattr(self.forward_layer, "causal", True):
            raise ValueError(
                "Bidirectional: the forward layer must run forwards, got a"
                f" {type(self.forward_layer).__name__} that does not"
            )
        f_size = self.forward_layer.input_size
        b_size = self.backward_layer.input_size
        if f_size != b_size:
            raise ValueError(
                f"Bidirectional: the forward layer takes {f_size} input features"
                f" but the backward layer takes {b_size}"
            )

    @property
    def input_size(self) -> int:
        """``E``: features of each input step."""
        return self.forward_layer.input_size

    @property
    def output_size(self) -> int:
        """``Hf + Hb``: the two directions' features, side by side."""
        return self.forward_layer.output_size + self.backward_layer.output_size

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[State, State]:
        """``(forward zero state, backward zero state)``."""
        return (
            self.forward_layer.initial_state(batch_size, device=device, dtype=dtype),
            self.backward_layer.initial_state(batch_size, device=device, dtype=dtype),
        )

    def input_projection(self) -> tuple[Tensor, Tensor | None] | None:
        """Both directions' input maps stacked, ``[Gf + Gb, E]``, or ``None``
        unless both directions have one."""
        f = layer_input_projection(self.forward_layer)
        b = layer_input_projection(self.backward_layer)
        if f is None or b is None:
            return None
        weight = torch.cat([f[0], b[0]])
        if f[1] is None and b[1] is None:
            return weight, None
        biases = [
            p[1] if p[1] is not None else p[0].new_zeros(p[0].shape[0]) for p in (f, b)
        ]
        return weight, torch.cat(biases)

    def forward(
        self, xs: Tensor, state: State | None = None, lengths: Lengths = None
    ) -> tuple[Tensor, State]:
        """``xs [B, T, E]`` to ``(outputs [B, T, Hf + Hb], (forward_state,
        backward_state))``."""
        return self._run(xs, state, lengths, projected=False, record=None)

    def forward_projected(
        self, gx: Tensor, state: State | None = None, lengths: Lengths = None
    ) -> tuple[Tensor, State]:
        """Like ``forward``, from ``gx [B, T, Gf + Gb]`` computed with
        ``input_projection``."""
        return self._run(gx, state, lengths, projected=True, record=None)

    def trace(
        self,
        xs: Tensor,
        state: State | None = None,
        lengths: Lengths = None,
        *,
        projected: bool = False,
    ) -> Trace:
        """Like ``forward``, keeping each direction's per-step values under
        ``"forward."`` and ``"backward."`` (see ``Recurrent.trace``)."""
        values: dict[str, Tensor] = {}
        outputs, state = self._run(xs, state, lengths, projected, record=values)
        return Trace(outputs, state, values)

    def _run(
        self,
        xs: Tensor,
        state: State | None,
        lengths: Lengths,
        projected: bool,
        record: dict[str, Tensor] | None,
    ) -> tuple[Tensor, State]:
        f_state, b_state = self._split_state(state)
        f_in, b_in = xs, xs
        if projected:
            projection = self.input_projection()
            if projection is None:
                raise TypeError(
                    "Bidirectional: forward_projected needs both directions to"
                    " have an input projection"
                )
            split = layer_input_projection(self.forward_layer)
            assert split is not None
            f_in, b_in = xs[..., : split[0].shape[0]], xs[..., split[0].shape[0] :]

        halves = []
        for name, layer, inputs, s in (
            ("forward", self.forward_layer, f_in, f_state),
            ("backward", self.backward_layer, b_in, b_state),
        ):
            if record is None:
                halves.append(run_layer(layer, inputs, s, lengths, projected))
                continue
            trace = trace_layer(layer, inputs, s, lengths, projected)
            record.update({f"{name}.{k}": v for k, v in trace.values.items()})
            halves.append((trace.outputs, trace.state))

        (f_out, f_state), (b_out, b_state) = halves
        return torch.cat([f_out, b_out], dim=-1), (f_state, b_state)

    @staticmethod
    def _split_state(state: State | None) -> tuple[State | None, State | None]:
        if state is None:
            return None, None
        if isinstance(state, Tensor) or not isinstance(state, tuple) or len(state) != 2:
            got = (
                f"a tuple of {len(state)}"
                if isinstance(state, tuple)
                else type(state).__name__
            )
            raise TypeError(
                "Bidirectional: expected state as a (forward, backward) pair,"
                f" got {got}"
            )
        return state[0], state[1]


def layer_input_projection(
    layer: SequenceLayer,
) -> tuple[Tensor, Tensor | None] | None:
    """``layer.input_projection()`` where the layer has one."""
    method = getattr(layer, "input_projection", None)
    if method is None:
        return None
    result: tuple[Tensor, Tensor | None] | None = method()
    return result


class Stacked(nn.Module):
    """Layers one on top of the other, with dropout between them.

    Args:
        layers: cells (each wrapped in ``Recurrent``) or layers
            (``Recurrent``, ``Bidirectional``, your own), bottom first. Each
            layer's input size must equal the output size of the one below.
        dropout: the chance of zeroing each output feature of every layer but
            the last, while training (as ``torch.nn.LSTM(dropout=...)``); in
            ``[0, 1)``.

    ``layer(xs, state=None, lengths=None) -> (outputs, states)``: ``xs [B, T,
    E]`` to the top layer's outputs ``[B, T, H]`` and a tuple with each layer's
    final state, bottom first.

    Notes:
        Dropout draws from torch's global generator, as ``torch.nn.Dropout``
        does; ``Trainer(seed=...)`` seeds it for a run.

    ``Stacked.build`` makes the common case, ``num_layers`` alike cells:

    >>> import torch
    >>> from seqmodels import LSTMCell
    >>> stack = Stacked.build(lambda size: LSTMCell(size, 4), 3, num_layers=2)
    >>> outputs, (bottom, top) = stack(torch.zeros(2, 5, 3))
    >>> outputs.shape, top.h.shape
    (torch.Size([2, 5, 4]), torch.Size([2, 4]))
    """

    def __init__(
        self, layers: Sequence[Cell | SequenceLayer], *, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if isinstance(layers, nn.Module) or not isinstance(layers, Sequence):
            raise TypeError(
                "Stacked: expected a list of cells or layers,"
                f" got {type(layers).__name__}"
            )
        if not layers:
            raise ValueError("Stacked: expected at least one layer, got none")
        if isinstance(dropout, bool) or not isinstance(dropout, int | float):
            raise TypeError(
                f"Stacked: dropout must be a number, got {type(dropout).__name__}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Stacked: dropout must be in [0, 1), got {dropout}")
        if dropout > 0 and len(layers) == 1:
            warnings.warn(
                f"Stacked: dropout={dropout} has no effect with one layer; it only"
                " applies between layers",
                UserWarning,
                stacklevel=2,
            )
        built = [as_layer(layer, name="Stacked") for layer in layers]
        for k in range(1, len(built)):
            below, above = built[k - 1].output_size, built[k].input_size
            if below != above:
                raise ValueError(
                    f"Stacked: layer {k} takes {above} input features but layer"
                    f" {k - 1} gives {below}"
                )
        self.layers = nn.ModuleList(cast(list[nn.Module], built))
        self.dropout = float(dropout)

    @classmethod
    def build(
        cls,
        make_cell: Callable[[int], Cell],
        input_size: int,
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ) -> Stacked:
        """``num_layers`` layers of cells from ``make_cell(input_size)``.

        ``make_cell`` is called once per layer and direction, bottom first and
        forward before backward (torch's order), with the input size that layer
        needs: ``input_size``, then the output size of the layer below.
        """
        if isinstance(num_layers, bool) or not isinstance(num_layers, int):
            raise TypeError(
                f"Stacked: num_layers must be an int, got {type(num_layers).__name__}"
            )
        if num_layers < 1:
            raise ValueError(
                f"Stacked: num_layers must be at least 1, got {num_layers}"
            )
        if not callable(make_cell) or isinstance(make_cell, nn.Module):
            raise TypeError(
                "Stacked.build: expected make_cell as a function input_size ->"
                f" cell (e.g. lambda size: LSTMCell(size, 64)), got"
                f" {type(make_cell).__name__}"
            )
        layers: list[Cell | SequenceLayer] = []
        size = input_size
        for _ in range(num_layers):
            layer = as_layer(make_cell(size), name="Stacked.build")
            if bidirectional:
                layer = Bidirectional(layer, make_cell(size))
            layers.append(layer)
            size = layer.output_size
        return cls(layers, dropout=dropout)

    @property
    def _layers(self) -> list[SequenceLayer]:
        return [cast(SequenceLayer, layer) for layer in self.layers]

    @property
    def num_layers(self) -> int:
        """How many layers are stacked."""
        return len(self.layers)

    @property
    def input_size(self) -> int:
        """``E``: the bottom layer's input features."""
        return self._layers[0].input_size

    @property
    def output_size(self) -> int:
        """``H``: the top layer's output features."""
        return self._layers[-1].output_size

    @property
    def causal(self) -> bool:
        """Whether every layer is causal, so the stack can run step by step."""
        return all(getattr(layer, "causal", True) for layer in self._layers)

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[State, ...]:
        """Each layer's zero state, bottom first."""
        return tuple(
            layer.initial_state(batch_size, device=device, dtype=dtype)
            for layer in self._layers
        )

    def input_projection(self) -> tuple[Tensor, Tensor | None] | None:
        """The bottom layer's input map (see ``Recurrent.input_projection``)."""
        return layer_input_projection(self._layers[0])

    def forward(
        self, xs: Tensor, state: State | None = None, lengths: Lengths = None
    ) -> tuple[Tensor, State]:
        """``xs [B, T, E]`` to ``(outputs [B, T, H], per-layer states)``."""
        return self._run(xs, state, lengths, projected=False, record=None)

    def forward_projected(
        self, gx: Tensor, state: State | None = None, lengths: Lengths = None
    ) -> tuple[Tensor, State]:
        """Like ``forward``, from the bottom layer's input projection
        ``gx [B, T, G]`` (see ``input_projection``)."""
        if self.input_projection() is None:
            raise TypeError(
                "Stacked: forward_projected needs a bottom layer with an input"
                " projection"
            )
        return self._run(gx, state, lengths, projected=True, record=None)

    def trace(
        self,
        xs: Tensor,
        state: State | None = None,
        lengths: Lengths = None,
        *,
        projected: bool = False,
    ) -> Trace:
        """Like ``forward``, keeping each layer's per-step values under its
        index: ``"0.f"``, ``"1.backward.h"`` (see ``Recurrent.trace``)."""
        values: dict[str, Tensor] = {}
        outputs, state = self._run(xs, state, lengths, projected, record=values)
        return Trace(outputs, state, values)

    def _run(
        self,
        xs: Tensor,
        state: State | None,
        lengths: Lengths,
        projected: bool,
        record: dict[str, Tensor] | None,
    ) -> tuple[Tensor, State]:
        states = self._split_state(state)
        outputs, finals = xs, []
        last = len(self.layers) - 1
        for k, layer in enumerate(self._layers):
            from_projection = projected and k == 0
            if record is None:
                outputs, layer_state = run_layer(
                    layer, outputs, states[k], lengths, from_projection
                )
            else:
                trace = trace_layer(layer, outputs, states[k], lengths, from_projection)
                record.update({f"{k}.{name}": v for name, v in trace.values.items()})
                outputs, layer_state = trace.outputs, trace.state
            finals.append(layer_state)
            if k < last and self.dropout > 0 and self.training:
                outputs = F.dropout(outputs, self.dropout, training=True)
        return outputs, tuple(finals)

    def _split_state(self, state: State | None) -> Sequence[State | None]:
        count = len(self.layers)
        if state is None:
            return [None] * count
        if isinstance(state, Tensor) or not isinstance(state, tuple):
            raise TypeError(
                f"Stacked: expected state as a tuple of {count} layer states,"
                f" got {type(state).__name__}"
            )
        if len(state) != count:
            raise ValueError(
                f"Stacked: expected state as a tuple of {count} layer states,"
                f" got a tuple of {len(state)}"
            )
        return list(state)

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}" if self.dropout else ""
