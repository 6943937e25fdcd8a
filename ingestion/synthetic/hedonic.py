"""The planted hedonic price model."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

CLASS_CODES = ("SFR", "CND", "TWN", "MFR")
CLASS_SHARES = (0.65, 0.15, 0.12, 0.08)
PRICE_ROUNDING = 100  # sale prices are rounded to the nearest $100
# the reference house (SFR, 1800 sqft, 6000 sqft lot, 3 bed, 2 bath, 40 years, grade 7, condition 3) is worth
# exactly base_ppsf * 1800 * index / 100: the intercept below is solved for that.
_REFERENCE = {"living_sqft": 1800.0, "land_sqft": 6000.0, "bedrooms": 3, "bathrooms": 2.0, "age": 40}


@dataclass(frozen=True)
class Coefficients:
    b_sqft: float = 0.75
    b_lot: float = 0.06
    b_bed: float = -0.02
    b_bath: float = 0.04
    b_age: float = -0.006
    b_age2: float = 0.00004
    b_grade: float = 0.08
    b_cond: float = 0.05
    class_effects: dict[str, float] = field(
        default_factory=lambda: {"SFR": 0.0, "CND": -0.10, "TWN": -0.05, "MFR": 0.05}
    )

    @property
    def intercept(self) -> float:
        ref = _REFERENCE
        return math.log(ref["living_sqft"]) - (
            self.b_sqft * math.log(ref["living_sqft"])
            + self.b_lot * math.log1p(ref["land_sqft"])
            + self.b_bed * ref["bedrooms"]
            + self.b_bath * ref["bathrooms"]
            + self.b_age * ref["age"]
            + self.b_age2 * ref["age"] ** 2
        )

    def class_effect_array(self) -> np.ndarray:
        return np.array([self.class_effects[code] for code in CLASS_CODES])

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {k: v for k, v in asdict(self).items() if k != "class_effects"}
        out["intercept"] = self.intercept
        return out


FORMULA = (
    "log(true_value) = log(region_base_ppsf) + neighbourhood_premium + intercept + b_sqft*log(living_sqft)"
    " + b_lot*log1p(land_sqft) + b_bed*bedrooms + b_bath*bathrooms + b_age*age + b_age2*age^2"
    " + b_grade*(quality_grade-7) + b_cond*(condition_code-3) + class_effect[property_class]"
    " + log(index[region, month]/100); age = max(0, year - year_built); attributes as of the date"
    " (renovations dated on or before it applied); index = the month's published value (piecewise constant"
    " within a month, no interpolation)"
)


def log_true_value(
    coef: Coefficients,
    *,
    log_base_ppsf: np.ndarray,
    premium: np.ndarray,
    living_sqft: np.ndarray,
    land_sqft: np.ndarray,
    bedrooms: np.ndarray,
    bathrooms: np.ndarray,
    age: np.ndarray,
    grade: np.ndarray,
    condition: np.ndarray,
    class_code: np.ndarray,
    index_value: np.ndarray,
) -> np.ndarray:
    age = np.asarray(age, dtype=np.float64)
    return (
        log_base_ppsf
        + premium
        + coef.intercept
        + coef.b_sqft * np.log(living_sqft)
        + coef.b_lot * np.log1p(land_sqft)
        + coef.b_bed * bedrooms
        + coef.b_bath * bathrooms
        + coef.b_age * age
        + coef.b_age2 * age**2
        + coef.b_grade * (np.asarray(grade, dtype=np.float64) - 7)
        + coef.b_cond * (np.asarray(condition, dtype=np.float64) - 3)
        + coef.class_effect_array()[class_code]
        + np.log(index_value / 100.0)
    )
