"""Data for the Trainer: token ids cut into windows, padded batches and a
validation split.

Every item the Trainer trains on is one sequence of token ids ``[L]``
(``L >= 2``): the model reads ``item[:-1]`` and learns to predict
``item[1:]``. A batch of items of different lengths is padded to the longest,
with the lengths kept beside it (``Batch``), so that the recurrent layer stops
each row at its own end and the loss ignores the padding.

Not handled here: items that are not token ids (pairs of inputs and labels,
for classification); give the Trainer ids, or write your own loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Dataset, DistributedSampler, Subset

__all__ = [
    "IGNORE_INDEX",
    "Batch",
    "Batches",
    "LoaderBatches",
    "SequenceDataset",
    "TokenWindows",
    "as_batch",
    "as_sequences",
    "make_dataset",
    "pad_batch",
    "split_validation",
]

IGNORE_INDEX = -100
"""The target written at padded positions; the loss skips it."""


class Batch(NamedTuple):
    """Padded token ids and the length of each row.

    ``ids`` is ``[B, L]`` (integers); ``lengths`` is ``[B]``, each in
    ``[2, L]``, or ``None`` when every row is ``L`` long.
    """

    ids: Tensor
    lengths: Tensor | None = None

    def inputs_and_targets(self) -> tuple[Tensor, Tensor, Tensor | None]:
        """``(inputs [B, T], targets [B, T], input lengths [B] or None)`` with
        ``T = L - 1``; targets past a row's end are ``IGNORE_INDEX``."""
        inputs, targets = self.ids[:, :-1], self.ids[:, 1:]
        if self.lengths is None:
            return inputs, targets, None
        lengths = self.lengths.to(self.ids.device) - 1
        steps = torch.arange(targets.shape[1], device=targets.device)
        padded = steps.unsqueeze(0) >= lengths.unsqueeze(1)
        return inputs, targets.masked_fill(padded, IGNORE_INDEX), lengths


def _as_ids(
    data: object, name: str, kinds: str = "a list of ints or a tensor"
) -> Tensor:
    """An integer tensor from a tensor or a (nested) list of ints; ``kinds``
    says what was expected, in the error."""
    if isinstance(data, Tensor):
        tensor = data
    else:
        try:
            tensor = torch.as_tensor(data)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(
                f"{name}: expected token ids ({kinds}),"
                f" got {type(data).__name__}: {error}"
            ) from None
    if tensor.numel() and (
        tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool
    ):
        raise TypeError(f"{name}: expected integer token ids, got dtype {tensor.dtype}")
    return tensor.long()


class TokenWindows(Dataset[Tensor]):
    """Windows of ``seq_len + 1`` ids cut from a stream of ids (or from each
    row of ``[B, T]`` ids): the model reads ``seq_len`` and predicts the next
    ``seq_len``.

    Args:
        ids: ``[T]`` (a list of ints or a tensor) or ``[B, T]``.
        seq_len: ``T`` of each window's input, at least 1.
        stride: how far each window starts after the previous one; default
            ``seq_len``, so that every id is predicted once. Ids after the last
            full window are left out.

    >>> windows = TokenWindows(list(range(7)), seq_len=3)
    >>> len(windows), windows[1].tolist()
    (2, [3, 4, 5, 6])
    """

    def __init__(self, ids: object, seq_len: int, *, stride: int | None = None) -> None:
        for arg, value in (("seq_len", seq_len), ("stride", stride)):
            if value is None and arg == "stride":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"TokenWindows: {arg} must be a positive int, got {value!r}"
                )
        rows = _as_ids(ids, "TokenWindows")
        if rows.dim() == 1:
            rows = rows.unsqueeze(0)
        if rows.dim() != 2:
            raise ValueError(
                f"TokenWindows: expected ids of shape [T] or [B, T],"
                f" got {list(rows.shape)}"
            )
        if rows.numel() == 0:
            raise ValueError("TokenWindows: the data is empty; give it token ids")
        if rows.shape[1] < seq_len + 1:
            raise ValueError(
                f"TokenWindows: seq_len {seq_len} needs at least {seq_len + 1} ids"
                f" per sequence, the data has {rows.shape[1]}; use a seq_len of at"
                f" most {rows.shape[1] - 1}"
            )
        self.seq_len = seq_len
        self.stride = seq_len if stride is None else stride
        # [B, N, seq_len + 1] -> [B * N, seq_len + 1], row by row.
        self.windows = rows.unfold(1, seq_len + 1, self.stride).reshape(-1, seq_len + 1)

    def __len__(self) -> int:
        return self.windows.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        return self.windows[index]


class SequenceDataset(Dataset[Tensor]):
    """Sequences of ids, each its own item; lengths may differ.

    >>> data = SequenceDataset([[1, 2, 3], [4, 5]])
    >>> len(data), data[1].tolist()
    (2, [4, 5])
    """

    def __init__(self, sequences: Sequence[object] | Tensor) -> None:
        if isinstance(sequences, Tensor):
            items = list(_as_ids(sequences, "SequenceDataset"))
        else:
            items = [_as_ids(s, "SequenceDataset") for s in sequences]
        if not items:
            raise ValueError("SequenceDataset: no sequences; give it at least one")
        for position, item in enumerate(items):
            if item.dim() != 1 or item.shape[0] < 2:
                raise ValueError(
                    "SequenceDataset: expected each sequence as 2 or more ids"
                    f" [L], got shape {list(item.shape)} at position {position}"
                )
        self.sequences: list[Tensor] = items

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> Tensor:
        return self.sequences[index]


def pad_batch(items: Sequence[object], pad_id: int = 0) -> Batch:
    """Stack sequences of ids ``[L_b]`` into a ``Batch``: ``ids [B, max L_b]``
    padded with ``pad_id``, and ``lengths`` (``None`` if none was padded).

    >>> batch = pad_batch([[1, 2, 3], [4, 5]])
    >>> batch.ids.tolist(), batch.lengths.tolist()
    ([[1, 2, 3], [4, 5, 0]], [3, 2])
    """
    rows = [_as_ids(item, "pad_batch") for item in items]
    if not rows:
        raise ValueError("pad_batch: no sequences to batch")
    for position, row in enumerate(rows):
        if row.dim() != 1 or row.shape[0] < 2:
            raise ValueError(
                "pad_batch: expected each item as 2 or more ids [L] (one sequence),"
                f" got shape {list(row.shape)} at position {position}"
            )
    lengths = [row.shape[0] for row in rows]
    longest = max(lengths)
    if min(lengths) == longest:
        return Batch(torch.stack(rows))
    ids = rows[0].new_full((len(rows), longest), pad_id)
    for b, row in enumerate(rows):
        ids[b, : row.shape[0]] = row
    return Batch(ids, torch.tensor(lengths))


def as_batch(batch: object) -> Batch:
    """A loader's batch as a ``Batch``: a ``Batch``, ids ``[B, L]``, or a pair
    ``(ids, lengths)``."""
    if isinstance(batch, Batch):
        return batch
    if isinstance(batch, Tensor):
        ids, lengths = batch, None
    elif isinstance(batch, tuple | list) and len(batch) == 2:
        ids, lengths = batch
        if lengths is not None:
            lengths = _as_ids(lengths, "Trainer")
    else:
        hint = " (encode text with a tokenizer first)" if isinstance(batch, str) else ""
        raise TypeError(
            "Trainer: expected each batch as ids [B, L], (ids, lengths) or a"
            f" Batch, got {type(batch).__name__}{hint}"
        )
    ids = _as_ids(ids, "Trainer")
    if ids.dim() != 2 or ids.shape[1] < 2:
        raise ValueError(
            f"Trainer: expected batch ids of shape [B, L] with L >= 2,"
            f" got {list(ids.shape)}"
        )
    return Batch(ids, lengths)


def split_validation(
    dataset: Dataset[Tensor], fraction: float
) -> tuple[Subset[Tensor], Subset[Tensor]]:
    """``(training, validation)``: the last ``fraction`` of the items is held
    out for validation (rounded, at least one item each side).

    A tail split, not a random one: for windows of one text, validation then
    is text the model never saw, not neighbours of training windows.

    >>> train, val = split_validation(TokenWindows(list(range(21)), 2), 0.2)
    >>> len(train), len(val)
    (8, 2)
    """
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise TypeError(
            "split_validation: fraction must be a number,"
            f" got {type(fraction).__name__}"
        )
    if not 0.0 < fraction < 1.0:
        raise ValueError(
            f"split_validation: the validation split must be in (0, 1), got {fraction}"
        )
    size = len(dataset)  # type: ignore[arg-type]
    held_out = round(size * fraction)
    if size < 2 or held_out < 1 or held_out >= size:
        raise ValueError(
            f"split_validation: a split of {fraction} of {size} items leaves"
            f" {held_out} for validation and {size - held_out} for training;"
            " both need at least one (more data or another fraction)"
        )
    cut = size - held_out
    return Subset(dataset, range(cut)), Subset(dataset, range(cut, size))


class Batches:
    """The batches of a dataset, epoch by epoch, in an order that depends only
    on the seed and the epoch (so that a resumed run sees the same data).

    Each epoch's order comes from a ``DistributedSampler`` seeded with ``seed``
    (a permutation drawn from ``seed + epoch``), also in a single process;
    under ``torch.distributed`` each process takes every ``world_size``-th item
    of it, so that the processes' batches together are the single-process
    batch of ``batch_size * world_size`` items. ``batch_size=None`` makes each
    process's whole share one batch, in dataset order.

    >>> batches = Batches(SequenceDataset([[1, 2], [3, 4], [5, 6]]), batch_size=2)
    >>> sizes = [b.ids.shape[0] for b in batches.epoch(1)]
    >>> sizes
    [2, 1]
    """

    def __init__(
        self,
        dataset: Dataset[Tensor],
        *,
        batch_size: int | None,
        shuffle: bool = True,
        seed: int = 0,
        pad_id: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ValueError("Trainer: the dataset is empty; give it some items")
        self.dataset = dataset
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.sampler: DistributedSampler[int] = DistributedSampler(
            dataset,
            num_replicas=world_size,
            rank=rank,
            shuffle=shuffle and batch_size is not None,
            seed=seed,
        )
        self._whole: Batch | None = None

    @property
    def fixed(self) -> bool:
        """Whether every epoch is the one same batch (``batch_size=None``),
        the same ``Batch`` object each time, never changed."""
        return self.batch_size is None

    def __len__(self) -> int:
        """Batches per epoch."""
        if self.batch_size is None:
            return 1
        return -(-len(self.sampler) // self.batch_size)

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[Batch]:
        """The batches of ``epoch`` (from 1), leaving out the first ``skip``."""
        if self.batch_size is None:
            if self._whole is None:
                self._whole = self._collate(list(self.sampler))
            if skip == 0:
                yield self._whole
            return
        self.sampler.set_epoch(epoch)
        order = list(self.sampler)
        size = self.batch_size
        for start in range(skip * size, len(order), size):
            yield self._collate(order[start : start + size])

    def _collate(self, indices: list[int]) -> Batch:
        dataset = self.dataset
        if isinstance(dataset, TokenWindows):
            return Batch(dataset.windows[indices])
        return pad_batch([dataset[i] for i in indices], self.pad_id)


class LoaderBatches:
    """Batches from a user's loader (a ``DataLoader`` or any re-iterable of
    batches); calls ``sampler.set_epoch(epoch)`` when its sampler has it.

    The data order is the loader's: resuming is exact only if the loader's
    order is fixed by a seed and the epoch (as with a ``DistributedSampler``).
    """

    fixed = False
    """A loader's batches may change from epoch to epoch."""

    def __init__(self, loader: Iterable[object]) -> None:
        self.loader = loader

    def epoch(self, epoch: int, skip: int = 0) -> Iterator[Batch]:
        """The loader's batches of ``epoch``, leaving out the first ``skip``."""
        set_epoch = getattr(getattr(self.loader, "sampler", None), "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
        for batch in islice(self.loader, skip, None):
            yield as_batch(batch)


def as_sequences(data: object, *, name: str = "Trainer") -> Tensor:
    """Token ids as a ``[B, T]`` integer tensor: from a list of ids (one
    sequence), a list of equally long lists, or a tensor ``[T]`` or ``[B, T]``."""
    kinds = "a list of ints, a list of equally long lists, or a tensor"
    tensor = _as_ids(data, name, kinds)
    if tensor.numel() == 0:
        raise ValueError(f"{name}: the data is empty; give it token ids")
    if tensor.dim() == 1:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 2:
        raise ValueError(
            f"{name}: expected ids of shape [T] or [B, T], got {list(tensor.shape)}"
        )
    if tensor.shape[1] < 2:
        raise ValueError(
            f"{name}: need at least one sequence of 2 or more tokens to learn a next"
            f" token, got shape {list(tensor.shape)}"
        )
    return tensor


def _is_ragged(data: object) -> bool:
    """Whether ``data`` is a list of sequences of different lengths."""
    if not isinstance(data, list | tuple) or not data:
        return False
    if not all(isinstance(s, list | tuple | Tensor) for s in data):
        return False
    return len({len(s) for s in data}) > 1


def make_dataset(
    data: object,
    what: str,
    seq_len: int | None = None,
    stride: int | None = None,
    vocab_size: int | None = None,
) -> tuple[Dataset[Tensor] | Iterable[object], Tensor | None]:
    """The items of the Trainer's ``data`` (``what`` names it in errors) and,
    when ``data`` is ids of equally long sequences, those ids ``[B, T]``.

    Ids become ``TokenWindows`` with ``seq_len``, else one item per sequence;
    sequences of different lengths a ``SequenceDataset``; a ``Dataset`` stays
    as it is; any other iterable is taken for a loader of batches.
    """
    if isinstance(data, Dataset):
        if seq_len is not None:
            raise ValueError(
                f"Trainer: seq_len cuts ids into windows; the {what} data is"
                " already a Dataset (use TokenWindows yourself)"
            )
        if len(data) == 0:  # type: ignore[arg-type]
            raise ValueError(f"Trainer: the {what} dataset is empty")
        return data, None
    if _is_ragged(data):
        assert isinstance(data, list | tuple)
        if seq_len is not None:
            raise ValueError(
                "Trainer: seq_len needs sequences of one length (or one"
                " stream of ids); these differ in length"
            )
        dataset = SequenceDataset(data)
        _check_vocab(torch.cat(dataset.sequences), vocab_size)
        return dataset, None
    if not isinstance(data, list | tuple | Tensor) and isinstance(data, Iterable):
        return data, None  # a loader of batches
    sequences = as_sequences(data)
    _check_vocab(sequences, vocab_size)
    if seq_len is not None:
        return TokenWindows(sequences, seq_len, stride=stride), sequences
    return SequenceDataset(sequences), sequences


def _check_vocab(ids: Tensor, vocab_size: int | None) -> None:
    if isinstance(vocab_size, int) and int(ids.max()) >= vocab_size:
        raise ValueError(
            f"Trainer: data has id {int(ids.max())} but the model scores"
            f" only {vocab_size} tokens"
        )
