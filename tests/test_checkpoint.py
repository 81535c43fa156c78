"""Checkpoint files: atomic writes, safe reads, clear errors."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import torch

from seqmodels.training import checkpoint
from seqmodels.training.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    atomic_save,
    check_state_dict,
    load_checkpoint,
    read_tensors,
)


def state(step: int) -> dict[str, object]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "w": torch.ones(3) * step,
    }


def test_round_trip(tmp_path: Path) -> None:
    path = atomic_save(state(4), tmp_path / "sub" / "c.pt")
    data = load_checkpoint(path)
    assert data["step"] == 4 and torch.equal(data["w"], torch.full((3,), 4.0))


def test_a_failure_before_the_rename_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = atomic_save(state(1), tmp_path / "c.pt")

    def broken(src: object, dst: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(checkpoint.os, "replace", broken)
    with pytest.raises(OSError, match="disk gone"):
        atomic_save(state(2), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


WRITER = textwrap.dedent(
    """
    import sys, torch
    from seqmodels.training.checkpoint import atomic_save, FORMAT, VERSION
    big = torch.randn(4_000_000)
    step = 0
    while True:
        step += 1
        atomic_save({"format": FORMAT, "version": VERSION, "step": step,
                     "w": big + step}, sys.argv[1])
        print(step, flush=True)
    """
)


def test_a_process_killed_while_saving_leaves_a_whole_checkpoint(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.pt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        for _ in range(2):  # two saves done; the third is under way
            process.stdout.readline()
        time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    data = load_checkpoint(path)
    assert data["step"] >= 2
    assert data["w"].shape == (4_000_000,)  # whole, not cut short


def test_a_truncated_file_is_refused(tmp_path: Path) -> None:
    path = atomic_save(state(1), tmp_path / "c.pt")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


class Payload:
    """Pickles as a call to os.system: what a malicious checkpoint holds."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch", "pickle"])
def test_pickled_code_is_refused_and_never_runs(tmp_path: Path, how: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    content = {"format": FORMAT, "version": VERSION, "model": Payload(marker)}
    if how == "torch":
        torch.save(content, path)
    else:
        path.write_bytes(pickle.dumps(content))
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def as_if_saved_on_cuda(path: Path) -> None:
    """Rewrite a torch.save file so that its tensors claim to live on cuda:0,
    as a file written on a GPU machine does."""
    with zipfile.ZipFile(path) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    name = next(n for n in entries if n.endswith("data.pkl"))
    cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    assert cpu in entries[name]
    entries[name] = entries[name].replace(cpu, cuda)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as target:
        for entry, data in entries.items():
            target.writestr(entry, data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only path")
def test_a_checkpoint_saved_on_cuda_loads_on_the_cpu(tmp_path: Path) -> None:
    path = atomic_save(state(3), tmp_path / "c.pt")
    as_if_saved_on_cuda(path)
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=True)  # what a naive load does
    data = load_checkpoint(path)
    assert data["w"].device.type == "cpu" and data["w"].tolist() == [3.0] * 3


def test_a_file_of_another_format(tmp_path: Path) -> None:
    path = atomic_save({"weights": torch.ones(1)}, tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="not a seqmodels checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no file at"):
        read_tensors(tmp_path / "missing.pt", "x")


def test_state_dict_checks_name_the_parameter() -> None:
    model = torch.nn.Linear(3, 2)
    good = model.state_dict()
    check_state_dict(model, good, "f.pt", "T")
    with pytest.raises(CheckpointError, match=r"'weight' has shape \[2, 4\]"):
        check_state_dict(model, {**good, "weight": torch.zeros(2, 4)}, "f.pt", "T")
    with pytest.raises(CheckpointError, match="has no parameter 'bias'"):
        check_state_dict(model, {"weight": good["weight"]}, "f.pt", "T")
    with pytest.raises(CheckpointError, match="parameter 'extra' that the model lacks"):
        check_state_dict(model, {**good, "extra": torch.zeros(1)}, "f.pt", "T")
