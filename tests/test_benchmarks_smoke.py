"""A very short pass of the benchmark runner: it runs and fills every key.

No timing is asserted here; the figures themselves live in docs/benchmarks.md.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def runner() -> ModuleType:
    saved = list(sys.path)
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_run", BENCHMARKS / "run.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # puts benchmarks/ on sys.path
        return module
    finally:
        sys.path[:] = saved


def test_smoke_run_fills_the_table(runner: ModuleType) -> None:
    threads = torch.get_num_threads()
    try:
        results = runner.run_all("smoke", torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)

    assert {"machine", "recurrent", "sweep", "onehot", "decoding", "seed_task"} <= set(
        results
    )
    names = [row["name"] for row in results["recurrent"]]
    assert names == [
        "Recurrent(LSTMCell) / nn.LSTM",
        "Recurrent(GRUCell) / nn.GRU",
        "Recurrent(RNNCell) / nn.RNN",
        "Recurrent(user's LSTM cell) / nn.LSTM",
    ]
    for row in results["recurrent"]:
        assert {"ratio", "goal", "met", "ours_ms", "reference_ms", "ours_mb"} <= set(
            row
        )
        assert row["ratio"] > 0
    assert [r["V"] for r in results["onehot"]] == [50, 100]
    assert {"forward_backward_peak_mb", "one_hot_never_built_mb"} <= set(
        results["onehot"][0]
    )
    assert [r["prompt"] for r in results["decoding"]["rows"]] == [10, 100]
    assert results["seed_task"][0]["cell"] == "lstm"

    table = runner.format_table(results)
    assert "Recurrent(LSTMCell) / nn.LSTM" in table and "Seed task" in table
    json.dumps(results)  # the --json output is plain JSON


def test_handwritten_script_reproduces_the_preface_word_ids() -> None:
    saved = list(sys.path)
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import handwritten_seed
    finally:
        sys.path[:] = saved
    from seqmodels import WordTokenizer

    words = handwritten_seed.PREFACE.split()
    ids = WordTokenizer().fit(handwritten_seed.PREFACE).encode(handwritten_seed.PREFACE)
    assert len(words) == len(ids) == 44 and max(ids) + 1 == 43
