"""check_cell passes good cells and names what is wrong with bad ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqmodels.testing import CellCheckError, check_cell


class Elman(nn.Module):
    """A small correct cell, checks included; ``flaw`` breaks one promise."""

    def __init__(
        self, input_size: int = 3, hidden_size: int = 4, flaw: str = ""
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.flaw = input_size, hidden_size, flaw
        self.w = nn.Linear(input_size, hidden_size)
        self.u = nn.Linear(hidden_size, hidden_size, bias=False)

    @property
    def output_size(self) -> int:
        return self.hidden_size + (self.flaw == "shape")

    def initial_state(self, batch_size, *, device=None, dtype=None):
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def forward(self, x, state):
        if self.flaw != "no errors":
            if x.shape[-1] != self.input_size:
                raise ValueError(
                    f"Elman: expected input with {self.input_size} features,"
                    f" got {x.shape[-1]}"
                )
            if state.shape[0] != x.shape[0]:
                raise ValueError(
                    f"Elman: state has batch size {state.shape[0]} but the input"
                    f" has batch size {x.shape[0]}"
                )
        if self.flaw == "mixes rows":
            state = state + state.mean(0)
        if self.flaw == "detached":
            x = x.detach()
        h = torch.tanh(self.w(x) + self.u(state))
        if self.flaw == "float32":
            h = h.float()
        return h, h


def test_a_correct_cell_passes() -> None:
    report = check_cell(Elman)
    assert report.cell == "Elman"
    assert "gradcheck" in report.passed
    assert "rows of a batch are independent" in report.passed
    assert (
        report.skipped["step equals the cell (ProjectedCell)"] == "not a ProjectedCell"
    )


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        (
            "mixes rows",
            r"rows of a batch are independent: row 0's output, batched and alone:"
            r" differ by",
        ),
        ("detached", r"gradcheck: gradients differ from finite differences"),
        (
            "float32",
            r"dtype follows the input: torch\.float64 in gave \['torch\.float32'\] out",
        ),
        (
            "no errors",
            r"clear errors for bad input: input with 4 features for input_size 3"
            r" raised RuntimeError",
        ),
        (
            "shape",
            r"shapes: output should be \[3, 5\] \(B, output_size\), got \[3, 4\]",
        ),
    ],
)
def test_a_flawed_cell_fails_readably(flaw: str, message: str) -> None:
    with pytest.raises(CellCheckError, match=message) as caught:
        check_cell(lambda: Elman(flaw=flaw))
    assert str(caught.value).startswith("check_cell(Elman): ")


def test_errors_can_be_turned_off() -> None:
    report = check_cell(lambda: Elman(flaw="no errors"), errors=False)
    assert report.skipped["clear errors for bad input"] == "errors=False"


def test_a_cell_without_the_protocol() -> None:
    class Nothing(nn.Module):
        input_size = hidden_size = output_size = 3

    with pytest.raises(CellCheckError, match="protocol: the cell lacks initial_state"):
        check_cell(Nothing)


def test_batch_and_steps_must_be_two_or_more() -> None:
    with pytest.raises(
        ValueError, match="batch_size and steps must be at least 2, got 1 and 4"
    ):
        check_cell(Elman, batch_size=1)
