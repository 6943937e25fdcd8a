"""Calendar helpers: the fixed index horizon and cheap ISO formatting of day ordinals."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

HORIZON_START = dt.date(2000, 1, 1)
HORIZON_END = dt.date(2045, 12, 31)
HORIZON_MONTHS = (HORIZON_END.year - HORIZON_START.year) * 12 + 12  # 2000-01 .. 2045-12


def month_index(day: dt.date) -> int:
    """0 for 2000-01, 551 for 2045-12 (unclipped)."""
    return (day.year - HORIZON_START.year) * 12 + day.month - 1


def clip_month(index: int | np.ndarray) -> int | np.ndarray:
    return np.clip(index, 0, HORIZON_MONTHS - 1)


def month_start(index: int) -> dt.date:
    return dt.date(HORIZON_START.year + index // 12, index % 12 + 1, 1)


@lru_cache(maxsize=8192)
def iso(ordinal: int) -> str:
    """``YYYY-MM-DD`` of a day ordinal."""
    return dt.date.fromordinal(ordinal).isoformat()


@lru_cache(maxsize=8192)
def compact(ordinal: int) -> str:
    """``YYYYMMDD`` of a day ordinal."""
    return dt.date.fromordinal(ordinal).strftime("%Y%m%d")


def folder(day: dt.date) -> str:
    """The ``YYYY/MM/DD`` date folder of a landing key."""
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"
