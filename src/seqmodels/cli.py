"""The command line: ``seqmodels`` or ``python -m seqmodels``.

    seqmodels train --text preface.txt --cell lstm --tokenizer word --out model/
    seqmodels generate model/ --prompt "나라의" --max-new-tokens 43

``train`` fits a tokenizer and a ``SequenceModel`` (one-hot input, one cell,
a linear head) to predict each next token of a UTF-8 text, shows progress
on standard error, and saves model and tokenizer to a directory.
``generate`` loads such a directory and continues a prompt.

Exit status:

- 0: done.
- 1: training did not reach its goal (``--until-reproduced``,
  ``--target-loss``), or it failed while running (the loss became NaN, say).
- 2: bad usage or input: an unknown option, a missing or undecodable file, a
  directory that is not a saved model, a prompt with unknown tokens.
- 130: interrupted (Ctrl-C).

Errors are one line on standard error, ``seqmodels <command>: error: ...``.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

import seqmodels
from seqmodels.decoding import SequenceDecoder
from seqmodels.embeddings import Embedding, OneHotEmbedding
from seqmodels.model import SequenceModel
from seqmodels.protocols import Tokenizer
from seqmodels.seq2seq import CELLS
from seqmodels.tokenizers import CharTokenizer, JamoTokenizer, WordTokenizer
from seqmodels.vocabulary import UnknownTokenError

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

TOKENIZERS = ("word", "char", "jamo")

EPILOG = """exit status: 0 done; 1 training did not reach its goal or failed while
running; 2 bad usage or input (missing or undecodable file, not a saved
model, unknown prompt token); 130 interrupted."""


class CommandError(Exception):
    """An error the command line reports in one line, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


# -- the parser ----------------------------------------------------------------


def _int_at_least(minimum: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= {minimum}, got {value}"
        )
    return value


def _positive_int(text: str) -> int:
    return _int_at_least(1, text)


def _count(text: str) -> int:
    return _int_at_least(0, text)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``seqmodels`` command."""
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="seqmodels",
        description="Recurrent sequence models from small, readable pieces.",
        epilog=EPILOG,
    )
    parser.add_argument(
        "--version", action="version", version=f"seqmodels {seqmodels.__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a next-token model on a text file and save it",
        description="Fit a tokenizer and a recurrent language model to a UTF-8"
        " text, then save both to --out.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    train.add_argument("--text", type=Path, required=True, help="a UTF-8 text file")
    train.add_argument("--out", type=Path, required=True, help="directory to save to")
    train.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    train.add_argument(
        "--tokenizer",
        choices=TOKENIZERS,
        default="word",
        help="words (letters of any script, punctuation dropped), grapheme"
        " characters, or Hangul jamo",
    )
    train.add_argument("--epochs", type=_positive_int, default=200)
    train.add_argument("--hidden-size", type=_positive_int, default=64)
    train.add_argument(
        "--embedding-size",
        type=_count,
        default=0,
        help="size of a learned embedding; 0 feeds one-hot vectors",
    )
    train.add_argument(
        "--seq-len",
        type=_positive_int,
        default=64,
        help="a longer text is cut into windows of this many tokens",
    )
    train.add_argument("--lr", type=_finite_float, default=0.01, help="learning rate")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="CPU threads; 1 is fastest for small models",
    )
    train.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    train.add_argument(
        "--until-reproduced",
        action="store_true",
        help="stop once greedy generation reproduces the text; exit 1 if it never does",
    )
    train.add_argument(
        "--target-loss",
        type=_finite_float,
        default=None,
        help="exit 1 if the final loss is above this",
    )
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.set_defaults(run=_train)

    generate = commands.add_parser(
        "generate",
        help="continue a prompt with a saved model",
        description="Load a directory written by 'seqmodels train' and continue"
        " the prompt.",
        epilog=EPILOG,
        formatter_class=formatter,
    )
    generate.add_argument("model", type=Path, help="a directory written by train")
    generate.add_argument("--prompt", required=True, help="the text to continue")
    generate.add_argument("--max-new-tokens", type=_count, default=50)
    generate.add_argument(
        "--temperature", type=_finite_float, default=0.0, help="0 is greedy"
    )
    generate.add_argument("--top-k", type=_positive_int, default=None)
    generate.add_argument("--top-p", type=_finite_float, default=None)
    generate.add_argument("--repetition-penalty", type=_finite_float, default=1.0)
    generate.add_argument(
        "--beam-width", type=_positive_int, default=1, help="1 is no beam search"
    )
    generate.add_argument("--length-penalty", type=_finite_float, default=1.0)
    generate.add_argument(
        "--stop",
        action="append",
        default=None,
        metavar="TEXT",
        help="end at this text (repeatable); the output stops before it",
    )
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument(
        "--stream", action="store_true", help="print tokens as they come"
    )
    generate.add_argument("--device", default="cpu", help="cpu, cuda, auto, ...")
    generate.set_defaults(run=_generate)
    return parser


# -- train ---------------------------------------------------------------------


def read_text(path: Path) -> str:
    """The text of a UTF-8 file (a byte order mark is dropped), or a
    ``CommandError`` that says what is wrong with it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise CommandError(f"{path} is a directory; expected a text file") from None
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad = data[error.start : error.start + 1].hex()
        raise CommandError(
            f"{path} is not UTF-8 text: byte 0x{bad} at byte offset"
            f" {error.start} ({error.reason}); convert it to UTF-8 first"
        ) from None


def _make_tokenizer(kind: str) -> WordTokenizer | CharTokenizer | JamoTokenizer:
    if kind == "word":
        return WordTokenizer(keep="letters")
    if kind == "char":
        return CharTokenizer()
    return JamoTokenizer()


def windows(ids: list[int], seq_len: int) -> torch.Tensor:
    """Ids as training rows ``[B, seq_len + 1]``: one row when the text is
    short, else windows that overlap by one token, so that every next token
    is a target once (tokens after the last full window are left out)."""
    tensor = torch.tensor(ids, dtype=torch.long)
    if len(ids) <= seq_len + 1:
        return tensor.unsqueeze(0)
    return tensor.unfold(0, seq_len + 1, seq_len)


def _train(args: argparse.Namespace) -> int:
    from seqmodels.serialization import save_model
    from seqmodels.training import Trainer

    if args.lr <= 0:
        raise CommandError(f"--lr must be positive, got {args.lr}")
    if args.out.exists() and not args.out.is_dir():
        raise CommandError(f"--out {args.out} is a file; expected a folder to save to")
    text = read_text(args.text)
    tokenizer = _make_tokenizer(args.tokenizer)
    try:
        tokenizer.fit(text)
    except ValueError as error:
        raise CommandError(f"{args.text}: {error}") from None
    ids = tokenizer.encode(text)
    if len(ids) < 2:
        raise CommandError(
            f"{args.text} has {len(ids)} {args.tokenizer} token(s); a model"
            " needs at least 2 to learn a next token"
        )
    data = windows(ids, args.seq_len)

    vocab_size = len(tokenizer.vocab)
    generator = torch.Generator().manual_seed(args.seed)
    if args.embedding_size:
        embedding: Embedding | OneHotEmbedding = Embedding(
            vocab_size, args.embedding_size, generator=generator
        )
    else:
        embedding = OneHotEmbedding(vocab_size)
    cell = CELLS[args.cell](
        embedding.output_size, args.hidden_size, generator=generator
    )
    model = SequenceModel(embedding, cell, vocab_size, generator=generator)
    try:
        trainer = Trainer(
            model,
            lr=args.lr,
            device=args.device,
            seed=args.seed,
            num_threads=args.threads,
            progress=not args.quiet,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None

    print(
        f"training a {args.cell} of {args.hidden_size} on {len(ids)}"
        f" {args.tokenizer} tokens ({vocab_size} distinct) in {data.shape[0]}"
        f" row(s), up to {args.epochs} epochs",
        flush=True,
    )
    try:
        history = trainer.fit(
            data, epochs=args.epochs, until_reproduced=args.until_reproduced
        )
    except (FloatingPointError, RuntimeError) as error:
        raise CommandError(f"training failed: {error}", EXIT_FAILED) from None
    last = history.last
    print(
        f"epochs {history.epochs} | loss {last['loss']:.4f} | accuracy"
        f" {last['accuracy']:.3f} | {history.seconds:.1f} s | {history.stop_reason}"
    )

    try:
        where = save_model(model.cpu(), args.out, tokenizer=tokenizer)
    except OSError as error:
        raise CommandError(f"cannot save to {args.out}: {error}", EXIT_FAILED) from None
    print(f"saved to {where}")

    if args.until_reproduced and last.get("reproduced") != 1.0:
        raise CommandError(
            f"greedy generation did not reproduce the text in {history.epochs}"
            " epochs; train longer (--epochs) or larger (--hidden-size)",
            EXIT_FAILED,
        )
    if args.target_loss is not None and last["loss"] > args.target_loss:
        raise CommandError(
            f"the final loss {last['loss']:.4f} is above --target-loss"
            f" {args.target_loss}",
            EXIT_FAILED,
        )
    return EXIT_OK


# -- generate ------------------------------------------------------------------


def load(directory: Path, device: str) -> tuple[SequenceModel, Tokenizer]:
    """The model and tokenizer saved in ``directory``, or a ``CommandError``."""
    from seqmodels.serialization import load_model
    from seqmodels.training.trainer import resolve_device

    try:
        resolve_device(device, name="--device")
    except (TypeError, ValueError) as error:
        raise CommandError(str(error)) from None
    if not directory.exists():
        raise CommandError(f"no such directory: {directory}")
    if not directory.is_dir():
        raise CommandError(
            f"{directory} is a file; expected a directory written by 'seqmodels train'"
        )
    try:
        model, tokenizer = load_model(directory, device=device)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CommandError(
            f"{directory} is not a saved seqmodels model ({reason})"
        ) from None
    if tokenizer is None:
        raise CommandError(
            f"{directory} holds a model without a tokenizer; generate needs"
            " both (save_model(model, directory, tokenizer=...))"
        )
    return model, tokenizer


def _generate(args: argparse.Namespace) -> int:
    if args.stream and args.beam_width > 1:
        raise CommandError(
            "--stream prints tokens as they come, which beam search cannot"
            f" (--beam-width {args.beam_width}); use one or the other"
        )
    model, tokenizer = load(args.model, args.device)
    options = {
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "repetition_penalty": args.repetition_penalty,
        "seed": args.seed,
        "stop_strings": args.stop,
    }
    try:
        decoder = SequenceDecoder(model, tokenizer)
        if args.stream:
            pieces = decoder.stream(args.prompt, args.max_new_tokens, **options)
            print(tokenizer.decode(tokenizer.encode(args.prompt)), end="", flush=True)
            for piece in pieces:
                print(piece, end="", flush=True)
            print()
            return EXIT_OK
        text = decoder.generate(
            args.prompt,
            args.max_new_tokens,
            beam_width=args.beam_width,
            length_penalty=args.length_penalty,
            **options,
        )
    except UnknownTokenError as error:
        raise CommandError(
            f"{error.token!r} is not in the model's vocabulary"
            f" ({error.vocab_size} tokens); prompt with words of the training text"
        ) from None
    except (ValueError, TypeError) as error:
        raise CommandError(str(error)) from None
    print(text)
    return EXIT_OK


# -- main ----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module
    docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    # Progress lines (when standard error is not a terminal) go through
    # logging; show them for the length of this command only.
    handler: logging.Handler | None = None
    library_logger = logging.getLogger("seqmodels")
    level = library_logger.level
    if not getattr(args, "quiet", True):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        library_logger.addHandler(handler)
        library_logger.setLevel(logging.INFO)
    start = time.perf_counter()
    try:
        status: int = args.run(args)
        return status
    except CommandError as error:
        print(f"seqmodels {args.command}: error: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        elapsed = time.perf_counter() - start
        print(
            f"seqmodels {args.command}: interrupted after {elapsed:.1f} s",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        if handler is not None:
            library_logger.removeHandler(handler)
            library_logger.setLevel(level)
