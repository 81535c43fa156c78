"""Training data: windows, padded batches, the validation split, the order of
each epoch."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from seqmodels.training.data import (
    IGNORE_INDEX,
    Batch,
    Batches,
    SequenceDataset,
    TokenWindows,
    as_batch,
    pad_batch,
    split_validation,
)


def test_windows_equal_slices_of_the_stream() -> None:
    ids = list(range(20))
    windows = TokenWindows(ids, seq_len=4, stride=3)
    expected = [ids[s : s + 5] for s in range(0, len(ids) - 4, 3)]
    assert [w.tolist() for w in windows] == expected
    assert len(TokenWindows(ids, seq_len=4)) == len(range(0, 16, 4))


def test_windows_of_each_row_of_a_batch() -> None:
    rows = torch.arange(12).reshape(2, 6)
    windows = TokenWindows(rows, seq_len=2)
    assert [w.tolist() for w in windows] == [
        [0, 1, 2],
        [2, 3, 4],
        [6, 7, 8],
        [8, 9, 10],
    ]


@pytest.mark.parametrize(
    ("ids", "options", "error", "match"),
    [
        ([1, 2, 3], {"seq_len": 3}, ValueError, "seq_len 3 needs at least 4 ids"),
        ([], {"seq_len": 1}, ValueError, "the data is empty"),
        ([1, 2, 3], {"seq_len": 0}, ValueError, "seq_len must be a positive int"),
        ([1, 2, 3], {"seq_len": 1, "stride": 0}, ValueError, "stride must be"),
        ([1.0, 2.0], {"seq_len": 1}, TypeError, "expected integer token ids"),
        ([[[1, 2]]], {"seq_len": 1}, ValueError, r"shape \[T\] or \[B, T\]"),
    ],
)
def test_window_errors(
    ids: object, options: dict[str, int], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        TokenWindows(ids, **options)


def test_pad_batch_pads_and_keeps_lengths() -> None:
    batch = pad_batch([[1, 2, 3, 4], [5, 6], [7, 8, 9]], pad_id=9)
    assert batch.ids.tolist() == [[1, 2, 3, 4], [5, 6, 9, 9], [7, 8, 9, 9]]
    assert batch.lengths is not None and batch.lengths.tolist() == [4, 2, 3]
    assert pad_batch([[1, 2], [3, 4]]).lengths is None


def test_targets_past_a_rows_end_are_ignored() -> None:
    inputs, targets, lengths = pad_batch([[1, 2, 3, 4], [5, 6]]).inputs_and_targets()
    assert inputs.tolist() == [[1, 2, 3], [5, 6, 0]]
    assert targets.tolist() == [[2, 3, 4], [6, IGNORE_INDEX, IGNORE_INDEX]]
    assert lengths is not None and lengths.tolist() == [3, 1]


def test_bad_items_and_batches() -> None:
    with pytest.raises(ValueError, match="2 or more ids"):
        pad_batch([[1, 2], [3]])
    with pytest.raises(ValueError, match="no sequences"):
        pad_batch([])
    with pytest.raises(ValueError, match="at position 1"):
        SequenceDataset([[1, 2], [3]])
    with pytest.raises(ValueError, match="no sequences"):
        SequenceDataset([])
    with pytest.raises(TypeError, match="expected each batch as ids"):
        as_batch({"ids": 1})
    with pytest.raises(ValueError, match=r"shape \[B, L\] with L >= 2"):
        as_batch(torch.zeros(3, 1, dtype=torch.long))
    pair = as_batch((torch.tensor([[1, 2, 0]]), torch.tensor([2])))
    assert isinstance(pair, Batch) and pair.lengths is not None


def test_validation_split_is_the_tail() -> None:
    data = SequenceDataset([[i, i + 1] for i in range(10)])
    train, val = split_validation(data, 0.3)
    assert [x[0].item() for x in val] == [7, 8, 9]
    assert len(train) == 7


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_validation_split_outside_zero_one(fraction: float) -> None:
    data = SequenceDataset([[1, 2]] * 4)
    with pytest.raises(ValueError, match=r"must be in \(0, 1\)"):
        split_validation(data, fraction)


def test_validation_split_that_leaves_nothing() -> None:
    with pytest.raises(ValueError, match="both need at least one"):
        split_validation(SequenceDataset([[1, 2], [3, 4]]), 0.1)


def test_each_epoch_order_is_a_permutation_from_seed_plus_epoch() -> None:
    data = SequenceDataset([[i, i] for i in range(9)])
    batches = Batches(data, batch_size=4, seed=11)
    for epoch in (1, 2):
        got = [row[0].item() for b in batches.epoch(epoch) for row in b.ids]
        order = torch.randperm(9, generator=torch.Generator().manual_seed(11 + epoch))
        assert got == order.tolist()
    skipped = [row[0].item() for b in batches.epoch(2, skip=1) for row in b.ids]
    assert skipped == got[4:]
    assert len(batches) == 3


def test_two_processes_share_the_single_process_batches() -> None:
    data = SequenceDataset([[i, i] for i in range(8)])
    single = [set(b.ids[:, 0].tolist()) for b in Batches(data, batch_size=4).epoch(1)]
    ranks = [
        list(Batches(data, batch_size=2, rank=r, world_size=2).epoch(1)) for r in (0, 1)
    ]
    joint = [
        set(a.ids[:, 0].tolist()) | set(b.ids[:, 0].tolist())
        for a, b in zip(*ranks, strict=True)
    ]
    assert joint == single


class Empty(Dataset[torch.Tensor]):
    def __len__(self) -> int:
        return 0

    def __getitem__(self, index: int) -> torch.Tensor:
        raise IndexError(index)


def test_an_empty_dataset_is_refused() -> None:
    with pytest.raises(ValueError, match="the dataset is empty"):
        Batches(Empty(), batch_size=1)
