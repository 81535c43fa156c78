"""Every example runs with its defaults and exits 0; the Hunminjeongeum
example reproduces the preface with each cell in both modes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqmodels.texts import HUNMINJEONGEUM_WORDS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
pytestmark = pytest.mark.example


def run(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )


def hangul_words(line: str) -> list[str]:
    return line.split(":", 1)[1].split()


@pytest.mark.parametrize(
    "example",
    [e for e in EXAMPLES if e.name != "hunminjeongeum.py"],
    ids=lambda p: p.name,
)
def test_example_runs_with_defaults(example: Path) -> None:
    result = run(example)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip(), "an example prints its result"


@pytest.mark.parametrize("mode", ["one-to-many", "lm"])
def test_hunminjeongeum_reproduces_the_preface(mode: str) -> None:
    result = run(ROOT / "examples" / "hunminjeongeum.py", "--mode", mode)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for name in ("RNN", "LSTM", "GRU"):
        [line] = [x for x in lines if x.startswith(f"{name}:")]
        assert hangul_words(line) == list(HUNMINJEONGEUM_WORDS)
        after = lines[lines.index(line) + 1]
        assert "epochs" in after and " s;" in after and "reproduced" in after


def test_hunminjeongeum_fails_when_it_cannot_reproduce() -> None:
    # Two epochs are far too few: the exit status must say so.
    result = run(
        ROOT / "examples" / "hunminjeongeum.py", "--cell", "rnn", "--epochs", "2"
    )
    assert result.returncode == 1
    assert "did NOT reproduce" in result.stdout


def test_hunminjeongeum_trains_on_any_text(tmp_path: Path) -> None:
    text = tmp_path / "poem.txt"
    text.write_text("the cat sat on the mat and the dog sat on the log\n", "utf-8")
    result = run(
        ROOT / "examples" / "hunminjeongeum.py", "--text", text, "--mode", "lm"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [line] = [x for x in result.stdout.splitlines() if x.startswith("LSTM:")]
    assert hangul_words(line) == text.read_text("utf-8").split()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", "no/such/file.txt"], "no such file"),
        (["--cell", "transformer"], "invalid choice"),
        (["--epochs", "0"], "must be positive"),
        (["--device", "gpu"], "unknown device 'gpu'"),
    ],
)
def test_hunminjeongeum_bad_input_gets_one_clear_line(
    args: list[str], message: str
) -> None:
    result = run(ROOT / "examples" / "hunminjeongeum.py", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_hunminjeongeum_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("나라의 ".encode() + b"\xff\xfe")
    result = run(ROOT / "examples" / "hunminjeongeum.py", "--text", bad)
    assert result.returncode == 2
    assert "not UTF-8 (byte offset 10)" in result.stderr


def test_hunminjeongeum_shows_the_gates_at_the_second_hal() -> None:
    result = run(
        ROOT / "examples" / "hunminjeongeum.py",
        *("--cell", "lstm", "--mode", "lm", "--show-gates"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "step 13: '할'" in out and "step 42: '할'" in out
    header = [x for x in out.splitlines() if x.lstrip().startswith("unit |")]
    assert header and all(g in header[0] for g in (" i ", " f ", " g ", " o ", " c"))


def test_hunminjeongeum_reproduces_with_a_seed_that_needed_clipping() -> None:
    # Seed 5's RNN, free running, did not reproduce the text in 1000 epochs
    # before the example clipped the gradient norm (docs/walkthrough.md).
    result = run(
        ROOT / "examples" / "hunminjeongeum.py", "--cell", "rnn", "--seed", "5"
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hunminjeongeum_says_which_words_it_dropped(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("나라의 hello 말이 world 나라의 말이\n", "utf-8")
    example = ROOT / "examples" / "hunminjeongeum.py"
    result = run(example, "--text", mixed, "--mode", "lm", "--keep", "hangul")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(keep='hangul': 2 of 6 words dropped)" in result.stdout
    # By default a text that mixes scripts keeps every word.
    result = run(example, "--text", mixed, "--mode", "lm", "--cell", "rnn")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dropped" not in result.stdout
    [line] = [x for x in result.stdout.splitlines() if x.startswith("RNN:")]
    assert hangul_words(line) == mixed.read_text("utf-8").split()
