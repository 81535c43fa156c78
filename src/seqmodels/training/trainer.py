"""Trainer: the training loop, with teacher forcing, free running and the
schedule between them, batches, validation, truncated backpropagation through
time, checkpoints that resume exactly, and ``torch.distributed``.

One epoch is a pass over the batches; each batch is one optimiser step, or,
with ``tbptt_steps=k``, one step per chunk of ``k`` time steps (the state
carried from chunk to chunk and detached between them). The steps themselves
are ``steps.py``'s; the device, threads, precision and seeding
``runtime.py``'s; the state a checkpoint holds ``state.py``'s.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from seqmodels.model import SequenceModel
from seqmodels.training import distributed, runtime, state
from seqmodels.training.callbacks import Callback, ProgressBar, StopWhenReproduced
from seqmodels.training.checkpoint import atomic_save
from seqmodels.training.data import (
    Batch,
    Batches,
    LoaderBatches,
    as_sequences,
    make_dataset,
    split_validation,
)
from seqmodels.training.history import History
from seqmodels.training.runtime import resolve_device
from seqmodels.training.steps import Stepper, evaluate_batches, perplexity

__all__ = ["Trainer", "as_sequences", "resolve_device"]

logger = logging.getLogger("seqmodels.training")


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
            often much faster, above all on a busy machine (docs: performance);
            ``fit`` warns (``ThreadsWarning``) when a model of under a million
            parameters trains on the CPU with several threads and this is
            ``None``.
        progress: ``"auto"`` shows a bar when tqdm is installed and standard
            error is a terminal (else INFO log lines); ``False`` for none.
        precision: ``"fp32"`` (default); ``"bf16"`` runs the forward pass under
            ``torch.autocast`` in bfloat16 (CUDA with bf16 support, or CPU);
            ``"fp16"`` in float16 with a gradient scaler (CUDA only). The
            weights stay in their own dtype.

    >>> from seqmodels import LSTMCell, OneHotEmbedding, SequenceModel
    >>> model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 8), vocab_size=3)
    >>> trainer = Trainer(model, lr=0.05, num_threads=1)
    >>> history = trainer.fit([0, 1, 2, 0, 1, 2], epochs=3)
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
        if isinstance(lr, bool) or not isinstance(lr, int | float):
            raise TypeError(f"Trainer: lr must be a number, got {type(lr).__name__}")
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"Trainer: lr must be a positive number, got {lr!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"Trainer: seed must be an int, got {type(seed).__name__}")
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
        runtime.check_precision(precision, self.device)
        self.model = model.to(self.device)
        self.optimizer = runtime.build_optimizer(optimizer, self.model.parameters(), lr)
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
        self._progress = state.Progress()

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
        return self._progress.step

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
        checkpoint = state.find_checkpoint(resume, callbacks, self.model)

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
        several = distributed.is_distributed()
        main = self.is_main_process
        interrupt = runtime.Interrupt()
        runtime.warn_threads(self.model, self.device, self.num_threads)
        with (
            runtime.threads(self.num_threads),
            runtime.seeded(self.seed, self.device),
            interrupt.watch(enabled=not several),
        ):
            self._generator = torch.Generator(device=self.device).manual_seed(self.seed)
            self._progress = state.Progress()
            self.model.train()
            self._dispatch("on_fit_start", self)
            if checkpoint is not None:
                self._progress, self.history = state.restore(
                    *checkpoint,
                    model=self.model,
                    optimizer=self.optimizer,
                    scaler=self.scaler,
                    callbacks=self._callbacks,
                    device=self.device,
                    generator=self._generator,
                )
            stepper = self._stepper(teacher_forcing, tbptt_steps, batches.fixed)
            progress = self._progress
            start = time.perf_counter() - progress.seconds
            while progress.epoch <= epochs and self._stop_reason is None:
                epoch = progress.epoch
                if progress.batch == 0:
                    self._dispatch("on_epoch_start", self, epoch)
                for batch in batches.epoch(epoch, skip=progress.batch):
                    self._train_batch(stepper, batch)
                    progress.batch += 1
                    if interrupt.requested:
                        progress.seconds = time.perf_counter() - start
                        self._interrupted()
                logs = self._epoch_logs(epoch, start, several)
                if val_batches is not None:
                    logs.update(self._evaluate(val_batches, prefix="val_"))
                    self._dispatch("on_validation_end", self, epoch, logs)
                progress.epoch, progress.batch = epoch + 1, 0
                progress.sums, progress.seconds = [0.0, 0.0, 0.0], logs["seconds"]
                self.history.records.append(logs)
                self._dispatch("on_epoch_end", self, epoch, logs)
                if main:
                    logger.debug("epoch %d | loss %.4f", epoch, logs["loss"])
            self.history.stop_reason = self._stop_reason or f"ran {epochs} epochs"
            self._dispatch("on_fit_end", self, self.history)
        if main:
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
        if isinstance(epochs, bool) or not isinstance(epochs, int):
            raise TypeError(
                f"Trainer: epochs must be an int, got {type(epochs).__name__}"
            )
        if epochs < 1:
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

    def _stepper(
        self, teacher_forcing: float, tbptt_steps: int | None, same_batch: bool
    ) -> Stepper:
        assert self._generator is not None
        return Stepper(
            self.model,
            self.optimizer,
            teacher_forcing=teacher_forcing,
            tbptt_steps=tbptt_steps,
            same_batch=same_batch,
            device=self.device,
            generator=self._generator,
            autocast=runtime.autocast(self.precision, self.device),
            scaler=self.scaler,
            clip_grad_norm=self.clip_grad_norm,
            clip_grad_value=self.clip_grad_value,
        )

    def _train_batch(self, stepper: Stepper, batch: Batch) -> None:
        """One batch: one optimiser step, or one per chunk of ``tbptt_steps``."""
        progress = self._progress
        for chunk in stepper.chunks(batch):
            progress.step += 1
            self._dispatch("on_batch_start", self, progress.step)
            loss, value, correct, tokens = stepper.forward(chunk)
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"Trainer: the loss became {value} at epoch {progress.epoch},"
                    f" step {progress.step}; the step was not applied and nothing"
                    " was saved. Lower the learning rate, set clip_grad_norm, or"
                    " check the data"
                )
            stepper.update(loss, chunk)

            sums = progress.sums
            sums[0] += value * tokens
            sums[1] += correct
            sums[2] += tokens
            logs = {"loss": value, "accuracy": correct / max(tokens, 1.0)}
            self._dispatch("on_batch_end", self, progress.step, logs)

    def _epoch_logs(self, epoch: int, start: float, several: bool) -> dict[str, float]:
        """The epoch's figures, summed over the processes when ``several``."""
        sums = self._progress.sums
        if several:
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
            "perplexity": perplexity(loss),
            "seconds": time.perf_counter() - start,
        }

    def _interrupted(self) -> None:
        """Ctrl-C: let callbacks save, then stop."""
        epoch, step = self._progress.epoch, self._progress.step
        self.history.stop_reason = f"interrupted at epoch {epoch}, step {step}"
        self._dispatch("on_interrupt", self)
        raise KeyboardInterrupt(
            f"Trainer: interrupted at epoch {epoch}, step {step};"
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

    def _evaluate(
        self, batches: Batches | LoaderBatches, *, prefix: str
    ) -> dict[str, float]:
        return evaluate_batches(
            self.model,
            batches,
            device=self.device,
            autocast=runtime.autocast(self.precision, self.device),
            prefix=prefix,
        )

    # -- checkpoints ---------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs, as tensors and plain data: weights,
        optimiser, scaler, callbacks' states (the schedule's among them), random
        states, the position in the data and the history so far."""
        return state.capture(
            model=self.model,
            optimizer=self.optimizer,
            scaler=self.scaler,
            callbacks=self._callbacks,
            progress=self._progress,
            history=self.history,
            seed=self.seed,
            device=self.device,
            generator=self._generator,
        )

    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Write ``state_dict()`` to ``path`` atomically; returns the path."""
        return atomic_save(self.state_dict(), path)
