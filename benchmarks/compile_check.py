"""Does ``torch.compile`` help a user's cell in the generic loop?

The user's plain-torch LSTM cell runs through ``Recurrent`` twice: as written,
and with its ``step`` replaced by ``torch.compile(step)``; both against
``torch.nn.LSTM``. The compile time is reported too. Not part of the default
run (compiling takes tens of seconds): ``python benchmarks/run.py --only
compile``.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from _common import Level, interleaved
from recurrent_speed import _reference_for, _train_step
from torch import nn
from user_cell import PlainLSTMCell

from seqmodels import Recurrent

__all__ = ["run"]


def run(level: Level, device: torch.device) -> list[dict[str, Any]]:
    """One row per size: eager and compiled ratios, and the compile seconds."""
    sizes = {"tiny": (1, 43, 43, 32), "reference": (32, 100, 64, 256)}
    if level == "smoke":
        sizes = {"smoke": (2, 5, 4, 8)}
    repeats = 1 if level == "smoke" else (5 if level == "quick" else 9)
    rows = []
    for size, (b, t, i, h) in sizes.items():
        xs = torch.randn(b, t, i).to(device)
        eager = PlainLSTMCell(i, h).to(device)
        compiled = PlainLSTMCell(i, h).to(device)
        compiled.load_state_dict(eager.state_dict())
        compiled.step = torch.compile(compiled.step)  # type: ignore[method-assign]
        fns = {
            "eager": _train_step(Recurrent(eager), xs),  # type: ignore[arg-type]
            "compiled": _train_step(Recurrent(compiled), xs),  # type: ignore[arg-type]
            "reference": _train_step(_reference_for(eager, nn.LSTM, device), xs),
        }
        start = time.perf_counter()
        fns["compiled"]()
        compile_s = time.perf_counter() - start
        times = interleaved(fns, repeats)
        rows.append(
            {
                "size": size,
                "compile_s": compile_s,
                "eager_ratio": times["eager"] / times["reference"],
                "compiled_ratio": times["compiled"] / times["reference"],
            }
        )
    return rows
