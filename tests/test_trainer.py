"""Trainer: equal to hand-written loops (full batch, free running, shuffled
windows, padding, TBPTT), exact resume, interrupts, bad input."""

from __future__ import annotations

import copy
import math
import signal
import warnings

import pytest
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from seqmodels import GRUCell, LSTMCell, OneHotEmbedding, RNNCell, SequenceModel
from seqmodels.losses import sequence_cross_entropy
from seqmodels.training import (
    Callback,
    Checkpoint,
    CheckpointError,
    EarlyStopping,
    LRScheduler,
    SequenceDataset,
    ThreadsWarning,
    TokenWindows,
    Trainer,
    pad_batch,
)

V = 7
TEXT = [0, 1, 2, 3, 1, 4, 5, 6, 2, 0, 3, 5, 1, 6, 4, 2, 0, 5, 3, 6, 1]


def make_model(cell: str = "lstm", hidden: int = 6, seed: int = 0) -> SequenceModel:
    generator = torch.Generator().manual_seed(seed)
    cells = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
    return SequenceModel(
        OneHotEmbedding(V),
        cells[cell](V, hidden, generator=generator),
        V,
        generator=generator,
    ).double()


def trainer(model: SequenceModel, **options: object) -> Trainer:
    options.setdefault("progress", False)
    options.setdefault("device", "cpu")
    options.setdefault("num_threads", 1)  # tiny models: one thread is fastest
    return Trainer(model, **options)  # type: ignore[arg-type]


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def close_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Equal up to float64 rounding (the oracle sums in another order)."""
    for (name, x), y in zip(
        a.state_dict().items(), b.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-10, msg=name)


class Grads(Callback):
    """Records the gradients of every optimiser step."""

    def __init__(self) -> None:
        self.grads: list[list[torch.Tensor]] = []

    def on_batch_end(self, trainer, step, logs):  # type: ignore[no-untyped-def]
        self.grads.append([p.grad.clone() for p in trainer.model.parameters()])


# -- the 0.1 behaviour ---------------------------------------------------------


def test_full_batch_equals_a_hand_loop() -> None:
    model, hand = make_model(), make_model()
    history = trainer(model, lr=0.05).fit(TEXT, epochs=3)

    optimizer = torch.optim.Adam(hand.parameters(), lr=0.05)
    ids = torch.tensor([TEXT])
    losses = []
    for _ in range(3):
        logits, _ = hand(ids[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    close_weights(model, hand)
    assert history["loss"] == pytest.approx(losses, rel=1e-12)
    assert history["perplexity"] == pytest.approx([math.exp(x) for x in losses])
    assert history["epoch"] == [1, 2, 3]


def test_free_running_equals_a_hand_loop() -> None:
    model, hand = make_model("gru"), make_model("gru")
    trainer(model, lr=0.05, optimizer="sgd").fit(TEXT, epochs=2, teacher_forcing=0.0)

    optimizer = torch.optim.SGD(hand.parameters(), lr=0.05)
    ids = torch.tensor([TEXT])
    for _ in range(2):
        x, state, steps = ids[:, 0], None, []
        for _ in range(1, ids.shape[1]):
            logits, state = hand.step(x, state)
            steps.append(logits)
            x = logits.detach().argmax(-1)
        loss = sequence_cross_entropy(torch.stack(steps, 1), ids[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert same_weights(model, hand)


def test_until_reproduced_stops_when_the_text_comes_back() -> None:
    history = trainer(make_model(hidden=16), lr=0.05).fit(
        TEXT, epochs=300, until_reproduced=True
    )
    assert history.epochs < 300
    assert history.last["reproduced"] == 1.0
    assert "reproduced" in str(history.stop_reason)


def test_num_threads_is_restored() -> None:
    before = torch.get_num_threads()
    seen = []

    class Threads(Callback):
        def on_epoch_end(self, trainer, epoch, logs):  # type: ignore[no-untyped-def]
            seen.append(torch.get_num_threads())

    trainer(make_model(), num_threads=1, callbacks=[Threads()]).fit(TEXT, epochs=1)
    assert seen == [1]
    assert torch.get_num_threads() == before


def test_global_random_state_is_left_alone() -> None:
    run = trainer(make_model())
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    run.fit(TEXT, epochs=2, teacher_forcing=0.5)
    assert torch.equal(torch.rand(3), expected)


def test_until_reproduced_stops_at_the_epoch_a_hand_loop_stops() -> None:
    # The exact check: after each update, greedy generation from the first
    # token, in evaluation mode, compared with the text step by step.
    model, hand = make_model(hidden=16), make_model(hidden=16)
    history = trainer(model, lr=0.05).fit(TEXT, epochs=300, until_reproduced=True)

    optimizer = torch.optim.Adam(hand.parameters(), lr=0.05)
    ids, stopped = torch.tensor([TEXT]), 0
    for epoch in range(1, 301):
        logits, _ = hand(ids[:, :-1])
        loss = sequence_cross_entropy(logits, ids[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            x, state, generated = ids[:, 0], None, [TEXT[0]]
            for _ in range(1, len(TEXT)):
                step_logits, state = hand.step(x, state)
                x = step_logits.argmax(-1)
                generated.append(int(x))
        if generated == TEXT:
            stopped = epoch
            break
    assert history.epochs == stopped > 1
    close_weights(model, hand)


def test_an_optimizer_with_its_own_zero_grad_is_asked_every_step() -> None:
    calls = []

    class Counting(torch.optim.SGD):
        def zero_grad(self, set_to_none: bool = True) -> None:
            calls.append(set_to_none)
            super().zero_grad(set_to_none=set_to_none)

    model = make_model()
    run = trainer(model, optimizer=lambda params: Counting(params, lr=0.1))
    run.fit(TEXT, epochs=3, tbptt_steps=8)
    assert calls == [True] * run.global_step == [True] * 9


def test_the_kept_whole_batch_trains_as_a_fresh_batch_each_epoch() -> None:
    # ids: one Batch kept for the whole fit; a loader: a new Batch each epoch.
    ids = [TEXT[:11], TEXT[10:21]]
    a, b = make_model(), make_model()
    first = trainer(a, lr=0.05).fit(ids, epochs=3, tbptt_steps=4, teacher_forcing=0.5)
    loader = DataLoader(SequenceDataset(ids), batch_size=2, collate_fn=pad_batch)
    second = trainer(b, lr=0.05).fit(
        loader, epochs=3, tbptt_steps=4, teacher_forcing=0.5
    )
    assert same_weights(a, b)
    assert first["loss"] == second["loss"]
    assert first["accuracy"] == second["accuracy"]


# -- windows, batches, padding, validation -------------------------------------


def test_shuffled_windows_equal_a_hand_loop_over_the_same_order() -> None:
    model, hand = make_model(), make_model()
    trainer(model, seed=5, lr=0.02).fit(TEXT, epochs=2, seq_len=4, batch_size=2)

    # Independent oracle: the order is randperm(n) drawn from seed + epoch.
    windows = torch.tensor([TEXT[i : i + 5] for i in range(0, len(TEXT) - 4, 4)])
    optimizer = torch.optim.Adam(hand.parameters(), lr=0.02)
    for epoch in (1, 2):
        order = torch.randperm(
            len(windows), generator=torch.Generator().manual_seed(5 + epoch)
        )
        for start in range(0, len(order), 2):
            batch = windows[order[start : start + 2]]
            logits, _ = hand(batch[:, :-1])
            loss = sequence_cross_entropy(logits, batch[:, 1:])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    assert same_weights(model, hand)


def test_padded_batches_learn_as_if_each_sequence_ran_alone() -> None:
    sequences = [[0, 1, 2, 3, 4, 5], [6, 5], [3, 2, 1, 0]]
    model = make_model()
    reference = copy.deepcopy(model)
    history = trainer(model, optimizer="sgd").fit(sequences, epochs=1)

    # The epoch's loss (measured before the step) is the token-weighted mean of
    # the sequences' losses, each run alone without padding.
    total, tokens = 0.0, 0
    for seq in sequences:
        ids = torch.tensor([seq])
        logits, _ = reference(ids[:, :-1])
        total += F.cross_entropy(logits[0], ids[0, 1:], reduction="sum").item()
        tokens += len(seq) - 1
    assert history.last["loss"] == pytest.approx(total / tokens, rel=1e-12)


def test_validation_figures_equal_evaluate_and_a_hand_computation() -> None:
    model = make_model()
    val = [[1, 2, 3, 4], [5, 6, 0]]
    run = trainer(model)
    history = run.fit(TEXT, epochs=1, validation=val)
    figures = run.evaluate(val)
    assert history.last["val_loss"] == pytest.approx(figures["loss"], rel=1e-12)

    total = 0.0
    with torch.no_grad():
        for seq in val:
            ids = torch.tensor([seq])
            logits, _ = model(ids[:, :-1])
            total += F.cross_entropy(logits[0], ids[0, 1:], reduction="sum").item()
    assert figures["loss"] == pytest.approx(total / 5, rel=1e-12)
    assert history.last["val_perplexity"] == pytest.approx(math.exp(figures["loss"]))


def test_validation_split_holds_out_the_last_windows() -> None:
    history = trainer(make_model()).fit(
        TEXT, epochs=2, seq_len=2, batch_size=3, validation_split=0.2
    )
    assert {"val_loss", "val_accuracy", "val_perplexity"} <= set(history.last)


def test_a_dataloader_is_accepted_and_equals_the_dataset_path() -> None:
    windows = TokenWindows(TEXT, seq_len=3)
    a, b = make_model(), make_model()
    trainer(a).fit(windows, epochs=2, batch_size=2, shuffle=False)
    loader = DataLoader(windows, batch_size=2, shuffle=False, collate_fn=pad_batch)
    trainer(b).fit(loader, epochs=2)
    assert same_weights(a, b)


# -- truncated backpropagation through time ------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_tbptt_equals_a_hand_written_loop(cell: str) -> None:
    model, hand = make_model(cell), make_model(cell)
    grads = Grads()
    trainer(model, optimizer="sgd", lr=0.1, callbacks=[grads]).fit(
        TEXT, epochs=2, tbptt_steps=6
    )

    ids = torch.tensor([TEXT])
    optimizer = torch.optim.SGD(hand.parameters(), lr=0.1)
    expected = []
    for _ in range(2):
        state = None
        for start in range(0, ids.shape[1] - 1, 6):
            chunk = ids[:, start : start + 7]
            logits, state = hand(chunk[:, :-1], state)
            loss = sequence_cross_entropy(logits, chunk[:, 1:])
            optimizer.zero_grad()
            loss.backward()  # a second backward through an old graph would fail
            expected.append([p.grad.clone() for p in hand.parameters()])
            optimizer.step()
            state = (
                tuple(s.detach() for s in state) if cell == "lstm" else state.detach()
            )
    assert len(grads.grads) == len(expected) == 8
    for got, want in zip(grads.grads, expected, strict=True):
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, rtol=0, atol=1e-12)
    assert same_weights(model, hand)


def test_tbptt_longer_than_the_text_is_plain_training() -> None:
    a, b = make_model(), make_model()
    trainer(a).fit(TEXT, epochs=2, teacher_forcing=0.5)
    trainer(b).fit(TEXT, epochs=2, teacher_forcing=0.5, tbptt_steps=100)
    assert same_weights(a, b)


def test_tbptt_with_scheduled_sampling_and_padding_runs_every_chunk() -> None:
    grads = Grads()
    sequences = [TEXT, TEXT[:9], TEXT[3:15]]
    history = trainer(make_model(), callbacks=[grads]).fit(
        sequences, epochs=2, teacher_forcing=0.5, tbptt_steps=4
    )
    # One padded batch a epoch, 20 steps long: ceil(20 / 4) = 5 chunks.
    assert len(grads.grads) == 2 * 5
    assert all(math.isfinite(x) for x in history["loss"])


# -- clipping and precision ----------------------------------------------------


def test_clip_grad_value_clamps_every_gradient() -> None:
    grads = Grads()
    trainer(make_model(), clip_grad_value=1e-3, callbacks=[grads]).fit(TEXT, epochs=2)
    assert max(float(g.abs().max()) for step in grads.grads for g in step) <= 1e-3


def test_bf16_autocast_on_cpu_trains_and_keeps_float32_weights() -> None:
    generator = torch.Generator().manual_seed(0)
    model = SequenceModel(OneHotEmbedding(V), LSTMCell(V, 16, generator=generator), V)
    history = trainer(model, precision="bf16", lr=0.05).fit(TEXT, epochs=30)
    assert history["loss"][-1] < history["loss"][0] - 0.5
    assert all(p.dtype == torch.float32 for p in model.parameters())


# -- resume and interrupts -----------------------------------------------------


def resumable_trainer(model: SequenceModel, folder: object) -> Trainer:
    return trainer(
        model,
        seed=3,
        lr=0.03,
        callbacks=[
            LRScheduler("step", step_size=1, gamma=0.7),
            EarlyStopping("val_loss", patience=100),
            Checkpoint(folder),  # type: ignore[arg-type]
        ],
    )


FIT = {
    "seq_len": 3,
    "batch_size": 2,
    "teacher_forcing": 0.5,
    "validation_split": 0.25,
}


def test_two_epochs_and_two_more_after_resume_equal_four(tmp_path) -> None:  # type: ignore[no-untyped-def]
    straight = make_model()
    full = resumable_trainer(straight, tmp_path / "a").fit(TEXT, epochs=4, **FIT)

    first = make_model()
    resumable_trainer(first, tmp_path / "b").fit(TEXT, epochs=2, **FIT)
    resumed = make_model(seed=99)  # other weights: all come from the checkpoint
    history = resumable_trainer(resumed, tmp_path / "b").fit(
        TEXT, epochs=4, resume=True, **FIT
    )
    assert same_weights(straight, resumed)
    assert history["loss"] == full["loss"]
    assert history["lr"] == full["lr"]
    assert history["epoch"] == [1, 2, 3, 4]


def test_ctrl_c_stops_after_the_step_and_resumes_exactly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    class CtrlC(Callback):
        def on_batch_end(self, trainer, step, logs):  # type: ignore[no-untyped-def]
            if step == 3:  # the first of epoch 2's two batches
                signal.raise_signal(signal.SIGINT)

    straight = make_model()
    resumable_trainer(straight, tmp_path / "a").fit(TEXT, epochs=3, **FIT)

    model = make_model()
    run = resumable_trainer(model, tmp_path / "b")
    run.callbacks.append(CtrlC())
    with pytest.raises(KeyboardInterrupt, match="interrupted at epoch 2, step 3"):
        run.fit(TEXT, epochs=3, **FIT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    resumed = make_model(seed=7)
    resumable_trainer(resumed, tmp_path / "b").fit(TEXT, epochs=3, resume=True, **FIT)
    assert same_weights(straight, resumed)


def test_non_finite_loss_names_epoch_and_step_and_saves_nothing_broken(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    class Poison(Callback):
        def on_epoch_start(self, trainer, epoch):  # type: ignore[no-untyped-def]
            if epoch == 2:
                with torch.no_grad():
                    trainer.model.head.bias.fill_(math.inf)

    run = trainer(make_model(), callbacks=[Poison(), Checkpoint(tmp_path)])
    with pytest.raises(FloatingPointError, match=r"at epoch 2, step 2;"):
        run.fit(TEXT, epochs=3)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["epoch"] == 2 and saved["batch"] == 0
    assert all(torch.isfinite(t).all() for t in saved["model"].values())


# -- bad input -----------------------------------------------------------------


class Empty(Dataset[torch.Tensor]):
    def __len__(self) -> int:
        return 0

    def __getitem__(self, index: int) -> torch.Tensor:
        raise IndexError(index)


@pytest.mark.parametrize(
    ("data", "options", "error", "match"),
    [
        (TEXT, {"seq_len": 30}, ValueError, "seq_len 30 needs at least 31 ids"),
        ([], {}, ValueError, "the data is empty"),
        (Empty(), {}, ValueError, "training dataset is empty"),
        (
            TEXT,
            {"validation_split": 0.0},
            ValueError,
            r"validation_split must be in \(0, 1\)",
        ),
        (TEXT, {"validation_split": 1.0}, ValueError, r"in \(0, 1\)"),
        (TEXT, {"validation_split": -0.5}, ValueError, r"in \(0, 1\)"),
        (TEXT, {"tbptt_steps": 0}, ValueError, "tbptt_steps must be a positive int"),
        (TEXT, {"epochs": 0}, ValueError, "epochs must be a positive int"),
        (
            TEXT,
            {"teacher_forcing": 1.5},
            ValueError,
            r"teacher_forcing must be in \[0, 1\]",
        ),
        (TEXT, {"batch_size": 0}, ValueError, "batch_size must be a positive int"),
        ([0.5, 1.5], {}, TypeError, "expected integer token ids"),
        ([0, 1, 99], {}, ValueError, "data has id 99 but the model scores only 7"),
        (
            TEXT,
            {"validation": TEXT, "validation_split": 0.5},
            ValueError,
            "not both",
        ),
        (
            SequenceDataset([TEXT]),
            {"until_reproduced": True},
            ValueError,
            "no sequences",
        ),
    ],
)
def test_bad_fit_arguments_raise_clear_errors(
    data: object, options: dict[str, object], error: type[Exception], match: str
) -> None:
    options.setdefault("epochs", 1)
    with pytest.raises(error, match=match):
        trainer(make_model()).fit(data, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"lr": "0.1"}, "lr must be a number, got str"),
        ({"seed": "1"}, "seed must be an int, got str"),
        ({"seed": 1.5}, "seed must be an int, got float"),
    ],
)
def test_constructor_arguments_of_the_wrong_kind(
    options: dict[str, object], match: str
) -> None:
    model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
    with pytest.raises(TypeError, match=f"Trainer: {match}"):
        trainer(model, **options)


def test_epochs_of_the_wrong_kind() -> None:
    model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
    with pytest.raises(TypeError, match="Trainer: epochs must be an int, got float"):
        trainer(model).fit([0, 1, 2], epochs=1.5)  # type: ignore[arg-type]


def test_fp16_on_the_cpu_is_refused() -> None:
    with pytest.raises(ValueError, match="precision 'fp16' needs a CUDA device"):
        trainer(make_model(), precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        trainer(make_model(), precision="fp8")


def test_resume_from_another_model_shape_names_the_parameter(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trainer(make_model(hidden=6), callbacks=[Checkpoint(tmp_path)]).fit(TEXT, epochs=1)
    with pytest.raises(
        CheckpointError, match=r"parameter 'recurrent\.cell\.weight_ih' has shape"
    ):
        trainer(make_model(hidden=5)).fit(TEXT, epochs=2, resume=tmp_path)


def test_resume_from_a_corrupt_or_missing_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    trainer(make_model(), callbacks=[Checkpoint(tmp_path)]).fit(TEXT, epochs=1)
    path = tmp_path / "last.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        trainer(make_model()).fit(TEXT, epochs=2, resume=path)
    with pytest.raises(FileNotFoundError, match="no file at"):
        trainer(make_model()).fit(TEXT, epochs=2, resume=tmp_path / "none.pt")
    with pytest.raises(ValueError, match="resume=True needs a Checkpoint callback"):
        trainer(make_model()).fit(TEXT, epochs=2, resume=True)


def test_a_small_model_on_several_threads_gets_a_warning_and_no_change() -> None:
    model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        plain = Trainer(model, device="cpu", progress=False)
        with pytest.warns(ThreadsWarning, match=r"pass num_threads=1 \(or"):
            plain.fit([0, 1, 2], epochs=1)
        assert torch.get_num_threads() == 2  # warned, changed nothing
        chosen = Trainer(model, device="cpu", progress=False, num_threads=2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            chosen.fit([0, 1, 2], epochs=1)  # a choice made: no warning
    finally:
        torch.set_num_threads(before)
