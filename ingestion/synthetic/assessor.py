"""Assessor parcel snapshots: a full roll as of one date, streamed in chunks of 50,000 parcels.

``total_assessed_value`` = 0.85 × true value on the roll date × exp(N(0, 0.06)), rounded to $100;
``land_value`` = total × the parcel's land share (rounded to $100); ``improvement_value`` = the rest.
"""

from __future__ import annotations

import datetime as dt
from typing import BinaryIO

import numpy as np

from .context import Context
from .dates import compact, folder
from .hedonic import CLASS_CODES
from .parcels import CHUNK, attributes_at, true_values
from .rng import Stream, day_rng

PARCEL_COLUMNS = (
    "parcel_id", "situs_address", "city", "postcode", "region_code", "latitude", "longitude", "property_class",
    "land_sqft", "living_sqft", "bedrooms", "bathrooms", "year_built", "stories", "condition_code", "quality_grade",
    "land_value", "improvement_value", "total_assessed_value", "roll_year",
)
HEADER = ",".join(PARCEL_COLUMNS) + "\n"
ASSESSMENT_RATIO = 0.85
_ROW = "{},{},{},{},{},{:.6f},{:.6f},{},{},{},{},{:.1f},{},{},{},{},{},{},{},{}\n"


def snapshot_key(roll_day: dt.date) -> str:
    """Jan-1 rolls land on Jan 2 as ``parcels_YYYY.csv``; any other date lands on itself."""
    if (roll_day.month, roll_day.day) == (1, 1):
        return f"assessor/parcels/{roll_day.year:04d}/01/02/parcels_{roll_day.year:04d}.csv"
    return f"assessor/parcels/{folder(roll_day)}/parcels_{compact(roll_day.toordinal())}.csv"


def write_snapshot(ctx: Context, handle: BinaryIO, roll_day: dt.date) -> int:
    handle.write(HEADER.encode())
    total = len(ctx.parcels)
    for k, start in enumerate(range(0, total, CHUNK)):
        handle.write(_chunk_text(ctx, k, np.arange(start, min(start + CHUNK, total)), roll_day).encode())
    return total


def _chunk_text(ctx: Context, k: int, idx: np.ndarray, roll_day: dt.date) -> str:
    p, world = ctx.parcels, ctx.world
    attrs = attributes_at(p, idx, roll_day)
    value = true_values(world, ctx.coef, p, idx, roll_day, attrs)
    noise = np.exp(day_rng(ctx.seed, ctx.scale, roll_day, Stream.ASSESSMENT, k).normal(0, 0.06, len(idx)))
    assessed = (np.round(ASSESSMENT_RATIO * value * noise / 100) * 100).astype(np.int64)
    land = np.minimum((np.round(assessed * p.land_share[idx] / 100) * 100).astype(np.int64), assessed)
    nb = p.nb[idx]
    region_codes = [region.code for region in world.regions]
    columns = zip(
        p.ids(idx), p.addresses(idx), [world.nb_city[n] for n in nb.tolist()], world.nb_postcode[nb].tolist(),
        [region_codes[r] for r in p.region[idx].tolist()], p.lat[idx].tolist(), p.lon[idx].tolist(),
        [CLASS_CODES[c] for c in p.class_code[idx].tolist()], p.land_sqft[idx].tolist(),
        attrs.living_sqft.tolist(), attrs.bedrooms.tolist(), attrs.bathrooms.tolist(), p.year_built[idx].tolist(),
        p.stories[idx].tolist(), attrs.condition.tolist(), p.grade[idx].tolist(), land.tolist(),
        (assessed - land).tolist(), assessed.tolist(), [roll_day.year] * len(idx), strict=True,
    )
    return "".join(_ROW.format(*row) for row in columns)
