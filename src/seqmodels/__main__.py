"""``python -m seqmodels``: the command line (see ``seqmodels.cli``)."""

from seqmodels.cli import main

raise SystemExit(main())
