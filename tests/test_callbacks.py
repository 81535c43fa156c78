"""Callbacks: early stopping on any figure, checkpoints (best and last),
learning-rate schedules, progress, stopping when the text comes back."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from seqmodels import LSTMCell, OneHotEmbedding, SequenceModel
from seqmodels.training import (
    Callback,
    Checkpoint,
    EarlyStopping,
    LRScheduler,
    ProgressBar,
    StopWhenReproduced,
    Trainer,
    load_checkpoint,
)

V = 5
TEXT = [0, 1, 2, 3, 4, 1, 3, 0, 2, 4, 0]


def make_trainer(*callbacks: object, lr: float = 0.05) -> Trainer:
    g = torch.Generator().manual_seed(0)
    model = SequenceModel(
        OneHotEmbedding(V), LSTMCell(V, 8, generator=g), V, generator=g
    )
    return Trainer(
        model,
        lr=lr,
        device="cpu",
        progress=False,
        num_threads=1,
        callbacks=callbacks,  # type: ignore[arg-type]
    )


class Score(Callback):
    """Adds a made-up figure, ``score``, to each epoch's logs."""

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def on_epoch_end(self, trainer, epoch, logs):  # type: ignore[no-untyped-def]
        logs["score"] = self.values[epoch - 1]


def test_early_stopping_on_any_figure() -> None:
    scores = [5.0, 3.0, 4.0, 3.5, 3.2, 1.0, 1.0]
    history = make_trainer(Score(scores), EarlyStopping("score", patience=3)).fit(
        TEXT, epochs=7
    )
    assert history.epochs == 5  # best at 2, then 3 epochs without improvement
    assert "score has not improved for 3 epochs" in str(history.stop_reason)


def test_early_stopping_maximises_accuracies_and_restores_the_best() -> None:
    stopper = EarlyStopping("val_accuracy", patience=2, restore_best=True)
    assert stopper.mode == "max"
    run = make_trainer(
        Score([1.0, 3.0, 2.0, 2.5]), EarlyStopping("score", mode="max", patience=2)
    )
    assert run.fit(TEXT, epochs=4).epochs == 4

    kept = {}

    class Keep(Callback):
        def on_epoch_end(self, trainer, epoch, logs):  # type: ignore[no-untyped-def]
            kept[epoch] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    stopper = EarlyStopping("score", patience=2, restore_best=True)
    run = make_trainer(Score([3.0, 1.0, 2.0, 2.0]), stopper, Keep())
    run.fit(TEXT, epochs=4)
    assert stopper.best_epoch == 2 and stopper.best == 1.0
    for key, value in run.model.state_dict().items():
        assert torch.equal(value, kept[2][key])


def test_early_stopping_on_a_missing_figure() -> None:
    with pytest.raises(
        ValueError, match=r"no figure named 'val_loss'.*validation data"
    ):
        make_trainer(EarlyStopping()).fit(TEXT, epochs=2)
    with pytest.raises(ValueError, match="patience must be a positive int"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="up")


def test_checkpoint_keeps_the_best_and_the_last(tmp_path: Path) -> None:
    scores = [3.0, 1.0, 2.0, 0.5, 4.0]
    make_trainer(Score(scores), Checkpoint(tmp_path, monitor="score")).fit(
        TEXT, epochs=5
    )
    best, last = (
        load_checkpoint(tmp_path / "best.pt"),
        load_checkpoint(tmp_path / "last.pt"),
    )
    assert best["history"]["records"][-1]["epoch"] == 4
    assert best["epoch"] == 5  # resumes after the epoch it was saved at
    assert last["history"]["records"][-1]["epoch"] == 5
    assert len(list(tmp_path.iterdir())) == 2  # no temporary files left


def test_checkpoint_every_and_on_early_stop(tmp_path: Path) -> None:
    run = make_trainer(
        Score([1.0, 2.0, 3.0, 4.0]),
        EarlyStopping("score", patience=2),
        Checkpoint(tmp_path, monitor=None, every=5),
    )
    run.fit(TEXT, epochs=10)
    assert not (tmp_path / "best.pt").exists()
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 4  # stopped after 3


def test_step_schedule_halves_the_rate_each_epoch() -> None:
    run = make_trainer(LRScheduler("step", step_size=1, gamma=0.5), lr=0.1)
    history = run.fit(TEXT, epochs=3)
    assert history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_schedule_per_step_and_from_a_function() -> None:
    run = make_trainer(
        LRScheduler(
            lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9),
            interval="step",
        ),
        lr=0.1,
    )
    run.fit(TEXT, epochs=2, seq_len=2, batch_size=2)  # 5 windows: 3 steps an epoch
    assert run.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9**6)


def test_plateau_schedule_watches_a_figure() -> None:
    run = make_trainer(
        Score([1.0, 1.0, 1.0, 1.0]),
        LRScheduler("plateau", monitor="score", patience=0),
        lr=0.1,
    )
    run.fit(TEXT, epochs=3)
    assert run.optimizer.param_groups[0]["lr"] < 0.1


def test_schedule_errors() -> None:
    with pytest.raises(ValueError, match="unknown schedule 'warp'"):
        LRScheduler("warp")
    with pytest.raises(ValueError, match="interval must be"):
        LRScheduler("step", interval="batch", step_size=1)
    with pytest.raises(ValueError, match="'cosine' per step needs T_max"):
        make_trainer(LRScheduler("cosine", interval="step")).fit(TEXT, epochs=1)


def test_progress_logs_a_line_without_a_terminal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="seqmodels.training"):
        make_trainer(ProgressBar(every=2)).fit(TEXT, epochs=4, validation=TEXT)
    lines = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch")
    ]
    assert len(lines) == 2 and lines[0].startswith("epoch 2/4 | loss")
    assert "val_loss" in lines[0]


def test_stop_when_reproduced_with_given_sequences() -> None:
    # The first window, learned from fresh states, comes back quickly.
    history = make_trainer(StopWhenReproduced(torch.tensor([TEXT[:6]]))).fit(
        [TEXT], epochs=100, seq_len=5, batch_size=1
    )
    assert history.last.get("reproduced") == 1.0 and history.epochs < 100


def test_reproduction_is_checked_in_evaluation_mode_with_any_integer_ids() -> None:
    modes = []

    class Watch(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            modes.append(self.training)
            return x

    run = make_trainer(StopWhenReproduced(torch.tensor([TEXT], dtype=torch.int32)))
    run.model.head.register_module("watch", Watch())
    run.model.head.register_forward_hook(lambda m, i, o: m.watch(o))
    history = run.fit(TEXT, epochs=300)
    assert history.last.get("reproduced") == 1.0 and history.epochs < 300
    assert run.model.training and True in modes and False in modes


def test_a_callback_may_have_only_some_methods() -> None:
    calls = []

    class Partial:
        def on_batch_start(self, trainer, step):  # type: ignore[no-untyped-def]
            calls.append(step)

    make_trainer(Partial()).fit(TEXT, epochs=3)
    assert calls == [1, 2, 3]


def test_hooks_run_in_order() -> None:
    calls: list[str] = []

    class Spy(Callback):
        def __getattribute__(self, name: str):  # type: ignore[no-untyped-def]
            if name.startswith("on_"):
                calls.append(name)
            return super().__getattribute__(name)

    make_trainer(Spy()).fit(TEXT, epochs=1, validation=TEXT)
    assert calls == [
        "on_fit_start",
        "on_epoch_start",
        "on_batch_start",
        "on_batch_end",
        "on_validation_end",
        "on_epoch_end",
        "on_fit_end",
    ]


def test_callbacks_are_importable_from_every_documented_place() -> None:
    import seqmodels
    import seqmodels.training as training
    from seqmodels.training import callbacks, checkpointing, hooks, schedules, stopping

    homes = {
        "Callback": hooks,
        "Checkpoint": checkpointing,
        "EarlyStopping": stopping,
        "LRScheduler": schedules,
        "ProgressBar": callbacks,
        "StopWhenReproduced": stopping,
    }
    assert sorted(homes) == sorted(callbacks.__all__)
    for name, home in homes.items():
        cls = getattr(home, name)
        assert getattr(callbacks, name) is cls
        assert getattr(training, name) is cls
        assert getattr(seqmodels, name) is cls
    assert callbacks.reproduces is stopping.reproduces
    assert callbacks.SCHEDULES is schedules.SCHEDULES
