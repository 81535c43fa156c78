"""What ``Trainer.fit`` runs on: the device, the CPU threads, mixed precision,
the optimiser, the seeded random state and Ctrl-C.

Each piece is set up once per ``Trainer`` or once per ``fit``, never per
step, and each context manager puts back what it changed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "Interrupt",
    "ThreadsWarning",
    "autocast",
    "build_optimizer",
    "check_precision",
    "resolve_device",
    "seeded",
    "threads",
    "warn_threads",
]

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}
"""The optimisers ``Trainer`` builds from a name."""

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
"""The ``precision`` names and the autocast dtype of each (``None``: off)."""


def resolve_device(
    device: str | torch.device, *, name: str = "Trainer"
) -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU; other strings are
    checked, so that a typo or a missing GPU fails with a clear message.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(
            f"{name}: device must be a str or torch.device, got {type(device).__name__}"
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"{name}: unknown device {device!r}; expected 'auto', 'cpu', 'cuda',"
            " 'cuda:N' or 'mps'"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{name}: device {device!r} asked for, but CUDA is not available here;"
            " use 'auto' or 'cpu'"
        )
    return resolved


def check_precision(precision: str, device: torch.device) -> None:
    """Raise unless ``precision`` is a known name that runs on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"Trainer: precision must be one of {sorted(PRECISIONS)}, got {precision!r}"
        )
    kind = device.type
    if precision == "fp16" and kind != "cuda":
        raise ValueError(
            f"Trainer: precision 'fp16' needs a CUDA device, got {kind!r};"
            " use 'bf16' on the CPU"
        )
    if precision == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(
            "Trainer: precision 'bf16' is not supported by this GPU; use 'fp16'"
        )
    if precision != "fp32" and kind not in ("cuda", "cpu"):
        raise ValueError(
            f"Trainer: mixed precision runs on 'cuda' or 'cpu', not {kind!r}"
        )


def autocast(
    precision: str, device: torch.device
) -> Callable[[], contextlib.AbstractContextManager[object]]:
    """A maker of the context each forward pass runs in: ``torch.autocast``
    for ``"bf16"`` and ``"fp16"``, a shared no-op context for ``"fp32"``."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        nothing = contextlib.nullcontext()
        return lambda: nothing
    return lambda: torch.autocast(device.type, dtype=dtype)


def build_optimizer(
    optimizer: object, params: Iterable[nn.Parameter], lr: float
) -> torch.optim.Optimizer:
    """``optimizer`` itself, the one its name stands for (with ``lr``), or what
    a function of ``params`` returns."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        if optimizer.lower() not in OPTIMIZERS:
            raise ValueError(
                f"Trainer: unknown optimizer {optimizer!r};"
                f" expected one of {sorted(OPTIMIZERS)} or an Optimizer"
            )
        return OPTIMIZERS[optimizer.lower()](params, lr=lr)
    if callable(optimizer):
        built = optimizer(params)
        if isinstance(built, torch.optim.Optimizer):
            return built
    raise TypeError(
        "Trainer: optimizer must be a torch.optim.Optimizer, a name or a"
        f" function returning one, got {type(optimizer).__name__}"
    )


SMALL_MODEL = 1_000_000
"""Parameters below which ``warn_threads`` calls a model small."""


class ThreadsWarning(UserWarning):
    """A small model trains on the CPU with several threads (see
    ``warn_threads``)."""


def warn_threads(
    model: torch.nn.Module, device: torch.device, count: int | None
) -> None:
    """Warn when a small model trains on the CPU with torch's default of
    several threads, and ``count`` (the Trainer's ``num_threads``) was not
    given: measured here, such a run was 10 to 100 times slower than with one
    thread while another process kept a core busy. Nothing is changed."""
    if count is not None or device.type != "cpu" or torch.get_num_threads() < 2:
        return
    size = sum(p.numel() for p in model.parameters())
    if size >= SMALL_MODEL:
        return
    warnings.warn(
        f"Trainer: a small model ({size:,} parameters) trains on the CPU with"
        f" torch's {torch.get_num_threads()} threads, which can be tens of times"
        " slower than one thread on a busy machine; pass num_threads=1 (or"
        f" num_threads={torch.get_num_threads()} to keep them and silence this)."
        " See docs/performance.md",
        ThreadsWarning,
        stacklevel=3,
    )


@contextlib.contextmanager
def threads(count: int | None) -> Iterator[None]:
    """Use ``count`` intra-op threads inside, and restore the old count after;
    ``None`` changes nothing."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators inside, and put back their states after.

    On the CPU only the CPU generator is seeded: ``torch.manual_seed`` would
    also queue a seed for every accelerator (costly, and left behind after the
    block, since only the CPU state is put back). On another device
    ``torch.manual_seed`` seeds them all; a CUDA device's state is put back.
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        if device.type == "cpu":
            torch.default_generator.manual_seed(seed)
        else:
            torch.manual_seed(seed)
        yield


class Interrupt:
    """Turns the first Ctrl-C into a flag the loop checks after each batch; a
    second Ctrl-C interrupts at once. Only in the main thread of a single
    process (elsewhere Ctrl-C raises ``KeyboardInterrupt`` as usual).

    >>> interrupt = Interrupt()
    >>> with interrupt.watch(enabled=False):
    ...     interrupt.requested
    False
    """

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def watch(self, enabled: bool) -> Iterator[Interrupt]:
        """Catch Ctrl-C inside (when ``enabled``); the old handler after."""
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> None:
            self.requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)
