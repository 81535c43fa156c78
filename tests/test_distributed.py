"""Multi-process training: two CPU processes with gloo equal one process on
the same global batch."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from seqmodels import GRUCell, OneHotEmbedding, SequenceModel
from seqmodels.training import Checkpoint, Trainer, load_checkpoint

V = 7
TEXT = [0, 1, 2, 3, 1, 4, 5, 6, 2, 0, 3, 5, 1, 6, 4, 2, 0, 5, 3, 6, 1]
FIT = {"epochs": 3, "seq_len": 3, "shuffle": True}


def make_model() -> SequenceModel:
    g = torch.Generator().manual_seed(0)
    return SequenceModel(
        OneHotEmbedding(V), GRUCell(V, 5, generator=g), V, generator=g
    ).double()


def worker(rank: int, world_size: int, port: int, folder: str) -> None:
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        model = make_model()
        out = Path(folder)
        trainer = Trainer(
            model,
            device="cpu",
            seed=4,
            num_threads=1,
            progress=False,
            callbacks=[Checkpoint(out / f"checkpoints-{rank}")],
        )
        history = trainer.fit(TEXT, batch_size=2, **FIT)  # type: ignore[arg-type]
        torch.save(
            {"weights": model.state_dict(), "loss": history["loss"]},
            out / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_on_the_global_batch(
    tmp_path: Path,
) -> None:
    mp.spawn(worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)

    single = make_model()
    trainer = Trainer(single, device="cpu", seed=4, num_threads=1, progress=False)
    history = trainer.fit(TEXT, batch_size=4, **FIT)  # type: ignore[arg-type]

    for rank in (0, 1):
        result = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for name, value in single.state_dict().items():
            torch.testing.assert_close(
                result["weights"][name], value, rtol=0, atol=1e-12, msg=name
            )
        assert result["loss"] == pytest.approx(history["loss"], rel=1e-12)

    # Only rank 0 writes checkpoints.
    assert load_checkpoint(tmp_path / "checkpoints-0" / "last.pt")["epoch"] == 4
    assert not (tmp_path / "checkpoints-1").exists()
