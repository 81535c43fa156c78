"""The seed task in plain PyTorch, the yardstick for seqmodels' Trainer.

One-hot words of the Hunminjeongeum preface go through a fused ``torch.nn.RNN``,
``LSTM`` or ``GRU`` (H=32) and a linear head; Adam with lr 0.01 takes one step
per epoch on the whole text, and after every epoch greedy generation from the
first word is checked against the text. The script stops at the first exact
reproduction and prints the seconds and epochs it took.

Run: ``python benchmarks/handwritten_seed.py --cell lstm --seed 0`` (a second or
less on a laptop). It uses torch only; the benchmark runner imports
``train_until_reproduced`` to run it side by side with seqmodels, from the same
initial weights.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["PREFACE", "train_until_reproduced"]

PREFACE = (
    "나라의 말이 중국과 달라 문자와 서로 통하지 아니하니, 이런 까닭으로 어리석은"
    " 백성이 이르고자 할 바가 있어도 마침내 제 뜻을 능히 펴지 못할 사람이 많으니라."
    " 내가 이를 위하여 가없이 여겨 새로 스물여덟 자를 만드노니 사람마다 하여금 쉬이"
    " 익혀 날로 쓰는 데 편하게 하고자 할 따름이니라."
)

MODULES: dict[str, type[nn.Module]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Net(nn.Module):
    def __init__(self, kind: str, vocab: int, hidden: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.rnn = MODULES[kind](vocab, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        x = F.one_hot(ids, self.vocab).float()
        out, state = self.rnn(x, state)
        return self.head(out), state


@torch.no_grad()
def reproduces(net: Net, ids: Tensor) -> bool:
    """Greedy generation from ``ids[0]``, one step at a time, equals ``ids``."""
    x, state = ids[:1].view(1, 1), None
    for t in range(1, ids.shape[0]):
        logits, state = net(x, state)
        x = logits.argmax(dim=-1)
        if int(x) != int(ids[t]):
            return False
    return True


def free_running_logits(net: Net, ids: Tensor) -> Tensor:
    """Logits ``[1, T-1, V]`` with each input the model's own previous pick."""
    x, state, steps = ids[:1].view(1, 1), None, []
    for _ in range(1, ids.shape[0]):
        logits, state = net(x, state)
        steps.append(logits)
        x = logits.detach().argmax(dim=-1)
    return torch.cat(steps, dim=1)


def train_until_reproduced(
    kind: str,
    ids: list[int],
    *,
    hidden: int = 32,
    seed: int = 0,
    init: dict[str, Tensor] | None = None,
    teacher_forcing: bool = True,
    max_epochs: int = 3000,
) -> tuple[float, int]:
    """Seconds and epochs until greedy generation reproduces ``ids``.

    ``init``, if given, is the state dict to start from (``rnn.*`` and
    ``head.*``); else torch's default initialisation under ``seed``.
    """
    torch.manual_seed(seed)
    vocab = max(ids) + 1
    net = Net(kind, vocab, hidden)
    if init is not None:
        net.load_state_dict(init)
    data = torch.tensor(ids)
    inputs, targets = data[:-1].unsqueeze(0), data[1:].unsqueeze(0)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)

    start = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        if teacher_forcing:
            logits, _ = net(inputs)
        else:
            logits = free_running_logits(net, data)
        loss = F.cross_entropy(logits.transpose(1, 2), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if reproduces(net, data):
            return time.perf_counter() - start, epoch
    return float("inf"), max_epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=sorted(MODULES), default="lstm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--free-running", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    words = PREFACE.split()
    vocab = list(dict.fromkeys(words))  # first occurrence order
    ids = [vocab.index(w) for w in words]
    seconds, epochs = train_until_reproduced(
        args.cell, ids, seed=args.seed, teacher_forcing=not args.free_running
    )
    print(f"{args.cell}: reproduced after {epochs} epochs in {seconds:.3f} s")


if __name__ == "__main__":
    main()
