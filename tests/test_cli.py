"""The command line: train then generate on a tiny file, help, exit codes and
one-line errors. A few runs are real subprocesses (``python -m seqmodels``);
the rest call ``main`` in this process, which is the same code and faster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import seqmodels
from seqmodels.cli import main, windows
from seqmodels.serialization import load_model
from seqmodels.texts import HUNMINJEONGEUM_PREFACE, HUNMINJEONGEUM_WORDS

SRC = Path(seqmodels.__file__).resolve().parents[1]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "seqmodels", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.fixture
def preface(tmp_path: Path) -> Path:
    path = tmp_path / "preface.txt"
    path.write_text(HUNMINJEONGEUM_PREFACE, encoding="utf-8")
    return path


def test_train_then_generate_as_subprocesses(tmp_path: Path, preface: Path) -> None:
    trained = run(
        "train", "--text", str(preface), "--cell", "lstm", "--tokenizer", "word",
        "--out", "model", "--epochs", "300", "--hidden-size", "32",
        "--until-reproduced", "--seed", "0", "--threads", "1", "--device", "cpu",
        "--lr", "0.01",
        cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "reproduced the text" in trained.stdout
    assert "epoch 10/300" in trained.stderr  # progress, as log lines off a terminal

    generated = run(
        "generate", "model", "--prompt", "나라의", "--max-new-tokens", "43",
        cwd=tmp_path,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.split() == list(HUNMINJEONGEUM_WORDS)
    _, tokenizer = load_model(tmp_path / "model")
    assert tokenizer is not None and len(tokenizer.vocab) == 43


def test_version_help_and_usage_errors(tmp_path: Path) -> None:
    version = run("--version", cwd=tmp_path)
    assert (version.returncode, version.stdout.strip()) == (
        0,
        f"seqmodels {seqmodels.__version__}",
    )
    bad = run("train", "--text", "x.txt", cwd=tmp_path)  # --out missing
    assert bad.returncode == 2
    assert "the following arguments are required: --out" in bad.stderr


@pytest.mark.parametrize("command", ["train", "generate"])
def test_help_of_each_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: seqmodels {command}" in out
    assert "exit status: 0 done; 1 training did not reach its goal" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: seqmodels" in capsys.readouterr().err


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["train", "--text", str(tmp_path / "none.txt"), "--out", "m"])
    assert status == 2
    assert one_line_error(capsys).startswith("seqmodels train: error: no such file:")


def test_an_undecodable_file_names_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("나라의 말이 ".encode() + "café".encode("latin-1") + b" end")
    result = run("train", "--text", str(path), "--out", "m", cwd=tmp_path)
    assert result.returncode == 2
    offset = len("나라의 말이 caf".encode())
    assert result.stderr.strip() == (
        f"seqmodels train: error: {path} is not UTF-8 text: byte 0xe9 at byte"
        f" offset {offset} (invalid continuation byte); convert it to UTF-8 first"
    )


def test_a_directory_that_is_not_a_saved_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", str(tmp_path), "--prompt", "나라의"]) == 2
    line = one_line_error(capsys)
    assert line.startswith(f"seqmodels generate: error: {tmp_path} is not a saved")
    assert main(["generate", str(tmp_path / "nothing"), "--prompt", "가"]) == 2
    assert "no such directory" in one_line_error(capsys)


@pytest.mark.parametrize("tokenizer", ["char", "jamo"])
def test_char_and_jamo_models_round_trip(
    tmp_path: Path,
    preface: Path,
    tokenizer: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "m"
    args = ["train", "--text", str(preface), "--out", str(out), "--quiet"]
    args += ["--tokenizer", tokenizer, "--cell", "gru", "--epochs", "3"]
    assert main([*args, "--seq-len", "16", "--device", "cpu"]) == 0
    rows = (len(preface.read_text(encoding="utf-8")) - 1) // 16
    assert f"in {rows} row(s)" in capsys.readouterr().out or tokenizer == "jamo"
    prompt = ["generate", str(out), "--prompt", "나라의", "--max-new-tokens", "5"]
    assert main([*prompt, "--temperature", "1.0", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert main([*prompt, "--temperature", "1.0", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first  # same seed, same text
    assert first.startswith("나라의")
    assert main([*prompt, "--top-k", "3", "--top-p", "0.9", "--stream"]) == 0
    assert main([*prompt, "--beam-width", "3", "--stop", "다"]) == 0


def test_goals_not_reached_exit_1(
    tmp_path: Path, preface: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--text", str(preface), "--out", str(tmp_path / "m"), "--quiet"]
    assert main([*args, "--epochs", "2", "--until-reproduced"]) == 1
    assert "did not reproduce the text in 2 epochs" in one_line_error(capsys)
    assert main([*args, "--epochs", "2", "--target-loss", "0.01"]) == 1
    assert "above --target-loss 0.01" in one_line_error(capsys)
    assert (tmp_path / "m" / "config.json").exists()  # saved all the same


def test_bad_input_exits_2(
    tmp_path: Path, preface: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "m")
    train = ["train", "--text", str(preface), "--out", out, "--quiet"]
    assert main([*train, "--epochs", "1", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["generate", out, "--prompt", "바보"]) == 2
    message = one_line_error(capsys)
    assert "'바보' is not in the model's vocabulary (43 tokens)" in message
    assert "unk_token" not in message  # nothing the command line can set
    assert main(["generate", out, "--prompt", "나라의", "--top-p", "1.5"]) == 2
    assert "top_p must be in (0, 1]" in one_line_error(capsys)
    assert main(["generate", out, "--prompt", "나라의", "--device", "tpu9"]) == 2
    one_line_error(capsys)
    empty = tmp_path / "empty.txt"
    empty.write_text("!!! ...", encoding="utf-8")
    assert main(["train", "--text", str(empty), "--out", out, "--quiet"]) == 2
    assert "found no words" in one_line_error(capsys)
    with pytest.raises(SystemExit) as exit_info:
        main([*train, "--epochs", "0"])
    assert exit_info.value.code == 2


def test_windows_overlap_by_one_token() -> None:
    assert windows([0, 1, 2], 5).tolist() == [[0, 1, 2]]
    assert windows(list(range(8)), 3).tolist() == [[0, 1, 2, 3], [3, 4, 5, 6]]
