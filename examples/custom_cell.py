"""A recurrent cell of your own, from scratch to generated text.

Writes a minimal gated unit (MGU; Zhou et al., 2016: one gate instead of the
GRU's two) as plain torch code, checks it with ``seqmodels.testing.check_cell``,
trains it with ``seqmodels.Trainer`` to recite a short rhyme from its first
word, generates with ``seqmodels.SequenceDecoder``, and looks at its gate with
``model.trace``. Nothing in the library knows about the cell: it only has the
methods of the ``Cell`` protocol.

Runtime: a few seconds on one CPU core.
Expected: ``check_cell: 9 checks passed`` (10 with CUDA), then
``MGU: the cat sat on the mat ...`` (the rhyme, word for word), the epochs and
seconds it took (about 20-30 epochs, 0.1 s), and the gate's mean at each
"the". Exits 0 when the rhyme is reproduced.

    python examples/custom_cell.py [--hidden-size 32] [--epochs 400] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch
from torch import Tensor, nn

import seqmodels
from seqmodels.testing import check_cell

RHYME = "the cat sat on the mat and the dog sat on the log and the cat ran to the dog"


class MGUCell(nn.Module):
    r"""A minimal gated unit: one gate ``f`` decides how much to renew.

    The equations::

        f  = σ(W_f x + U_f h + b_f)
        h~ = tanh(W_h x + U_h (f * h) + b_h)
        h' = (1 - f) * h + f * h~

    Shapes: input ``[B, E]``; state and output ``[B, H]``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.w = nn.Linear(input_size, 2 * hidden_size)  # W_f, W_h and the biases
        self.u_f = nn.Linear(hidden_size, hidden_size, bias=False)
        self.u_h = nn.Linear(hidden_size, hidden_size, bias=False)
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> Tensor:
        like = self.u_f.weight
        return torch.zeros(
            batch_size,
            self.hidden_size,
            device=like.device if device is None else device,
            dtype=like.dtype if dtype is None else dtype,
        )

    def forward(
        self, x: Tensor, h: Tensor, details: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        # Clear errors for bad input, as check_cell asks.
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"MGUCell: expected input with {self.input_size} features,"
                f" got shape {list(x.shape)}"
            )
        if h.shape != (x.shape[0], self.hidden_size):
            raise ValueError(
                f"MGUCell: expected a state of shape"
                f" [{x.shape[0]}, {self.hidden_size}], got {list(h.shape)}"
            )

        # The equations.
        x_f, x_h = self.w(x).chunk(2, dim=1)
        f = torch.sigmoid(x_f + self.u_f(h))
        candidate = torch.tanh(x_h + self.u_h(f * h))
        h = h + f * (candidate - h)

        # Optional: what model.trace shows.
        if details is not None:
            details["f"] = f
        return h, h


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for flag in ("hidden_size", "epochs"):
        if getattr(args, flag) < 1:
            flag_name = "--" + flag.replace("_", "-")
            parser.error(f"{flag_name} must be at least 1, got {getattr(args, flag)}")
    torch.set_num_threads(1)  # tiny model: one thread is fastest

    # 1. The conformance kit: protocol, shapes, dtypes, gradients, errors.
    report = check_cell(lambda: MGUCell(3, 5))
    print(f"check_cell: {len(report.passed)} checks passed")

    # 2. Tokens, model, training.
    tokenizer = seqmodels.WordTokenizer(keep="latin").fit(RHYME)
    vocab_size = len(tokenizer.vocab)
    torch.manual_seed(args.seed)  # MGUCell draws its weights from torch's RNG
    model = seqmodels.SequenceModel(
        seqmodels.OneHotEmbedding(vocab_size),
        MGUCell(vocab_size, args.hidden_size),
        vocab_size,
        generator=torch.Generator().manual_seed(args.seed),
    )
    trainer = seqmodels.Trainer(
        model, lr=0.02, device="cpu", seed=args.seed, num_threads=1, progress=False
    )
    ids = tokenizer.encode(RHYME)
    start = time.perf_counter()
    history = trainer.fit(ids, epochs=args.epochs, until_reproduced=True)
    seconds = time.perf_counter() - start

    # 3. Generation from the first word, one step per new word.
    words = RHYME.split()
    decoder = seqmodels.SequenceDecoder(model, tokenizer)
    text = decoder.generate(words[0], max_new_tokens=len(words) - 1)
    print(f"MGU: {text}")
    print(f"trained {history.epochs} epochs in {seconds:.2f} s")

    # 4. Looking inside: the gate's mean at each "the".
    with torch.no_grad():
        trace = model.trace(torch.tensor([ids]))
    gate = trace.values["f"][0].mean(dim=1)  # [T]
    at_the = [f"{float(gate[t]):.2f}" for t, w in enumerate(words) if w == "the"]
    print(f'mean gate f at each "the": {" ".join(at_the)}')

    ok = text.split() == words
    print("reproduced" if ok else "NOT reproduced")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
