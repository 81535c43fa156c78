"""History: records, JSON and CSV round trips, plots."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from seqmodels.training import History

RECORDS = [
    {"epoch": 1, "loss": 2.5, "accuracy": 0.25, "val_loss": 2.75},
    {"epoch": 2, "loss": 1.5, "accuracy": 0.5},
]


def test_figures_and_errors() -> None:
    history = History([dict(r) for r in RECORDS], "ran 2 epochs")
    assert history["loss"] == [2.5, 1.5]
    assert history["val_loss"] == [2.75]
    with pytest.raises(KeyError, match="no figure named 'lr'"):
        history["lr"]
    with pytest.raises(IndexError, match="no epoch"):
        _ = History().last


def test_json_round_trip(tmp_path: Path) -> None:
    history = History([dict(r) for r in RECORDS], "early stopping")
    back = History.from_json(history.to_json(tmp_path / "h.json"))
    assert back == history
    assert History.from_json(tmp_path / "h.json") == history


def test_csv_round_trip_keeps_missing_figures_missing(tmp_path: Path) -> None:
    history = History([dict(r) for r in RECORDS])
    text = history.to_csv(tmp_path / "h.csv")
    assert text.splitlines()[0] == "epoch,loss,accuracy,val_loss"
    assert History.from_csv(tmp_path / "h.csv").records == RECORDS
    assert History.from_csv(text).records == RECORDS


def test_csv_with_a_word_for_a_number() -> None:
    with pytest.raises(ValueError, match="line 2, column 'loss': expected a number"):
        History.from_csv("epoch,loss\n1,low\n")


def test_to_dict_does_not_share_records() -> None:
    history = History([dict(r) for r in RECORDS])
    history.to_dict()["records"][0]["loss"] = 0.0
    assert history["loss"][0] == 2.5


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = History([dict(r) for r in RECORDS]).plot(tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r'pip install "seqmodels\[plot\]"'):
        History([dict(r) for r in RECORDS]).plot(tmp_path / "curves.png")


def test_plot_of_nothing() -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="no epoch"):
        History().plot("never.png")
