"""One day's true sales: who sells, at what price, under which deed, between whom.

Depends only on (seed, scale, sigma, day). Non-arm's-length sales (≈8 %): quitclaims (``QCD``, price 0, 10
or a nominal amount below $1,000), related-party transfers (``WD`` with buyer and seller sharing a surname,
price 50–80 % of value) and foreclosures (``TRD`` trustee deeds, 65–80 % of value). Arm's-length sales are
``WD`` or ``GD`` at ``true_value * exp(N(0, sigma))``, rounded to $100.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .context import Context
from .hedonic import PRICE_ROUNDING
from .names import FIRST_NAMES, LENDERS, SURNAMES, TRUSTEES, draw_people, render_people
from .parcels import Attributes, attributes_at, true_values
from .rng import Stream, day_rng

DEED_TYPES = ("WD", "GD", "QCD", "TRD")
WD, GD, QCD, TRD = range(4)
ARMS, RELATED, QUITCLAIM, FORECLOSURE = range(4)
_KIND_CUTS = (0.035, 0.055, 0.08)  # cumulative shares of QUITCLAIM, RELATED, FORECLOSURE
MAX_RECORDING_LAG = 10

NON_ARMS_LENGTH_RULE = {
    "deed_types": ["QCD", "TRD"],
    "related_party": "deed_type in (WD, GD) and buyer and seller are both people ('SURNAME, FIRST M') with the "
    "same surname (text before the first comma)",
    "rule": "is_arms_length = not (deed_type in ('QCD','TRD') or related_party)",
    "shares": {"QCD": 0.035, "related_party_WD": 0.02, "TRD": 0.025},
    "prices": {"QCD": "0, 10 or a nominal 100..900", "related_party_WD": "50-80% of true value",
               "TRD": "65-80% of true value"},
}


@dataclass
class DaySales:
    day: dt.date
    parcel: np.ndarray  # int64 parcel indexes
    true_value: np.ndarray  # float64
    price: np.ndarray  # int64 dollars
    deed: np.ndarray  # int8 into DEED_TYPES
    kind: np.ndarray  # int8 ARMS / RELATED / QUITCLAIM / FORECLOSURE
    buyer: list[str]  # CSV-ready (quoted when needed)
    seller: list[str]
    recording_lag: np.ndarray  # int64 days, 0..file_lag
    file_lag: int  # days from the sale date to the normal delivery of the day's file
    attrs: Attributes
    unsold: np.ndarray  # eligible parcels that did not sell (random order)

    def __len__(self) -> int:
        return len(self.parcel)

    @property
    def arms(self) -> np.ndarray:
        return self.kind == ARMS


def simulate_sales(ctx: Context, day: dt.date) -> DaySales:
    rng = day_rng(ctx.seed, ctx.scale, day, Stream.SALES)
    eligible = rng.permutation(ctx.eligible(day))
    n = min(int(rng.poisson(ctx.expected_sales(day))), len(eligible))
    parcel = np.sort(eligible[:n]).astype(np.int64)
    u_kind, u_gd, u_price, eps = rng.random(n), rng.random(n), rng.random(n), rng.standard_normal(n)
    nominal = np.array([0, 10, 100, 250, 500, 900])[rng.integers(0, 6, n)]

    kind = np.select(
        [u_kind < _KIND_CUTS[0], u_kind < _KIND_CUTS[1], u_kind < _KIND_CUTS[2]], [QUITCLAIM, RELATED, FORECLOSURE], ARMS
    ).astype(np.int8)
    region = ctx.parcels.region[parcel].astype(np.int64)
    deed = np.select(
        [kind == QUITCLAIM, kind == FORECLOSURE, kind == RELATED, u_gd < ctx.world.gd_share[region]],
        [QCD, TRD, WD, GD],
        WD,
    ).astype(np.int8)

    attrs = attributes_at(ctx.parcels, parcel, day)
    value = true_values(ctx.world, ctx.coef, ctx.parcels, parcel, day, attrs)
    factor = np.select(
        [kind == ARMS, kind == RELATED, kind == FORECLOSURE],
        [np.exp(ctx.sigma * eps), 0.5 + 0.3 * u_price, 0.65 + 0.15 * u_price],
        0.0,
    )
    price = (np.round(value * factor / PRICE_ROUNDING) * PRICE_ROUNDING).astype(np.int64)
    price = np.where(kind == QUITCLAIM, nominal, price)

    buyer, seller = _names(ctx, day, kind)
    rec = day_rng(ctx.seed, ctx.scale, day, Stream.RECORDING)
    file_lag = int(rec.integers(1, MAX_RECORDING_LAG + 1))
    return DaySales(
        day=day,
        parcel=parcel,
        true_value=value,
        price=price,
        deed=deed,
        kind=kind,
        buyer=buyer,
        seller=seller,
        recording_lag=rec.integers(0, file_lag + 1, n),
        file_lag=file_lag,
        attrs=attrs,
        unsold=eligible[n:].astype(np.int64),
    )


def _names(ctx: Context, day: dt.date, kind: np.ndarray) -> tuple[list[str], list[str]]:
    n = len(kind)
    rng = day_rng(ctx.seed, ctx.scale, day, Stream.NAMES)
    b_surname, b_first, b_initial = draw_people(rng, n)
    s_surname, s_first, s_initial = draw_people(rng, n)
    u_buyer_company, u_seller_company, u_same = rng.random(n), rng.random(n), rng.random(n)
    company = rng.integers(0, len(ctx.companies), (n, 2))
    lender, trustee = rng.integers(0, len(LENDERS), n), rng.integers(0, len(TRUSTEES), n)

    same = (kind == RELATED) | ((kind == QUITCLAIM) & (u_same < 0.5))
    clash = (kind == ARMS) & (s_surname == b_surname)
    s_surname = np.where(same, b_surname, np.where(clash, (s_surname + 1) % len(SURNAMES), s_surname))
    s_first = np.where(same & (s_first == b_first), (s_first + 1) % len(FIRST_NAMES), s_first)
    buyers = render_people(b_surname, b_first, b_initial)
    sellers = render_people(s_surname, s_first, s_initial)
    for i in np.flatnonzero(kind == ARMS).tolist():
        if u_buyer_company[i] < 0.06:
            buyers[i] = ctx.companies[company[i, 0]]
        if u_seller_company[i] < 0.04:
            sellers[i] = ctx.companies[company[i, 1]]
    for i in np.flatnonzero(kind == FORECLOSURE).tolist():
        buyers[i] = LENDERS[lender[i]] if u_buyer_company[i] < 0.7 else ctx.companies[company[i, 0]]
        sellers[i] = TRUSTEES[trustee[i]]
    return buyers, sellers
