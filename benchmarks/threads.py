"""Threads: the seed task with 1 and 2 intra-op threads, quiet and busy.

"Busy" means another process (started and stopped here, a bounded busy loop)
keeps one core spinning. Each configuration runs ``seed_task.py`` in a child
process with ``Trainer(num_threads=k)``, so thread settings never leak between
runs; a child that passes its time limit is reported as such.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import Level

__all__ = ["run"]

HERE = Path(__file__).resolve().parent
BUSY_LOOP = "import time\nend = time.time() + {0}\nwhile time.time() < end:\n    pass\n"


def _child(cell: str, seeds: list[int], threads: int, limit: float) -> float | None:
    """Median seconds of a child run; ``None`` past ``limit``, NaN if it failed."""
    command = [sys.executable, str(HERE / "seed_task.py"), "--cell", cell]
    command += ["--threads", str(threads), "--seeds", *map(str, seeds)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=limit, check=True
        )
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as error:
        tail = (error.stderr or "").strip().splitlines()[-1:]
        print(f"threads: a child failed: {tail}", file=sys.stderr)
        return math.nan
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def run(level: Level, cells: tuple[str, ...] = ("rnn", "lstm")) -> list[dict[str, Any]]:
    """Median seconds to reproduction for each cell, thread count and load:
    each child reports its median over seeds; the figure is the median over
    ``rounds`` children, configurations interleaved."""
    if level == "smoke":
        return []
    seeds = [0, 1, 2] if level == "quick" else [0, 1, 2, 3, 4]
    rounds = 2 if level == "quick" else 3
    limit = 60.0
    rows = []
    for busy in (False, True):
        loop = None
        if busy:
            seconds = int(limit * rounds * 2 * len(cells) + 30)
            loop = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(seconds)])
        try:
            results: dict[tuple[str, int], list[float | None]] = {}
            for _ in range(rounds):
                for cell in cells:
                    for threads in (1, 2):
                        seconds_ = _child(cell, seeds, threads, limit)
                        results.setdefault((cell, threads), []).append(seconds_)
        finally:
            if loop is not None:
                loop.terminate()
                loop.wait()
        for (cell, threads), values in results.items():
            finite = [v for v in values if v is not None and not math.isnan(v)]
            timed_out = any(v is None for v in values)
            rows.append(
                {
                    "cell": cell,
                    "busy": busy,
                    "threads": threads,
                    "seconds": (
                        None
                        if timed_out
                        else statistics.median(finite)
                        if finite
                        else math.nan
                    ),
                    "runs": values,
                    "limit_s": limit,
                }
            )
    return rows
