"""The command line: ``seqmodels`` or ``python -m seqmodels``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import seqmodels

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``seqmodels`` command."""
    parser = argparse.ArgumentParser(
        prog="seqmodels",
        description="Recurrent sequence models from small, readable pieces.",
    )
    parser.add_argument(
        "--version", action="version", version=f"seqmodels {seqmodels.__version__}"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0
