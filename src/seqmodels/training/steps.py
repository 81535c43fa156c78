"""The work of one optimiser step, and the teacher-forced evaluation.

A batch of ids ``[B, L]`` is read as inputs and targets ``[B, T]`` with
``T = L - 1``. Its time axis is cut into chunks (one chunk, or ``k`` steps
each with truncated backpropagation through time); each chunk is one forward
pass, teacher forced or fed with the model's own predictions, one loss and
one optimiser step, the state carried to the next chunk and detached there.

``Stepper`` does this for the ``Trainer``; the loop around it (epochs,
callbacks, Ctrl-C) stays in ``trainer.py``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from seqmodels.losses import sequence_cross_entropy
from seqmodels.protocols import State
from seqmodels.recurrent import map_state
from seqmodels.training import distributed
from seqmodels.training.data import IGNORE_INDEX, Batch, Batches, LoaderBatches

__all__ = [
    "Chunk",
    "Forward",
    "Stepper",
    "evaluate_batches",
    "perplexity",
    "unroll",
    "widen",
]

Autocast = Callable[[], contextlib.AbstractContextManager[object]]


def unroll(
    model: Any,
    ids: Tensor,
    state: State | None,
    lengths: Tensor | None,
    teacher_forcing: float,
    generator: torch.Generator,
    carry: Tensor | None,
) -> tuple[Tensor, State, Tensor | None]:
    """Logits ``[B, T, V]`` for ``ids [B, T + 1]``, the state after them and
    the next chunk's first input.

    Teacher forced (``teacher_forcing == 1``), the model reads ``ids[:, :-1]``
    at once. Otherwise each step's input is the model's own greedy prediction,
    or the true token with chance ``teacher_forcing`` (scheduled sampling,
    drawn from ``generator``); ``carry`` is the first step's input when a
    previous chunk chose it.
    """
    if teacher_forcing == 1.0:
        inputs = ids[:, :-1]
        if lengths is not None:
            logits, state = model(inputs, state, lengths)
        elif state is not None:
            logits, state = model(inputs, state)
        else:
            logits, state = model(inputs)
        return logits, state, None

    # Free running or scheduled sampling, one step at a time.
    x = ids[:, 0] if carry is None else carry
    steps = []
    for t in range(ids.shape[1] - 1):
        logits, state = model.step(x, state)
        steps.append(logits)
        x = logits.detach().argmax(dim=-1)
        if teacher_forcing > 0.0:
            chance = torch.rand(x.shape, generator=generator, device=x.device)
            x = torch.where(chance < teacher_forcing, ids[:, t + 1], x)
    assert state is not None
    return torch.stack(steps, dim=1), state, x


class Forward(nn.Module):
    """``unroll`` as a module, so that ``DistributedDataParallel`` can wrap
    the whole computation of a chunk.

    >>> from seqmodels import GRUCell, OneHotEmbedding, SequenceModel
    >>> model = SequenceModel(OneHotEmbedding(4), GRUCell(4, 3), vocab_size=4)
    >>> ids = torch.tensor([[0, 1, 2, 3]])
    >>> logits, state, carry = Forward(model)(ids, None, None, 0.0, None, None)
    >>> logits.shape, carry.shape
    (torch.Size([1, 3, 4]), torch.Size([1]))
    """

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
        """See ``unroll``."""
        return unroll(
            self.model, ids, state, lengths, teacher_forcing, generator, carry
        )


class Chunk(NamedTuple):
    """One optimiser step's share of a batch.

    ``ids`` ``[B, k + 1]`` (the chunk's inputs and one more); ``targets``
    ``[B, k]`` (``IGNORE_INDEX`` past each row's end); ``lengths`` ``[B]``
    clamped to the chunk, or ``None``; ``tokens``, the targets that count,
    when known ahead; ``last``, whether the batch ends with it.

    >>> chunk = Chunk(torch.tensor([[1, 2]]), torch.tensor([[2]]), None, 1.0, True)
    >>> chunk.last
    True
    """

    ids: Tensor
    targets: Tensor
    lengths: Tensor | None
    tokens: float | None
    last: bool


class Stepper:
    """Runs the optimiser steps of a batch: ``chunks`` cuts the batch,
    ``forward`` gives a chunk's loss and figures, ``update`` applies it.

    Between ``forward`` and ``update`` the caller may refuse the step (a loss
    that is not finite). The state and the free-running input carry from
    chunk to chunk of one batch; each batch starts afresh.

    Args:
        model: the model, on ``device``.
        optimizer: steps its parameters.
        teacher_forcing: the chance of the true previous token as input
            (``unroll``).
        tbptt_steps: time steps per chunk; ``None``: the whole batch at once.
        same_batch: every batch is the same ``Batch`` object, never changed
            (``Batches.fixed``), so its chunks are made once and kept.

    The other arguments (``device``, ``generator``, ``autocast``, ``scaler``,
    ``clip_grad_norm``, ``clip_grad_value``) are as the ``Trainer`` has them.

    >>> import contextlib
    >>> from seqmodels import LSTMCell, OneHotEmbedding, SequenceModel
    >>> model = SequenceModel(OneHotEmbedding(4), LSTMCell(4, 3), vocab_size=4)
    >>> stepper = Stepper(
    ...     model,
    ...     torch.optim.SGD(model.parameters(), lr=0.1),
    ...     tbptt_steps=2,
    ...     device=torch.device("cpu"),
    ...     generator=torch.Generator(),
    ...     autocast=contextlib.nullcontext,
    ... )
    >>> chunks = stepper.chunks(Batch(torch.tensor([[0, 1, 2, 3, 0]])))
    >>> for chunk in chunks:
    ...     loss, value, correct, tokens = stepper.forward(chunk)
    ...     stepper.update(loss, chunk)
    >>> len(chunks), tokens
    (2, 2.0)
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        teacher_forcing: float = 1.0,
        tbptt_steps: int | None = None,
        same_batch: bool = False,
        device: torch.device,
        generator: torch.Generator,
        autocast: Autocast,
        scaler: torch.amp.GradScaler | None = None,
        clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.teacher_forcing = teacher_forcing
        self.tbptt_steps = tbptt_steps
        self.same_batch = same_batch
        self.device = device
        self.generator = generator
        self.autocast = autocast
        self.scaler = scaler
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_value = clip_grad_value
        if distributed.is_distributed():
            wrapped = distributed.wrap(Forward(model), device)
            self._unroll: Callable[..., Any] = wrapped
        else:
            self._unroll = lambda *args: unroll(model, *args)
        # torch's zero_grad(set_to_none=True) sets each gradient to None; done
        # here directly unless the optimiser has its own zero_grad.
        plain = type(optimizer).zero_grad is torch.optim.Optimizer.zero_grad
        self._plain_zero_grad = plain
        self._kept: tuple[Batch, list[Chunk]] | None = None
        self._state: State | None = None
        self._carry: Tensor | None = None

    def chunks(self, batch: Batch) -> list[Chunk]:
        """The chunks of ``batch`` on the device, in time order."""
        self._state, self._carry = None, None
        if self._kept is not None and self._kept[0] is batch:
            return self._kept[1]
        ids = batch.ids.to(self.device, non_blocking=True)
        _, targets, lengths = Batch(ids, batch.lengths).inputs_and_targets()
        steps = targets.shape[1]
        size = self.tbptt_steps or steps
        chunks = []
        for start in range(0, steps, size):
            end = min(start + size, steps)
            chunk_lengths = None
            if lengths is not None:
                chunk_lengths = (lengths - start).clamp(1, end - start)
            chunk_targets = targets[:, start:end]
            tokens = None
            if self.same_batch:
                tokens = float((chunk_targets != IGNORE_INDEX).sum())
            inputs = ids[:, start : end + 1]
            last = end == steps
            chunks.append(Chunk(inputs, chunk_targets, chunk_lengths, tokens, last))
        if self.same_batch:
            self._kept = (batch, chunks)
        return chunks

    def forward(self, chunk: Chunk) -> tuple[Tensor, float, float, float]:
        """The chunk's loss, and as numbers the loss, the correct predictions
        and the targets that count."""
        with self.autocast():
            logits, self._state, self._carry = self._unroll(
                chunk.ids,
                self._state,
                chunk.lengths,
                self.teacher_forcing,
                self.generator,
                self._carry,
            )
        targets = chunk.targets
        loss = sequence_cross_entropy(widen(logits), targets)
        hits = logits.detach().argmax(dim=-1) == targets
        if chunk.tokens is not None and chunk.tokens == targets.numel():
            return loss, loss.item(), float(hits.sum().item()), chunk.tokens
        counted = targets != IGNORE_INDEX
        figures = torch.stack(
            [
                loss.detach(),
                (hits & counted).sum().to(loss.dtype),
                counted.sum().to(loss.dtype),
            ]
        )
        value, correct, tokens = figures.tolist()
        return loss, value, correct, tokens

    def update(self, loss: Tensor, chunk: Chunk) -> None:
        """Backward, clipping and the optimiser step; then the state is
        detached from the graph, unless the batch ended."""
        self._zero_grad()
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
        if not chunk.last:
            assert self._state is not None
            self._state = map_state(Tensor.detach, self._state)

    def _zero_grad(self) -> None:
        if not self._plain_zero_grad:
            self.optimizer.zero_grad(set_to_none=True)
            return
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                p.grad = None

    def _clip(self) -> None:
        if self.clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        if self.clip_grad_value is not None:
            nn.utils.clip_grad_value_(self.model.parameters(), self.clip_grad_value)


@torch.no_grad()
def evaluate_batches(
    model: Any,
    batches: Batches | LoaderBatches,
    *,
    device: torch.device,
    autocast: Autocast,
    prefix: str = "",
) -> dict[str, float]:
    """``loss``, ``accuracy`` and ``perplexity`` (each name after ``prefix``)
    of ``model`` on the batches of epoch 1, teacher forced, in evaluation mode
    and without gradients; the model's mode is put back after."""
    was_training = model.training
    model.eval()
    total, correct, tokens = 0.0, 0.0, 0.0
    try:
        for batch in batches.epoch(1):
            ids = batch.ids.to(device)
            inputs, targets, lengths = Batch(ids, batch.lengths).inputs_and_targets()
            with autocast():
                logits, _ = (
                    model(inputs) if lengths is None else model(inputs, None, lengths)
                )
            loss = sequence_cross_entropy(widen(logits), targets)
            counted = targets != IGNORE_INDEX
            n = float(counted.sum())
            total += float(loss) * n
            correct += float(((logits.argmax(dim=-1) == targets) & counted).sum())
            tokens += n
    finally:
        model.train(was_training)
    if tokens == 0:
        raise ValueError("Trainer: the validation data is empty")
    loss_value = total / tokens
    return {
        f"{prefix}loss": loss_value,
        f"{prefix}accuracy": correct / tokens,
        f"{prefix}perplexity": perplexity(loss_value),
    }


def widen(logits: Tensor) -> Tensor:
    """Half-precision logits (from autocast) in float32 for the loss."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        return logits.float()
    return logits


def perplexity(loss: float) -> float:
    """``exp(loss)``, infinite when it overflows.

    >>> perplexity(0.0), perplexity(1e6)
    (1.0, inf)
    """
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf
