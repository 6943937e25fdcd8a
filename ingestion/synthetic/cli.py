"""Command-line flags of ``terraminer generate`` (wired by the CLI)."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable

from ..landing import Landing
from .generator import DEFAULT_SIGMA, Defects, GenerationSummary, generate


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: use YYYY-MM-DD") from None


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability: use a value in [0, 1]")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=int, default=1, help="about N x 1,000 parcels and N x 1,000 sales (default 1)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--start", type=_date, default=dt.date(2022, 1, 1), help="first day, YYYY-MM-DD (2022-01-01)")
    parser.add_argument("--days", type=int, default=1096, help="number of days (default 1096)")
    parser.add_argument("--duplicate-rate", type=_rate, default=0.0, help="exact duplicate sale rows (0..1)")
    parser.add_argument("--malformed-rate", type=_rate, default=0.0, help="malformed sale rows (0..1)")
    parser.add_argument("--late-rate", type=_rate, default=0.0, help="daily sales files delivered 1-5 days late (0..1)")
    parser.add_argument("--redelivery-rate", type=_rate, default=0.0,
                        help="daily sales files re-delivered corrected at the same key (0..1)")
    parser.add_argument("--sigma", type=float, default=DEFAULT_SIGMA, help="log price noise of arm's-length sales")


def run_from_args(args: argparse.Namespace, landing: Landing,
                  progress: Callable[[str], None] | None = None) -> GenerationSummary:
    defects = Defects(
        duplicate_rate=args.duplicate_rate,
        malformed_rate=args.malformed_rate,
        late_rate=args.late_rate,
        redelivery_rate=args.redelivery_rate,
    )
    return generate(
        landing,
        scale=args.scale,
        seed=args.seed,
        start=args.start,
        days=args.days,
        defects=defects,
        progress=progress,
        sigma=getattr(args, "sigma", DEFAULT_SIGMA),
    )
