"""Trainer: the training loop, with teacher forcing, free running and the
schedule between them."""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from seqmodels.losses import sequence_accuracy, sequence_cross_entropy
from seqmodels.model import SequenceModel
from seqmodels.training.callbacks import Callback, ProgressBar, StopWhenReproduced
from seqmodels.training.history import History

__all__ = ["Trainer", "resolve_device"]

logger = logging.getLogger("seqmodels.training")

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}


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


def as_sequences(data: object, *, name: str = "Trainer") -> Tensor:
    """Token ids as a ``[B, T]`` integer tensor: from a list of ids (one
    sequence), a list of equally long lists, or a tensor ``[T]`` or ``[B, T]``."""
    if isinstance(data, Tensor):
        tensor = data
    else:
        try:
            tensor = torch.as_tensor(data)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"{name}: expected token ids (a list of ints, a list of equally"
                f" long lists, or a tensor), got {type(data).__name__}: {error}"
            ) from None
    if tensor.is_floating_point() or tensor.dtype == torch.bool:
        raise TypeError(f"{name}: expected integer token ids, got dtype {tensor.dtype}")
    if tensor.dim() == 1:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 2:
        raise ValueError(
            f"{name}: expected ids of shape [T] or [B, T], got {list(tensor.shape)}"
        )
    if tensor.shape[0] == 0 or tensor.shape[1] < 2:
        raise ValueError(
            f"{name}: need at least one sequence of 2 or more tokens to learn a next"
            f" token, got shape {list(tensor.shape)}"
        )
    return tensor.long()


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


class Trainer:
    """Trains a ``SequenceModel`` to predict each next token.

    Args:
        model: a ``SequenceModel`` (anything with ``forward(ids) -> (logits,
            state)``, ``step(ids, state)`` and ``parameters()``).
        optimizer: a ``torch.optim.Optimizer`` over the model's parameters, a
            name (``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``) or a
            function from parameters to an optimiser. Default ``"adam"``.
        lr: the learning rate, when the optimiser is built from a name.
        device: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``,
            ``"cuda"``, ``"cuda:N"``; the model is moved there.
        seed: seeds everything random in ``fit`` (dropout, scheduled
            sampling). The global random state is restored afterwards.
        clip_grad_norm: if set, gradients are scaled to at most this norm.
        callbacks: ``Callback`` objects, called in order.
        num_threads: intra-op CPU threads during ``fit`` (restored after).
            ``None`` leaves torch's setting alone. For small models, 1 is
            often much faster, above all on a busy machine (docs: performance).
        progress: ``"auto"`` shows a bar when tqdm is installed and standard
            error is a terminal (else INFO log lines); ``False`` for none.

    >>> from seqmodels import LSTMCell, OneHotEmbedding, SequenceModel
    >>> model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 8), vocab_size=3)
    >>> history = Trainer(model, lr=0.05).fit([0, 1, 2, 0, 1, 2], epochs=3)
    >>> history.epochs, sorted(history.last)
    (3, ['accuracy', 'epoch', 'loss', 'seconds'])
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
        callbacks: Sequence[Callback] = (),
        num_threads: int | None = None,
        progress: bool | str = "auto",
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"Trainer: expected a torch.nn.Module, got {type(model).__name__}"
            )
        if not (isinstance(lr, int | float) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"Trainer: lr must be a positive number, got {lr!r}")
        if clip_grad_norm is not None and not clip_grad_norm > 0:
            raise ValueError(
                f"Trainer: clip_grad_norm must be positive or None,"
                f" got {clip_grad_norm}"
            )
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
        self.model = model.to(self.device)
        self.optimizer = self._build_optimizer(optimizer, lr)
        self.seed = seed
        self.clip_grad_norm = clip_grad_norm
        self.callbacks: list[Callback] = list(callbacks)
        if progress is not False:
            self.callbacks.append(ProgressBar())
        self.num_threads = num_threads
        self.epochs = 0
        self.data: Tensor | None = None
        self.history = History()
        self._stop_reason: str | None = None

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

    @property
    def stop_reason(self) -> str | None:
        """Why a callback asked training to stop, or ``None``."""
        return self._stop_reason

    def stop(self, reason: str) -> None:
        """Ask training to end after the current epoch (for callbacks)."""
        self._stop_reason = reason

    def fit(
        self,
        data: object,
        *,
        epochs: int = 100,
        teacher_forcing: float = 1.0,
        until_reproduced: bool = False,
    ) -> History:
        """Train on token ids; one optimiser step per epoch over all sequences.

        Args:
            data: ids of one sequence (a list of ints or a ``[T]`` tensor) or of
                equally long sequences (``[B, T]``). The model learns to predict
                ``data[:, 1:]`` from what comes before.
            epochs: the most epochs to run.
            teacher_forcing: the chance that a step's input is the true previous
                token. ``1.0`` (default) is the usual next-token training, the
                whole sequence at once. ``0.0`` is free running, the course's
                one-to-many formulation: the model receives the first token
                once and each later input is its own previous greedy
                prediction. In between is scheduled sampling.
            until_reproduced: stop as soon as greedy generation from each
                sequence's first token reproduces the sequence
                (``StopWhenReproduced``).

        Returns:
            The ``History`` of this run (also ``trainer.history``).
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"Trainer: epochs must be a positive int, got {epochs!r}")
        if not (
            isinstance(teacher_forcing, int | float) and 0.0 <= teacher_forcing <= 1.0
        ):
            raise ValueError(
                f"Trainer: teacher_forcing must be in [0, 1], got {teacher_forcing!r}"
            )
        sequences = as_sequences(data).to(self.device)
        vocab_size = getattr(self.model, "vocab_size", None)
        if isinstance(vocab_size, int) and int(sequences.max()) >= vocab_size:
            raise ValueError(
                f"Trainer: data has id {int(sequences.max())} but the model scores"
                f" only {vocab_size} tokens"
            )
        callbacks = list(self.callbacks)
        if until_reproduced:
            callbacks.append(StopWhenReproduced())
        self.data, self.epochs = sequences, epochs
        self.history = History()
        self._stop_reason = None

        devices = [self.device] if self.device.type == "cuda" else []
        with _threads(self.num_threads), torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            generator = torch.Generator(device=self.device).manual_seed(self.seed)
            self.model.train()
            for cb in callbacks:
                cb.on_fit_start(self)
            start = time.perf_counter()
            for epoch in range(1, epochs + 1):
                for cb in callbacks:
                    cb.on_epoch_start(self, epoch)
                logs = self._train_step(sequences, teacher_forcing, generator, epoch)
                for cb in callbacks:
                    cb.on_batch_end(self, epoch, logs)
                logs = {"epoch": epoch, **logs, "seconds": time.perf_counter() - start}
                for cb in callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                self.history.append(logs)
                logger.debug("epoch %d | loss %.4f", epoch, logs["loss"])
                if self.stop_reason is not None:
                    break
            self.history.stop_reason = self.stop_reason or f"ran {epochs} epochs"
            for cb in callbacks:
                cb.on_fit_end(self, self.history)
        logger.info(
            "trained %d epochs in %.2f s: %s",
            self.history.epochs,
            self.history.seconds,
            self.history.stop_reason,
        )
        return self.history

    def _train_step(
        self,
        sequences: Tensor,
        teacher_forcing: float,
        generator: torch.Generator,
        epoch: int,
    ) -> dict[str, float]:
        targets = sequences[:, 1:]
        if teacher_forcing == 1.0:
            logits, _ = self.model(sequences[:, :-1])
        else:
            logits = self._unroll(sequences, teacher_forcing, generator)
        loss = sequence_cross_entropy(logits, targets)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"Trainer: the loss became {loss.item()} at epoch {epoch}; lower the"
                " learning rate or set clip_grad_norm"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        accuracy = sequence_accuracy(logits.detach(), targets)
        return {"loss": loss.item(), "accuracy": accuracy.item()}

    def _unroll(
        self, sequences: Tensor, teacher_forcing: float, generator: torch.Generator
    ) -> Tensor:
        """Logits ``[B, T-1, V]`` with each input either the true previous token
        (with probability ``teacher_forcing``) or the model's own greedy pick."""
        x, state = sequences[:, 0], None
        steps = []
        for t in range(1, sequences.shape[1]):
            logits, state = self.model.step(x, state)
            steps.append(logits)
            x = logits.detach().argmax(dim=-1)
            if teacher_forcing > 0.0:
                chance = torch.rand(x.shape, generator=generator, device=x.device)
                x = torch.where(chance < teacher_forcing, sequences[:, t], x)
        return torch.stack(steps, dim=1)
