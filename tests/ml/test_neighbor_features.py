"""Neighbour price level of the AVM (issue 20): the distance-weighted log price per sqft (and
log price, recency-weighted, mean distance) of the nearest sales with a known price dated
strictly before the valuation day, computed inside the model from the training sales and the
sales known since (``known_rows``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.model import NEIGHBOR_COLUMNS, AVMModel, _days, neighbor_columns
from ml.train import evaluate
from tests.ml.conftest import assert_only_earlier_prices_count
from tests.ml.test_comps import FAST, _hot_spots

NEAR = {**FAST, "neighbor_features": True}


def test_neighbor_columns_use_only_earlier_days():
    history = {"lat": np.array([40.0, 40.0, 40.001]), "lon": np.array([-100.0, -100.0, -100.0]),
               "day": np.array([10, 20, 30]), "log_ppsf": np.array([5.0, 6.0, 9.0]),
               "log_price": np.array([12.0, 13.0, 16.0])}
    lat, lon = np.array([40.0, 40.0, 40.0, np.nan]), np.array([-100.0, -100.0, -100.0, -100.0])
    out = neighbor_columns(lat, lon, np.array([10, 20, 31, 31]), history)
    assert set(out) == set(NEIGHBOR_COLUMNS)
    assert np.isnan(out["nearby10_log_ppsf"][0])  # nothing strictly before day 10
    assert out["nearby10_log_ppsf"][1] == 5.0  # day 20 sees only the day-10 sale
    assert 5.0 < out["nearby10_log_ppsf"][2] < 9.0  # all three, the nearest weigh most
    assert np.isnan(out["nearby10_log_ppsf"][3])  # no coordinates


def test_neighbor_features_learn_a_premium_no_feature_names():
    frame = _hot_spots()
    without = evaluate(frame, **FAST)
    with_neighbors = evaluate(frame, **NEAR)
    assert with_neighbors.metrics["mdape"] < without.metrics["mdape"] - 0.01, (with_neighbors.metrics,
                                                                                without.metrics)
    assert 0.65 <= with_neighbors.metrics["coverage80"] <= 0.95


def test_neighbor_features_are_point_in_time():
    """Perturbing every price from a cut day on must not change any prediction before that day
    (it must change later ones), and a sale's own price never reaches its estimate."""
    frame = _hot_spots(n=1200, seed=11)
    result = evaluate(frame, **NEAR)
    assert "nearby10_log_ppsf" in result.model.feature_names_
    test = frame[frame["sale_date"] >= result.window.test_start].reset_index(drop=True)
    assert_only_earlier_prices_count(result.model, test)
    # training rows too: the features of a training sale ignore its own and later prices
    train = frame[frame["sale_date"] < result.window.test_start].reset_index(drop=True)
    model = AVMModel(result.model.numeric_features, result.model.categorical_features,
                     **NEAR).fit(train, train["sale_price"], train["sale_date"])
    day = pd.Timestamp(train["sale_date"].iloc[len(train) // 2])
    moved = train.copy()
    moved.loc[moved["sale_date"] >= day, "sale_price"] *= 3
    refit = AVMModel(result.model.numeric_features, result.model.categorical_features,
                     **NEAR)
    refit.categories_ = model.categories_
    days = _days(train["sale_date"].to_numpy())
    refit.neighbors_ = refit._neighbor_rows(moved, moved["sale_price"], days)
    early = (train["sale_date"] <= day).to_numpy()
    a = model._design(train, days)
    b = refit._design(moved, days)
    cols = list(NEIGHBOR_COLUMNS)
    pd.testing.assert_frame_equal(a.loc[early, cols], b.loc[early, cols])
    assert not a.loc[~early, cols].equals(b.loc[~early, cols])


def test_rows_without_coordinates_or_area_are_valued():
    frame = _hot_spots(n=600, seed=4)
    model = AVMModel(("living_sqft", "bedrooms", "latitude", "longitude"), ("region_id",),
                     **NEAR).fit(frame, frame["sale_price"], frame["sale_date"])
    blank = frame.head(3).assign(latitude=np.nan, longitude=np.nan, living_sqft=np.nan)
    out = model.predict(blank)
    assert list(out.columns) == ["estimate", "lower", "upper"] and np.all(np.isfinite(out["estimate"]))
    # a market without area: the price-per-sqft columns are left out, the rest stays
    no_area = AVMModel(("bedrooms", "latitude", "longitude"), ("region_id",), **NEAR)
    no_area.fit(frame, frame["sale_price"], frame["sale_date"])
    assert "nearby10_log_price" in no_area.feature_names_ and "nearby10_log_ppsf" not in no_area.feature_names_
    assert np.all(np.isfinite(no_area.predict(frame.head(3))["estimate"]))
    # a market without coordinates: the option is a no-op
    plain = AVMModel(("living_sqft", "bedrooms"), ("region_id",), **NEAR)
    plain.fit(frame, frame["sale_price"], frame["sale_date"])
    assert not any(name in plain.feature_names_ for name in NEIGHBOR_COLUMNS)
