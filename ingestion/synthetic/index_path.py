"""The planted monthly house-price index per region (base 100 at 2000-01, horizon 2000-01..2045-12).

Monthly log growth = a regional drift (3–6 %/yr) + small AR(1)-smoothed shocks + one boom (extra 5–9 %/yr
for 24–36 months) followed by a bust (falling 6–10 %/yr for 15–27 months), with smooth (logistic) edges;
plus a spring-peaking seasonal wave (amplitude 1.5–3 %, peak in May). Values are rounded to 4 decimals and
those rounded values are the truth everywhere (published files, truth files and the prices themselves).
"""

from __future__ import annotations

import numpy as np

from .dates import HORIZON_MONTHS
from .rng import Stream, world_rng

SEASON_PEAK_MONTH = 5  # May (1-based calendar month)
_EDGE_MONTHS = 1.5


def _box(months: np.ndarray, start: float, stop: float) -> np.ndarray:
    """≈1 on [start, stop), ≈0 elsewhere, with logistic edges."""
    return 1 / (1 + np.exp(-(months - start) / _EDGE_MONTHS)) - 1 / (1 + np.exp(-(months - stop) / _EDGE_MONTHS))


def build_index(seed: int, scale: int, n_regions: int) -> np.ndarray:
    """``(n_regions, HORIZON_MONTHS)`` array of index values."""
    rng = world_rng(seed, scale, Stream.INDEX)
    months = np.arange(HORIZON_MONTHS, dtype=np.float64)
    calendar_month = months % 12 + 1
    out = np.empty((n_regions, HORIZON_MONTHS))
    for region in range(n_regions):
        drift = rng.uniform(0.03, 0.06) / 12
        shocks = rng.normal(0.0, 0.0008, HORIZON_MONTHS)
        noise = np.empty(HORIZON_MONTHS)
        state = 0.0
        for t in range(HORIZON_MONTHS):
            state = 0.8 * state + shocks[t]
            noise[t] = state
        boom_start = rng.uniform(24, HORIZON_MONTHS - 96)
        bust_start = boom_start + rng.uniform(24, 36)
        bust_end = bust_start + rng.uniform(15, 27)
        boom_rate = rng.uniform(0.05, 0.09) / 12
        bust_rate = drift + rng.uniform(0.06, 0.10) / 12
        growth = (drift + noise + boom_rate * _box(months, boom_start, bust_start)
                  - bust_rate * _box(months, bust_start, bust_end))
        growth[0] = 0.0
        amplitude = rng.uniform(0.015, 0.03)
        season = amplitude * np.cos(2 * np.pi * (calendar_month - SEASON_PEAK_MONTH) / 12)
        log_index = np.cumsum(growth) + season
        out[region] = np.round(100 * np.exp(log_index - log_index[0]), 4)
    return out


def momentum(index: np.ndarray, region: np.ndarray, month: np.ndarray) -> np.ndarray:
    """3-month log change of the index: the market heat used for days on market and price cuts."""
    prior = np.clip(month - 3, 0, HORIZON_MONTHS - 1)
    return np.log(index[region, month] / index[region, prior])
