"""The world: regions, neighbourhoods and the index path. Depends only on (seed, scale)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index_path import build_index
from .names import STREETS
from .rng import Stream, world_rng

# code, name, metro, centre lat, centre long, base price per sqft at 2000-01, ZIP3 prefix, cities, share of parcels,
# share of arm's-length deeds that are grant deeds
_REGIONS = (
    ("R01", "Bayshore", "Bayshore-Harbor City", 37.62, -122.18, 240.0, 945, ("HARBOR CITY", "BAYSHORE", "MIRA VISTA"),
     0.24, 0.85),
    ("R02", "Cedar Valley", "Cedar Valley-Lakeport", 45.46, -122.71, 120.0, 972, ("LAKEPORT", "CEDAR VALLEY", "ASHLAND"),
     0.18, 0.10),
    ("R03", "Red Mesa", "Red Mesa-Sun Springs", 33.46, -112.04, 95.0, 852, ("SUN SPRINGS", "RED MESA", "PALO SECO"),
     0.18, 0.15),
    ("R04", "Prairie Bend", "Prairie Bend", 39.11, -94.62, 70.0, 641, ("PRAIRIE BEND", "FORT LINDEN", "OAK GROVE"),
     0.14, 0.05),
    ("R05", "Magnolia Bay", "Magnolia Bay-Pine Harbor", 28.55, -81.38, 90.0, 328, ("PINE HARBOR", "MAGNOLIA BAY", "SEVEN OAKS"),
     0.14, 0.05),
    ("R06", "Granite Falls", "Granite Falls-Millbrook", 42.36, -71.49, 150.0, 174, ("MILLBROOK", "GRANITE FALLS", "HAVERLY"),
     0.12, 0.10),
)
STREETS_PER_NEIGHBOURHOOD = 14


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    metro: str
    centre_lat: float
    centre_lon: float
    base_ppsf: float
    gd_share: float


@dataclass(frozen=True)
class World:
    seed: int
    scale: int
    regions: tuple[Region, ...]
    # neighbourhood arrays, index = neighbourhood number
    nb_region: np.ndarray  # int8
    nb_postcode: np.ndarray  # int32, 5 digits
    nb_city: tuple[str, ...]
    nb_premium: np.ndarray  # float64, log scale
    nb_lat: np.ndarray
    nb_lon: np.ndarray
    nb_era: np.ndarray  # mean year built
    nb_weight: np.ndarray  # share of all parcels
    nb_streets: np.ndarray  # (n_neighbourhoods, STREETS_PER_NEIGHBOURHOOD) indexes into names.STREETS
    index: np.ndarray  # (n_regions, HORIZON_MONTHS)

    @property
    def n_neighbourhoods(self) -> int:
        return len(self.nb_region)

    @property
    def log_base_ppsf(self) -> np.ndarray:
        return np.log([region.base_ppsf for region in self.regions])

    @property
    def gd_share(self) -> np.ndarray:
        return np.array([region.gd_share for region in self.regions])


def build_world(seed: int, scale: int) -> World:
    rng = world_rng(seed, scale, Stream.REGIONS)
    regions = []
    nb_region, nb_postcode, nb_city, nb_premium, nb_lat, nb_lon, nb_era, nb_weight, nb_streets = ([] for _ in range(9))
    for number, (code, name, metro, lat, lon, ppsf, zip3, cities, share, gd_share) in enumerate(_REGIONS):
        lat += rng.normal(0, 0.05)
        lon += rng.normal(0, 0.05)
        regions.append(Region(code, name, metro, round(lat, 6), round(lon, 6),
                              round(ppsf * float(np.exp(rng.normal(0, 0.08))), 2), gd_share))
        count = int(rng.integers(6, 13))
        suffixes = np.sort(rng.choice(np.arange(1, 100), size=count, replace=False))
        weights = rng.lognormal(0, 0.4, count)
        for k in range(count):
            nb_region.append(number)
            nb_postcode.append(zip3 * 100 + int(suffixes[k]))
            nb_city.append(cities[min(k * len(cities) // count, len(cities) - 1)])
            nb_premium.append(rng.normal(0, 0.15))
            nb_lat.append(lat + rng.normal(0, 0.07))
            nb_lon.append(lon + rng.normal(0, 0.09))
            nb_era.append(rng.uniform(1925, 2012))
            nb_weight.append(share * weights[k] / weights.sum())
            nb_streets.append(rng.choice(len(STREETS), size=STREETS_PER_NEIGHBOURHOOD, replace=False))
    return World(
        seed=seed,
        scale=scale,
        regions=tuple(regions),
        nb_region=np.array(nb_region, dtype=np.int8),
        nb_postcode=np.array(nb_postcode, dtype=np.int32),
        nb_city=tuple(nb_city),
        nb_premium=np.array(nb_premium),
        nb_lat=np.array(nb_lat),
        nb_lon=np.array(nb_lon),
        nb_era=np.array(nb_era),
        nb_weight=np.array(nb_weight) / np.sum(nb_weight),
        nb_streets=np.array(nb_streets, dtype=np.int16),
        index=build_index(seed, scale, len(regions)),
    )
