"""The recorder sales feed: one gzip CSV per sale date, with the planted file-level defects.

Layout of a day's file: valid rows in recording order with increasing document numbers
``D<sale yyyymmdd><6 digits>`` (valid rows get even numbers, malformed/spurious rows odd ones in between,
so every number is unique); exact duplicates are re-emitted later in the same file.

A day whose redelivery coin comes up is first delivered *erroneous* (one spurious extra row and 1–3 prices
off by 1–5 %) and later re-delivered at the same key with the correct content; the truth is always the
corrected content.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
from dataclasses import dataclass

import numpy as np

from .context import Context
from .dates import compact, folder, iso
from .hedonic import PRICE_ROUNDING
from .names import SURNAMES, draw_people, render_people
from .parcels import true_values
from .rng import Stream, day_rng
from .sales import DEED_TYPES, DaySales

SALES_COLUMNS = (
    "document_number", "parcel_id", "sale_date", "recording_date", "sale_price", "deed_type", "buyer_name", "seller_name",
)
HEADER = ",".join(SALES_COLUMNS) + "\n"
MAX_LATE_DAYS = 5


@dataclass(frozen=True)
class Rates:
    duplicate: float = 0.0
    malformed: float = 0.0
    late: float = 0.0
    redelivery: float = 0.0


@dataclass(frozen=True)
class FileStats:
    valid_rows: int = 0
    duplicate_rows: int = 0
    malformed_rows: int = 0
    spurious_rows: int = 0
    perturbed_prices: int = 0


@dataclass
class SalesFile:
    day: dt.date
    key: str
    delivery: dt.date
    late: bool
    redelivered: bool  # the first delivery is erroneous and gets corrected later
    final: bytes
    final_stats: FileStats
    original: bytes | None
    original_stats: FileStats | None
    document_numbers: list[str]  # of the valid rows, aligned with the DaySales arrays
    parcel_ids: list[str]


def sales_key(day: dt.date, delivery: dt.date) -> str:
    return f"recorder/sales/{folder(delivery)}/sales_{compact(day.toordinal())}.csv.gz"


def gzip_bytes(text: str) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="", compresslevel=6) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def render_sales_file(ctx: Context, sales: DaySales, rates: Rates) -> SalesFile:
    """The day's file: its key and content (and, when its redelivery coin comes up, the erroneous first
    delivery). Depends only on (seed, scale, sigma, day) and the rates."""
    day = sales.day
    late_rng = day_rng(ctx.seed, ctx.scale, day, Stream.LATE)
    late = bool(late_rng.random() < rates.late)
    extra_days = int(late_rng.integers(1, MAX_LATE_DAYS + 1))
    delivery = day + dt.timedelta(days=sales.file_lag + (extra_days if late else 0))
    redelivered = bool(day_rng(ctx.seed, ctx.scale, day, Stream.REDELIVERY).random() < rates.redelivery)

    layout = _plan(ctx, sales, rates, with_spurious=redelivered)
    final, final_stats = _assemble(layout, sales, {}, with_spurious=False)
    original, original_stats = (
        _assemble(layout, sales, _wrong_prices(ctx, sales), with_spurious=True) if redelivered else (None, None)
    )
    return SalesFile(day, sales_key(day, delivery), delivery, late, redelivered, final, final_stats, original,
                     original_stats, layout.documents, layout.parcel_ids)


@dataclass
class _Layout:
    """Where every row of a day's file goes. Slot ``s`` is just before the valid row recorded ``s``-th."""

    order: list[int]  # valid row indexes in recording order
    documents: list[str]  # document number of each valid row
    parcel_ids: list[str]
    recording_dates: list[str]
    extra: dict[int, str]  # slot -> malformed row
    spurious: tuple[int, str] | None  # slot, row
    duplicated: list[int]  # valid rows re-emitted
    duplicate_position: np.ndarray  # where (0..1 of the rest of the file)


def _plan(ctx: Context, sales: DaySales, rates: Rates, with_spurious: bool) -> _Layout:
    day, n = sales.day, len(sales)
    ordinal, stamp = day.toordinal(), compact(day.toordinal())
    order_rng = day_rng(ctx.seed, ctx.scale, day, Stream.RECORDING, 1)
    order = np.lexsort((order_rng.random(n), sales.recording_lag))
    seq = 2 * np.cumsum(order_rng.integers(1, max(1, 499_999 // (n + 1)) + 1, n))  # even, increasing
    valid_seq = np.empty(n, dtype=np.int64)
    valid_seq[order] = seq
    lags = sales.recording_lag[order].tolist()

    def slot_document(slot: int) -> tuple[str, int]:  # odd numbers between the valid rows'
        if slot < n:
            return f"D{stamp}{int(seq[slot]) - 1:06d}", lags[slot]
        return f"D{stamp}{(int(seq[-1]) if n else 0) + 1:06d}", (lags[-1] if n else 0)

    rng = day_rng(ctx.seed, ctx.scale, day, Stream.DEFECTS)  # fixed-size draws: rates only move thresholds
    duplicated = rng.random(n) < rates.duplicate
    n_malformed = int(np.sum(rng.random(n) < rates.malformed))
    duplicate_position = rng.random(n)

    spurious_rng = day_rng(ctx.seed, ctx.scale, day, Stream.SPURIOUS)
    spurious_slot = int(spurious_rng.integers(0, n + 1))
    malformed_rng = day_rng(ctx.seed, ctx.scale, day, Stream.MALFORMED)
    free_slots = np.array([slot for slot in range(n + 1) if slot != spurious_slot])
    malformed_slots = np.sort(malformed_rng.choice(free_slots, size=n_malformed, replace=False)).tolist()
    malformed = _malformed_rows(ctx, malformed_rng, day, [slot_document(slot) for slot in malformed_slots])
    spurious = None
    if with_spurious:
        spurious = (spurious_slot, _spurious_row(ctx, spurious_rng, sales, *slot_document(spurious_slot)))
    return _Layout(
        order=order.tolist(),
        documents=[f"D{stamp}{s:06d}" for s in valid_seq.tolist()],
        parcel_ids=ctx.parcels.ids(sales.parcel),
        recording_dates=[iso(ordinal + lag) for lag in sales.recording_lag.tolist()],
        extra=dict(zip(malformed_slots, malformed, strict=True)),
        spurious=spurious,
        duplicated=np.flatnonzero(duplicated).tolist(),
        duplicate_position=duplicate_position,
    )


def _wrong_prices(ctx: Context, sales: DaySales) -> dict[int, int]:
    """1-3 prices off by 1-5 % (rounded to $100): the errors an erroneous first delivery carries."""
    rng = day_rng(ctx.seed, ctx.scale, sales.day, Stream.REDELIVERY, 1)
    candidates = np.flatnonzero(sales.price >= 1000)
    k = min(int(rng.integers(1, 4)), len(candidates))
    chosen = rng.choice(candidates, size=k, replace=False) if k else np.zeros(0, dtype=np.int64)
    signs = np.where(rng.random(k) < 0.5, -1.0, 1.0)
    wrong = np.round(sales.price[chosen] * (1 + signs * rng.uniform(0.01, 0.05, k)) / PRICE_ROUNDING)
    wrong = (wrong * PRICE_ROUNDING).astype(np.int64)
    wrong = np.where(wrong == sales.price[chosen], wrong + PRICE_ROUNDING, wrong)
    return dict(zip(chosen.tolist(), wrong.tolist(), strict=True))


def _assemble(layout: _Layout, sales: DaySales, prices: dict[int, int], with_spurious: bool) -> tuple[bytes, FileStats]:
    sale_date = sales.day.isoformat()
    texts = [
        f"{layout.documents[i]},{layout.parcel_ids[i]},{sale_date},{layout.recording_dates[i]},"
        f"{prices.get(i, int(sales.price[i]))},{DEED_TYPES[sales.deed[i]]},{sales.buyer[i]},{sales.seller[i]}\n"
        for i in range(len(sales))
    ]
    extra = dict(layout.extra)
    if with_spurious and layout.spurious is not None:
        extra[layout.spurious[0]] = layout.spurious[1]
    rows: list[tuple[float, str]] = []
    rank = [0] * len(sales)
    for slot in range(len(sales) + 1):
        if slot in extra:
            rows.append((len(rows), extra[slot]))
        if slot < len(sales):
            i = layout.order[slot]
            rank[i] = len(rows)
            rows.append((len(rows), texts[i]))
    total = len(rows)
    for i in layout.duplicated:  # an exact copy, somewhere after the original
        rows.append((rank[i] + 0.5 + float(layout.duplicate_position[i]) * (total - rank[i]), texts[i]))
    rows.sort(key=lambda item: item[0])
    stats = FileStats(len(sales), len(layout.duplicated), len(layout.extra), int(with_spurious), len(prices))
    return gzip_bytes(HEADER + "".join(text for _, text in rows)), stats


def _malformed_rows(ctx: Context, rng: np.random.Generator, day: dt.date, slots: list[tuple[str, int]]) -> list[str]:
    m = len(slots)
    kinds = rng.integers(0, 5, m)
    parcels = ctx.parcels.ids(rng.integers(0, len(ctx.parcels), m))
    prices = rng.integers(50, 2000, m) * 1000
    month, dom, extra = rng.integers(13, 20, m), rng.integers(32, 46, m), rng.integers(1000, 10000, m)
    b = render_people(*draw_people(rng, m))
    s = render_people(*draw_people(rng, m))
    ordinal = day.toordinal()
    rows = []
    for j, (document, lag) in enumerate(slots):
        sale_date, price = iso(ordinal), str(prices[j])
        kind = int(kinds[j])
        if kind == 0:
            sale_date = f"{day.year}-{month[j]}-{dom[j]}"
        elif kind == 1:
            price = "N/A"
        elif kind == 2:
            price = price[:1] + price[1:].replace("0", "O", 1)
        fields = [document, parcels[j], sale_date, iso(ordinal + lag), price, "WD", b[j], s[j]]
        if kind == 3:
            fields.pop()
        elif kind == 4:
            fields.append(str(extra[j]))
        rows.append(",".join(fields) + "\n")
    return rows


def _spurious_row(ctx: Context, rng: np.random.Generator, sales: DaySales, document: str, lag: int) -> str:
    """A sale recorded in error (present only in an erroneous first delivery)."""
    pick = rng.integers(0, len(ctx.parcels))
    parcel = int(sales.unsold[0]) if len(sales.unsold) else int(pick)
    value = float(true_values(ctx.world, ctx.coef, ctx.parcels, np.array([parcel]), sales.day)[0])
    price = int(round(value * rng.uniform(0.9, 1.1) / PRICE_ROUNDING) * PRICE_ROUNDING)
    surname, first, initial = draw_people(rng, 2)
    surname[1] = (surname[0] + 1 + surname[1] % (len(SURNAMES) - 1)) % len(SURNAMES)
    buyer, seller = render_people(surname, first, initial)
    ordinal = sales.day.toordinal()
    return f"{document},{ctx.parcels.ids(np.array([parcel]))[0]},{iso(ordinal)},{iso(ordinal + lag)},{price},WD,{buyer},{seller}\n"
