"""Recurrent layers against torch.nn: forward plus backward, same weights.

Rows: ``Recurrent(LSTMCell | GRUCell | RNNCell)`` (the fused path) against
``torch.nn.LSTM | GRU | RNN``, and a user's plain-torch LSTM cell (the generic
loop) against ``torch.nn.LSTM``, at three sizes; then a sweep of time over
``T`` and ``H``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from _common import Level, interleaved, peak_memory_mb, synchronize
from torch import Tensor, nn
from user_cell import PlainLSTMCell

from seqmodels import GRUCell, LSTMCell, Recurrent, RNNCell

__all__ = ["rows", "sweep"]

KINDS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "LSTM": (LSTMCell, nn.LSTM),
    "GRU": (GRUCell, nn.GRU),
    "RNN": (RNNCell, nn.RNN),
}

# name: (B, T, I, H, repeats at quick, repeats at full)
SIZES: dict[str, tuple[int, int, int, int, int, int]] = {
    "reference": (32, 100, 64, 256, 5, 15),
    "tiny": (1, 43, 43, 32, 15, 41),
    "large": (8, 50, 64, 1024, 2, 5),
}
SMOKE_SIZE = (2, 6, 5, 8, 1, 1)

FUSED_GOAL = 1.05
USER_CELL_GOAL = 1.5


def _reference_for(cell: nn.Module, module: type[nn.Module], device: Any) -> nn.Module:
    """``torch.nn.LSTM/GRU/RNN`` holding ``cell``'s weights."""
    reference = module(cell.input_size, cell.hidden_size, batch_first=True)
    state = {f"{k}_l0": v for k, v in cell.state_dict().items()}
    if isinstance(cell, PlainLSTMCell):
        state = {
            "weight_ih_l0": cell.weight_ih,
            "weight_hh_l0": cell.weight_hh,
            "bias_ih_l0": cell.bias,
            "bias_hh_l0": torch.zeros_like(cell.bias),
        }
    reference.load_state_dict(state)
    return reference.to(device)


def _train_step(layer: Callable[[Tensor], Any], xs: Tensor) -> Callable[[], None]:
    def step() -> None:
        outputs = layer(xs)[0]
        outputs.sum().backward()
        synchronize(xs.device)

    return step


def _compare(
    name: str,
    size: str,
    goal: float,
    ours: Callable[[], None],
    reference: Callable[[], None],
    repeats: int,
    device: torch.device,
) -> dict[str, Any]:
    times = interleaved({"ours": ours, "reference": reference}, repeats)
    ratio = times["ours"] / times["reference"]
    return {
        "name": name,
        "size": size,
        "goal": goal,
        "ratio": ratio,
        "met": ratio <= goal,
        "ours_ms": times["ours"] * 1e3,
        "reference_ms": times["reference"] * 1e3,
        "ours_mb": peak_memory_mb(ours, device),
        "reference_mb": peak_memory_mb(reference, device),
    }


def _sizes(level: Level) -> dict[str, tuple[int, int, int, int, int]]:
    if level == "smoke":
        b, t, i, h, _, _ = SMOKE_SIZE
        return {"smoke": (b, t, i, h, 1)}
    column = 4 if level == "quick" else 5
    return {name: (*s[:4], s[column]) for name, s in SIZES.items()}


def rows(level: Level, device: torch.device) -> list[dict[str, Any]]:
    """The fused and user-cell rows of the table."""
    out = []
    gen = torch.Generator().manual_seed(0)
    for size, (b, t, i, h, repeats) in _sizes(level).items():
        xs = torch.randn(b, t, i, generator=gen).to(device)
        for kind, (cell_type, module) in KINDS.items():
            cell = cell_type(i, h, generator=gen).to(device)
            ours = _train_step(Recurrent(cell), xs)
            reference = _train_step(_reference_for(cell, module, device), xs)
            name = f"Recurrent({cell_type.__name__}) / nn.{kind}"
            out.append(
                _compare(name, size, FUSED_GOAL, ours, reference, repeats, device)
            )
        if size == "large":
            continue
        user = PlainLSTMCell(i, h).to(device)
        ours = _train_step(Recurrent(user), xs)  # type: ignore[arg-type]
        reference = _train_step(_reference_for(user, nn.LSTM, device), xs)
        name = "Recurrent(user's LSTM cell) / nn.LSTM"
        out.append(
            _compare(name, size, USER_CELL_GOAL, ours, reference, repeats, device)
        )
    return out


def sweep(level: Level, device: torch.device) -> list[dict[str, Any]]:
    """Milliseconds of ``Recurrent(LSTMCell)`` and ``nn.LSTM`` over T and H."""
    if level == "smoke":
        points = [(2, 4, 5, 8), (2, 8, 5, 8)]
        repeats = 1
    else:
        base_b, base_i = 32, 64
        points = [(base_b, t, base_i, 256) for t in (25, 50, 100, 200)]
        points += [(base_b, 100, base_i, h) for h in (64, 128, 512)]
        repeats = 3 if level == "quick" else 7
    out = []
    gen = torch.Generator().manual_seed(1)
    for b, t, i, h in points:
        xs = torch.randn(b, t, i, generator=gen).to(device)
        cell = LSTMCell(i, h, generator=gen).to(device)
        fns = {
            "ours": _train_step(Recurrent(cell), xs),
            "reference": _train_step(_reference_for(cell, nn.LSTM, device), xs),
        }
        times = interleaved(fns, repeats)
        out.append(
            {
                "B": b,
                "T": t,
                "H": h,
                "ours_ms": times["ours"] * 1e3,
                "reference_ms": times["reference"] * 1e3,
                "ratio": times["ours"] / times["reference"],
            }
        )
    return out
