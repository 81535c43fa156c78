"""The fused path: built-in cells run by torch's own recurrent kernels.

``Recurrent`` hands a sequence to this module when the cell is exactly one of the
built-in cells (not a subclass) and the plain loop is not needed: no ``lengths``.
The cell's own parameters go to the kernel that ``torch.nn.LSTM``, ``GRU`` and
``RNN`` call (``torch.lstm``, ``torch.gru``, ``torch.rnn_tanh``,
``torch.rnn_relu``), in torch's flat-weight order ``weight_ih, weight_hh,
bias_ih, bias_hh`` (then ``weight_hr``), so gradients reach the same parameters
and the result equals the loop of ``Recurrent`` (to rounding; the tests hold
float64 to 1e-10). On a CPU in float32 the LSTM kernel is oneDNN's, with a fused
backward; the GRU and RNN kernels loop in C++.

Cells that the kernels cannot run take the loop: a user's cell, a subclass,
``GRUCell(reset_after=False)``, empty batches or sequences, and inputs whose
dtype or device differ from the parameters'.

Projected inputs (``Recurrent.forward_projected``, which a model with a one-hot
embedding uses) are ``gx = W_ih x + b`` already. The kernels always multiply
their input by ``weight_ih``, so here it gets the identity ``[G, G]``, which is
exact (each output is one product with 1 plus products with 0), and the biases
that ``gx`` already holds are zero. That costs ``B T G²`` multiplications,
cheap beside the loop's per-step overhead while ``B G²`` is small; above
``PROJECTED_MAX_COST`` the loop is faster (measured on a 2-core CPU: see
docs/performance.md) and is used.
"""

from __future__ import annotations

from typing import TypeGuard

import torch
from torch import Tensor

from seqmodels.cells import GRUCell, LSTMCell, RNNCell
from seqmodels.protocols import LSTMState, State

__all__ = [
    "PROJECTED_MAX_COST",
    "can_fuse",
    "can_fuse_projected",
    "run_fused",
    "run_fused_projected",
]

PROJECTED_MAX_COST = 2**21
"""Largest ``B * G * G`` for which ``run_fused_projected`` is used: above it the
identity product costs more than the loop's per-step overhead saves (measured
on a CPU: at ``B = 32`` the break-even is ``G`` of about 256, at ``B = 1``
beyond 1024)."""

_FUSED_TYPES = (LSTMCell, GRUCell, RNNCell)


def can_fuse(cell: object, like: Tensor) -> TypeGuard[LSTMCell | GRUCell | RNNCell]:
    """Whether torch's kernel can run ``cell`` over ``like [B, T, ·]``.

    True for an ``LSTMCell``, ``RNNCell`` or ``GRUCell(reset_after=True)`` (the
    exact classes) whose parameters share ``like``'s dtype and device, with
    ``B`` and ``T`` both positive.
    """
    if type(cell) not in _FUSED_TYPES:
        return False
    assert isinstance(cell, _FUSED_TYPES)
    if isinstance(cell, GRUCell) and not cell.reset_after:
        return False
    weight = cell.weight_hh
    return (
        like.dim() == 3
        and like.shape[0] > 0
        and like.shape[1] > 0
        and like.dtype == weight.dtype
        and like.device == weight.device
    )


def can_fuse_projected(
    cell: object, gx: Tensor
) -> TypeGuard[LSTMCell | GRUCell | RNNCell]:
    """``can_fuse``, and ``B * G * G`` at most ``PROJECTED_MAX_COST`` (see the
    module docstring)."""
    if not can_fuse(cell, gx):
        return False
    return gx.shape[0] * gx.shape[2] * gx.shape[2] <= PROJECTED_MAX_COST


def run_fused(
    cell: LSTMCell | GRUCell | RNNCell, xs: Tensor, state: State | None = None
) -> tuple[Tensor, State]:
    """``Recurrent(cell)(xs, state)`` by torch's kernel: ``xs [B, T, E]`` to
    ``(outputs [B, T, H], final state)``, the state of the cell's own kind.

    The caller checks ``can_fuse(cell, xs)`` first.

    >>> import torch
    >>> from seqmodels import LSTMCell
    >>> cell, xs = LSTMCell(3, 4), torch.zeros(2, 5, 3)
    >>> can_fuse(cell, xs)
    True
    >>> outputs, state = run_fused(cell, xs)
    >>> outputs.shape, state.h.shape
    (torch.Size([2, 5, 4]), torch.Size([2, 4]))
    """
    params: list[Tensor] = [cell.weight_ih, cell.weight_hh]
    if cell.bias_ih is not None and cell.bias_hh is not None:
        params += [cell.bias_ih, cell.bias_hh]
    return _run(cell, xs, state, params, has_biases=len(params) == 4)


def run_fused_projected(
    cell: LSTMCell | GRUCell | RNNCell, gx: Tensor, state: State | None = None
) -> tuple[Tensor, State]:
    """``Recurrent(cell).forward_projected(gx, state)`` by torch's kernel:
    ``gx [B, T, G]`` (``x @ cell.input_weight.T + cell.input_bias``) to
    ``(outputs [B, T, H], final state)``.

    The kernel's input weight is the identity and its biases are zero, except
    the GRU's ``b_hn``, which acts inside the reset gate's product and so is not
    part of ``gx``. The caller checks ``can_fuse_projected(cell, gx)`` first.
    """
    size = gx.shape[2]
    identity = torch.eye(size, dtype=gx.dtype, device=gx.device)
    params = [identity, cell.weight_hh]
    if isinstance(cell, GRUCell) and cell.bias_hh is not None:
        zeros = gx.new_zeros(size)
        b_hn = cell.bias_hh[2 * cell.hidden_size :]
        params += [zeros, torch.cat([zeros[: 2 * cell.hidden_size], b_hn])]
    return _run(cell, gx, state, params, has_biases=len(params) == 4)


def _run(
    cell: LSTMCell | GRUCell | RNNCell,
    xs: Tensor,
    state: State | None,
    params: list[Tensor],
    *,
    has_biases: bool,
) -> tuple[Tensor, State]:
    """Call the kernel with ``params`` in torch's flat order (one layer)."""
    batch = xs.shape[0]
    checked = cell.check_state(state, batch, device=xs.device, dtype=xs.dtype)
    layer = (has_biases, 1, 0.0, cell.training, False, True)

    if isinstance(cell, LSTMCell):
        assert isinstance(checked, LSTMState)
        if cell.weight_hr is not None:
            params = [*params, cell.weight_hr]
        hx = (checked.h.unsqueeze(0), checked.c.unsqueeze(0))
        outputs, h, c = torch.lstm(xs, hx, params, *layer)
        return outputs, LSTMState(h[0], c[0])

    assert isinstance(checked, Tensor)
    if isinstance(cell, GRUCell):
        outputs, h = torch.gru(xs, checked.unsqueeze(0), params, *layer)
    elif cell.nonlinearity == "tanh":
        outputs, h = torch.rnn_tanh(xs, checked.unsqueeze(0), params, *layer)
    else:
        outputs, h = torch.rnn_relu(xs, checked.unsqueeze(0), params, *layer)
    return outputs, h[0]
