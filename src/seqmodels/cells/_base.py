"""What the built-in cells share: parameters in torch's layout, and input checks.

Each built-in cell computes ``gx = x @ weight_ih.T + bias_ih`` from its input
and hands it to ``step``. ``Recurrent`` uses that split to compute ``gx`` for
all time steps at once, and ``OneHotEmbedding`` to turn the product into a
column lookup.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from seqmodels.protocols import State

__all__ = ["ProjectedCellBase", "check_dtype", "check_tensor_state"]


class ProjectedCellBase(nn.Module):
    """Base of the built-in cells: ``weight_ih [G, E]``, ``weight_hh [G, H]``,
    ``bias_ih [G]`` and ``bias_hh [G]``, with ``G = gates * H``, as in torch.

    Parameters start uniform in ``[-1/sqrt(H), 1/sqrt(H)]``, as in torch; pass a
    ``torch.Generator`` to draw them reproducibly without touching the global
    random state.
    """

    gates: int = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        recurrent_size: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"{name}: {arg} must be an int, got {type(value).__name__}"
                    f" ({value!r})"
                )
            if value < 1:
                raise ValueError(
                    f"{name}: {arg} must be a positive integer, got {value!r}"
                )
        if not isinstance(bias, bool):
            raise TypeError(f"{name}: bias must be a bool, got {type(bias).__name__}")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"{name}: generator must be a torch.Generator or None,"
                f" got {type(generator).__name__}"
            )
        if dtype is not None and (
            not isinstance(dtype, torch.dtype) or not dtype.is_floating_point
        ):
            raise TypeError(
                f"{name}: dtype must be a floating torch.dtype such as"
                f" torch.float64, got {dtype!r}"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        g = self.gates * hidden_size
        r = hidden_size if recurrent_size is None else recurrent_size

        def empty(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(shape, device=device, dtype=dtype))

        self.weight_ih = empty(g, input_size)
        self.weight_hh = empty(g, r)
        if bias:
            self.bias_ih: nn.Parameter | None = empty(g)
            self.bias_hh: nn.Parameter | None = empty(g)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self._add_parameters(device, dtype)
        self.reset_parameters(generator)

    def _add_parameters(
        self, device: torch.device | str | None, dtype: torch.dtype | None
    ) -> None:
        """Register parameters beyond the four shared ones (none here)."""

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Draw every parameter uniform in ``[-1/sqrt(H), 1/sqrt(H)]``."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound, generator=generator)

    @property
    def output_size(self) -> int:
        """Features of the cell's output, ``H``."""
        return self.hidden_size

    @property
    def input_weight(self) -> Tensor:
        """``weight_ih`` ``[G, E]``: the input's affine map, with ``input_bias``."""
        return self.weight_ih

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error unless ``x`` is a floating ``[B, E]`` tensor."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(
                f"{name}: expected input as a tensor, got {type(x).__name__}"
            )
        if not x.is_floating_point():
            raise TypeError(
                f"{name}: expected a floating-point input, got dtype {x.dtype}"
                " (token ids go through an embedding first)"
            )
        if x.dim() != 2:
            raise ValueError(
                f"{name}: expected input of shape [B, {self.input_size}],"
                f" got {list(x.shape)}"
            )
        if x.shape[1] != self.input_size:
            raise ValueError(
                f"{name}: expected input with {self.input_size} features,"
                f" got {x.shape[1]}"
            )
        check_dtype(name, "input", x, self.weight_ih)

    def forward(
        self,
        x: Tensor,
        state: State | None = None,
        details: dict[str, Tensor] | None = None,
    ) -> tuple[Tensor, State]:
        """One step: ``x [B, E]`` and the state to ``(output [B, H], new state)``.

        With ``state=None`` the step starts from ``initial_state``. A dict given
        as ``details`` receives the step's gate activations, ``[B, H]`` each,
        by the letters of the cell's equations (``seqmodels.recurrent.trace``).
        """
        self.check_input(x)
        state = self.check_state(state, x.shape[0], device=x.device, dtype=x.dtype)
        gx = nn.functional.linear(x, self.input_weight, self.input_bias)
        return self.step(gx, state, details)

    # A state of one tensor [B, H] and both biases summed before the loop: the
    # RNN's and the GRU's state, the RNN's and the LSTM's bias. Cells that
    # differ override these.
    @property
    def input_bias(self) -> Tensor | None:
        """``b_ih + b_hh``: both biases enter the sum once, so they add up."""
        if self.bias_ih is None or self.bias_hh is None:
            return None
        return self.bias_ih + self.bias_hh

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """The zero state ``[B, H]``, on the parameters' device and dtype."""
        like, name = self.weight_hh, type(self).__name__
        return zeros_state(batch_size, self.hidden_size, device, dtype, like, name)

    def check_state(
        self,
        state: State | None,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """The state if it is a ``[B, H]`` tensor, the zero state if ``None``."""
        if state is None:
            return self.initial_state(batch_size, device=device, dtype=dtype)
        shape = (batch_size, self.hidden_size)
        name = type(self).__name__
        return check_tensor_state(
            name, "state", state, shape, device=device, dtype=dtype
        )

    # Each cell defines its step.
    def step(
        self, gx: Tensor, state: State, details: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, State]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        return text if self.bias else text + ", bias=False"


def check_dtype(name: str, what: str, x: Tensor, weight: Tensor) -> None:
    """Raise a ``TypeError`` unless ``x`` has the dtype of the parameters."""
    if x.dtype != weight.dtype:
        raise TypeError(
            f"{name}: expected {what} of dtype {weight.dtype} (the cell's"
            f" parameters), got {x.dtype}; convert one to the other, e.g."
            f" x.to({weight.dtype}) or cell.to({x.dtype})"
        )


def check_tensor_state(
    name: str,
    what: str,
    state: object,
    shape: tuple[int, int],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Return ``state`` if it is a tensor of ``shape`` (and of ``dtype`` and on
    ``device`` when given: the input's); else raise a clear error."""
    if not isinstance(state, Tensor):
        raise TypeError(
            f"{name}: expected {what} as a tensor of shape {list(shape)},"
            f" got {type(state).__name__}"
        )
    if state.dim() != 2 or state.shape[1] != shape[1]:
        raise ValueError(
            f"{name}: expected {what} of shape {list(shape)}, got {list(state.shape)}"
        )
    if state.shape[0] != shape[0]:
        raise ValueError(
            f"{name}: {what} has batch size {state.shape[0]}"
            f" but the input has batch size {shape[0]}"
        )
    if dtype is not None and state.dtype != dtype:
        raise TypeError(
            f"{name}: expected {what} of dtype {dtype} (the input's), got {state.dtype}"
        )
    want = None if device is None else torch.device(device)
    if want is not None and (
        state.device.type != want.type
        or (want.index is not None and state.device.index != want.index)
    ):
        raise ValueError(
            f"{name}: expected {what} on {device} (the input's device),"
            f" got {state.device}"
        )
    return state


def zeros_state(
    batch_size: int,
    size: int,
    device: torch.device | str | None,
    dtype: torch.dtype | None,
    like: Tensor,
    name: str = "initial_state",
) -> Tensor:
    """A zero ``[B, size]`` tensor, on ``like``'s device and dtype by default."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(
            f"{name}: batch_size must be an int, got {type(batch_size).__name__}"
        )
    if batch_size < 0:
        raise ValueError(f"{name}: batch_size must be >= 0, got {batch_size}")
    return torch.zeros(
        batch_size,
        size,
        device=like.device if device is None else device,
        dtype=like.dtype if dtype is None else dtype,
    )
