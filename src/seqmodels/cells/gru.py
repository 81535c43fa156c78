"""The gated recurrent unit, in torch's parameter layout, both published variants."""

from __future__ import annotations

import torch
from torch import Tensor

from seqmodels.cells._base import ProjectedCellBase
from seqmodels.protocols import State

__all__ = ["GRUCell"]


class GRUCell(ProjectedCellBase):
    r"""A gated recurrent unit, with gates in torch's order ``r, z, n``.

    With ``reset_after=True`` (the default, torch's and cuDNN's variant)::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)
        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    With ``reset_after=False`` (the variant of Cho et al., 2014), the reset
    gate applies before the recurrent product::

        n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)

    Args:
        input_size: features of the input, ``E``.
        hidden_size: features of the state and the output, ``H``.
        bias: whether to learn ``b_ih`` and ``b_hh``.
        reset_after: which variant, as above.
        generator: draws the initial parameters, for reproducible models.

    Shapes: input ``[B, E]``; state and output ``[B, H]``. Parameters
    ``weight_ih [3H, E]``, ``weight_hh [3H, H]``, ``bias_ih [3H]``,
    ``bias_hh [3H]``, named and laid out as in ``torch.nn.GRUCell``.

    Notes:
        torch, cuDNN and Keras 2+ (``reset_after=True``, its default) use the
        first variant; Keras with ``reset_after=False``, TensorFlow 1's
        ``GRUCell`` and the original paper use the second. Weights of one
        variant do not give the same function in the other. Keras orders the
        gates ``z, r, h``: reorder them when porting (``seqmodels.interop``).

    >>> import torch
    >>> cell = GRUCell(3, 2, generator=torch.Generator().manual_seed(0))
    >>> h, _ = cell(torch.ones(4, 3))
    >>> h.shape
    torch.Size([4, 2])
    """

    gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        reset_after: bool = True,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if not isinstance(reset_after, bool):
            raise TypeError(
                f"GRUCell: reset_after must be a bool, got {type(reset_after).__name__}"
            )
        self.reset_after = reset_after
        super().__init__(
            input_size,
            hidden_size,
            bias,
            generator=generator,
            device=device,
            dtype=dtype,
        )

    @property
    def input_bias(self) -> Tensor | None:
        """``b_ih`` plus ``b_hr`` and ``b_hz``; ``b_hn`` stays inside ``step``."""
        if self.bias_ih is None or self.bias_hh is None:
            return None
        rz = slice(0, 2 * self.hidden_size)
        n = slice(2 * self.hidden_size, None)
        return torch.cat([self.bias_ih[rz] + self.bias_hh[rz], self.bias_ih[n]])

    def step(
        self, gx: Tensor, state: State, details: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """The recurrent part: ``gx [B, 3H]`` is ``W_ih x + b_ih`` plus
        ``b_hr, b_hz`` (see ``input_bias``).

        ``details``, when given, receives the gates ``r, z, n`` ``[B, H]``.
        """
        assert isinstance(state, Tensor)
        h = state
        size = self.hidden_size
        x_rz, x_n = gx[:, : 2 * size], gx[:, 2 * size :]
        w_rz, w_n = self.weight_hh[: 2 * size], self.weight_hh[2 * size :]
        b_n = None if self.bias_hh is None else self.bias_hh[2 * size :]

        r, z = torch.addmm(x_rz, h, w_rz.t()).sigmoid().chunk(2, dim=1)
        if self.reset_after:
            n = (x_n + r * torch.nn.functional.linear(h, w_n, b_n)).tanh()
        else:
            n = (x_n + torch.nn.functional.linear(r * h, w_n, b_n)).tanh()
        h = n + z * (h - n)
        if details is not None:
            details.update(r=r, z=z, n=n)
        return h, h

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text if self.reset_after else text + ", reset_after=False"
