"""Multi-process training through ``torch.distributed``.

Launch a training script with ``torchrun --nproc_per_node=N script.py``; in the
script, call ``torch.distributed.init_process_group("gloo")`` (CPU) or
``("nccl")`` (one GPU per process, ``device=f"cuda:{local_rank}"``) before
``Trainer.fit``. The Trainer then sees the process group and:

- wraps the model in ``DistributedDataParallel`` (gradients averaged over the
  processes at each backward);
- gives each process its share of every epoch's items with a
  ``DistributedSampler`` seeded with the trainer's seed, so that ``batch_size``
  is per process and the global batch is ``batch_size * N``;
- sums the epoch's figures over the processes, so that every process has the
  same ``History``;
- writes checkpoints and logs from rank 0 only.

Notes: gradients are the mean of each process's mean loss; with padded batches
whose processes hold different numbers of tokens this differs slightly from the
mean over the global batch. Validation runs in full on every process.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = ["all_reduce_sum", "is_distributed", "rank", "world_size", "wrap"]


def is_distributed() -> bool:
    """Whether a ``torch.distributed`` process group is running."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank, 0 without a process group."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes, 1 without a process group."""
    return dist.get_world_size() if is_distributed() else 1


def all_reduce_sum(values: Tensor) -> Tensor:
    """``values`` summed over the processes (itself without a process group)."""
    if is_distributed():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` in ``DistributedDataParallel`` under a process group, else
    ``module`` itself."""
    if not is_distributed():
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)
