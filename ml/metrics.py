"""AVM accuracy metrics (IAAO-style): MdAPE, PPE10/PPE20 and prediction-interval coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ape(actual: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Absolute percentage error |predicted − actual| / actual."""
    actual = np.asarray(actual, dtype=float)
    return np.abs(np.asarray(predicted, dtype=float) - actual) / actual


def summarize(actual, predicted, lower=None, upper=None) -> dict[str, float]:
    errors = ape(actual, predicted)
    out = {
        "n": int(errors.size),
        "mdape": float(np.median(errors)) if errors.size else float("nan"),
        "ppe10": float(np.mean(errors <= 0.10)) if errors.size else float("nan"),
        "ppe20": float(np.mean(errors <= 0.20)) if errors.size else float("nan"),
    }
    if lower is not None and upper is not None:
        actual = np.asarray(actual, dtype=float)
        inside = (actual >= np.asarray(lower, dtype=float)) & (actual <= np.asarray(upper, dtype=float))
        out["coverage80"] = float(np.mean(inside)) if errors.size else float("nan")
    return out


def by_group(frame: pd.DataFrame, group: str, actual: str = "actual", predicted: str = "predicted",
             lower: str = "lower", upper: str = "upper") -> pd.DataFrame:
    rows = []
    for key, part in frame.groupby(group, sort=True):
        rows.append({group: key, **summarize(part[actual], part[predicted], part[lower], part[upper])})
    return pd.DataFrame(rows)


def by_price_band(frame: pd.DataFrame, bands: int = 4, predicted: str = "predicted") -> pd.DataFrame:
    """The metrics per price band of the estimate (what a user sees before the sale: every valuation
    has one), bands = quantiles of the estimates of ``frame`` (quartiles by default), so the
    breakdown reads the same in any market and currency: band 1 the cheapest, with its bounds."""
    if frame.empty:
        return pd.DataFrame(columns=["price_band", "lower_bound", "upper_bound", "n", "mdape", "ppe10", "ppe20",
                                     "coverage80"])
    estimate = frame[predicted].to_numpy(dtype=float)
    edges = np.unique(np.quantile(estimate, np.linspace(0, 1, bands + 1)))
    band = np.clip(np.searchsorted(edges, estimate, side="right"), 1, len(edges) - 1)
    banded = frame.assign(price_band=band)
    table = by_group(banded, "price_band")
    table.insert(1, "lower_bound", edges[table["price_band"] - 1])
    table.insert(2, "upper_bound", edges[table["price_band"]])
    return table


def metrics_line(summary: dict[str, float]) -> str:
    """The one-line report: ``mdape=M ppe10=P10 ppe20=P20 coverage80=C n_test=N``."""
    return (
        f"mdape={summary['mdape']:.4f} ppe10={summary['ppe10']:.4f} ppe20={summary['ppe20']:.4f} "
        f"coverage80={summary['coverage80']:.4f} n_test={summary['n']}"
    )
