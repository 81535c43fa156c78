"""The optional extras: each is exercised where installed, and the library
imports and works without any of them (with errors that name the extra)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seqmodels import LSTMCell, OneHotEmbedding, SequenceModel, Trainer
from seqmodels.training import ProgressBar

ROOT = Path(__file__).resolve().parents[1]


def tiny_trainer(callbacks: list[ProgressBar]) -> Trainer:
    model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
    return Trainer(
        model, device="cpu", callbacks=callbacks, progress=False, num_threads=1
    )


def test_progress_extra_draws_a_tqdm_bar(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    tiny_trainer([ProgressBar(force_bar=True)]).fit([0, 1, 2, 0], epochs=3)
    err = capsys.readouterr().err
    assert "3/3" in err and "epoch" in err


def test_without_a_terminal_progress_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="seqmodels.training"):
        tiny_trainer([ProgressBar(every=2)]).fit([0, 1, 2, 0], epochs=4)
    lines = [r.getMessage() for r in caplog.records if "epoch" in r.getMessage()]
    assert [line.split(" |")[0] for line in lines[:2]] == ["epoch 2/4", "epoch 4/4"]


def test_plot_extra_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    history = tiny_trainer([]).fit([0, 1, 2, 0], epochs=3)
    path = history.plot(tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_docs_extra_builds_the_site_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [*mkdocs, "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "api" / "index.html").exists()


# A module set to None in sys.modules cannot be imported: as if not installed.
BLOCK_EXTRAS = textwrap.dedent(
    """
    import sys
    for name in ("tqdm", "matplotlib", "safetensors", "keras"):
        sys.modules[name] = None
    """
)


def test_the_library_works_without_any_extra(tmp_path: Path) -> None:
    script = BLOCK_EXTRAS + textwrap.dedent(
        f"""
        import seqmodels, seqmodels.interop, seqmodels.training
        from seqmodels import *
        model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
        trainer = Trainer(
            model, device="cpu", num_threads=1, callbacks=[ProgressBar(force_bar=True)]
        )
        history = trainer.fit([0, 1, 2, 0], epochs=2)
        model.save({str(tmp_path / "model")!r})
        loaded = SequenceModel.load({str(tmp_path / "model")!r})
        try:
            history.plot({str(tmp_path / "x.png")!r})
        except ImportError as error:
            print("plot:", error)
        print("ok", len(history))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    wanted = 'install it with pip install "seqmodels[plot]"'
    assert f"plot: History.plot needs matplotlib; {wanted}" in result.stdout
    assert result.stdout.strip().endswith("ok 2")
