"""Forecast a noisy time series from its recent past (the many-to-one shape).

The series is generated: two sine waves of different periods plus Gaussian
noise. Each input is a window of the last ``--window`` values; a GRU reads it
and a linear head on its last step predicts the next value. The model is
judged on the last fifth of the series, which it never trained on, against
the naive forecast "the next value equals the last one". Run::

    python examples/forecast.py
    python examples/forecast.py --noise 0.3 --epochs 400

Expected (about 10 seconds on a laptop CPU): a test mean squared error of
about a third of the naive forecast's, printed with both errors; the exit status is
1 if the model does not beat the naive forecast, else 0.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch.nn import functional as F

from seqmodels import GRUCell
from seqmodels.heads import ManyToOne


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=2000, help="series length")
    parser.add_argument("--window", type=int, default=24)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    # Bad values are usage errors (exit 2), not tracebacks from deep inside.
    for flag in ("length", "window", "hidden-size", "epochs", "threads"):
        value = getattr(args, flag.replace("-", "_"))
        if value < 1:
            parser.error(f"--{flag} must be at least 1, got {value}")
    if not 0 < args.lr < math.inf:  # also refuses nan
        parser.error(f"--lr must be a positive number, got {args.lr}")
    if not 0 <= args.noise < math.inf:
        parser.error(f"--noise must be a number >= 0, got {args.noise}")
    if args.length < args.window + 2:
        parser.error(
            f"--length ({args.length}) must exceed --window ({args.window}) by at"
            " least 2, so that there are windows to train and to test on"
        )
    return args


def make_series(length: int, noise: float, generator: torch.Generator) -> torch.Tensor:
    """``[T]``: sin(2πt/25) + 0.5 sin(2πt/63) + noise."""
    t = torch.arange(length, dtype=torch.float32)
    clean = torch.sin(2 * math.pi * t / 25) + 0.5 * torch.sin(2 * math.pi * t / 63)
    return clean + noise * torch.randn(length, generator=generator)


def make_windows(
    series: torch.Tensor, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``[N, window, 1]`` and the value after each window ``[N, 1]``."""
    inputs = series.unfold(0, window, 1)[:-1]
    targets = series[window:]
    return inputs.unsqueeze(-1), targets.unsqueeze(-1)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(args.seed)

    # The series, cut into windows; the last fifth is the test set.
    series = make_series(args.length, args.noise, g)
    inputs, targets = make_windows(series, args.window)
    split = int(len(inputs) * 0.8)
    train_x, train_y = inputs[:split], targets[:split]
    test_x, test_y = inputs[split:], targets[split:]
    print(f"{len(train_x)} training windows, {len(test_x)} test windows")

    # A GRU over each window, read at its last step by a linear head.
    model = ManyToOne(GRUCell(1, args.hidden_size, generator=g), 1, generator=g)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss = F.mse_loss(model(train_x), train_y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if epoch % max(1, args.epochs // 5) == 0:
            print(f"epoch {epoch:4d} | train mse {loss.item():.4f}")
    print(f"trained in {time.perf_counter() - start:.1f} s")

    # The model against the naive forecast, on windows it never saw.
    with torch.no_grad():
        model_mse = F.mse_loss(model(test_x), test_y).item()
    naive_mse = F.mse_loss(test_x[:, -1], test_y).item()
    print(f"test mse | model {model_mse:.4f} | last value {naive_mse:.4f}")
    print(f"the model's error is {model_mse / naive_mse:.0%} of the naive one's")
    noise_floor = args.noise**2
    print(f"(the noise alone gives a floor of {noise_floor:.4f})")
    return 0 if model_mse < naive_mse else 1


if __name__ == "__main__":
    raise SystemExit(main())
