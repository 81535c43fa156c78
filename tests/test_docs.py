"""The code in the documentation runs and does what the text around it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from seqmodels.testing import check_cell
from seqmodels.texts import HUNMINJEONGEUM_WORDS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def python_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, re.S)


@pytest.mark.parametrize("page", ["quickstart.md", "quickstart.ko.md"])
def test_quickstart_recites_the_preface(page: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(python_blocks(page)[0], {"__name__": "docs"})
    assert out.getvalue().split() == list(HUNMINJEONGEUM_WORDS)


def test_the_cell_written_in_the_cells_page_passes_check_cell() -> None:
    [source] = [b for b in python_blocks("cells.md") if "class MGUCell" in b]
    namespace: dict[str, object] = {}
    exec("import torch\nfrom torch import nn\n" + source, namespace)
    report = check_cell(lambda: namespace["MGUCell"](3, 5))  # type: ignore[operator]
    assert "clear errors for bad input" in report.passed
    assert "gradcheck" in report.passed
