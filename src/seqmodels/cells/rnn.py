"""The Elman recurrent cell, in torch's parameter layout."""

from __future__ import annotations

import torch
from torch import Tensor

from seqmodels.cells._base import ProjectedCellBase
from seqmodels.protocols import State

__all__ = ["RNNCell"]


class RNNCell(ProjectedCellBase):
    r"""An Elman cell: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``.

    Args:
        input_size: features of the input, ``E``.
        hidden_size: features of the state and the output, ``H``.
        bias: whether to learn ``b_ih`` and ``b_hh``.
        nonlinearity: ``"tanh"`` (default) or ``"relu"`` for ``act``.
        generator: draws the initial parameters, for reproducible models.

    Shapes: input ``[B, E]``; state and output ``[B, H]``. The output is the
    new state. Parameters ``weight_ih [H, E]``, ``weight_hh [H, H]``,
    ``bias_ih [H]``, ``bias_hh [H]``, named and laid out as in
    ``torch.nn.RNNCell``, so state dicts move both ways.

    >>> import torch
    >>> cell = RNNCell(3, 2, generator=torch.Generator().manual_seed(0))
    >>> h, state = cell(torch.ones(4, 3))
    >>> h.shape, bool((h == state).all())
    (torch.Size([4, 2]), True)
    """

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}"
            )
        self.nonlinearity = nonlinearity
        super().__init__(
            input_size,
            hidden_size,
            bias,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    def step(
        self, gx: Tensor, state: State, details: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """The recurrent part: ``gx [B, H]`` is ``W_ih x + b_ih + b_hh``.

        The cell has no gates: ``details`` receives nothing.
        """
        assert isinstance(state, Tensor)
        pre = torch.addmm(gx, state, self.weight_hh.t())
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h, h

    def extra_repr(self) -> str:
        text = super().extra_repr()
        if self.nonlinearity != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        return text
