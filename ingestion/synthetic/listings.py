"""MLS listings generated from one *source* day: the listings that close (``sold``) or end (``withdrawn``)
on that day, with all their events (which fall up to 120 days before and 55 days after the source day).

Sold listings: ≈75 % of the day's arm's-length sales; listed 20–120 days before (shorter when the region's
3-month index momentum is high), list price = true value × exp(N(0.03, 0.05)) rounded to $1,000, 0–2 price
cuts of 2–8 %, ``pending`` 10–35 days before the sale, ``sold`` on the sale date at the recorded price.
Withdrawn listings (≈15 % as many as sold ones) use eligible parcels that did not sell that day; ≈35 % are
relisted 7–25 days later and withdrawn again 10–30 days after that.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .context import Context
from .dates import clip_month, month_index
from .index_path import momentum
from .parcels import attributes_at, true_values
from .rng import Stream, day_rng
from .sales import DaySales

EVENT_TYPES = ("listed", "price_change", "pending", "sold", "withdrawn", "relisted")
LISTED, PRICE_CHANGE, PENDING, SOLD, WITHDRAWN, RELISTED = range(6)
LISTED_SHARE = 0.75
WITHDRAWN_PER_SOLD = 0.15
RELIST_SHARE = 0.35
LOOKAHEAD = 120  # events of a source day start at most this many days before it
LOOKBACK = 55  # ... and end at most this many days after it
NO_PRICE = -1

EVENT_DTYPE = np.dtype([
    ("day", np.int32), ("sec", np.int32), ("src", np.int32), ("seq", np.int32), ("k", np.int8),
    ("etype", np.int8), ("list_price", np.int64), ("close_price", np.int64), ("bedrooms", np.int8),
    ("bath_halves", np.int8), ("living_sqft", np.int32), ("agent", np.int32), ("parcel", np.int64),
])


class _Listings(NamedTuple):
    parcel: np.ndarray
    bedrooms: np.ndarray
    bath_halves: np.ndarray
    living_sqft: np.ndarray


_Plan = list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]]


def _round_k(values: np.ndarray) -> np.ndarray:
    return (np.round(values / 1000) * 1000).astype(np.int64)


def simulate_listings(ctx: Context, sales: DaySales) -> np.ndarray:
    """Events of the listings closing on ``sales.day``, sorted by (day, sec, src, seq, k)."""
    events = np.concatenate([_sold(ctx, sales), _withdrawn(ctx, sales, first_seq=len(sales))])
    return np.sort(events, order=["day", "sec", "src", "seq", "k"])


def _cut(price: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """A price cut, rounded to $1,000 and always at least $1,000."""
    return np.maximum(np.minimum(_round_k(price * (1 - fraction)), price - 1000), 1000)


def _times(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(8 * 60, 21 * 60, shape) * 60


def _sold(ctx: Context, sales: DaySales) -> np.ndarray:
    rng = day_rng(ctx.seed, ctx.scale, sales.day, Stream.LISTINGS)
    n, x = len(sales), sales.day.toordinal()
    listed = sales.arms & (rng.random(n) < LISTED_SHARE)
    region = ctx.parcels.region[sales.parcel].astype(np.int64)
    month = np.full(n, int(clip_month(month_index(sales.day))))
    heat = momentum(ctx.world.index, region, month)
    dom = np.clip(np.round(55 * np.exp(-6 * heat + 0.35 * rng.standard_normal(n))), 20, LOOKAHEAD).astype(np.int64)
    cuts = rng.binomial(2, np.clip(0.3 - 4 * heat, 0.05, 0.7))
    gap = np.minimum(rng.integers(10, 36, n), dom - 1 - cuts)
    listed_day, pending_day = x - dom, x - gap
    span = pending_day - listed_day
    f1, f2, f_one = rng.uniform(0.2, 0.5, n), rng.uniform(0.55, 0.9, n), rng.uniform(0.2, 0.9, n)
    cut1 = np.clip(listed_day + np.round(np.where(cuts == 2, f1, f_one) * span), listed_day + 1, pending_day - 1)
    cut2 = np.clip(listed_day + np.round(f2 * span), cut1 + 1, pending_day - 1)
    price0 = _round_k(sales.true_value * np.exp(rng.normal(0.03, 0.05, n)))
    price1 = _cut(price0, rng.uniform(0.02, 0.08, n))
    price2 = _cut(price1, rng.uniform(0.02, 0.08, n))
    secs = _times(rng, (n, 5))
    agent = rng.integers(1, ctx.n_agents + 1, n)

    seq = np.arange(n)
    after_cuts = np.select([cuts == 0, cuts == 1], [price0, price1], price2)
    plan = [  # (k, type, day, list price, close price, present)
        (0, LISTED, listed_day, price0, None, listed),
        (1, PRICE_CHANGE, cut1, price1, None, listed & (cuts >= 1)),
        (2, PRICE_CHANGE, cut2, price2, None, listed & (cuts >= 2)),
        (3, PENDING, pending_day, after_cuts, None, listed),
        (4, SOLD, np.full(n, x), after_cuts, sales.price, listed),
    ]
    listing = _Listings(sales.parcel, sales.attrs.bedrooms, ctx.parcels.bath_halves[sales.parcel],
                        sales.attrs.living_sqft)
    return _assemble_rows(x, seq, agent, secs, plan, listing)


def _withdrawn(ctx: Context, sales: DaySales, first_seq: int) -> np.ndarray:
    rng = day_rng(ctx.seed, ctx.scale, sales.day, Stream.WITHDRAWN)
    lam = WITHDRAWN_PER_SOLD * LISTED_SHARE * 0.92 * ctx.expected_sales(sales.day)
    n = min(int(rng.poisson(lam)), len(sales.unsold))
    x = sales.day.toordinal()
    parcel = sales.unsold[:n]
    attrs = attributes_at(ctx.parcels, parcel, sales.day)
    value = true_values(ctx.world, ctx.coef, ctx.parcels, parcel, sales.day, attrs)
    dom = rng.integers(30, LOOKAHEAD + 1, n)
    cuts = rng.binomial(2, 0.4, n)
    listed_day = x - dom
    f1, f2, f_one = rng.uniform(0.2, 0.5, n), rng.uniform(0.55, 0.9, n), rng.uniform(0.2, 0.9, n)
    cut1 = np.clip(listed_day + np.round(np.where(cuts == 2, f1, f_one) * dom), listed_day + 1, x - 1)
    cut2 = np.clip(listed_day + np.round(f2 * dom), cut1 + 1, x - 1)
    price0 = _round_k(value * np.exp(rng.normal(0.05, 0.06, n)))
    price1 = _cut(price0, rng.uniform(0.02, 0.08, n))
    price2 = _cut(price1, rng.uniform(0.02, 0.08, n))
    after_cuts = np.select([cuts == 0, cuts == 1], [price0, price1], price2)
    relisted = rng.random(n) < RELIST_SHARE
    relist_day = x + rng.integers(7, 26, n)
    relist_price = _round_k(after_cuts * (1 - rng.uniform(0.0, 0.05, n)))
    again_day = relist_day + rng.integers(10, 31, n)
    secs = _times(rng, (n, 6))
    agent = rng.integers(1, ctx.n_agents + 1, n)
    everyone = np.ones(n, dtype=bool)
    plan = [
        (0, LISTED, listed_day, price0, None, everyone),
        (1, PRICE_CHANGE, cut1, price1, None, cuts >= 1),
        (2, PRICE_CHANGE, cut2, price2, None, cuts >= 2),
        (3, WITHDRAWN, np.full(n, x), after_cuts, None, everyone),
        (4, RELISTED, relist_day, relist_price, None, relisted),
        (5, WITHDRAWN, again_day, relist_price, None, relisted),
    ]
    listing = _Listings(parcel, attrs.bedrooms, ctx.parcels.bath_halves[parcel], attrs.living_sqft)
    return _assemble_rows(x, first_seq + np.arange(n), agent, secs, plan, listing)


def _assemble_rows(src: int, seq: np.ndarray, agent: np.ndarray, secs: np.ndarray, plan: _Plan,
                   listing: _Listings) -> np.ndarray:
    """Stack the planned events: (k, type, day, list price, close price or None, present mask)."""
    parts = []
    for k, etype, day, list_price, close_price, present in plan:
        idx = np.flatnonzero(present)
        part = np.zeros(len(idx), dtype=EVENT_DTYPE)
        part["day"], part["sec"], part["src"], part["seq"] = day[idx], secs[idx, k], src, seq[idx]
        part["k"], part["etype"], part["list_price"] = k, etype, list_price[idx]
        part["close_price"] = NO_PRICE if close_price is None else close_price[idx]
        part["bedrooms"], part["bath_halves"] = listing.bedrooms[idx], listing.bath_halves[idx]
        part["living_sqft"], part["agent"], part["parcel"] = listing.living_sqft[idx], agent[idx], listing.parcel[idx]
        parts.append(part)
    return np.concatenate(parts)
