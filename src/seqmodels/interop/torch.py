"""Weights and states to and from ``torch.nn`` recurrent modules.

``from_torch`` turns ``torch.nn.RNNCell``, ``LSTMCell`` and ``GRUCell`` into the
matching cell, and ``torch.nn.RNN``, ``LSTM`` and ``GRU`` (any ``num_layers``,
``bidirectional``, ``bias``, ``proj_size``, ``dropout``) into a ``Stacked`` of
``Recurrent`` (or ``Bidirectional``) layers with the same weights, dtype and
device. ``to_torch`` goes the other way. The parameters are copied, not shared.

Our layers are batch first. A converted ``batch_first=False`` module computes
the same function on ``xs.transpose(0, 1)``. A multi-layer module's state is
one tensor ``[L * D, B, H]`` (and ``c`` for an LSTM), ours a tuple per layer:
``state_to_torch`` and ``state_from_torch`` convert between them.

>>> import torch
>>> lstm = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True)
>>> stack = from_torch(lstm)
>>> xs = torch.randn(2, 5, 3)
>>> theirs, _ = lstm(xs)
>>> ours, _ = stack(xs)
>>> torch.allclose(theirs, ours, atol=1e-6)
True
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.layers import Bidirectional, Stacked
from seqmodels.protocols import LSTMState, State
from seqmodels.recurrent import Recurrent

__all__ = ["from_torch", "state_from_torch", "state_to_torch", "to_torch"]

BuiltinCell = RNNCell | LSTMCell | GRUCell
_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def _copy_into(cell: nn.Module, tensors: dict[str, Tensor]) -> None:
    """Copy ``tensors`` into ``cell``'s parameters of the same names."""
    with torch.no_grad():
        for name, value in tensors.items():
            getattr(cell, name).copy_(value)


def _check_plain(module: nn.Module) -> None:
    if parametrize.is_parametrized(module):
        raise ValueError(
            f"from_torch: {type(module).__name__} has parametrized weights"
            " (torch.nn.utils.parametrize, weight_norm); they are not supported,"
            " remove the parametrization first (parametrize.remove_parametrizations)"
        )


def _cell_like(
    kind: type[nn.Module],
    input_size: int,
    hidden_size: int,
    *,
    bias: bool,
    nonlinearity: str = "tanh",
    proj_size: int = 0,
    like: Tensor,
) -> BuiltinCell:
    if issubclass(kind, nn.LSTM | nn.LSTMCell):
        return LSTMCell(
            input_size,
            hidden_size,
            bias,
            proj_size=proj_size,
            device=like.device,
            dtype=like.dtype,
        )
    if issubclass(kind, nn.GRU | nn.GRUCell):
        return GRUCell(
            input_size, hidden_size, bias, device=like.device, dtype=like.dtype
        )
    return RNNCell(
        input_size,
        hidden_size,
        bias,
        nonlinearity,
        device=like.device,
        dtype=like.dtype,
    )


def from_torch(module: nn.Module) -> RNNCell | LSTMCell | GRUCell | Stacked:
    """The cell or layer that computes what ``module`` computes.

    Args:
        module: ``torch.nn.RNNCell``, ``LSTMCell`` or ``GRUCell`` (gives the
            matching cell) or ``torch.nn.RNN``, ``LSTM`` or ``GRU`` (gives a
            ``Stacked`` with one layer per ``num_layers``, each a ``Recurrent``
            or, when ``bidirectional``, a ``Bidirectional``).

    Raises:
        TypeError: for any other module.
        ValueError: for parametrized weights (``weight_norm``).
    """
    if isinstance(module, nn.RNNCell | nn.LSTMCell | nn.GRUCell):
        _check_plain(module)
        nonlinearity = getattr(module, "nonlinearity", "tanh")
        cell = _cell_like(
            type(module),
            module.input_size,
            module.hidden_size,
            bias=module.bias,
            nonlinearity=nonlinearity,
            like=module.weight_ih,
        )
        _copy_into(cell, dict(module.named_parameters()))
        cell.train(module.training)
        return cell
    if not isinstance(module, nn.RNN | nn.LSTM | nn.GRU):
        raise TypeError(
            "from_torch: expected torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell or"
            f" GRUCell, got {type(module).__name__}"
        )
    _check_plain(module)

    directions = 2 if module.bidirectional else 1
    proj_size = getattr(module, "proj_size", 0)
    out_size = proj_size or module.hidden_size
    layers: list[Recurrent | Bidirectional] = []
    for layer in range(module.num_layers):
        input_size = module.input_size if layer == 0 else directions * out_size
        cells = []
        for suffix in ("", "_reverse")[:directions]:
            params = {
                name: getattr(module, f"{name}_l{layer}{suffix}")
                for name in _NAMES
                if hasattr(module, f"{name}_l{layer}{suffix}")
            }
            cell = _cell_like(
                type(module),
                input_size,
                module.hidden_size,
                bias=module.bias,
                nonlinearity=getattr(module, "nonlinearity", "tanh"),
                proj_size=proj_size,
                like=params["weight_ih"],
            )
            _copy_into(cell, params)
            cells.append(cell)
        layers.append(
            Bidirectional(cells[0], cells[1])
            if directions == 2
            else Recurrent(cells[0])
        )
    stack = Stacked(layers, dropout=module.dropout if module.num_layers > 1 else 0.0)
    stack.train(module.training)
    return stack


def _grid(layer: nn.Module) -> list[list[BuiltinCell]]:
    """The cells of a layer, by layer then direction (torch's order); raises
    when the layer has no ``torch.nn`` equivalent."""
    rows: list[nn.Module] = (
        list(layer.layers) if isinstance(layer, Stacked) else [layer]
    )
    grid = []
    for k, row in enumerate(rows):
        if isinstance(row, Recurrent) and not row.reverse:
            runs = [row]
        elif isinstance(row, Bidirectional) and all(
            isinstance(r, Recurrent) for r in (row.forward_layer, row.backward_layer)
        ):
            runs = [
                cast(Recurrent, row.forward_layer),
                cast(Recurrent, row.backward_layer),
            ]
        else:
            raise ValueError(
                f"to_torch: layer {k} is a {type(row).__name__}"
                f"{' running in reverse' if isinstance(row, Recurrent) else ''};"
                " torch.nn has only forward and bidirectional layers of cells"
            )
        for run in runs:
            if type(run.cell) not in (RNNCell, LSTMCell, GRUCell):
                raise TypeError(
                    f"to_torch: layer {k} runs a {type(run.cell).__name__}; only"
                    " RNNCell, LSTMCell and GRUCell have torch.nn equivalents"
                )
        grid.append([cast(BuiltinCell, run.cell) for run in runs])
    return grid


def _options(cell: BuiltinCell) -> tuple[type, int, bool, str, int]:
    """What a torch module needs to hold ``cell``: kind, H, bias, nonlinearity,
    proj_size."""
    if isinstance(cell, GRUCell) and not cell.reset_after:
        raise ValueError(
            "to_torch: GRUCell(reset_after=False) has no torch.nn equivalent;"
            " torch's GRU resets after the recurrent product"
        )
    return (
        type(cell),
        cell.hidden_size,
        cell.bias,
        getattr(cell, "nonlinearity", "tanh"),
        getattr(cell, "proj_size", 0),
    )


def to_torch(
    layer: RNNCell | LSTMCell | GRUCell | Recurrent | Bidirectional | Stacked,
    *,
    batch_first: bool = True,
) -> nn.Module:
    """The ``torch.nn`` module that computes what ``layer`` computes.

    Args:
        layer: a built-in cell (gives ``torch.nn.RNNCell``, ``LSTMCell``,
            ``GRUCell``), or a ``Recurrent``, ``Bidirectional`` or ``Stacked``
            of built-in cells, all of one kind and size (gives
            ``torch.nn.RNN``, ``LSTM`` or ``GRU``).
        batch_first: the ``batch_first`` of the module made.

    Raises:
        ValueError: for what torch cannot express: ``GRUCell(reset_after=False)``,
            an ``LSTMCell`` with ``proj_size`` alone (wrap it in ``Recurrent``
            to get ``torch.nn.LSTM``), a reversed layer on its own, layers that
            differ in kind, size or options.
        TypeError: for a cell of your own.
    """
    if isinstance(layer, RNNCell | LSTMCell | GRUCell):
        kind, hidden, bias, nonlinearity, proj_size = _options(layer)
        like = layer.weight_ih
        module: nn.Module
        if kind is LSTMCell:
            if proj_size:
                raise ValueError(
                    "to_torch: torch.nn.LSTMCell has no proj_size; convert"
                    " Recurrent(cell) instead to get torch.nn.LSTM(proj_size=...)"
                )
            module = nn.LSTMCell(
                layer.input_size, hidden, bias, device=like.device, dtype=like.dtype
            )
        elif kind is GRUCell:
            module = nn.GRUCell(
                layer.input_size, hidden, bias, device=like.device, dtype=like.dtype
            )
        else:
            module = nn.RNNCell(
                layer.input_size,
                hidden,
                bias,
                nonlinearity,
                device=like.device,
                dtype=like.dtype,
            )
        _copy_into(module, dict(layer.named_parameters()))
        module.train(layer.training)
        return module
    if not isinstance(layer, Recurrent | Bidirectional | Stacked):
        raise TypeError(
            "to_torch: expected a built-in cell, Recurrent, Bidirectional or"
            f" Stacked, got {type(layer).__name__}"
        )

    grid = _grid(layer)
    first = grid[0][0]
    options = _options(first)
    for k, row in enumerate(grid):
        if len(row) != len(grid[0]):
            raise ValueError(
                f"to_torch: layer {k} has {len(row)} direction(s) but layer 0 has"
                f" {len(grid[0])}; torch.nn needs the same in every layer"
            )
        for cell in row:
            if _options(cell) != options:
                raise ValueError(
                    f"to_torch: layer {k} holds {cell!r}, unlike layer 0's"
                    f" {first!r}; torch.nn needs one kind, size and options"
                )
    kind, hidden, bias, nonlinearity, proj_size = options
    like = first.weight_ih
    common = {
        "num_layers": len(grid),
        "bias": bias,
        "batch_first": batch_first,
        "dropout": layer.dropout if isinstance(layer, Stacked) else 0.0,
        "bidirectional": len(grid[0]) == 2,
    }
    if kind is LSTMCell:
        module = nn.LSTM(
            first.input_size,
            hidden,
            proj_size=proj_size,
            **common,
            device=like.device,
            dtype=like.dtype,
        )
    elif kind is GRUCell:
        module = nn.GRU(
            first.input_size, hidden, **common, device=like.device, dtype=like.dtype
        )
    else:
        module = nn.RNN(
            first.input_size,
            hidden,
            nonlinearity=nonlinearity,
            **common,
            device=like.device,
            dtype=like.dtype,
        )
    for k, row in enumerate(grid):
        for suffix, cell in zip(("", "_reverse"), row, strict=False):
            _copy_into(
                module,
                {f"{name}_l{k}{suffix}": p for name, p in cell.named_parameters()},
            )
    module.train(layer.training)
    return module


def _flat_states(layer: nn.Module, state: State) -> list[State]:
    """A layer's nested state as a list in torch's order (layer, direction)."""
    rows = list(layer.layers) if isinstance(layer, Stacked) else [layer]
    if isinstance(layer, Stacked) and (
        isinstance(state, Tensor) or not isinstance(state, tuple)
    ):
        raise TypeError(
            f"state_to_torch: expected a tuple with a state for each of"
            f" {len(rows)} layers, got {type(state).__name__}"
        )
    per_row = list(state) if isinstance(layer, Stacked) else [state]
    if len(per_row) != len(rows):
        raise ValueError(
            f"state_to_torch: expected a state for each of {len(rows)} layers,"
            f" got {len(per_row)}"
        )
    flat: list[State] = []
    for row, row_state in zip(rows, per_row, strict=True):
        if isinstance(row, Bidirectional):
            if not isinstance(row_state, tuple) or len(row_state) != 2:
                raise TypeError(
                    "state_to_torch: expected a (forward, backward) pair for a"
                    f" Bidirectional layer, got {type(row_state).__name__}"
                )
            flat.extend(row_state)
        else:
            flat.append(row_state)
    return flat


def state_to_torch(
    layer: Recurrent | Bidirectional | Stacked, state: State
) -> Tensor | tuple[Tensor, Tensor]:
    """Our state of ``layer`` as torch's ``h [L * D, B, H]`` (LSTM:
    ``(h, c)``, with ``h`` ``[L * D, B, P]`` under a projection)."""
    grid = _grid(layer)
    flat = _flat_states(layer, state)
    lstm = isinstance(grid[0][0], LSTMCell)
    for s in flat:
        ok = (
            isinstance(s, tuple)
            and len(s) == 2
            and all(isinstance(t, Tensor) for t in s)
            if lstm
            else isinstance(s, Tensor)
        )
        if not ok:
            want = "LSTMState(h, c)" if lstm else "a tensor h"
            raise TypeError(
                f"state_to_torch: expected each cell's state as {want},"
                f" got {type(s).__name__}"
            )
    if lstm:
        hs = [cast(LSTMState, s).h for s in flat]
        cs = [cast(LSTMState, s).c for s in flat]
        return torch.stack(hs), torch.stack(cs)
    return torch.stack([cast(Tensor, s) for s in flat])


def state_from_torch(
    layer: Recurrent | Bidirectional | Stacked, hx: Tensor | tuple[Tensor, Tensor]
) -> State:
    """Torch's ``h [L * D, B, H]`` (LSTM: ``(h, c)``) as our state of
    ``layer``."""
    grid = _grid(layer)
    count = sum(len(row) for row in grid)
    if isinstance(grid[0][0], LSTMCell):
        if not isinstance(hx, tuple) or len(hx) != 2:
            raise TypeError("state_from_torch: expected (h, c) for an LSTM layer")
        flat: list[State] = [LSTMState(h, c) for h, c in zip(*hx, strict=True)]
    else:
        if not isinstance(hx, Tensor):
            raise TypeError(
                f"state_from_torch: expected a tensor h, got {type(hx).__name__}"
            )
        flat = list(hx.unbind(0))
    if len(flat) != count:
        raise ValueError(
            f"state_from_torch: expected {count} states ([L * D, B, H]),"
            f" got {len(flat)}"
        )
    rows: list[State] = []
    for row in grid:
        taken, flat = flat[: len(row)], flat[len(row) :]
        rows.append((taken[0], taken[1]) if len(row) == 2 else taken[0])
    if isinstance(layer, Stacked):
        return tuple(rows)
    return rows[0]
