"""One ``generate`` call: walks the days and writes every feed file and the truth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

from ..landing import Landing, LandingObject
from .assessor import snapshot_key, write_snapshot
from .context import Context
from .dates import month_index
from .hpi import index_file, index_key, index_rows, published_month
from .listings import LOOKAHEAD, LOOKBACK, simulate_listings
from .mls import EventBuffer, events_key, render_events
from .recorder import Rates, SalesFile, render_sales_file
from .sales import DaySales, simulate_sales
from .truth import INDEX_TRUTH_KEY, SALES_TRUTH_KEY, TruthRecorder

REDELIVERY_DELAY = 7  # within a call, day d re-delivers the file of day d-7
REDELIVERY_HORIZON = 30  # a call re-delivers existing files of the 30 days before its start


class Run:
    def __init__(self, ctx: Context, landing: Landing, rates: Rates, start: dt.date, days: int,
                 say: Callable[[str], None]):
        self.ctx, self.landing, self.rates, self.say = ctx, landing, rates, say
        self.start, self.end = start.toordinal(), start.toordinal() + days
        self.keys: dict[str, None] = {}
        self.buffer = EventBuffer()
        self.pending: dict[int, SalesFile] = {}
        self.listing_events = 0
        self.bootstrap_events = 0
        self.index_rows = 0
        self.snapshots: list[str] = []
        self.published_months: list[int] = []
        self.truth: TruthRecorder | None = None
        self._month_sales = 0

    # -- writing -------------------------------------------------------------------------------------------
    def write(self, key: str, payload: bytes | str) -> None:
        with self.landing.writer(key) as handle:
            handle.write(payload.encode() if isinstance(payload, str) else payload)
        self.keys[key] = None

    # -- the walk -----------------------------------------------------------------------------------------
    def execute(self) -> TruthRecorder:
        existing = self._existing_sales_files() if self.rates.redelivery > 0 else {}
        with self.landing.writer(SALES_TRUTH_KEY) as handle:
            truth = self.truth = TruthRecorder(handle)
            for ordinal in range(self.start - LOOKBACK, self.end + LOOKAHEAD):
                day = dt.date.fromordinal(ordinal)
                sales = simulate_sales(self.ctx, day)
                self.buffer.add(ordinal, simulate_listings(self.ctx, sales))
                if existing and self.start - REDELIVERY_HORIZON <= ordinal < self.start:
                    self._redeliver_existing(sales, existing)
                if self.start <= ordinal < self.end:
                    self._sales_day(sales)
                    self._calendar_feeds(day)
                    self._progress(day)
                target = ordinal - LOOKAHEAD
                if self.start <= target < self.end:
                    self._events_day(target)
                self.buffer.drop_before(target + 1 - LOOKBACK)
            truth.close()
        self.keys[SALES_TRUTH_KEY] = None
        self._write_index_truth()
        return truth

    def _sales_day(self, sales: DaySales) -> None:
        assert self.truth is not None
        file = render_sales_file(self.ctx, sales, self.rates)
        ordinal = sales.day.toordinal()
        self.write(file.key, file.original if file.original is not None else file.final)
        in_file = file.final_stats
        if file.redelivered:
            if ordinal + REDELIVERY_DELAY < self.end:
                self.pending[ordinal + REDELIVERY_DELAY] = file
            else:
                in_file = file.original_stats or in_file
                self.truth.uncorrected_files.append(file.key)
        self.truth.add_sales_day(sales, file, in_file)
        self._month_sales += len(sales)
        due = self.pending.pop(ordinal, None)
        if due is not None:
            self.write(due.key, due.final)
            self.truth.redelivered_files.append(due.key)

    def _redeliver_existing(self, sales: DaySales, existing: dict[str, LandingObject]) -> None:
        """A corrected re-delivery of a file some earlier call delivered erroneous (same key, new content)."""
        file = render_sales_file(self.ctx, sales, self.rates)
        obj = existing.get(file.key)
        if not file.redelivered or obj is None:
            return
        with self.landing.open(obj) as body:
            current = body.read()
        if current != file.final:
            assert self.truth is not None
            self.write(file.key, file.final)
            self.truth.redelivered_files.append(file.key)

    def _existing_sales_files(self) -> dict[str, LandingObject]:
        first = dt.date.fromordinal(self.start - REDELIVERY_HORIZON)
        last = dt.date.fromordinal(self.start + 16)  # latest delivery of those days: lag 10 + late 5
        months = sorted({(y, m) for y, m in _months_between(first, last)})
        found: dict[str, LandingObject] = {}
        for year, month in months:
            for obj in self.landing.list(f"recorder/sales/{year:04d}/{month:02d}/"):
                found[obj.key] = obj
        return found

    def _calendar_feeds(self, day: dt.date) -> None:
        if (day.month, day.day) == (1, 1) or day.toordinal() == self.start:
            key = snapshot_key(day)
            with self.landing.writer(key) as handle:
                write_snapshot(self.ctx, handle, day)
            self.keys[key] = None
            self.snapshots.append(key)
            self.say(f"{day.isoformat()}: assessor snapshot of {len(self.ctx.parcels):,} parcels -> {key}")
        month = published_month(day)
        if month is not None and month >= 0:
            self.write(index_key(month), index_file(self.ctx.world, month))
            self.index_rows += len(self.ctx.world.regions)
            self.published_months.append(month)

    def _events_day(self, ordinal: int) -> None:
        events = self.buffer.on(ordinal)
        if ordinal == self.start:
            opening = self.buffer.bootstrap(ordinal)
            self.bootstrap_events = len(opening)
            events = np.concatenate([opening, events])
        self.write(events_key(dt.date.fromordinal(ordinal)), render_events(events, self.ctx.parcels))
        self.listing_events += len(events)

    def _progress(self, day: dt.date) -> None:
        tomorrow = day + dt.timedelta(days=1)
        if tomorrow.day == 1 or tomorrow.toordinal() == self.end:
            self.say(f"{day:%Y-%m}: {self._month_sales:,} sales")
            self._month_sales = 0

    def _write_index_truth(self) -> None:
        """Every month of the window, plus the month before it when its index is published inside the window."""
        first = min([month_index(dt.date.fromordinal(self.start)), *self.published_months])
        last = month_index(dt.date.fromordinal(self.end - 1))
        rows = [row for month in range(first, last + 1) for row in index_rows(self.ctx.world, month, with_series=False)]
        self.write(INDEX_TRUTH_KEY, "region_code,period_month,index_value\n" + "".join(rows))


def _months_between(first: dt.date, last: dt.date):
    for ordinal in range(first.toordinal(), last.toordinal() + 1):
        day = dt.date.fromordinal(ordinal)
        yield day.year, day.month

