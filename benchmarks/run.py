"""Run every seqmodels benchmark and print one table of ratios.

Usage (from the repository root; no install needed)::

    python benchmarks/run.py            # full: about 5-10 minutes on 2 cores
    python benchmarks/run.py --quick    # about 1-2 minutes
    python benchmarks/run.py --json out.json --threads 1

Every figure is a ratio against plain torch measured in the same run (medians
of interleaved repeats), because absolute times on a shared machine do not
hold. Memory is the peak a call adds (peak RSS on a CPU, CUDA peak on a GPU).
Exits 0 whether or not a goal is met: the table says which are.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Level, add_src_to_path, machine

add_src_to_path()

import decoding_speed  # noqa: E402
import onehot_memory  # noqa: E402
import recurrent_speed  # noqa: E402
import seed_task  # noqa: E402
import threads  # noqa: E402
import torch  # noqa: E402

__all__ = ["format_table", "main", "run_all"]

SECTIONS = ("recurrent", "sweep", "onehot", "decoding", "seed_task", "threads")
OPT_IN = ("compile",)  # slow; run with --only compile


def run_all(
    level: Level = "full",
    device: torch.device | None = None,
    sections: tuple[str, ...] = SECTIONS,
) -> dict[str, Any]:
    """Run the chosen sections and return their results (JSON-ready)."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results: dict[str, Any] = {"machine": machine(device), "level": level}
    start = time.perf_counter()
    if "recurrent" in sections:
        results["recurrent"] = recurrent_speed.rows(level, device)
    if "sweep" in sections:
        results["sweep"] = recurrent_speed.sweep(level, device)
    if "onehot" in sections:
        results["onehot"] = onehot_memory.run(level, device)
    if "decoding" in sections:
        results["decoding"] = decoding_speed.run(level, device)
    if "seed_task" in sections and device.type == "cpu":
        results["seed_task"] = seed_task.run(level, device)
    if "threads" in sections and device.type == "cpu":
        results["threads"] = threads.run(level)
    if "compile" in sections:
        import compile_check

        results["compile"] = compile_check.run(level, device)
    if level != "smoke" and sections == SECTIONS:
        try:
            import trainer_overhead  # written alongside (issue 4)
        except ImportError:
            pass
        else:
            results["trainer_overhead"] = trainer_overhead.run(quick=level == "quick")
    results["seconds"] = time.perf_counter() - start
    return results


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _met(row: dict[str, Any]) -> str:
    if row.get("met") is None:
        return ""
    return "yes" if row["met"] else "NO"


def format_table(results: dict[str, Any]) -> str:
    """The results as fixed-width text."""
    m = results["machine"]
    lines = [
        f"seqmodels benchmarks ({results['level']}): {m['cpu']}, {m['cores']} cores,"
        f" torch {m['torch']}, {m['threads']} threads, device {m['device']}",
        "ratio = ours / reference (lower is better); medians of interleaved repeats",
    ]
    if "recurrent" in results:
        lines += [
            "",
            "Recurrent layers vs torch.nn, forward+backward, same weights",
            f"{'':40} {'size':9} {'ratio':>6} {'goal':>5} {'met':>4}"
            f" {'ours ms':>8} {'ref ms':>8} {'ours MB':>8} {'ref MB':>7}",
        ]
        for r in results["recurrent"]:
            lines.append(
                f"{r['name']:40} {r['size']:9} {_num(r['ratio']):>6}"
                f" {_num(r['goal']):>5} {_met(r):>4} {_num(r['ours_ms']):>8}"
                f" {_num(r['reference_ms']):>8} {_num(r['ours_mb'], 1):>8}"
                f" {_num(r['reference_mb'], 1):>7}"
            )
    if "sweep" in results:
        lines += ["", "Recurrent(LSTMCell) over T and H (B, T, H: ms ours / nn.LSTM)"]
        for r in results["sweep"]:
            lines.append(
                f"  B={r['B']:<3} T={r['T']:<4} H={r['H']:<5}"
                f" {_num(r['ours_ms']):>8} / {_num(r['reference_ms']):>8}"
                f"  ratio {_num(r['ratio'])}"
            )
    if "onehot" in results:
        lines += [
            "",
            "One-hot LSTM training step: peak MB a step adds (model and Adam exist)",
            f"{'V':>7} {'step ms':>8} {'weights':>8} {'fwd+bwd':>8} {'step':>8}"
            f" {'logits':>7} {'one-hot not built':>18}",
        ]
        for r in results["onehot"]:
            lines.append(
                f"{r['V']:>7} {_num(r['step_ms'], 1):>8} {_num(r['weights_mb'], 1):>8}"
                f" {_num(r['forward_backward_peak_mb'], 1):>8}"
                f" {_num(r['train_step_peak_mb'], 1):>8} {_num(r['logits_mb'], 1):>7}"
                f" {_num(r['one_hot_never_built_mb'], 1):>18}"
            )
    if "decoding" in results:
        d = results["decoding"]
        lines += [
            "",
            f"Decoding, {d['new_tokens']} new tokens: ms per token (flat within"
            f" {d['goal']:.2f}x: spread {_num(d['spread'])}, met {_met(d)})",
        ]
        for r in d["rows"]:
            lines.append(
                f"  prompt {r['prompt']:>5}: {_num(r['ms_per_token'], 3)} ms/token,"
                f" {r['tokens_per_s']:,.0f} tokens/s; re-running the prefix"
                f" {r['rerun_tokens_per_s']:,.0f} tokens/s ({r['speedup']:,.0f}x)"
            )
    if "seed_task" in results:
        lines += [
            "",
            "Seed task: seconds to first exact reproduction, median over seeds",
            f"{'':14} {'ratio':>6} {'goal':>5} {'met':>4} {'ours s':>7} {'hand s':>7}"
            f" {'epochs':>9} {'ms/epoch ours/hand':>19}",
        ]
        for r in results["seed_task"]:
            mode = "TF" if r["teacher_forcing"] == 1.0 else "free"
            lines.append(
                f"{r['cell'].upper() + ' ' + mode:14} {_num(r['ratio']):>6}"
                f" {_num(r['goal']):>5} {_met(r):>4} {_num(r['ours_s'], 3):>7}"
                f" {_num(r['handwritten_s'], 3):>7}"
                f" {r['ours_epochs']:>4.0f}/{r['handwritten_epochs']:<4.0f}"
                f" {_num(r['ours_ms_per_epoch']):>9} /"
                f" {_num(r['handwritten_ms_per_epoch'])}"
            )
    if results.get("threads"):
        lines += [
            "",
            "Threads: seed task (teacher forcing), median seconds to reproduction;"
            " busy = another process spinning",
        ]
        for r in results["threads"]:
            load = "busy core" if r["busy"] else "quiet"
            secs = r["seconds"]
            shown = f">{r['limit_s']:.0f}" if secs is None else _num(secs, 3)
            lines.append(f"  {r['cell']:5} {load:9} threads={r['threads']}: {shown} s")
    if "compile" in results:
        lines += ["", "torch.compile on the user's cell step (ratios vs nn.LSTM)"]
        for r in results["compile"]:
            lines.append(
                f"  {r['size']:9} eager {_num(r['eager_ratio'])},"
                f" compiled {_num(r['compiled_ratio'])},"
                f" compiling took {_num(r['compile_s'], 1)} s"
            )
    if "trainer_overhead" in results:
        overhead = results["trainer_overhead"]
        shown = ", ".join(
            f"{k} {_num(v) if isinstance(v, float) else v}" for k, v in overhead.items()
        )
        lines += ["", "Trainer overhead (benchmarks/trainer_overhead.py)", "  " + shown]
    lines += ["", f"ran in {results['seconds']:.0f} s"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--smoke", action="store_true", help="seconds; for CI")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1)"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS + OPT_IN,
        default=SECTIONS,
        help="sections to run (compile runs only when named)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    level = "smoke" if args.smoke else "quick" if args.quick else "full"
    device = None if args.device == "auto" else torch.device(args.device)
    results = run_all(level, device, tuple(args.only))
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
