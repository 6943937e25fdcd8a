"""The regional price index feed: one CSV per index month, published on the 15th of the next month."""

from __future__ import annotations

import datetime as dt

from .dates import month_index, month_start
from .world import World

INDEX_COLUMNS = ("region_code", "period_month", "index_value", "series_id")
SERIES_ID = "TMHPI"
PUBLICATION_DAY = 15


def published_month(day: dt.date) -> int | None:
    """The index month published on ``day`` (the 15th publishes the previous month), else ``None``."""
    if day.day != PUBLICATION_DAY:
        return None
    return month_index(day) - 1


def index_key(month: int) -> str:
    period = month_start(month)
    publication = month_start(month + 1).replace(day=PUBLICATION_DAY)
    return (f"hpi/regional_index/{publication.year:04d}/{publication.month:02d}/{PUBLICATION_DAY:02d}/"
            f"regional_index_{period.year:04d}{period.month:02d}.csv")


def index_rows(world: World, month: int, *, with_series: bool = True) -> list[str]:
    period = month_start(month).isoformat()
    suffix = f",{SERIES_ID}" if with_series else ""
    return [
        f"{region.code},{period},{world.index[r, month]:.4f}{suffix}\n" for r, region in enumerate(world.regions)
    ]


def index_file(world: World, month: int) -> str:
    return ",".join(INDEX_COLUMNS) + "\n" + "".join(index_rows(world, month))
