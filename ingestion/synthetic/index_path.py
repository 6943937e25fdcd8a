"""The planted monthly house-price index per region (base 100 at 2000-01, horizon 2000-01..2045-12).

log index = drift + smooth (AR(1)-filtered) growth shocks + a spring-peaking seasonal wave + one
Gaussian-shaped boom/bust episode; values are rounded to 4 decimals and those rounded values are the
truth everywhere (published files, truth files and the prices themselves).
"""

from __future__ import annotations

import numpy as np

from .dates import HORIZON_MONTHS
from .rng import Stream, world_rng

SEASON_PEAK_MONTH = 5  # May (1-based calendar month)


def build_index(seed: int, scale: int, n_regions: int) -> np.ndarray:
    """``(n_regions, HORIZON_MONTHS)`` array of index values."""
    rng = world_rng(seed, scale, Stream.INDEX)
    months = np.arange(HORIZON_MONTHS)
    calendar_month = months % 12 + 1
    out = np.empty((n_regions, HORIZON_MONTHS))
    for region in range(n_regions):
        drift = rng.uniform(0.03, 0.06) / 12
        shocks = rng.normal(0.0, 0.0035, HORIZON_MONTHS)
        growth = np.empty(HORIZON_MONTHS)
        state = 0.0
        for t in range(HORIZON_MONTHS):
            state = 0.85 * state + shocks[t]
            growth[t] = state
        growth[0] = 0.0
        trend = np.cumsum(drift + growth) - drift
        amplitude = rng.uniform(0.012, 0.025)
        season = amplitude * np.cos(2 * np.pi * (calendar_month - SEASON_PEAK_MONTH) / 12)
        centre = rng.uniform(36, HORIZON_MONTHS - 36)
        width = rng.uniform(12, 24)
        height = rng.uniform(0.12, 0.25)
        boom = height * np.exp(-(((months - centre) / width) ** 2))
        log_index = trend + season + boom
        out[region] = np.round(100 * np.exp(log_index - log_index[0]), 4)
    return out


def momentum(index: np.ndarray, region: np.ndarray, month: np.ndarray) -> np.ndarray:
    """3-month log change of the index: the market heat used for days on market and price cuts."""
    prior = np.clip(month - 3, 0, HORIZON_MONTHS - 1)
    return np.log(index[region, month] / index[region, prior])
