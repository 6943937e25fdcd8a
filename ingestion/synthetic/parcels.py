"""Parcels: generated in vectorised chunks from (seed, scale) and kept as compact columns.

Renovations are part of the world too: a parcel may carry a renovation date (anywhere in the index
horizon); from that date on its living area and/or condition (and sometimes bedrooms) are higher.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .dates import HORIZON_END, HORIZON_START, clip_month, month_index
from .hedonic import CLASS_SHARES, Coefficients, log_true_value
from .names import STREET_SUFFIXES, STREETS
from .rng import Stream, world_rng
from .world import STREETS_PER_NEIGHBOURHOOD, World

CHUNK = 50_000
SALE_CYCLE = 180  # a parcel can only sell on days d with d.toordinal() % 180 == its phase
RENOVATION_SHARE = 0.45  # of parcels over the 46-year horizon: ≈1 % a year, ≈3 % in a 3-year window
NO_RENOVATION = np.iinfo(np.int32).max
_ID_MULTIPLIER = 387_420_489  # 3**18, coprime with 10**9: a bijection on 9-digit numbers

_LIVING_MEDIAN = np.array([1800.0, 1000.0, 1400.0, 2600.0])
_LIVING_SD = np.array([0.30, 0.25, 0.22, 0.25])


@dataclass
class Parcels:
    id_offset: int
    nb: np.ndarray  # int16 neighbourhood
    region: np.ndarray  # int8
    class_code: np.ndarray  # int8 into hedonic.CLASS_CODES
    living_sqft: np.ndarray  # int32
    land_sqft: np.ndarray  # int32
    bedrooms: np.ndarray  # int8
    bath_halves: np.ndarray  # int8, bathrooms * 2
    year_built: np.ndarray  # int16
    stories: np.ndarray  # int8
    condition: np.ndarray  # int8
    grade: np.ndarray  # int8
    lat: np.ndarray
    lon: np.ndarray
    house_number: np.ndarray  # int16
    street: np.ndarray  # int16 into names.STREETS
    unit: np.ndarray  # int16, 0 = none
    phase: np.ndarray  # int16 in [0, SALE_CYCLE)
    reno_ordinal: np.ndarray  # int32, NO_RENOVATION = never
    reno_sqft_frac: np.ndarray  # float32
    reno_condition_gain: np.ndarray  # int8
    land_share: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.nb)

    def ids(self, idx: np.ndarray) -> list[str]:
        numbers = (np.asarray(idx, dtype=np.int64) * _ID_MULTIPLIER + self.id_offset) % 1_000_000_000
        return [f"P{n:09d}" for n in numbers.tolist()]

    def addresses(self, idx: np.ndarray) -> list[str]:
        house = self.house_number[idx].tolist()
        street = self.street[idx].tolist()
        nb = self.nb[idx].tolist()
        unit = self.unit[idx].tolist()
        out = []
        for h, s, n, u in zip(house, street, nb, unit, strict=True):
            base = f"{h} {STREETS[s]} {STREET_SUFFIXES[(s * 7 + n) % len(STREET_SUFFIXES)]}"
            out.append(f"{base} UNIT {u}" if u else base)
        return out

    def eligible_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Parcel indexes sorted by sale phase, and the start offset of each phase."""
        order = np.argsort(self.phase, kind="stable").astype(np.int32)
        bounds = np.searchsorted(self.phase[order], np.arange(SALE_CYCLE + 1))
        return order, bounds


@dataclass
class Attributes:
    """Parcel attributes as of one date (renovations applied)."""

    living_sqft: np.ndarray
    bedrooms: np.ndarray
    bathrooms: np.ndarray
    condition: np.ndarray


def build_parcels(world: World, scale: int) -> Parcels:
    total = scale * 1000
    chunks = [_chunk(world, k, min(CHUNK, total - start)) for k, start in enumerate(range(0, total, CHUNK))]
    columns = {name: np.concatenate([chunk[name] for chunk in chunks]) for name in chunks[0]}
    offset = int(world_rng(world.seed, scale, Stream.IDS).integers(0, 1_000_000_000))
    return Parcels(id_offset=offset, **columns)


def _chunk(world: World, k: int, size: int) -> dict[str, np.ndarray]:
    rng = world_rng(world.seed, world.scale, Stream.PARCELS, k)
    nb = rng.choice(world.n_neighbourhoods, size=size, p=world.nb_weight)
    cls = rng.choice(len(CLASS_SHARES), size=size, p=CLASS_SHARES)
    premium = world.nb_premium[nb]
    living = np.exp(np.log(_LIVING_MEDIAN[cls]) + _LIVING_SD[cls] * rng.standard_normal(size) + 0.3 * premium)
    living = np.clip(np.round(living / 10) * 10, 400, 9000)

    land = np.exp(np.log(np.array([6500.0, 1.0, 2200.0, 6500.0])[cls]) + 0.42 * rng.standard_normal(size))
    condo_land = np.where(rng.random(size) < 0.6, 0.0, rng.uniform(200, 1500, size))
    land = np.where(cls == 1, condo_land, land * np.exp(-0.4 * premium))
    land = np.round(land / 10) * 10

    bedrooms = np.clip(np.round(living / 600 + rng.normal(0.4, 0.6, size)), 1, 6)
    bedrooms = np.where(cls == 1, np.minimum(bedrooms, 3), bedrooms)
    halves = np.clip(np.round(2 * (0.55 * bedrooms + 0.35 + rng.normal(0, 0.35, size))), 2, 10)
    halves = np.where(cls == 3, np.minimum(halves + 2, 10), halves)
    year = np.clip(np.round(rng.normal(world.nb_era[nb], 14)), 1900, 2021)
    year = np.where(cls == 1, np.maximum(year, 1960), year)

    u = rng.random(size)
    stories = np.select(
        [cls == 0, cls == 1, cls == 2],
        [np.where(u < 0.5, 1, np.where(u < 0.95, 2, 3)), np.ones(size), np.where(u < 0.7, 2, 3)],
        np.where(u < 0.2, 1, np.where(u < 0.85, 2, 3)),
    )
    condition = rng.choice(np.arange(1, 6), size=size, p=[0.03, 0.12, 0.55, 0.22, 0.08])
    grade = np.clip(np.round(rng.normal(7 + 4 * premium + 0.8 * np.log(living / 1800), 1.2)), 3, 12)

    street = world.nb_streets[nb, rng.integers(0, STREETS_PER_NEIGHBOURHOOD, size)]
    unit_draw = rng.integers(1, 400, size)
    unit = np.where(cls == 1, unit_draw, np.where((cls == 2) & (unit_draw % 2 == 0), unit_draw % 40 + 1, 0))

    reno_rng = world_rng(world.seed, world.scale, Stream.RENOVATIONS, k)
    renovated = reno_rng.random(size) < RENOVATION_SHARE
    reno_day = reno_rng.integers(HORIZON_START.toordinal(), HORIZON_END.toordinal() + 1, size)
    frac = np.where(reno_rng.random(size) < 0.4, 0.0, reno_rng.uniform(0.10, 0.30, size))
    gain = reno_rng.integers(1, 3, size)
    share_noise = reno_rng.normal(0, 0.05, size)
    land_share = np.where(cls == 1, 0.10 + share_noise / 2, np.clip(0.30 + 0.5 * premium + share_noise, 0.1, 0.7))

    return {
        "nb": nb.astype(np.int16),
        "region": world.nb_region[nb],
        "class_code": cls.astype(np.int8),
        "living_sqft": living.astype(np.int32),
        "land_sqft": land.astype(np.int32),
        "bedrooms": bedrooms.astype(np.int8),
        "bath_halves": halves.astype(np.int8),
        "year_built": year.astype(np.int16),
        "stories": stories.astype(np.int8),
        "condition": condition.astype(np.int8),
        "grade": grade.astype(np.int8),
        "lat": world.nb_lat[nb] + rng.normal(0, 0.012, size),
        "lon": world.nb_lon[nb] + rng.normal(0, 0.015, size),
        "house_number": rng.integers(100, 9999, size).astype(np.int16),
        "street": street.astype(np.int16),
        "unit": unit.astype(np.int16),
        "phase": rng.integers(0, SALE_CYCLE, size).astype(np.int16),
        "reno_ordinal": np.where(renovated, reno_day, NO_RENOVATION).astype(np.int32),
        "reno_sqft_frac": frac.astype(np.float32),
        "reno_condition_gain": gain.astype(np.int8),
        "land_share": np.clip(land_share, 0.03, 0.8).astype(np.float32),
    }


def attributes_at(parcels: Parcels, idx: np.ndarray, day: dt.date) -> Attributes:
    done = parcels.reno_ordinal[idx] <= day.toordinal()
    frac = parcels.reno_sqft_frac[idx].astype(np.float64)
    living = parcels.living_sqft[idx].astype(np.int64)
    grown = (np.round(living * (1 + frac) / 10) * 10).astype(np.int64)
    living = np.where(done, grown, living)
    condition = np.where(done, np.minimum(parcels.condition[idx] + parcels.reno_condition_gain[idx], 5),
                         parcels.condition[idx]).astype(np.int64)
    bedrooms = parcels.bedrooms[idx].astype(np.int64)
    max_bed = np.where(parcels.class_code[idx] == 1, 3, 6)
    bedrooms = np.where(done & (frac >= 0.2), np.minimum(bedrooms + 1, max_bed), bedrooms)
    return Attributes(living, bedrooms, parcels.bath_halves[idx] / 2.0, condition)


def true_values(world: World, coef: Coefficients, parcels: Parcels, idx: np.ndarray, day: dt.date,
                attrs: Attributes | None = None) -> np.ndarray:
    """Unrounded true market values of parcels ``idx`` on ``day`` (the index of that day's month)."""
    attrs = attrs if attrs is not None else attributes_at(parcels, idx, day)
    region = parcels.region[idx].astype(np.int64)
    month = int(clip_month(month_index(day)))
    return np.exp(
        log_true_value(
            coef,
            log_base_ppsf=world.log_base_ppsf[region],
            premium=world.nb_premium[parcels.nb[idx]],
            living_sqft=attrs.living_sqft,
            land_sqft=parcels.land_sqft[idx],
            bedrooms=attrs.bedrooms,
            bathrooms=attrs.bathrooms,
            age=np.maximum(0, day.year - parcels.year_built[idx].astype(np.int64)),
            grade=parcels.grade[idx],
            condition=attrs.condition,
            class_code=parcels.class_code[idx],
            index_value=world.index[region, month],
        )
    )
