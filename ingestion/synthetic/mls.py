"""The MLS listing-events feed: one JSON Lines file per event date.

Events are generated per *source* day (see :mod:`listings`) and bucketed by event date here. The file of
the window's first day additionally opens with a *bootstrap* of the listings already active at the start:
a ``listed`` event at ``T00:00:00Z`` with the current list price (followed at ``T00:00:01Z`` by ``pending`` or
``withdrawn`` when that was the listing's state), so every listing's first event in the feed is ``listed``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from .dates import compact, folder, iso
from .listings import EVENT_DTYPE, EVENT_TYPES, LISTED, LOOKAHEAD, LOOKBACK, NO_PRICE, PENDING, WITHDRAWN
from .parcels import Parcels

BOOTSTRAP_K = 90  # event-id suffixes of bootstrap events (natural events use 0..5)
_SORT = ["sec", "src", "seq", "k"]


def events_key(day: dt.date) -> str:
    return f"mls/listing_events/{folder(day)}/events_{compact(day.toordinal())}.jsonl"


class EventBuffer:
    """Source-day event tables, kept for the window of source days that can still emit events."""

    def __init__(self) -> None:
        self._tables: dict[int, np.ndarray] = {}

    def add(self, source: int, events: np.ndarray) -> None:
        self._tables[source] = events

    def on(self, ordinal: int) -> np.ndarray:
        """Events dated ``ordinal`` (sources ``ordinal-LOOKBACK .. ordinal+LOOKAHEAD`` must have been added)."""
        parts = []
        for source in range(ordinal - LOOKBACK, ordinal + LOOKAHEAD + 1):
            table = self._tables.get(source)
            if table is not None:
                lo, hi = np.searchsorted(table["day"], [ordinal, ordinal + 1])
                if hi > lo:
                    parts.append(table[lo:hi])
        # joining raw bytes is much cheaper than np.concatenate's structured-dtype promotion per part
        events = np.frombuffer(b"".join(part.tobytes() for part in parts), dtype=EVENT_DTYPE).copy()
        return np.sort(events, order=_SORT)

    def drop_before(self, source: int) -> None:
        for key in [key for key in self._tables if key < source]:
            del self._tables[key]

    def bootstrap(self, start: int) -> np.ndarray:
        """Bootstrap events for listings with events both before and on/after ``start``."""
        tables = [table for table in self._tables.values() if len(table)]
        if not tables:
            return np.zeros(0, dtype=EVENT_DTYPE)
        events = np.concatenate(tables)
        listing = events["src"].astype(np.int64) * 100_000 + events["seq"]
        before = events["day"] < start
        carried = np.intersect1d(listing[before], listing[~before])
        prior = events[before & np.isin(listing, carried)]
        prior = prior[np.lexsort((prior["k"], prior["sec"], prior["day"], prior["seq"], prior["src"]))]
        key = prior["src"].astype(np.int64) * 100_000 + prior["seq"]
        last = prior[np.r_[key[1:] != key[:-1], True]] if len(prior) else prior
        opening = last.copy()
        opening["day"], opening["sec"], opening["k"], opening["etype"] = start, 0, BOOTSTRAP_K, LISTED
        opening["close_price"] = NO_PRICE
        state = last[np.isin(last["etype"], [PENDING, WITHDRAWN])].copy()
        state["day"], state["sec"], state["k"], state["close_price"] = start, 1, BOOTSTRAP_K + 1, NO_PRICE
        return np.sort(np.concatenate([opening, state]), order=_SORT)


def render_events(events: np.ndarray, parcels: Parcels) -> str:
    """JSON Lines with keys in the contract order (same text as ``json.dumps`` with default separators)."""
    if not len(events):
        return ""
    pids = parcels.ids(events["parcel"])
    columns = zip(
        events["src"].tolist(), events["seq"].tolist(), events["k"].tolist(), pids, events["etype"].tolist(),
        events["day"].tolist(), events["sec"].tolist(), events["list_price"].tolist(), events["close_price"].tolist(),
        events["bedrooms"].tolist(), events["bath_halves"].tolist(), events["living_sqft"].tolist(),
        events["agent"].tolist(), strict=True,
    )
    lines = []
    for src, seq, k, pid, etype, day, sec, list_price, close, bed, halves, sqft, agent in columns:
        close_text = "null" if close == NO_PRICE else str(close)
        hh, rem = divmod(sec, 3600)
        lines.append(
            f'{{"event_id": "E{src:06d}{seq:05d}{k:02d}", "listing_id": "L{src:06d}{seq:05d}", '
            f'"parcel_id": "{pid}", "event_type": "{EVENT_TYPES[etype]}", '
            f'"event_at": "{iso(day)}T{hh:02d}:{rem // 60:02d}:{rem % 60:02d}Z", "list_price": {list_price}, '
            f'"close_price": {close_text}, "bedrooms": {bed}, "bathrooms": {halves / 2:.1f}, '
            f'"living_sqft": {sqft}, "agent_id": "A{agent:05d}"}}\n'
        )
    return "".join(lines)
