"""History: the figures of a training run, one record per epoch.

To and from JSON and CSV; ``plot`` draws the curves with matplotlib (the
optional ``seqmodels[plot]`` extra).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """One record per epoch (``epoch``, ``loss``, ``accuracy``, ``seconds`` and
    whatever else the trainer measured), and why training stopped.

    ``history["loss"]`` is the list of one figure over the epochs.

    >>> h = History()
    >>> h.append({"epoch": 1, "loss": 2.5})
    >>> h.append({"epoch": 2, "loss": 1.5})
    >>> h["loss"], len(h), h.last["epoch"]
    ([2.5, 1.5], 2, 2)
    """

    records: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str | None = None

    def append(self, record: dict[str, float]) -> None:
        """Add the record of one epoch."""
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self.records)

    def __getitem__(self, name: str) -> list[float]:
        if not any(name in r for r in self.records):
            known = sorted({k for r in self.records for k in r})
            raise KeyError(f"History: no figure named {name!r}; it has {known}")
        return [r[name] for r in self.records if name in r]

    @property
    def last(self) -> dict[str, float]:
        """The record of the last epoch."""
        if not self.records:
            raise IndexError("History: no epoch has been recorded yet")
        return self.records[-1]

    @property
    def epochs(self) -> int:
        """How many epochs ran."""
        return len(self.records)

    @property
    def seconds(self) -> float:
        """Training time in seconds, through the last epoch."""
        return self.records[-1].get("seconds", 0.0) if self.records else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": [dict(r) for r in self.records],
            "stop_reason": self.stop_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls([dict(r) for r in data["records"]], data.get("stop_reason"))

    def to_json(self, path: str | Path | None = None) -> str:
        """The history as JSON text, also written to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> History:
        """Read a history from JSON text or from a file holding it."""
        text = str(source)
        if not text.lstrip().startswith("{"):
            text = Path(source).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))

    def to_csv(self, path: str | Path | None = None) -> str:
        """The records as CSV text (one row per epoch), written to ``path`` too."""
        names = list(dict.fromkeys(k for r in self.records for k in r))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.records)
        if path is not None:
            Path(path).write_text(out.getvalue(), encoding="utf-8")
        return out.getvalue()

    @classmethod
    def from_csv(cls, source: str | Path) -> History:
        """Read records from CSV text or a file written by ``to_csv`` (empty
        cells are figures an epoch did not have).

        >>> h = History([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}])
        >>> History.from_csv(h.to_csv()).records == h.records
        True
        """
        text = str(source)
        if "\n" not in text:
            text = Path(source).read_text(encoding="utf-8")
        records: list[dict[str, float]] = []
        for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            record: dict[str, float] = {}
            for name, cell in row.items():
                if cell in (None, ""):
                    continue
                try:
                    value = float(cell)
                except ValueError:
                    raise ValueError(
                        f"History.from_csv: line {line}, column {name!r}: expected a"
                        f" number, got {cell!r}"
                    ) from None
                record[name] = int(value) if name == "epoch" else value
            records.append(record)
        return cls(records)

    def plot(self, path: str | Path) -> Path:
        """Draw the loss and accuracy curves (training, and validation when
        recorded) over the epochs into an image file (PNG by its suffix).

        Needs matplotlib: ``pip install "seqmodels[plot]"``. Draws on its own
        figure with the Agg backend, so it works without a display and leaves
        pyplot's state alone.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError(
                "History.plot needs matplotlib; install it with"
                ' pip install "seqmodels[plot]"'
            ) from None
        if not self.records:
            raise ValueError("History.plot: no epoch has been recorded yet")
        figure = Figure(figsize=(10, 4), layout="constrained")
        FigureCanvasAgg(figure)
        panels = [("loss", "loss"), ("accuracy", "accuracy")]
        for index, (name, label) in enumerate(panels, start=1):
            axes = figure.add_subplot(1, len(panels), index)
            for prefix, style in (("", "-"), ("val_", "--")):
                key = prefix + name
                points = [
                    (r.get("epoch", i + 1), r[key])
                    for i, r in enumerate(self.records)
                    if key in r
                ]
                if points:
                    xs, ys = zip(*points, strict=True)
                    axes.plot(xs, ys, style, label=key)
            axes.set_xlabel("epoch")
            axes.set_ylabel(label)
            if axes.lines:
                axes.legend()
        target = Path(path)
        figure.savefig(target)
        return target
