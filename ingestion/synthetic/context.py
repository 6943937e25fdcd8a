"""Everything a day's simulation needs, built once per ``generate`` call from (seed, scale, sigma)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from .hedonic import Coefficients
from .names import companies
from .parcels import SALE_CYCLE, Parcels, build_parcels
from .world import World, build_world

SALES_PER_1000_PARCELS = 1000  # sales over a 1,096-day period per 1,000 parcels (scale 1)
REFERENCE_DAYS = 1096
# seasonality of sale volume (Jan..Dec) and weekday weights (Mon..Sun); both averaged to 1
_MONTH_WEIGHTS = np.array([0.72, 0.78, 0.95, 1.05, 1.15, 1.22, 1.18, 1.12, 1.0, 0.98, 0.88, 0.97])
_WEEKDAY_WEIGHTS = np.array([1.2, 1.2, 1.2, 1.25, 1.45, 0.45, 0.25])


@dataclass
class Context:
    seed: int
    scale: int
    sigma: float
    world: World
    parcels: Parcels
    coef: Coefficients = field(default_factory=Coefficients)
    order: np.ndarray = field(init=False)
    bounds: np.ndarray = field(init=False)
    companies: tuple[str, ...] = field(default_factory=companies)

    def __post_init__(self) -> None:
        self.order, self.bounds = self.parcels.eligible_index()

    @property
    def n_agents(self) -> int:
        return min(99_999, 30 * self.scale + 50)

    def eligible(self, day: dt.date) -> np.ndarray:
        """Parcels allowed to sell on ``day``: the same phase of the 180-day cycle (so ≥180 days apart)."""
        phase = day.toordinal() % SALE_CYCLE
        return self.order[self.bounds[phase] : self.bounds[phase + 1]]

    def expected_sales(self, day: dt.date) -> float:
        base = self.scale * SALES_PER_1000_PARCELS / REFERENCE_DAYS
        month = _MONTH_WEIGHTS / _MONTH_WEIGHTS.mean()
        weekday = _WEEKDAY_WEIGHTS / _WEEKDAY_WEIGHTS.mean()
        return float(base * month[day.month - 1] * weekday[day.weekday()])


def build_context(seed: int, scale: int, sigma: float) -> Context:
    world = build_world(seed, scale)
    return Context(seed=seed, scale=scale, sigma=sigma, world=world, parcels=build_parcels(world, scale))
