"""Shared helpers for the benchmarks: interleaved timing, peak memory, machine.

Times are medians of interleaved repeats (A, B, A, B, ...), so that a burst of
load on a shared machine hits both sides alike; only ratios measured in one run
are compared. Memory is the peak resident set size during one call above the
resident size just before it (Linux: ``VmHWM`` is reset through
``/proc/self/clear_refs``), or the CUDA peak on a GPU.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = [
    "Level",
    "add_src_to_path",
    "interleaved",
    "machine",
    "peak_memory_mb",
    "synchronize",
]

Level = str  # "smoke" (CI, seconds), "quick" (about a minute) or "full"

REPO = Path(__file__).resolve().parent.parent


def add_src_to_path() -> None:
    """Make ``import seqmodels`` work from a clean clone (no install needed)."""
    try:
        import seqmodels  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO / "src"))


def interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, *, warmup: int = 1
) -> dict[str, float]:
    """Median seconds per call of each function, timed in interleaved rounds
    (the order alternates between rounds)."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeats):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _trim() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed memory back


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_memory_mb(fn: Callable[[], object], device: torch.device) -> float | None:
    """Peak memory (MiB) that one call of ``fn`` adds: CUDA peak allocated on a
    GPU, else peak RSS above the RSS before the call (Linux only; ``None``
    elsewhere)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20
    _trim()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")  # resets VmHWM to the current RSS
    except OSError:
        return None
    before = _status_kb("VmRSS")
    fn()
    peak = _status_kb("VmHWM")
    if before is None or peak is None:
        return None
    return max(peak - before, 0) / 1024


def synchronize(device: torch.device) -> None:
    """Wait for the GPU, so that a timer around a call measures the call."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine(device: torch.device) -> dict[str, object]:
    """What the figures were measured on."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, object] = {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
