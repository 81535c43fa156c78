"""Weights from Keras' ``SimpleRNN``, ``LSTM`` and ``GRU`` layers, and back.

Keras is not needed: the weights come as numpy arrays in Keras' layout, the
list that ``layer.get_weights()`` returns:

==============  =====================  ==========================================
 array           shape                  meaning
==============  =====================  ==========================================
 kernel          ``[E, G]``             input weights, ``G = gates * H``
 recurrent       ``[H, G]``             recurrent weights
 bias            ``[G]``                one bias (absent when ``use_bias=False``)
 bias (GRU)      ``[2, G]``             ``reset_after=True``: input, recurrent
==============  =====================  ==========================================

Keras computes ``x @ kernel``; torch's layout, ours, is ``weight_ih = kernel.T``.
Keras' LSTM gates come in torch's order (``i, f, c, o``); its GRU's in the order
``z, r, h``, which we reorder to ``r, z, n``. Keras has one bias vector where
torch has two: it becomes ``bias_ih`` and ``bias_hh`` is zero, so a forget bias
set by ``unit_forget_bias=True`` is counted once, as in Keras.

>>> import numpy as np
>>> kernel, recurrent = np.zeros((3, 8)), np.zeros((2, 8))
>>> run = from_keras("LSTM", [kernel, recurrent, np.zeros(8)])
>>> run.cell
LSTMCell(3, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.recurrent import Recurrent

__all__ = ["from_keras", "from_keras_layer", "to_keras"]

_GATES = {"simplernn": 1, "lstm": 4, "gru": 3}
_KINDS = {"simplernn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def _gru_order(t: Tensor, size: int) -> Tensor:
    """Swap the first two blocks of ``size`` rows: Keras' ``z, r, h`` to torch's
    ``r, z, n`` and back (the swap is its own inverse)."""
    return torch.cat([t[size : 2 * size], t[:size], t[2 * size :]])


def _shape_error(name: str, what: str, expected: str, got: Sequence[int]) -> None:
    raise ValueError(
        f"from_keras({name}): expected {what} of shape {expected}, got {list(got)}"
    )


def from_keras(
    kind: str,
    weights: Sequence[Any],
    *,
    activation: str = "tanh",
    reset_after: bool = True,
    go_backwards: bool = False,
    dtype: torch.dtype | None = None,
) -> Recurrent:
    """A ``Recurrent`` layer with the weights of a Keras recurrent layer.

    Args:
        kind: ``"SimpleRNN"``, ``"LSTM"`` or ``"GRU"``.
        weights: ``[kernel, recurrent_kernel]`` or ``[kernel,
            recurrent_kernel, bias]`` as numpy arrays (or anything
            ``numpy.asarray`` takes), in Keras' layout (module docstring).
        activation: ``SimpleRNN``'s ``"tanh"`` or ``"relu"``.
        reset_after: the Keras GRU's ``reset_after`` (True since Keras 2.3).
        go_backwards: the Keras layer's ``go_backwards``: the layer runs in
            reverse (see Notes).
        dtype: of the parameters; the arrays' dtype by default.

    Returns:
        ``Recurrent(cell, reverse=go_backwards)`` with an ``RNNCell``,
        ``LSTMCell`` or ``GRUCell`` (``reset_after`` as given).

    Notes:
        With ``go_backwards=True`` Keras returns the output sequence in the
        order it ran, last step first; ours keeps outputs aligned with the
        input steps, so Keras' sequence is ``outputs.flip(1)``. The final
        states are the same. Keras' ``dropout`` and ``recurrent_dropout``
        act only while training and are not carried over.
    """
    key = kind.lower() if isinstance(kind, str) else None
    if key not in _GATES:
        raise ValueError(
            f"from_keras: kind must be 'SimpleRNN', 'LSTM' or 'GRU', got {kind!r}"
        )
    name = _KINDS[key]
    gates = _GATES[key]
    for flag, value in (("reset_after", reset_after), ("go_backwards", go_backwards)):
        if not isinstance(value, bool):
            raise TypeError(
                f"from_keras({name}): {flag} must be a bool, got {type(value).__name__}"
            )
    if not isinstance(weights, Sequence) or isinstance(weights, str):
        raise TypeError(
            f"from_keras({name}): expected weights as a list [kernel,"
            f" recurrent_kernel(, bias)] (layer.get_weights()),"
            f" got {type(weights).__name__}"
        )
    if len(weights) not in (2, 3):
        raise ValueError(
            f"from_keras({name}): expected [kernel, recurrent_kernel] or [kernel,"
            f" recurrent_kernel, bias], got {len(weights)} arrays"
        )
    arrays = []
    for what, w in zip(("kernel", "recurrent_kernel", "bias"), weights, strict=False):
        try:
            array = np.asarray(w)
        except ValueError as error:
            raise ValueError(
                f"from_keras({name}): {what} is not a rectangular array ({error})"
            ) from None
        if array.dtype == np.bool_ or not (
            np.issubdtype(array.dtype, np.integer)
            or np.issubdtype(array.dtype, np.floating)
        ):
            raise TypeError(
                f"from_keras({name}): expected {what} of real numbers,"
                f" got dtype {array.dtype}"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"from_keras({name}): {what} holds NaN or infinite values")
        arrays.append(array)
    kernel, recurrent = arrays[0], arrays[1]
    bias = arrays[2] if len(arrays) == 3 else None

    # Shapes: H from the recurrent kernel, E from the kernel.
    letter = f"{gates}H" if gates > 1 else "H"
    if recurrent.ndim != 2:
        _shape_error(name, "recurrent_kernel", f"[H, {letter}]", recurrent.shape)
    hidden = recurrent.shape[0]
    width = gates * hidden
    if recurrent.shape[1] != width:
        _shape_error(
            name,
            "recurrent_kernel",
            f"[H, {letter}] = [{hidden}, {width}]",
            recurrent.shape,
        )
    if kernel.ndim != 2 or kernel.shape[1] != width:
        _shape_error(name, "kernel", f"[E, {letter}] = [E, {width}]", kernel.shape)
    two_biases = key == "gru" and reset_after
    if bias is not None:
        expected = (2, width) if two_biases else (width,)
        if bias.shape != expected:
            _shape_error(name, "bias", str(list(expected)), bias.shape)

    # The cell, then the weights, transposed and (GRU) reordered.
    def tensor(array: Any) -> Tensor:
        t = torch.as_tensor(np.ascontiguousarray(array))
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
        return t if dtype is None else t.to(dtype)

    like = tensor(kernel)
    use_bias = bias is not None
    cell: RNNCell | LSTMCell | GRUCell
    if key == "simplernn":
        cell = RNNCell(
            kernel.shape[0],
            hidden,
            use_bias,
            activation,
            device=like.device,
            dtype=like.dtype,
        )
    elif key == "lstm":
        cell = LSTMCell(
            kernel.shape[0], hidden, use_bias, device=like.device, dtype=like.dtype
        )
    else:
        cell = GRUCell(
            kernel.shape[0],
            hidden,
            use_bias,
            reset_after=reset_after,
            device=like.device,
            dtype=like.dtype,
        )

    def layout(t: Tensor) -> Tensor:
        return _gru_order(t, hidden) if key == "gru" else t

    with torch.no_grad():
        cell.weight_ih.copy_(layout(tensor(kernel).t()))
        cell.weight_hh.copy_(layout(tensor(recurrent).t()))
        if cell.bias_ih is not None and cell.bias_hh is not None:
            b = tensor(bias)
            cell.bias_ih.copy_(layout(b[0] if two_biases else b))
            cell.bias_hh.copy_(layout(b[1]) if two_biases else torch.zeros_like(b))
    return Recurrent(cell, reverse=go_backwards)


def from_keras_layer(layer: Any) -> Recurrent:
    """``from_keras`` for a Keras ``SimpleRNN``, ``LSTM`` or ``GRU`` layer
    object, reading its options from ``get_config()`` and its weights from
    ``get_weights()``.

    Raises:
        ValueError: for an option we do not have: an activation other than
            ``tanh`` (or ``relu`` for ``SimpleRNN``), a recurrent activation
            other than ``sigmoid``.
    """
    kind = type(layer).__name__
    if kind.lower() not in _GATES:
        raise TypeError(
            "from_keras_layer: expected a Keras SimpleRNN, LSTM or GRU layer,"
            f" got {kind}"
        )
    config = layer.get_config()
    activation = config.get("activation", "tanh")
    allowed = ("tanh", "relu") if kind == "SimpleRNN" else ("tanh",)
    if activation not in allowed:
        raise ValueError(
            f"from_keras_layer: {kind}(activation={activation!r}) is not supported;"
            f" expected {' or '.join(repr(a) for a in allowed)}"
        )
    recurrent_activation = config.get("recurrent_activation", "sigmoid")
    if kind != "SimpleRNN" and recurrent_activation != "sigmoid":
        raise ValueError(
            f"from_keras_layer: {kind}(recurrent_activation="
            f"{recurrent_activation!r}) is not supported; expected 'sigmoid'"
        )
    return from_keras(
        kind,
        layer.get_weights(),
        activation=activation,
        reset_after=bool(config.get("reset_after", True)),
        go_backwards=bool(config.get("go_backwards", False)),
    )


def to_keras(cell: RNNCell | LSTMCell | GRUCell) -> list[np.ndarray]:
    """``cell``'s weights in Keras' layout, for ``layer.set_weights``:
    ``[kernel, recurrent_kernel, bias]`` (no bias for ``bias=False``).

    Keras has one bias where torch has two: ``bias_ih + bias_hh``, the same
    function (for a GRU with ``reset_after=True``, the ``[2, 3H]`` pair).
    """
    if isinstance(cell, LSTMCell) and cell.proj_size:
        raise ValueError("to_keras: Keras' LSTM has no projection (proj_size)")
    if type(cell) not in (RNNCell, LSTMCell, GRUCell):
        raise TypeError(
            "to_keras: expected RNNCell, LSTMCell or GRUCell,"
            f" got {type(cell).__name__}"
        )
    gru = isinstance(cell, GRUCell)
    size = cell.hidden_size

    def layout(t: Tensor) -> Tensor:
        return _gru_order(t, size) if gru else t

    def array(t: Tensor) -> np.ndarray:
        return np.asarray(t.detach().cpu().numpy())

    out = [array(layout(cell.weight_ih).t()), array(layout(cell.weight_hh).t())]
    if cell.bias_ih is not None and cell.bias_hh is not None:
        b_ih, b_hh = layout(cell.bias_ih), layout(cell.bias_hh)
        if isinstance(cell, GRUCell) and cell.reset_after:
            out.append(array(torch.stack([b_ih, b_hh])))
        else:
            out.append(array(b_ih + b_hh))
    return out
