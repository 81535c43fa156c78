"""check_cell: the conformance kit for cells, yours and the built-in ones.

``check_cell(make_cell)`` builds cells with ``make_cell()`` and checks that they
keep the ``Cell`` protocol's promises, the ones ``Recurrent``, ``Stacked``,
``SequenceModel``, the ``Trainer`` and the decoder rely on:

====================  ===========================================================
 check                 what it asks
====================  ===========================================================
 protocol              ``input_size``, ``hidden_size``, ``output_size`` (ints),
                       ``initial_state()`` and ``__call__(x, state)``
 initial state         ``[B, ·]`` tensors of the dtype and device asked for
 shapes                output ``[B, output_size]``; the new state shaped like
                       the old
 dtype                 float32 in, float32 out; float64 in, float64 out
 device                a cell moved to CUDA computes there (when CUDA is here)
 rows independent      each row of a batch gives what it gives alone
 gradcheck             ``torch.autograd.gradcheck`` through input and state
 Recurrent             ``Recurrent(cell)`` equals a hand loop over the cell, and
                       with ``lengths`` each row equals the row run alone
 projection            (``ProjectedCell`` only) ``step`` of the input map equals
                       ``__call__``
 state dict            weights survive ``torch.save``/``torch.load`` into a
                       fresh cell (``weights_only=True``)
 errors                wrong input features and a state of another batch size
                       raise ``ValueError`` or ``TypeError`` naming both numbers
====================  ===========================================================

The checks that convert dtypes or load state dicts need a ``torch.nn.Module``;
for other cells they are skipped, and the report says so. Comparisons are in
float64 with a tolerance of 1e-10.

>>> from seqmodels import GRUCell
>>> report = check_cell(lambda: GRUCell(3, 4))
>>> len(report.passed) >= 10
True
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from seqmodels.protocols import Cell, ProjectedCell, State
from seqmodels.recurrent import Recurrent

__all__ = ["CellCheckError", "CheckReport", "check_cell"]

TOLERANCE = 1e-10


class CellCheckError(AssertionError):
    """A cell failed one or more of ``check_cell``'s checks; the message lists
    each failure."""


@dataclass
class CheckReport:
    """Which checks passed and which were skipped (with the reason)."""

    cell: str
    passed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


class _Failed(Exception):
    """One check's failure, with a sentence that says what went wrong."""


def _tensors(state: State) -> list[Tensor]:
    """The tensors of a (possibly nested) state, in order."""
    if isinstance(state, Tensor):
        return [state]
    return [t for part in state for t in _tensors(part)]


def _rebuild(like: State, tensors: list[Tensor]) -> State:
    """A state shaped like ``like`` from ``tensors`` (the inverse of
    ``_tensors``)."""
    if isinstance(like, Tensor):
        return tensors.pop(0)
    parts = [_rebuild(part, tensors) for part in like]
    return type(like)(*parts) if hasattr(like, "_fields") else tuple(parts)


def _worst(a: Tensor, b: Tensor) -> float:
    return float((a.detach() - b.detach()).abs().max()) if a.numel() else 0.0


class _Checker:
    def __init__(
        self,
        make_cell: Callable[[], Cell],
        batch_size: int,
        steps: int,
        seed: int,
    ) -> None:
        self.make_cell = make_cell
        self.batch = batch_size
        self.steps = steps
        self.generator = torch.Generator().manual_seed(seed)

    # Helpers ---------------------------------------------------------------

    def cell(self, dtype: torch.dtype | None = torch.float64) -> Cell:
        """A fresh cell, in ``dtype`` when it is a module."""
        cell = self.make_cell()
        if isinstance(cell, nn.Module) and dtype is not None:
            cell = cell.to(dtype)
        return cell

    def randn(self, *shape: int, dtype: torch.dtype = torch.float64) -> Tensor:
        return torch.randn(shape, generator=self.generator, dtype=dtype)

    def dtype_of(self, cell: Cell) -> torch.dtype:
        if isinstance(cell, nn.Module):
            return torch.float64
        state = cell.initial_state(1)
        return _tensors(state)[0].dtype

    def random_state(self, cell: Cell, batch: int, dtype: torch.dtype) -> State:
        """A non-zero state: the zero state plus noise."""
        zero = cell.initial_state(batch, dtype=dtype)
        return _rebuild(
            zero,
            [t + 0.5 * self.randn(*t.shape, dtype=t.dtype) for t in _tensors(zero)],
        )

    def compare(self, what: str, a: Tensor, b: Tensor, tolerance: float) -> None:
        if a.shape != b.shape:
            raise _Failed(f"{what}: shapes {list(a.shape)} and {list(b.shape)}")
        worst = _worst(a, b)
        if not worst <= tolerance:
            raise _Failed(f"{what}: differ by {worst:.3g} (tolerance {tolerance:g})")

    def compare_states(self, what: str, a: State, b: State, tolerance: float) -> None:
        ta, tb = _tensors(a), _tensors(b)
        if len(ta) != len(tb):
            raise _Failed(f"{what}: {len(ta)} state tensors against {len(tb)}")
        for k, (x, y) in enumerate(zip(ta, tb, strict=True)):
            self.compare(f"{what} (state tensor {k})", x, y, tolerance)

    def tolerance(self, dtype: torch.dtype) -> float:
        return TOLERANCE if dtype == torch.float64 else 1e-5

    # Checks ----------------------------------------------------------------

    def protocol(self) -> None:
        cell = self.make_cell()
        for name in ("input_size", "hidden_size", "output_size"):
            value = getattr(cell, name, None)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _Failed(f"{name} must be a positive int, got {value!r}")
        if not isinstance(cell, Cell):
            raise _Failed(
                "the cell lacks initial_state(batch_size, *, device, dtype) or"
                " __call__(x, state)"
            )

    def initial_state(self) -> None:
        cell = self.cell()
        for dtype in (torch.float32, torch.float64):
            if not isinstance(cell, nn.Module) and dtype != self.dtype_of(cell):
                continue
            state = cell.initial_state(self.batch, device="cpu", dtype=dtype)
            for k, t in enumerate(_tensors(state)):
                if not isinstance(t, Tensor) or t.dim() < 1 or t.shape[0] != self.batch:
                    got = list(t.shape) if isinstance(t, Tensor) else type(t).__name__
                    raise _Failed(
                        f"initial_state({self.batch}) tensor {k} should be"
                        f" [{self.batch}, ...], got {got}"
                    )
                if t.dtype != dtype:
                    raise _Failed(
                        f"initial_state(dtype={dtype}) gave tensor {k} of {t.dtype}"
                    )
                if float(t.abs().max()) != 0.0:
                    raise _Failed(f"initial_state() tensor {k} is not all zeros")

    def shapes(self) -> None:
        cell = self.cell()
        dtype = self.dtype_of(cell)
        x = self.randn(self.batch, cell.input_size, dtype=dtype)
        state = cell.initial_state(self.batch, dtype=dtype)
        result = cell(x, state)
        if not isinstance(result, tuple) or len(result) != 2:
            raise _Failed("cell(x, state) must return a pair (output, new_state)")
        out, new = result
        want = [self.batch, cell.output_size]
        if not isinstance(out, Tensor) or list(out.shape) != want:
            got = list(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise _Failed(f"output should be {want} (B, output_size), got {got}")
        old_shapes = [list(t.shape) for t in _tensors(state)]
        new_shapes = [list(t.shape) for t in _tensors(new)]
        if old_shapes != new_shapes:
            raise _Failed(
                f"the new state's shapes {new_shapes} differ from the initial"
                f" state's {old_shapes}"
            )

    def dtype(self) -> None:
        for dtype in (torch.float32, torch.float64):
            cell = self.cell(dtype)
            x = self.randn(self.batch, cell.input_size, dtype=dtype)
            out, state = cell(x, cell.initial_state(self.batch, dtype=dtype))
            got = [out.dtype, *(t.dtype for t in _tensors(state))]
            if any(g != dtype for g in got):
                raise _Failed(f"{dtype} in gave {sorted(set(map(str, got)))} out")

    def device(self) -> None:
        cell = self.cell(torch.float32)
        assert isinstance(cell, nn.Module)
        cell = cell.to("cuda")
        x = self.randn(self.batch, cell.input_size, dtype=torch.float32).cuda()
        out, state = cell(x, cell.initial_state(self.batch, device="cuda"))
        devices = {t.device.type for t in [out, *_tensors(state)]}
        if devices != {"cuda"}:
            raise _Failed(f"a CUDA input gave tensors on {sorted(devices)}")

    def rows_independent(self) -> None:
        cell = self.cell()
        dtype = self.dtype_of(cell)
        x = self.randn(self.batch, cell.input_size, dtype=dtype)
        state = self.random_state(cell, self.batch, dtype)
        out, new = cell(x, state)
        for row in range(self.batch):
            alone = _rebuild(state, [t[row : row + 1] for t in _tensors(state)])
            out_row, new_row = cell(x[row : row + 1], alone)
            tol = self.tolerance(dtype)
            self.compare(
                f"row {row}'s output, batched and alone", out[row], out_row[0], tol
            )
            batched = _rebuild(new, [t[row : row + 1] for t in _tensors(new)])
            self.compare_states(f"row {row}'s new state", batched, new_row, tol)

    def gradcheck(self) -> None:
        cell = self.cell(torch.float64)
        x = self.randn(2, cell.input_size).requires_grad_()
        like = self.random_state(cell, 2, torch.float64)
        flat = [t.detach().requires_grad_() for t in _tensors(like)]

        def run(x: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
            out, new = cell(x, _rebuild(like, list(tensors)))
            return (out, *_tensors(new))

        try:
            torch.autograd.gradcheck(run, (x, *flat), atol=1e-7)
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise _Failed(
                f"gradients differ from finite differences: {first}"
            ) from None

    def recurrent(self) -> None:
        cell = self.cell()
        dtype = self.dtype_of(cell)
        tol = self.tolerance(dtype)
        xs = self.randn(self.batch, self.steps, cell.input_size, dtype=dtype)
        state = self.random_state(cell, self.batch, dtype)
        outputs, final = Recurrent(cell)(xs, state)

        hand, s = [], state
        for t in range(self.steps):
            out, s = cell(xs[:, t], s)
            hand.append(out)
        self.compare(
            "Recurrent and a hand loop: outputs", outputs, torch.stack(hand, 1), tol
        )
        self.compare_states("Recurrent and a hand loop: final state", final, s, tol)

        lengths = torch.tensor([max(1, self.steps - k) for k in range(self.batch)])
        outputs, final = Recurrent(cell)(xs, state, lengths)
        for row in range(self.batch):
            n = int(lengths[row])
            alone = _rebuild(state, [t[row : row + 1] for t in _tensors(state)])
            out_row, final_row = Recurrent(cell)(xs[row : row + 1, :n], alone)
            what = f"with lengths, row {row} (length {n}) and the row alone"
            self.compare(what, outputs[row, :n], out_row[0], tol)
            batched = _rebuild(final, [t[row : row + 1] for t in _tensors(final)])
            self.compare_states(what + ", final state", batched, final_row, tol)

    def projection(self) -> None:
        cell = self.cell()
        assert isinstance(cell, ProjectedCell)
        dtype = self.dtype_of(cell)
        x = self.randn(self.batch, cell.input_size, dtype=dtype)
        state = self.random_state(cell, self.batch, dtype)
        out, new = cell(x, state)
        gx = nn.functional.linear(x, cell.input_weight, cell.input_bias)
        checked = cell.check_state(state, self.batch, dtype=dtype)
        out_step, new_step = cell.step(gx, checked)
        tol = self.tolerance(dtype)
        self.compare("step(input map of x) and cell(x): outputs", out, out_step, tol)
        self.compare_states("step and cell(x): new states", new, new_step, tol)

    def state_dict(self) -> None:
        source, target = self.cell(), self.cell()
        assert isinstance(source, nn.Module) and isinstance(target, nn.Module)
        buffer = io.BytesIO()
        torch.save(source.state_dict(), buffer)
        buffer.seek(0)
        target.load_state_dict(torch.load(buffer, weights_only=True))
        x = self.randn(self.batch, source.input_size)
        state = self.random_state(source, self.batch, torch.float64)
        a, _ = source(x, state)
        b, _ = target(x, state)
        self.compare("a cell and a fresh one given its state dict", a, b, 0.0)

    def errors(self) -> None:
        cell = self.cell()
        dtype = self.dtype_of(cell)
        size = cell.input_size
        wrong = size + 1
        state = cell.initial_state(self.batch, dtype=dtype)
        self.expect_error(
            f"input with {wrong} features for input_size {size}",
            lambda: cell(self.randn(self.batch, wrong, dtype=dtype), state),
            (size, wrong),
        )
        other = cell.initial_state(self.batch + 1, dtype=dtype)
        x = self.randn(self.batch, size, dtype=dtype)
        self.expect_error(
            f"a state of batch size {self.batch + 1} for an input of {self.batch}",
            lambda: cell(x, other),
            (self.batch, self.batch + 1),
        )

    @staticmethod
    def expect_error(
        what: str, call: Callable[[], object], numbers: tuple[int, int]
    ) -> None:
        try:
            call()
        except (ValueError, TypeError) as error:
            missing = [n for n in numbers if str(n) not in str(error)]
            if missing:
                raise _Failed(
                    f"{what} raised {type(error).__name__}({str(error)!r}), which"
                    f" should name both {numbers[0]} and {numbers[1]}"
                ) from None
            return
        except Exception as error:  # any other kind is reported
            raise _Failed(
                f"{what} raised {type(error).__name__}, not ValueError or"
                f" TypeError: {str(error).splitlines()[0] if str(error) else ''}"
            ) from None
        raise _Failed(f"{what} raised nothing")


def check_cell(
    make_cell: Callable[[], Cell],
    *,
    batch_size: int = 3,
    steps: int = 4,
    seed: int = 0,
    errors: bool = True,
) -> CheckReport:
    """Check that the cells ``make_cell()`` builds follow the ``Cell`` protocol.

    Args:
        make_cell: builds a fresh cell with small sizes, for example
            ``lambda: MyCell(3, 5)``. It is called several times.
        batch_size: rows in the test batches (at least 2).
        steps: time steps in the test sequences (at least 2).
        seed: seeds the test inputs.
        errors: also check the error messages for bad input (see the module
            docstring); turn off while a cell is still a sketch.

    Returns:
        A ``CheckReport`` of the checks that passed and those skipped.

    Raises:
        CellCheckError: naming every check that failed and why.
    """
    if batch_size < 2 or steps < 2:
        raise ValueError(
            f"check_cell: batch_size and steps must be at least 2, got {batch_size}"
            f" and {steps}"
        )
    if isinstance(make_cell, nn.Module) or not callable(make_cell):
        raise TypeError(
            "check_cell: expected a function that builds a fresh cell, such as"
            f" lambda: MyCell(3, 5), got {type(make_cell).__name__}"
        )
    checker = _Checker(make_cell, batch_size, steps, seed)
    sample = make_cell()
    report = CheckReport(type(sample).__name__)
    is_module = isinstance(sample, nn.Module)

    checks: list[tuple[str, Callable[[], None], str | None]] = [
        ("protocol", checker.protocol, None),
        ("initial state", checker.initial_state, None),
        ("shapes", checker.shapes, None),
        (
            "dtype follows the input",
            checker.dtype,
            None if is_module else "not a Module",
        ),
        (
            "device follows the input",
            checker.device,
            "not a Module"
            if not is_module
            else None
            if torch.cuda.is_available()
            else "no CUDA device here",
        ),
        ("rows of a batch are independent", checker.rows_independent, None),
        ("gradcheck", checker.gradcheck, None if is_module else "not a Module"),
        ("Recurrent equals a hand loop", checker.recurrent, None),
        (
            "step equals the cell (ProjectedCell)",
            checker.projection,
            None if isinstance(sample, ProjectedCell) else "not a ProjectedCell",
        ),
        (
            "state dict round trip",
            checker.state_dict,
            None if is_module else "not a Module",
        ),
        (
            "clear errors for bad input",
            checker.errors,
            None if errors else "errors=False",
        ),
    ]
    failures: list[str] = []
    for name, check, skip in checks:
        if skip is not None:
            report.skipped[name] = skip
            continue
        if failures and name != "protocol" and failures[0].startswith("protocol"):
            report.skipped[name] = "the protocol check failed"
            continue
        try:
            check()
        except _Failed as failure:
            failures.append(f"{name}: {failure}")
        except Exception as error:  # a crash is a failed check too
            message = str(error).strip().splitlines()[0] if str(error) else ""
            failures.append(f"{name}: raised {type(error).__name__}: {message}")
        else:
            report.passed.append(name)
    if failures:
        listed = "\n".join(f"  - {failure}" for failure in failures)
        raise CellCheckError(
            f"check_cell({report.cell}): {len(failures)} of"
            f" {len(failures) + len(report.passed)} checks failed:\n{listed}"
        )
    return report
