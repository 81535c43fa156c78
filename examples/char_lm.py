"""A character-level language model of Korean text (the many-to-many shape).

Every step reads one character (a grapheme cluster, so an Old Hangul
syllable such as "ᄊᆞ" is one token) and predicts the next. The default text
is the Hunminjeongeum preface twice over: the modern translation and the
opening of the 15th-century original. Give ``--text FILE`` for any other
UTF-8 text. Run::

    python examples/char_lm.py
    python examples/char_lm.py --text my.txt --epochs 500

Expected (about 10 seconds on a laptop CPU): the loss falling below 0.05,
then samples: greedy from "나라의" recites the first line of the modern
text, from "나랏말" the original; sampling with temperature 1 and top-p 0.9
mostly agrees, temperature 2 wanders off. Exits 0.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

from seqmodels import (
    CharTokenizer,
    LSTMCell,
    OneHotEmbedding,
    SequenceDecoder,
    SequenceModel,
    Trainer,
)
from seqmodels.texts import HUNMINJEONGEUM_PREFACE

# Only the opening of the 15th-century original, written without its side
# dots: the rest is left out rather than risk spelling it wrong.
ORIGINAL_OPENING = "나랏말ᄊᆞ미 듕귁에 달아 문ᄍᆞᆼ와로 서르 ᄉᆞᄆᆞᆺ디 아니ᄒᆞᆯᄊᆡ\n"
DEFAULT_TEXT = HUNMINJEONGEUM_PREFACE + ORIGINAL_OPENING


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--text", type=Path, help="a UTF-8 file to learn instead")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--length", type=int, default=60, help="characters a sample")
    args = parser.parse_args(argv)

    # Bad values are usage errors (exit 2), not tracebacks from deep inside.
    for flag in ("epochs", "hidden-size", "seq-len", "stride", "threads"):
        value = getattr(args, flag.replace("-", "_"))
        if value < 1:
            parser.error(f"--{flag} must be at least 1, got {value}")
    if not 0 < args.lr < math.inf:  # also refuses nan
        parser.error(f"--lr must be a positive number, got {args.lr}")
    if args.length < 0:
        parser.error(f"--length must be at least 0, got {args.length}")
    return args


def windows(ids: list[int], seq_len: int, stride: int) -> torch.Tensor:
    """Rows of ``seq_len + 1`` ids, one every ``stride``: ``[B, seq_len + 1]``.

    Overlapping rows start at many places, so the model learns to go on from
    a fresh state anywhere in the text, as it must from a prompt.
    """
    tensor = torch.tensor(ids)
    if len(ids) <= seq_len + 1:
        return tensor.unsqueeze(0)
    return tensor.unfold(0, seq_len + 1, stride)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        text = args.text.read_text(encoding="utf-8") if args.text else DEFAULT_TEXT
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: cannot read {args.text} as UTF-8 text: {error}", file=sys.stderr)
        return 2

    # Characters to ids, then the whole text as rows of a batch.
    try:
        tokenizer = CharTokenizer().fit(text)
    except ValueError as error:
        print(f"error: {args.text}: {error}", file=sys.stderr)
        return 2
    ids = tokenizer.encode(text)
    data = windows(ids, args.seq_len, args.stride)
    vocab = len(tokenizer.vocab)
    print(f"{len(ids)} characters, {vocab} distinct, {data.shape[0]} rows")

    # One-hot characters, an LSTM, a linear head over the characters.
    g = torch.Generator().manual_seed(args.seed)
    cell = LSTMCell(vocab, args.hidden_size, generator=g)
    model = SequenceModel(OneHotEmbedding(vocab), cell, vocab, generator=g)
    trainer = Trainer(
        model,
        lr=args.lr,
        device="cpu",
        seed=args.seed,
        clip_grad_norm=1.0,
        num_threads=args.threads,
        progress=False,
    )
    start = time.perf_counter()
    history = trainer.fit(data, epochs=args.epochs)
    for record in [*history.records[:: max(1, args.epochs // 5)], history.last]:
        print(
            f"epoch {int(record['epoch']):4d} | loss {record['loss']:.4f}"
            f" | accuracy {record['accuracy']:.3f}"
        )
    print(f"trained in {time.perf_counter() - start:.1f} s")

    # Samples: greedy, then sampling with temperature and top-p.
    decoder = SequenceDecoder(model, tokenizer)
    prompts = [p for p in ("나라의", "나랏말") if all(c in text for c in p)]
    prompts = prompts or [text[:3]]
    for prompt in prompts:
        greedy = decoder.generate(prompt, args.length, stop_strings="\n")
        print(f"{'greedy':<17}| {greedy}")
        for temperature, top_p in ((1.0, 0.9), (2.0, 0.99)):
            sample = decoder.generate(
                prompt,
                args.length,
                temperature=temperature,
                top_p=top_p,
                seed=args.seed,
                stop_strings="\n",
            )
            label = f"τ={temperature} top-p={top_p}"
            print(f"{label:<17}| {sample}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
