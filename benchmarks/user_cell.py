"""A user's LSTM cell in plain torch, following the ``ProjectedCell`` protocol.

It is not a subclass of anything in seqmodels, so ``Recurrent`` runs it through
the generic loop (its input projection hoisted out of the loop). The math is
``LSTMCell``'s, so timing it against ``torch.nn.LSTM`` measures the loop.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["PlainLSTMCell"]


class PlainLSTMCell(nn.Module):
    """``i, f, g, o`` gates as in ``torch.nn.LSTMCell``; state ``(h, c)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        bound = 1.0 / math.sqrt(hidden_size)
        g = 4 * hidden_size
        self.weight_ih = nn.Parameter(
            torch.empty(g, input_size).uniform_(-bound, bound)
        )
        self.weight_hh = nn.Parameter(
            torch.empty(g, hidden_size).uniform_(-bound, bound)
        )
        self.bias = nn.Parameter(torch.empty(g).uniform_(-bound, bound))

    @property
    def output_size(self) -> int:
        return self.hidden_size

    @property
    def input_weight(self) -> Tensor:
        return self.weight_ih

    @property
    def input_bias(self) -> Tensor:
        return self.bias

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[Tensor, Tensor]:
        zeros = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return zeros, zeros.clone()

    def check_state(
        self,
        state: tuple[Tensor, Tensor] | None,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[Tensor, Tensor]:
        if state is None:
            return self.initial_state(batch_size, device=device, dtype=dtype)
        return state

    def step(self, gx: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple]:
        h, c = state
        gates = torch.addmm(gx, h, self.weight_hh.t())
        i, f, g, o = gates.chunk(4, dim=1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return h, (h, c)

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple]:
        state = self.check_state(state, x.shape[0], device=x.device, dtype=x.dtype)
        return self.step(nn.functional.linear(x, self.weight_ih, self.bias), state)
