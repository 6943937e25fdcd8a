"""The deterministic synthetic landing-zone generator: public API.

``generate`` writes four synthetic property feeds (assessor parcels, recorder sales, MLS listing events,
regional price index) into a landing zone, plus the planted truth under ``_truth/``. Same (seed, scale) give
byte-identical files; the world depends only on (seed, scale) and a day's content only on (seed, scale, day).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from core.errors import TerraMinerError

from ..landing import Landing
from .context import REFERENCE_DAYS, Context, build_context
from .dates import HORIZON_END, HORIZON_START, month_start
from .hedonic import CLASS_SHARES, FORMULA, PRICE_ROUNDING
from .hpi import SERIES_ID
from .recorder import MAX_LATE_DAYS, Rates
from .runner import REDELIVERY_DELAY, REDELIVERY_HORIZON, Run
from .sales import MAX_RECORDING_LAG, NON_ARMS_LENGTH_RULE
from .truth import TRUTH_KEY, TruthRecorder, dumps, theoretical_mdape

DEFAULT_SIGMA = 0.10
MAX_SCALE = 5000


@dataclass
class Defects:
    """Defect rates, probabilities in [0, 1]."""

    duplicate_rate: float = 0.0  # exact duplicate sale rows re-emitted inside a daily sales file
    malformed_rate: float = 0.0  # malformed sale rows (bad date, non-numeric price, wrong field count)
    late_rate: float = 0.0  # a daily sales file delivered 1-5 days late
    redelivery_rate: float = 0.0  # a daily sales file delivered erroneous, then corrected at the same key

    def rates(self) -> Rates:
        for name, value in asdict(self).items():
            if not 0.0 <= float(value) <= 1.0:
                raise TerraMinerError(f"defect rate {name}={value} is not a probability: use a value in [0, 1]")
        return Rates(self.duplicate_rate, self.malformed_rate, self.late_rate, self.redelivery_rate)


@dataclass
class GenerationSummary:
    files: list[str]
    parcels: int
    sales: int
    listing_events: int
    index_rows: int
    truth_key: str
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


def generate(
    landing: Landing,
    *,
    scale: int = 1,
    seed: int = 42,
    start: dt.date = dt.date(2022, 1, 1),
    days: int = 1096,
    defects: Defects | None = None,
    progress: Callable[[str], None] | None = None,
    sigma: float = DEFAULT_SIGMA,
) -> GenerationSummary:
    """Write the synthetic feeds for ``[start, start + days)`` into ``landing`` and the truth beside them."""
    began = time.perf_counter()
    defects = defects if defects is not None else Defects()
    rates = defects.rates()
    _validate(scale, seed, start, days, sigma)
    say = progress or (lambda _message: None)
    ctx = build_context(seed, scale, sigma)
    say(f"world: {len(ctx.parcels):,} parcels, {ctx.world.n_neighbourhoods} neighbourhoods in "
        f"{len(ctx.world.regions)} regions")
    run = Run(ctx, landing, rates, start, days, say)
    truth = run.execute()
    run.write(TRUTH_KEY, dumps(_truth_document(ctx, run, truth, defects, start, days)))
    say(f"done: {truth.counts.get('sales', 0):,} sales, {run.listing_events:,} listing events, "
        f"{len(run.keys):,} files")
    return GenerationSummary(
        files=sorted(run.keys),
        parcels=len(ctx.parcels),
        sales=truth.counts.get("sales", 0),
        listing_events=run.listing_events,
        index_rows=run.index_rows,
        truth_key=TRUTH_KEY,
        seconds=round(time.perf_counter() - began, 3),
        counts=_counts(ctx, run, truth),
    )


def _validate(scale: int, seed: int, start: dt.date, days: int, sigma: float) -> None:
    if not isinstance(scale, int) or not 1 <= scale <= MAX_SCALE:
        raise TerraMinerError(f"scale {scale!r} is out of range: use an integer from 1 to {MAX_SCALE}")
    if not isinstance(seed, int) or seed < 0:
        raise TerraMinerError(f"seed {seed!r} is not a non-negative integer")
    if not isinstance(days, int) or days < 1:
        raise TerraMinerError(f"days {days!r} must be a positive integer")
    if not 0 <= sigma <= 1:
        raise TerraMinerError(f"sigma {sigma!r} must be in [0, 1]")
    end = start + dt.timedelta(days=days - 1)
    if start < HORIZON_START or end > HORIZON_END:
        raise TerraMinerError(
            f"window {start}..{end} is outside the index horizon {HORIZON_START}..{HORIZON_END}: move --start or "
            "shorten --days"
        )


def _counts(ctx: Context, run: Run, truth: TruthRecorder) -> dict[str, int]:
    counts = dict(truth.counts)
    counts.update(
        parcels=len(ctx.parcels),
        listing_events=run.listing_events,
        bootstrap_listing_events=run.bootstrap_events,
        index_rows=run.index_rows,
        assessor_snapshots=len(run.snapshots),
        late_files=len(truth.late_files),
        redelivered_files=len(truth.redelivered_files),
        uncorrected_files=len(truth.uncorrected_files),
    )
    return counts


def _truth_document(ctx: Context, run: Run, truth: TruthRecorder, defects: Defects, start: dt.date,
                    days: int) -> dict[str, object]:
    world = ctx.world
    first, last = start, start + dt.timedelta(days=days - 1)
    return {
        "generator": "ingestion.synthetic",
        "format_version": 1,
        "seed": ctx.seed,
        "scale": ctx.scale,
        "start": first.isoformat(),
        "end": last.isoformat(),
        "days": days,
        "sigma": ctx.sigma,
        "price_rounding": PRICE_ROUNDING,
        "list_price_rounding": 1000,
        "hedonic": {
            "formula": FORMULA,
            "coefficients": ctx.coef.describe(),
            "class_effects": dict(ctx.coef.class_effects),
            "class_shares": dict(zip(("SFR", "CND", "TWN", "MFR"), CLASS_SHARES, strict=True)),
            "sale_price": "arm's-length: round(true_value * exp(eps) / 100) * 100, eps ~ N(0, sigma)",
        },
        "index": {
            "base": "100 at 2000-01",
            "horizon": [month_start(0).isoformat(), HORIZON_END.replace(day=1).isoformat()],
            "daily_value": "the month's value (piecewise constant within the month, no interpolation)",
            "series_id": SERIES_ID,
            "publication": "15th of the following month",
            "decimals": 4,
        },
        "regions": [
            {"region_code": r.code, "name": r.name, "metro": r.metro, "base_ppsf": r.base_ppsf,
             "centre_lat": r.centre_lat, "centre_lon": r.centre_lon, "grant_deed_share": r.gd_share}
            for r in world.regions
        ],
        "neighbourhoods": [
            {"postcode": f"{int(world.nb_postcode[i]):05d}", "region_code": world.regions[int(world.nb_region[i])].code,
             "city": world.nb_city[i], "premium": float(world.nb_premium[i]),
             "centre_lat": round(float(world.nb_lat[i]), 6), "centre_lon": round(float(world.nb_lon[i]), 6)}
            for i in range(world.n_neighbourhoods)
        ],
        "defects": asdict(defects),
        "non_arms_length": NON_ARMS_LENGTH_RULE,
        "conventions": {
            "sale_cycle_days": 180,
            "recording_lag_days": [0, MAX_RECORDING_LAG],
            "sales_delivery": "date folder = sale_date + the file's recording lag (>= every row's recording lag), "
            f"+1..{MAX_LATE_DAYS} days when late; the filename keeps the sale date",
            "redelivery": f"an erroneous first delivery (one spurious row, 1-3 prices off by 1-5%) is corrected at "
            f"the same key {REDELIVERY_DELAY} days later in the same call, or by a later call starting within "
            f"{REDELIVERY_HORIZON} days; sales_truth holds the corrected content",
            "mls_bootstrap": "the first day's events file opens with listed (+ pending/withdrawn) events at "
            "T00:00:00Z/T00:00:01Z for listings active before the window",
            "assessed_value": "round(0.85 * true_value(roll date) * exp(N(0, 0.06)) / 100) * 100",
            "renovations": "about 1% of parcels a year; later snapshots show more living_sqft and/or better condition",
        },
        "counts": _counts(ctx, run, truth),
        "files": {
            "assessor_snapshots": run.snapshots,
            "late_sales_files": truth.late_files,
            "redelivered_sales_files": truth.redelivered_files,
            "uncorrected_sales_files": truth.uncorrected_files,
        },
        "noise_floor_mdape": truth.noise_floor(),
        "noise_floor_mdape_theory": theoretical_mdape(ctx.sigma),
        "reference_days": REFERENCE_DAYS,
    }
