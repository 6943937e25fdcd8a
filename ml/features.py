"""Feature tables → model inputs. The dbt models ``features.feat_avm_sales`` (training rows: one
per arm's-length sale, every feature point-in-time) and ``features.feat_avm_properties`` (one
row per property, features as of the valuation date) share these column names."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import psycopg

SALES_TABLE = "features.feat_avm_sales"
PROPERTIES_TABLE = "features.feat_avm_properties"

# Attributes of the property itself (static, or aged to the sale / valuation date).
NUMERIC_FEATURES = (
    "living_sqft", "lot_sqft", "above_grade_sqft", "basement_sqft", "bedrooms", "bathrooms", "stories",
    "year_built", "age_years", "years_since_renovation", "quality_grade", "condition_code", "view_score",
    "has_waterfront", "nearby_living_sqft", "nearby_lot_sqft", "latitude", "longitude",
)
CATEGORICAL_FEATURES = ("neighborhood_id", "property_type", "region_id")
# Point-in-time market context in the feature tables (documented and leak-tested; the research
# in ml/research/FINDINGS.md found the model's drift stage does better with them left out).
MARKET_FEATURES = (
    "region_prior_sales_ew", "region_ew_log_ppsf", "neighborhood_prior_sales_ew", "neighborhood_ew_log_ppsf",
    "previous_sale_price", "days_since_previous_sale",
)
LABEL = "sale_price"
MIN_PRESENT_SHARE = 0.5  # a feature is used when at least half the training rows have it


@dataclass(frozen=True)
class FeatureSpec:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def select_features(train: pd.DataFrame, include_market: bool = False) -> FeatureSpec:
    """The features this training set actually carries (sources differ: NYC has no grade, …)."""
    candidates = NUMERIC_FEATURES + (MARKET_FEATURES if include_market else ())
    numeric = tuple(c for c in candidates if c in train and train[c].notna().mean() >= MIN_PRESENT_SHARE)
    categorical = tuple(
        c for c in CATEGORICAL_FEATURES
        if c in train and train[c].notna().mean() >= MIN_PRESENT_SHARE and train[c].nunique() > 1
    )
    return FeatureSpec(numeric, categorical)


def _read(conn: psycopg.Connection, query: str, params: tuple) -> pd.DataFrame:
    with conn.cursor() as cur:
        cur.execute(query, params)
        names = [d.name for d in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=names)
    for col in frame.columns:
        if col in NUMERIC_FEATURES or col in MARKET_FEATURES or col == LABEL:
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def load_sales(conn: psycopg.Connection, dataset: str) -> pd.DataFrame:
    frame = _read(conn, f"select * from {SALES_TABLE} where source_system = %s order by sale_date, sale_id", (dataset,))
    frame["sale_date"] = pd.to_datetime(frame["sale_date"])
    return frame


def load_properties(conn: psycopg.Connection, dataset: str) -> pd.DataFrame:
    frame = _read(conn, f"select * from {PROPERTIES_TABLE} where source_system = %s order by property_id", (dataset,))
    if "valuation_date" in frame:
        frame["valuation_date"] = pd.to_datetime(frame["valuation_date"])
    return frame
