"""Trainer: the training loop, with teacher forcing, free running and the
schedule between them, batches, validation, truncated backpropagation through
time, checkpoints that resume exactly, and ``torch.distributed``.

One epoch is a pass over the batches; each batch is one optimiser step, or,
with ``tbptt_steps=k``, one step per chunk of ``k`` time steps (the state
carried from chunk to chunk and detached between them).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from seqmodels.losses import sequence_cross_entropy
from seqmodels.model import SequenceModel
from seqmodels.protocols import State
from seqmodels.recurrent import map_state
from seqmodels.training import distributed
from seqmodels.training.callbacks import Callback, ProgressBar, StopWhenReproduced
from seqmodels.training.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    atomic_save,
    check_state_dict,
    load_checkpoint,
)
from seqmodels.training.data import (
    IGNORE_INDEX,
    Batch,
    Batches,
    LoaderBatches,
    as_sequences,
    make_dataset,
    split_validation,
)
from seqmodels.training.history import History

__all__ = ["Trainer", "as_sequences", "resolve_device"]

logger = logging.getLogger("seqmodels.training")

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(
    device: str | torch.device, *, name: str = "Trainer"
) -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU; other strings are
    checked, so that a typo or a missing GPU fails with a clear message."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(
            f"{name}: device must be a str or torch.device, got {type(device).__name__}"
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"{name}: unknown device {device!r}; expected 'auto', 'cpu', 'cuda',"
            " 'cuda:N' or 'mps'"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{name}: device {device!r} asked for, but CUDA is not available here;"
            " use 'auto' or 'cpu'"
        )
    return resolved


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Use ``count`` intra-op threads inside, and restore the old count after."""
    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Interrupt:
    """Turns the first Ctrl-C into a flag the loop checks after each step; a
    second Ctrl-C interrupts at once. Only in the main thread of a single
    process (elsewhere Ctrl-C raises ``KeyboardInterrupt`` as usual)."""

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def watch(self, enabled: bool) -> Iterator[_Interrupt]:
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: object) -> None:
            self.requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


class _Forward(nn.Module):
    """One chunk of training: logits for ``ids[:, :-1]`` ``[B, T, V]``, teacher
    forced or fed with the model's own predictions. A module, so that
    ``DistributedDataParallel`` can wrap the whole computation."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model: Any = model

    def forward(
        self,
        ids: Tensor,
        state: State | None,
        lengths: Tensor | None,
        teacher_forcing: float,
        generator: torch.Generator,
        carry: Tensor | None,
    ) -> tuple[Tensor, State, Tensor | None]:
        """``ids [B, T + 1]``; ``carry`` is the input of the first step when a
        previous chunk chose it. Returns logits, the state and the next carry."""
        if teacher_forcing == 1.0:
            args: tuple[Any, ...] = (ids[:, :-1],)
            if lengths is not None:
                args = (ids[:, :-1], state, lengths)
            elif state is not None:
                args = (ids[:, :-1], state)
            logits, state = self.model(*args)
            return logits, state, None

        # Free running or scheduled sampling: each step's input is the model's
        # own greedy prediction, or the true token with chance teacher_forcing.
        x = ids[:, 0] if carry is None else carry
        steps = []
        for t in range(ids.shape[1] - 1):
            logits, state = self.model.step(x, state)
            steps.append(logits)
            x = logits.detach().argmax(dim=-1)
            if teacher_forcing > 0.0:
                chance = torch.rand(x.shape, generator=generator, device=x.device)
                x = torch.where(chance < teacher_forcing, ids[:, t + 1], x)
        assert state is not None
        return torch.stack(steps, dim=1), state, x


class Trainer:
    """Trains a ``SequenceModel`` to predict each next token.

    Args:
        model: a ``SequenceModel`` (anything with ``forward(ids, state=None,
            lengths=None) -> (logits, state)``, ``step(ids, state)`` and
            ``parameters()``).
        optimizer: a ``torch.optim.Optimizer`` over the model's parameters, a
            name (``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``) or a
            function from parameters to an optimiser. Default ``"adam"``.
        lr: the learning rate, when the optimiser is built from a name.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"``; the model is moved there.
        seed: seeds everything random in ``fit`` (dropout, scheduled sampling,
            the data order). The global random state is restored afterwards.
        clip_grad_norm: if set, gradients are scaled to at most this norm.
        clip_grad_value: if set, each gradient is clamped to this magnitude.
        callbacks: ``Callback`` objects (``EarlyStopping``, ``Checkpoint``,
            ``LRScheduler``, ... or your own), called in order.
        num_threads: intra-op CPU threads during ``fit`` (restored after).
            ``None`` leaves torch's setting alone. For small models, 1 is
            often much faster, above all on a busy machine (docs: performance).
        progress: ``"auto"`` shows a bar when tqdm is installed and standard
            error is a terminal (else INFO log lines); ``False`` for none.
        precision: ``"fp32"`` (default); ``"bf16"`` runs the forward pass under
            ``torch.autocast`` in bfloat16 (CUDA with bf16 support, or CPU);
            ``"fp16"`` in float16 with a gradient scaler (CUDA only). The
            weights stay in their own dtype.

    >>> from seqmodels import LSTMCell, OneHotEmbedding, SequenceModel
    >>> model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 8), vocab_size=3)
    >>> history = Trainer(model, lr=0.05).fit([0, 1, 2, 0, 1, 2], epochs=3)
    >>> history.epochs, sorted(history.last)
    (3, ['accuracy', 'epoch', 'loss', 'perplexity', 'seconds'])
    """

    def __init__(
        self,
        model: SequenceModel,
        optimizer: torch.optim.Optimizer
        | str
        | Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] = "adam",
        *,
        lr: float = 1e-2,
        device: str | torch.device = "auto",
        seed: int = 0,
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
        callbacks: Sequence[Callback] = (),
        num_threads: int | None = None,
        progress: bool | str = "auto",
        precision: str = "fp32",
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"Trainer: expected a torch.nn.Module, got {type(model).__name__}"
            )
        if not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"Trainer: lr must be a positive number, got {lr!r}")
        for arg, clip in (
            ("clip_grad_norm", clip_grad_norm),
            ("clip_grad_value", clip_grad_value),
        ):
            if clip is not None and not clip > 0:
                raise ValueError(f"Trainer: {arg} must be positive or None, got {clip}")
        if num_threads is not None and (
            not isinstance(num_threads, int) or num_threads < 1
        ):
            raise ValueError(
                f"Trainer: num_threads must be a positive int or None,"
                f" got {num_threads!r}"
            )
        if progress not in (True, False, "auto"):
            raise ValueError(
                f"Trainer: progress must be True, False or 'auto', got {progress!r}"
            )
        self.device = resolve_device(device)
        self._check_precision(precision)
        self.model = model.to(self.device)
        self.optimizer = self._build_optimizer(optimizer, lr)
        self.seed = seed
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_value = clip_grad_value
        self.callbacks: list[Callback] = list(callbacks)
        if progress is not False:
            self.callbacks.append(ProgressBar())
        self.num_threads = num_threads
        self.precision = precision
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.epochs = 0
        self.data: Tensor | None = None
        self.history = History()
        self._stop_reason: str | None = None
        self._generator: torch.Generator | None = None
        self._callbacks: list[Callback] = []
        # Where training stands: the epoch in progress (from 1), batches done in
        # it, optimiser steps done, and the epoch's sums so far.
        self._epoch, self._batch, self._step = 1, 0, 0
        self._sums = [0.0, 0.0, 0.0]  # loss * tokens, correct, tokens
        self._seconds = 0.0

    def _check_precision(self, precision: str) -> None:
        if precision not in PRECISIONS:
            raise ValueError(
                f"Trainer: precision must be one of {sorted(PRECISIONS)},"
                f" got {precision!r}"
            )
        kind = self.device.type
        if precision == "fp16" and kind != "cuda":
            raise ValueError(
                f"Trainer: precision 'fp16' needs a CUDA device, got {kind!r};"
                " use 'bf16' on the CPU"
            )
        if (
            precision == "bf16"
            and kind == "cuda"
            and not torch.cuda.is_bf16_supported()
        ):
            raise ValueError(
                "Trainer: precision 'bf16' is not supported by this GPU; use 'fp16'"
            )
        if precision != "fp32" and kind not in ("cuda", "cpu"):
            raise ValueError(
                f"Trainer: mixed precision runs on 'cuda' or 'cpu', not {kind!r}"
            )

    def _build_optimizer(self, optimizer: Any, lr: float) -> torch.optim.Optimizer:
        params = self.model.parameters()
        if isinstance(optimizer, torch.optim.Optimizer):
            return optimizer
        if isinstance(optimizer, str):
            if optimizer.lower() not in OPTIMIZERS:
                raise ValueError(
                    f"Trainer: unknown optimizer {optimizer!r};"
                    f" expected one of {sorted(OPTIMIZERS)} or an Optimizer"
                )
            return OPTIMIZERS[optimizer.lower()](params, lr=lr)
        if callable(optimizer):
            built = optimizer(params)
            if isinstance(built, torch.optim.Optimizer):
                return built
        raise TypeError(
            "Trainer: optimizer must be a torch.optim.Optimizer, a name or a"
            f" function returning one, got {type(optimizer).__name__}"
        )

    # -- what callbacks use --------------------------------------------------

    @property
    def stop_reason(self) -> str | None:
        """Why a callback asked training to stop, or ``None``."""
        return self._stop_reason

    def stop(self, reason: str) -> None:
        """Ask training to end after the current epoch (for callbacks)."""
        self._stop_reason = reason

    @property
    def rank(self) -> int:
        """This process's rank under ``torch.distributed``, else 0."""
        return distributed.rank()

    @property
    def world_size(self) -> int:
        """The number of training processes (1 without ``torch.distributed``)."""
        return distributed.world_size()

    @property
    def is_main_process(self) -> bool:
        """Whether this process writes checkpoints and logs (rank 0)."""
        return self.rank == 0

    @property
    def global_step(self) -> int:
        """Optimiser steps done so far in this run (a resumed run included)."""
        return self._step

    # -- training ------------------------------------------------------------

    def fit(
        self,
        data: object,
        *,
        epochs: int = 100,
        teacher_forcing: float = 1.0,
        until_reproduced: bool = False,
        seq_len: int | None = None,
        stride: int | None = None,
        batch_size: int | None = None,
        shuffle: bool = True,
        pad_id: int = 0,
        validation: object = None,
        validation_split: float | None = None,
        tbptt_steps: int | None = None,
        resume: str | os.PathLike[str] | bool | None = None,
    ) -> History:
        """Train on token ids.

        Args:
            data: the training data, one of
                - ids of one sequence (a list of ints or a ``[T]`` tensor) or
                  of equally long sequences (``[B, T]``): the model learns to
                  predict ``data[:, 1:]`` from what comes before;
                - a list of sequences of different lengths (padded batches);
                - a ``torch.utils.data.Dataset`` whose items are sequences of
                  ids ``[L]`` (``TokenWindows``, ``SequenceDataset``, yours);
                - a ``DataLoader`` or other re-iterable of batches: ids
                  ``[B, L]``, ``(ids, lengths)`` or ``Batch``.
            epochs: the epoch to train up to (also when resuming).
            teacher_forcing: the chance that a step's input is the true previous
                token. ``1.0`` (default) is the usual next-token training, the
                whole sequence at once. ``0.0`` is free running, the course's
                one-to-many formulation: the model receives the first token
                once and each later input is its own previous greedy
                prediction. In between is scheduled sampling.
            until_reproduced: stop as soon as greedy generation from each
                sequence's first token reproduces the sequence
                (``StopWhenReproduced``; needs ids, not a dataset).
            seq_len: cut the ids into windows of ``seq_len`` inputs
                (``TokenWindows``), each starting ``stride`` after the last.
            stride: see ``seq_len``; default ``seq_len``.
            batch_size: items per batch (per process under torch.distributed).
                ``None``: all items in one batch, in order (one step an epoch).
            shuffle: draw a new order of the items each epoch, from the seed.
            pad_id: the id that pads shorter sequences in a batch.
            validation: data to measure ``val_loss``, ``val_accuracy`` and
                ``val_perplexity`` on after each epoch (any form ``data``
                takes; windows and batches as for ``data``).
            validation_split: hold out this fraction, in (0, 1), of the items
                (the last ones) for validation instead.
            tbptt_steps: truncated backpropagation through time: one optimiser
                step per chunk of this many time steps, the state carried over
                and detached between chunks.
            resume: a checkpoint file, a folder holding ``last.pt``, or
                ``True`` for the ``Checkpoint`` callback's ``last.pt`` if it
                exists: training continues exactly where it stopped.

        Returns:
            The ``History`` of this run (also ``trainer.history``); a resumed
            run's history includes the epochs before.

        Raises:
            FloatingPointError: the loss became NaN or infinite (the message
                names the epoch and step; the step's update is not applied).
            KeyboardInterrupt: Ctrl-C; training stops after the current batch
                and ``Checkpoint`` callbacks save a resumable ``last.pt``.
        """
        self._check_fit_args(epochs, teacher_forcing, tbptt_steps, validation_split)
        if validation is not None and validation_split is not None:
            raise ValueError(
                "Trainer: give validation data or a validation_split, not both"
            )
        callbacks = list(self.callbacks)
        if until_reproduced:
            callbacks.insert(0, StopWhenReproduced())
        callbacks.sort(key=lambda cb: getattr(cb, "order", 0))
        checkpoint = self._find_checkpoint(resume, callbacks)

        # The data, as batches per epoch.
        vocab_size = getattr(self.model, "vocab_size", None)
        train, self.data = make_dataset(data, "training", seq_len, stride, vocab_size)
        val: Dataset[Tensor] | Iterable[object] | None = None
        if validation is not None:
            val, _ = make_dataset(validation, "validation", seq_len, stride, vocab_size)
        if self.data is not None:
            self.data = self.data.to(self.device)
        if validation_split is not None:
            if not isinstance(train, Dataset):
                raise ValueError(
                    "Trainer: validation_split needs ids or a Dataset, not a"
                    " loader; give validation data instead"
                )
            train, val = split_validation(train, validation_split)
        batches = self._batches(train, batch_size, shuffle, pad_id)
        val_batches = (
            None if val is None else self._batches(val, batch_size, False, pad_id)
        )

        self.epochs = epochs
        self.history = History()
        self._stop_reason = None
        self._callbacks = callbacks
        devices = [self.device] if self.device.type == "cuda" else []
        interrupt = _Interrupt()
        with (
            _threads(self.num_threads),
            torch.random.fork_rng(devices=devices),
            interrupt.watch(enabled=not distributed.is_distributed()),
        ):
            torch.manual_seed(self.seed)
            self._generator = torch.Generator(device=self.device).manual_seed(self.seed)
            self._epoch, self._batch, self._step = 1, 0, 0
            self._sums, self._seconds = [0.0, 0.0, 0.0], 0.0
            self.model.train()
            self._dispatch("on_fit_start", self)
            if checkpoint is not None:
                self._restore(*checkpoint)
            forward = distributed.wrap(_Forward(self.model), self.device)
            start = time.perf_counter() - self._seconds
            while self._epoch <= epochs and self._stop_reason is None:
                epoch = self._epoch
                if self._batch == 0:
                    self._dispatch("on_epoch_start", self, epoch)
                for batch in batches.epoch(epoch, skip=self._batch):
                    self._train_batch(forward, batch, teacher_forcing, tbptt_steps)
                    self._batch += 1
                    if interrupt.requested:
                        self._seconds = time.perf_counter() - start
                        self._interrupted()
                logs = self._epoch_logs(epoch, start)
                if val_batches is not None:
                    logs.update(self._evaluate(val_batches, prefix="val_"))
                    self._dispatch("on_validation_end", self, epoch, logs)
                self._epoch, self._batch = epoch + 1, 0
                self._sums, self._seconds = [0.0, 0.0, 0.0], logs["seconds"]
                self.history.records.append(logs)
                self._dispatch("on_epoch_end", self, epoch, logs)
                if self.is_main_process:
                    logger.debug("epoch %d | loss %.4f", epoch, logs["loss"])
            self.history.stop_reason = self._stop_reason or f"ran {epochs} epochs"
            self._dispatch("on_fit_end", self, self.history)
        if self.is_main_process:
            logger.info(
                "trained %d epochs in %.2f s: %s",
                self.history.epochs,
                self.history.seconds,
                self.history.stop_reason,
            )
        return self.history

    def _check_fit_args(
        self,
        epochs: object,
        teacher_forcing: object,
        tbptt_steps: object,
        validation_split: object,
    ) -> None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"Trainer: epochs must be a positive int, got {epochs!r}")
        if not (
            isinstance(teacher_forcing, int | float) and 0.0 <= teacher_forcing <= 1.0
        ):
            raise ValueError(
                f"Trainer: teacher_forcing must be in [0, 1], got {teacher_forcing!r}"
            )
        if tbptt_steps is not None and (
            isinstance(tbptt_steps, bool)
            or not isinstance(tbptt_steps, int)
            or tbptt_steps < 1
        ):
            raise ValueError(
                f"Trainer: tbptt_steps must be a positive int or None,"
                f" got {tbptt_steps!r}"
            )
        if validation_split is not None and not (
            isinstance(validation_split, int | float)
            and not isinstance(validation_split, bool)
            and 0.0 < validation_split < 1.0
        ):
            raise ValueError(
                "Trainer: validation_split must be in (0, 1) (the fraction held"
                f" out), got {validation_split!r}"
            )

    def _batches(
        self,
        data: Dataset[Tensor] | Iterable[object],
        batch_size: int | None,
        shuffle: bool,
        pad_id: int,
    ) -> Batches | LoaderBatches:
        if not isinstance(data, Dataset):
            return LoaderBatches(data)
        if batch_size is not None and (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, int)
            or batch_size < 1
        ):
            raise ValueError(
                "Trainer: batch_size must be a positive int or None,"
                f" got {batch_size!r}"
            )
        return Batches(
            data,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=self.seed,
            pad_id=pad_id,
            rank=self.rank,
            world_size=self.world_size,
        )

    def _train_batch(
        self,
        forward: nn.Module,
        batch: Batch,
        teacher_forcing: float,
        tbptt_steps: int | None,
    ) -> None:
        """One batch: one optimiser step, or one per chunk of ``tbptt_steps``."""
        ids = batch.ids.to(self.device, non_blocking=True)
        _, targets, lengths = Batch(ids, batch.lengths).inputs_and_targets()
        steps = targets.shape[1]
        chunk = tbptt_steps or steps
        state: State | None = None
        carry: Tensor | None = None
        assert self._generator is not None
        for start in range(0, steps, chunk):
            end = min(start + chunk, steps)
            self._step += 1
            self._dispatch("on_batch_start", self, self._step)

            # Forward (under autocast for mixed precision) and the loss.
            chunk_lengths = None
            if lengths is not None:
                chunk_lengths = (lengths - start).clamp(1, end - start)
            with self._autocast():
                logits, state, carry = forward(
                    ids[:, start : end + 1],
                    state,
                    chunk_lengths,
                    teacher_forcing,
                    self._generator,
                    carry,
                )
            chunk_targets = targets[:, start:end]
            loss = sequence_cross_entropy(_widen(logits), chunk_targets)
            counted = chunk_targets != IGNORE_INDEX
            hits = ((logits.detach().argmax(dim=-1) == chunk_targets) & counted).sum()
            value, correct, tokens = torch.stack(
                [loss.detach(), hits.to(loss.dtype), counted.sum().to(loss.dtype)]
            ).tolist()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"Trainer: the loss became {value} at epoch {self._epoch},"
                    f" step {self._step}; the step was not applied and nothing was"
                    " saved. Lower the learning rate, set clip_grad_norm, or check"
                    " the data"
                )

            # Backward and the update.
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
                self.scaler.unscale_(self.optimizer)
            else:
                loss.backward()  # type: ignore[no-untyped-call]
            self._clip()
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            if end < steps:
                state = map_state(Tensor.detach, state)

            self._sums[0] += value * tokens
            self._sums[1] += correct
            self._sums[2] += tokens
            logs = {"loss": value, "accuracy": correct / max(tokens, 1.0)}
            self._dispatch("on_batch_end", self, self._step, logs)

    def _clip(self) -> None:
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        if self.clip_grad_value is not None:
            nn.utils.clip_grad_value_(self.model.parameters(), self.clip_grad_value)

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        dtype = PRECISIONS[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def _epoch_logs(self, epoch: int, start: float) -> dict[str, float]:
        """The epoch's figures, summed over the processes."""
        sums = self._sums
        if distributed.is_distributed():
            summed = distributed.all_reduce_sum(
                torch.tensor(sums, dtype=torch.float64, device=self.device)
            )
            sums = summed.tolist()
        if sums[2] == 0:
            raise ValueError(
                f"Trainer: epoch {epoch} had no batches; the training data is empty"
            )
        loss = sums[0] / sums[2]
        return {
            "epoch": epoch,
            "loss": loss,
            "accuracy": sums[1] / sums[2],
            "perplexity": _perplexity(loss),
            "seconds": time.perf_counter() - start,
        }

    def _interrupted(self) -> None:
        """Ctrl-C: let callbacks save, then stop."""
        self.history.stop_reason = (
            f"interrupted at epoch {self._epoch}, step {self._step}"
        )
        self._dispatch("on_interrupt", self)
        raise KeyboardInterrupt(
            f"Trainer: interrupted at epoch {self._epoch}, step {self._step};"
            " resume with fit(..., resume=...) from a Checkpoint"
        )

    def _dispatch(self, hook: str, *args: Any) -> None:
        for cb in self._callbacks:
            method = getattr(cb, hook, None)
            if method is not None:
                method(*args)

    # -- validation ----------------------------------------------------------

    def evaluate(
        self,
        data: object,
        *,
        seq_len: int | None = None,
        stride: int | None = None,
        batch_size: int | None = None,
        pad_id: int = 0,
    ) -> dict[str, float]:
        """``loss``, ``accuracy`` and ``perplexity`` of the model on ``data``
        (any form ``fit`` takes), teacher forced, without gradients.

        >>> from seqmodels import GRUCell, OneHotEmbedding, SequenceModel
        >>> model = SequenceModel(OneHotEmbedding(3), GRUCell(3, 4), vocab_size=3)
        >>> sorted(Trainer(model, progress=False).evaluate([0, 1, 2, 1]))
        ['accuracy', 'loss', 'perplexity']
        """
        vocab_size = getattr(self.model, "vocab_size", None)
        items, _ = make_dataset(data, "evaluation", seq_len, stride, vocab_size)
        batches = self._batches(items, batch_size, False, pad_id)
        return self._evaluate(batches, prefix="")

    @torch.no_grad()
    def _evaluate(
        self, batches: Batches | LoaderBatches, *, prefix: str
    ) -> dict[str, float]:
        was_training = self.model.training
        self.model.eval()
        total, correct, tokens = 0.0, 0.0, 0.0
        try:
            for batch in batches.epoch(1):
                ids = batch.ids.to(self.device)
                inputs, targets, lengths = Batch(
                    ids, batch.lengths
                ).inputs_and_targets()
                with self._autocast():
                    logits, _ = (
                        self.model(inputs)
                        if lengths is None
                        else self.model(inputs, None, lengths)
                    )
                loss = sequence_cross_entropy(_widen(logits), targets)
                counted = targets != IGNORE_INDEX
                n = float(counted.sum())
                total += float(loss) * n
                correct += float(((logits.argmax(dim=-1) == targets) & counted).sum())
                tokens += n
        finally:
            self.model.train(was_training)
        if tokens == 0:
            raise ValueError("Trainer: the validation data is empty")
        loss_value = total / tokens
        return {
            f"{prefix}loss": loss_value,
            f"{prefix}accuracy": correct / tokens,
            f"{prefix}perplexity": _perplexity(loss_value),
        }

    # -- checkpoints ---------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, as tensors and plain data: weights,
        optimiser, scaler, callbacks' states (the schedule's among them), random
        states, the position in the data and the history so far."""
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        if self._generator is not None:
            rng["generator"] = self._generator.get_state()
        states = {}
        for key, cb in self._keyed_callbacks():
            states[key] = cb.state_dict()  # type: ignore[attr-defined]
        return {
            "format": FORMAT,
            "version": VERSION,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "epoch": self._epoch,
            "batch": self._batch,
            "step": self._step,
            "sums": list(self._sums),
            "seconds": self._seconds,
            "seed": self.seed,
            "rng": rng,
            "history": self.history.to_dict(),
            "callbacks": states,
        }

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Write ``state_dict()`` to ``path`` atomically; returns the path."""
        return atomic_save(self.state_dict(), path)

    def _keyed_callbacks(self) -> Iterator[tuple[str, Callback]]:
        """Callbacks with state, under keys stable from run to run."""
        seen: dict[str, int] = {}
        for cb in self._callbacks:
            if hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict"):
                name = type(cb).__name__
                seen[name] = seen.get(name, 0) + 1
                yield f"{name}.{seen[name]}", cb

    def _find_checkpoint(
        self, resume: object, callbacks: list[Callback]
    ) -> tuple[dict[str, Any], str] | None:
        """The checkpoint to resume from, read and checked against the model."""
        if resume is None or resume is False:
            return None
        if resume is True:
            from seqmodels.training.callbacks import Checkpoint

            found = [cb for cb in callbacks if isinstance(cb, Checkpoint)]
            if not found:
                raise ValueError(
                    "Trainer: resume=True needs a Checkpoint callback; give the"
                    " checkpoint's path instead"
                )
            path = found[0].last_path
            if not path.is_file():
                logger.info("no checkpoint at %s; training from the start", path)
                return None
        elif isinstance(resume, str | os.PathLike):
            path = Path(resume)
            if path.is_dir():
                path = path / "last.pt"
        else:
            raise TypeError(
                "Trainer: resume must be a path, True or None,"
                f" got {type(resume).__name__}"
            )
        data = load_checkpoint(path)
        check_state_dict(self.model, data.get("model", {}), str(path), "Trainer")
        return data, str(path)

    def _restore(self, data: dict[str, Any], source: str) -> None:
        """Put the training state of a checkpoint back (inside ``fit``)."""
        self.model.load_state_dict(data["model"])
        try:
            self.optimizer.load_state_dict(data["optimizer"])
        except (ValueError, KeyError, RuntimeError) as error:
            raise CheckpointError(
                f"Trainer: the optimiser state in {source} does not fit this"
                f" optimiser ({error})"
            ) from None
        if self.scaler is not None and data.get("scaler"):
            self.scaler.load_state_dict(data["scaler"])
        states = data.get("callbacks", {})
        for key, cb in self._keyed_callbacks():
            if key in states:
                cb.load_state_dict(states[key])  # type: ignore[attr-defined]
            else:
                logger.warning("checkpoint %s holds no state for %s", source, key)
        rng = data["rng"]
        torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        if "generator" in rng and self._generator is not None:
            self._generator.set_state(rng["generator"])
        self._epoch, self._batch = int(data["epoch"]), int(data["batch"])
        self._step, self._seconds = int(data["step"]), float(data["seconds"])
        self._sums = [float(s) for s in data["sums"]]
        self.history = History.from_dict(data["history"])
        self.history.stop_reason = None
        logger.info(
            "resumed from %s at epoch %d, batch %d", source, self._epoch, self._batch
        )


def _widen(logits: Tensor) -> Tensor:
    """Half-precision logits (from autocast) in float32 for the loss."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        return logits.float()
    return logits


def _perplexity(loss: float) -> float:
    """``exp(loss)``, infinite when it overflows."""
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf
