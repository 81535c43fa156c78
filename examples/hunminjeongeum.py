"""Teach a recurrent network the Hunminjeongeum preface, then let it recite it.

The reference task of an introductory course on recurrent networks: the 44
Hangul words of the modern translation of the Hunminjeongeum preface (43
distinct; "할" occurs twice, so the next word is ambiguous without memory),
one-hot encoded. Given the first word, "나라의", the network must produce the
whole preface.

Two ways to train:

- ``--mode one-to-many`` (default, the course's formulation): the network gets
  "나라의" once and runs 43 steps, each step's input being its own previous
  prediction (free running); the loss compares the 43 outputs with the text's
  next 43 words in text order.
- ``--mode lm``: the usual next-word training with teacher forcing: each step's
  input is the true previous word.

Training stops by itself once greedy generation reproduces the text, or at
``--epochs``. Run::

    python examples/hunminjeongeum.py                 # RNN, LSTM and GRU
    python examples/hunminjeongeum.py --mode lm --cell lstm
    python examples/hunminjeongeum.py --text my.txt   # any UTF-8 text

Expected: one line per cell, ``RNN: 나라의 말이 ... 따름이니라``, then the
epochs and seconds it took (a few seconds in all on a laptop CPU); exit status
0 only if every cell reproduced the text.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import NoReturn

import torch

from seqmodels import (
    GRUCell,
    LSTMCell,
    OneHotEmbedding,
    RNNCell,
    SequenceDecoder,
    SequenceModel,
    Trainer,
    WordTokenizer,
)
from seqmodels.texts import HUNMINJEONGEUM_PREFACE
from seqmodels.training import resolve_device

CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
MODES = {"one-to-many": 0.0, "lm": 1.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--cell", choices=[*CELLS, "all"], default="all", help="which cells to train"
    )
    parser.add_argument(
        "--mode",
        choices=list(MODES),
        default="one-to-many",
        help="free running from the first word (the course's) or teacher forcing",
    )
    parser.add_argument("--hidden-size", type=int, default=32, help="H")
    parser.add_argument("--epochs", type=int, default=1000, help="the most epochs")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam's step size")
    parser.add_argument(
        "--clip-grad-norm",
        type=float,
        default=1.0,
        help="scale gradients to at most this norm (0: off). Free running"
        " without it left seed 5's RNN short of the text after 1000 epochs;"
        " with 1.0, seeds 0-24 all reproduce it within 216 epochs",
    )
    parser.add_argument("--seed", type=int, default=0, help="weights and training")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto, ...")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads; 1 is fastest for a model this small (docs/performance.md)",
    )
    parser.add_argument("--text", type=Path, help="train on this UTF-8 file instead")
    parser.add_argument(
        "--keep",
        choices=["auto", "hangul", "letters"],
        default="auto",
        help="which words to keep: Hangul only (the course) or any script;"
        " auto: Hangul only when every word of the text has Hangul",
    )
    parser.add_argument(
        "--show-gates",
        action="store_true",
        help="show what each cell's gates do where a word repeats (the second 할)",
    )
    args = parser.parse_args(argv)
    if args.hidden_size < 1 or args.epochs < 1 or args.threads < 1:
        parser.error("--hidden-size, --epochs and --threads must be positive")
    if not 0 < args.lr < math.inf:  # also refuses nan
        parser.error(f"--lr must be a positive number, got {args.lr}")
    if not 0 <= args.clip_grad_norm < math.inf:
        parser.error(f"--clip-grad-norm must be >= 0, got {args.clip_grad_norm}")
    try:
        resolve_device(args.device, name="--device")
    except ValueError as error:
        parser.error(str(error))
    return args


def fail(message: str) -> NoReturn:
    """One line on standard error and exit status 2, as for a bad option."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def read_text(path: Path | None) -> str:
    if path is None:
        return HUNMINJEONGEUM_PREFACE
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"no such file: {path}")
    except IsADirectoryError:
        fail(f"{path} is a directory, not a text file")
    except UnicodeDecodeError as error:
        fail(f"{path} is not UTF-8 (byte offset {error.start})")


def make_tokenizer(text: str, keep: str) -> WordTokenizer:
    """Hangul words, like the course, for a text whose every word has Hangul;
    words of any script otherwise (``keep="auto"``).

    Says how many of the text's words it drops (a word with nothing kept).
    """
    if keep == "auto":
        hangul = WordTokenizer().tokenize(text)
        letters = WordTokenizer(keep="letters").tokenize(text)
        keep = "hangul" if hangul and len(hangul) == len(letters) else "letters"
    tokenizer = WordTokenizer(keep=keep).fit(text)
    dropped = len(text.split()) - len(tokenizer.tokenize(text))
    if dropped:
        print(f"(keep={keep!r}: {dropped} of {len(text.split())} words dropped)")
    return tokenizer


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    text = read_text(args.text)
    try:
        tokenizer = make_tokenizer(text, args.keep)
    except ValueError as error:
        fail(str(error))
    ids = tokenizer.encode(text)
    if len(ids) < 2:
        fail("the text needs at least two words")
    vocab_size = len(tokenizer.vocab)
    first_word = tokenizer.decode(ids[:1])
    print(f"{len(ids)} words, {vocab_size} distinct; prompt: {first_word}")

    names = list(CELLS) if args.cell == "all" else [args.cell]
    all_reproduced = True
    for name in names:
        # Build: one-hot input, the cell, a linear head over the vocabulary.
        generator = torch.Generator().manual_seed(args.seed)
        cell = CELLS[name](vocab_size, args.hidden_size, generator=generator)
        model = SequenceModel(
            OneHotEmbedding(vocab_size), cell, vocab_size, generator=generator
        )

        # Train until greedy generation reproduces the text.
        trainer = Trainer(
            model,
            lr=args.lr,
            clip_grad_norm=args.clip_grad_norm or None,
            device=args.device,
            seed=args.seed,
            num_threads=args.threads,
        )
        start = time.perf_counter()
        history = trainer.fit(
            ids,
            epochs=args.epochs,
            teacher_forcing=MODES[args.mode],
            until_reproduced=True,
        )
        seconds = time.perf_counter() - start

        # Generate from the first word and compare with the text.
        decoder = SequenceDecoder(model, tokenizer)
        generated = decoder.generate(first_word, max_new_tokens=len(ids) - 1)
        reproduced = tokenizer.encode(generated) == ids
        all_reproduced &= reproduced
        verdict = "reproduced the text" if reproduced else "did NOT reproduce the text"
        print(f"{name.upper()}: {generated}")
        pad = " " * (len(name) + 2)
        print(f"{pad}{history.epochs} epochs, {seconds:.2f} s; {verdict}")
        if args.show_gates:
            show_gates(model, tokenizer, ids)
    return 0 if all_reproduced else 1


def show_gates(model: SequenceModel, tokenizer: WordTokenizer, ids: list[int]) -> None:
    """Print the cell's gates and state at the two places a word repeats.

    The input at both places is the same word ("할" in the preface), so only
    the memory carried from earlier steps can tell the next words apart. For
    the hidden units whose state differs most between the two places, the
    table shows each gate's activation and the state after the step.
    """
    repeated = next((i for i in ids if ids.count(i) > 1), None)
    if repeated is None:
        print("  (no word repeats in this text: nothing to compare)")
        return
    first, second = [t for t, i in enumerate(ids) if i == repeated][:2]
    with torch.no_grad():
        trace = model.trace(torch.tensor([ids], device=model.head.weight.device))
    values = {name: v[0] for name, v in trace.values.items()}
    state = "c" if "c" in values else "h"
    names = [n for n in values if n not in ("h", "c")] + [state]
    word = tokenizer.decode([repeated])
    for t in (first, second):
        context = tokenizer.decode(ids[max(t - 2, 0) : t + 2])
        print(f"  step {t:2d}: {word!r} in '{context}'")
    gap = (values[state][first] - values[state][second]).abs()
    units = gap.topk(min(4, gap.numel())).indices.tolist()
    shown = "gate activations, and " if len(names) > 1 else ""
    print(
        f"  the {len(units)} units whose {state!r} differs most between the two"
        f" steps: {shown}{state!r} after the step"
    )
    header = " ".join(f"{n:>5}" for n in names)
    print(f"  unit | step {first:2d}: {header} | step {second:2d}: {header}")
    for u in units:
        a = " ".join(f"{values[n][first, u]:5.2f}" for n in names)
        b = " ".join(f"{values[n][second, u]:5.2f}" for n in names)
        print(f"  {u:4d} |          {a} |          {b}")


if __name__ == "__main__":
    sys.exit(main())
