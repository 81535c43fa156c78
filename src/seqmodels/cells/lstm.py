"""The long short-term memory cell, in torch's parameter layout."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqmodels.cells._base import ProjectedCellBase, check_tensor_state, zeros_state
from seqmodels.protocols import LSTMState, State

__all__ = ["LSTMCell"]


class LSTMCell(ProjectedCellBase):
    r"""A long short-term memory cell.

    The equations, with gates in torch's order ``i, f, g, o``::

        i, f, g, o = split(W_ih x + b_ih + W_hh h + b_hh, 4)
        i = σ(i)    f = σ(f)    g = tanh(g)    o = σ(o)
        c' = f * c + i * g
        h' = o * tanh(c')               # or, with proj_size > 0:
        h' = W_hr (o * tanh(c'))

    Args:
        input_size: features of the input, ``E``.
        hidden_size: features of the memory ``c``, ``H``.
        bias: whether to learn ``b_ih`` and ``b_hh``.
        forget_bias: starting value of the forget gate's bias (see Notes).
        proj_size: if positive, ``h`` is projected to ``P = proj_size``
            features by ``weight_hr [P, H]``, as in ``torch.nn.LSTM``.
        generator: draws the initial parameters, for reproducible models.

    Shapes: input ``[B, E]``; state ``LSTMState(h [B, P or H], c [B, H])``;
    output ``h'``. Parameters ``weight_ih [4H, E]``, ``weight_hh [4H, P or H]``,
    ``bias_ih [4H]``, ``bias_hh [4H]`` (and ``weight_hr``), named and laid out as
    in ``torch.nn.LSTMCell``, so state dicts move both ways.

    Notes:
        ``forget_bias`` is written into the forget slice of ``bias_ih`` when the
        parameters are drawn, and that slice of ``bias_hh`` is set to zero, so
        the bias is counted once (not once per bias vector) and the state dict
        alone still describes the function. This is Keras'
        ``unit_forget_bias`` (Jozefowicz et al., 2015, advise 1.0). torch has
        no such option; its default, like ours, is no extra bias.

    >>> import torch
    >>> cell = LSTMCell(3, 2, generator=torch.Generator().manual_seed(0))
    >>> h, state = cell(torch.ones(4, 3))
    >>> h.shape, state.c.shape
    (torch.Size([4, 2]), torch.Size([4, 2]))
    """

    gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        forget_bias: float = 0.0,
        proj_size: int = 0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if (
            isinstance(proj_size, bool)
            or not isinstance(proj_size, int)
            or proj_size < 0
        ):
            raise ValueError(
                f"LSTMCell: proj_size must be a non-negative integer, got {proj_size!r}"
            )
        if proj_size and proj_size >= hidden_size:
            raise ValueError(
                f"LSTMCell: proj_size must be smaller than hidden_size ({hidden_size}),"
                f" got {proj_size}"
            )
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, int | float):
            raise TypeError(
                "LSTMCell: forget_bias must be a number,"
                f" got {type(forget_bias).__name__}"
            )
        if not math.isfinite(forget_bias):
            raise ValueError(f"LSTMCell: forget_bias must be finite, got {forget_bias}")
        if forget_bias and not bias:
            raise ValueError(f"LSTMCell: forget_bias={forget_bias} needs bias=True")
        self.proj_size = proj_size
        self.forget_bias = float(forget_bias)
        super().__init__(
            input_size,
            hidden_size,
            bias,
            recurrent_size=proj_size or hidden_size,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    def _add_parameters(
        self, device: torch.device | str | None, dtype: torch.dtype | None
    ) -> None:
        if self.proj_size:
            shape = (self.proj_size, self.hidden_size)
            self.weight_hr: nn.Parameter | None = nn.Parameter(
                torch.empty(shape, device=device, dtype=dtype)
            )
        else:
            self.register_parameter("weight_hr", None)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every parameter uniform in ``[-1/sqrt(H), 1/sqrt(H)]``, then set
        the forget gate's bias to ``forget_bias`` if it is not zero."""
        super().reset_parameters(generator)
        if self.forget_bias and self.bias_ih is not None and self.bias_hh is not None:
            forget = slice(self.hidden_size, 2 * self.hidden_size)
            with torch.no_grad():
                self.bias_ih[forget] = self.forget_bias
                self.bias_hh[forget] = 0.0

    @property
    def output_size(self) -> int:
        """Features of ``h``: ``proj_size`` if positive, else ``hidden_size``."""
        return self.proj_size or self.hidden_size

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> LSTMState:
        """Zeros: ``LSTMState(h [B, P or H], c [B, H])``."""
        like, name = self.weight_hh, type(self).__name__
        return LSTMState(
            zeros_state(batch_size, self.output_size, device, dtype, like, name),
            zeros_state(batch_size, self.hidden_size, device, dtype, like, name),
        )

    def check_state(
        self,
        state: State | None,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> LSTMState:
        """The state as an ``LSTMState``; the zero state if ``None``."""
        if state is None:
            return self.initial_state(batch_size, device=device, dtype=dtype)
        if isinstance(state, Tensor) or not isinstance(state, tuple) or len(state) != 2:
            got = (
                f"a tuple of {len(state)}"
                if isinstance(state, tuple)
                else type(state).__name__
            )
            raise TypeError(
                "LSTMCell: expected state as LSTMState(h, c), a tuple of two"
                f" tensors, got {got}"
            )
        h, c = (
            check_tensor_state(
                "LSTMCell", what, s, (batch_size, size), device=device, dtype=dtype
            )
            for what, s, size in (
                ("h", state[0], self.output_size),
                ("c", state[1], self.hidden_size),
            )
        )
        return LSTMState(h, c)

    def step(
        self, gx: Tensor, state: State, details: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, LSTMState]:
        """The recurrent part: ``gx [B, 4H]`` is ``W_ih x + b_ih + b_hh``.

        ``details``, when given, receives the gates ``i, f, g, o`` ``[B, H]``.
        """
        h, c = state
        assert isinstance(h, Tensor) and isinstance(c, Tensor)
        gates = torch.addmm(gx, h, self.weight_hh.t())
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        if self.weight_hr is not None:
            h = h @ self.weight_hr.t()
        if details is not None:
            details.update(i=i, f=f, g=g, o=o)
        return h, LSTMState(h, c)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.forget_bias:
            text += f", forget_bias={self.forget_bias}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        return text
