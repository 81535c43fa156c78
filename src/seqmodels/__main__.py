"""``python -m seqmodels``: the command line (see ``seqmodels.cli``)."""

from seqmodels.cli import main

__all__: list[str] = []

if __name__ == "__main__":  # importing this module (doctest collection) runs nothing
    raise SystemExit(main())
