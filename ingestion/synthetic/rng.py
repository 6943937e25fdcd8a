"""Deterministic random streams.

The world draws from ``[seed, scale, 0, stream, *extra]`` and a day from
``[seed, scale, day.toordinal(), stream, *extra]``: every stream is independent of every other, so
changing a defect rate never changes the underlying sales, and a day's content never depends on the
window it was generated in.
"""

from __future__ import annotations

import datetime as dt
from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    # world streams (depend on seed and scale only)
    REGIONS = 1
    INDEX = 2
    PARCELS = 3
    RENOVATIONS = 4
    IDS = 5
    # day streams (depend on seed, scale and the day)
    SALES = 20
    NAMES = 21
    LISTINGS = 22
    WITHDRAWN = 23
    RECORDING = 24
    DEFECTS = 25
    MALFORMED = 26
    LATE = 27
    REDELIVERY = 28
    SPURIOUS = 29
    ASSESSMENT = 30


def world_rng(seed: int, scale: int, stream: Stream, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, scale, 0, int(stream), *extra])


def day_rng(seed: int, scale: int, day: dt.date | int, stream: Stream, *extra: int) -> np.random.Generator:
    ordinal = day if isinstance(day, int) else day.toordinal()
    return np.random.default_rng([seed, scale, ordinal, int(stream), *extra])
