"""Stage 3 of the AVM (issue 20): comparable sales. The residuals of the nearest sales with a
known price, dated strictly before the valuation day, correct the estimate; a property's own
earlier sale is one of them (repeat sales). Also the per-sqft target."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.model import AVMModel, _days
from ml.train import evaluate
from tests.ml.conftest import assert_only_earlier_prices_count, synthetic_sales

XDIST_WEIGHT = 60
# stage 3 alone: the neighbour price level (on by default, tests/ml/test_neighbor_features.py) off
FAST = {"seeds": (0,), "max_iter": 300, "comps_folds": 3, "neighbor_features": False}


def _hot_spots(n: int = 1500, seed: int = 7) -> pd.DataFrame:
    """Synthetic sales plus a fine-grained location premium (±20 % on a 0.1° checkerboard) that no
    feature names: only the neighbours' prices reveal it."""
    frame = synthetic_sales(n=n, seed=seed).drop(columns=["true_value"])
    cell = (np.floor(frame["latitude"] / 0.1) + np.floor(frame["longitude"] / 0.1)) % 2
    frame["sale_price"] = np.round(frame["sale_price"] * np.where(cell == 1, 1.2, 0.8), -2)
    return frame


def test_comparable_sales_learn_a_premium_no_feature_names():
    frame = _hot_spots()
    without = evaluate(frame, **FAST)
    with_comps = evaluate(frame, comps_neighbors=12, comps_scale_km=2.0, **FAST)
    assert with_comps.metrics["mdape"] < without.metrics["mdape"] - 0.01, (with_comps.metrics, without.metrics)
    assert 0.65 <= with_comps.metrics["coverage80"] <= 0.95


def test_comps_use_only_sales_dated_strictly_before_the_valuation_day():
    """Perturbing every price from a cut day on (and the coordinates' neighbours among them) must not
    change any prediction before that day; it must change later ones (the control)."""
    frame = _hot_spots(n=1200, seed=11)
    result = evaluate(frame, comps_neighbors=8, **FAST)
    test = frame[frame["sale_date"] >= result.window.test_start].reset_index(drop=True)
    # the same day is not "before" either: a sale's own price never reaches its estimate
    assert_only_earlier_prices_count(result.model, test)


def test_a_repeat_sale_pulls_the_estimate_toward_its_earlier_price():
    frame = _hot_spots(n=800, seed=3)
    model = AVMModel(("living_sqft", "bedrooms", "quality_grade", "latitude", "longitude"),
                     ("neighborhood_id", "region_id"), comps_neighbors=5, **FAST)
    model.fit(frame, frame["sale_price"], frame["sale_date"])
    house = frame.iloc[[-1]].copy()
    later = house["sale_date"].iloc[0] + pd.Timedelta(days=30)
    base = model.predict_at(house, later)
    for factor, direction in ((1.6, 1), (0.6, -1)):
        known = model.known_rows(house, house["sale_price"] * factor, house["sale_date"])
        moved = model.predict_at(house, later, known=known)
        assert direction * (moved[0] - base[0]) > 0.02


def test_predict_returns_estimate_lower_upper_with_comps_and_per_sqft():
    frame = synthetic_sales(n=600, seed=4).drop(columns=["true_value"])
    model = AVMModel(("living_sqft", "bedrooms", "latitude", "longitude"), ("region_id",), comps_neighbors=5,
                     per_sqft=True, **FAST).fit(frame, frame["sale_price"], frame["sale_date"])
    out = model.predict(frame.head(4))
    assert list(out.columns) == ["estimate", "lower", "upper"]
    assert np.all(out["lower"] < out["estimate"]) and np.all(out["estimate"] < out["upper"])
    # rows without coordinates or area still get an estimate
    blank = frame.head(2).assign(latitude=np.nan, longitude=np.nan, living_sqft=np.nan)
    assert np.all(np.isfinite(model.predict(blank)["estimate"]))


def test_per_sqft_target_fits_the_planted_price_function():
    frame = synthetic_sales(n=1500, seed=9)
    truth = frame.pop("true_value")
    result = evaluate(frame, per_sqft=True, **FAST)
    test = frame["sale_date"] >= result.window.test_start
    noise_floor = np.median(np.abs(truth[test] - frame.loc[test, "sale_price"]) / frame.loc[test, "sale_price"])
    assert result.metrics["mdape"] < noise_floor + 0.03


def test_mixed_target_averages_a_price_and_a_per_sqft_booster():
    frame = synthetic_sales(n=1500, seed=9)
    truth = frame.pop("true_value")
    params = {**FAST, "seeds": (0, 1)}
    model = AVMModel(("living_sqft", "bedrooms", "latitude", "longitude"), ("region_id",), mixed_target=True,
                     **params).fit(frame, frame["sale_price"], frame["sale_date"])
    assert model.sqft_target_ == [False, True]  # seeds alternate: ln price, ln price per sqft
    design = model._design(frame, _days(frame["sale_date"]))
    price, per_sqft = (b.predict(design) for b in model.boosters_)
    log_area = np.log(frame["living_sqft"].to_numpy(dtype=float))
    assert np.allclose(model._stage1(design), (price + per_sqft + log_area) / 2)
    # the per-sqft booster learned ln(price / area): far from ln price, close to it once the area is back
    assert np.median(np.abs(per_sqft - np.log(frame["sale_price"]))) > 3
    assert np.median(np.abs(per_sqft + log_area - price)) < 0.1
    result = evaluate(frame, mixed_target=True, **params)
    test = frame["sale_date"] >= result.window.test_start
    noise_floor = np.median(np.abs(truth[test] - frame.loc[test, "sale_price"]) / frame.loc[test, "sale_price"])
    assert result.metrics["mdape"] < noise_floor + 0.03


def test_squared_error_boosters_learn_ln_price_clipped_around_the_absolute_error_fit():
    frame = synthetic_sales(n=1500, seed=9).drop(columns=["true_value"])
    wild = frame.sample(40, random_state=0).index  # prices 8x what the property is worth
    frame.loc[wild, "sale_price"] *= 8
    features = (("living_sqft", "bedrooms", "latitude", "longitude"), ("region_id",))
    params = {**FAST, "seeds": (0, 1, 2), "mixed_target": False, "squared_error_share": 0.34}
    fit = {clip: AVMModel(*features, squared_error_clip=clip, **params).fit(frame, frame["sale_price"],
                                                                            frame["sale_date"])
           for clip in (0.3, 0.0)}
    assert [b.loss for b in fit[0.3].boosters_] == ["absolute_error", "absolute_error", "squared_error"]
    design = fit[0.3]._design(frame, _days(frame["sale_date"]))
    robust = np.mean([b.predict(design) for b in fit[0.3].boosters_[:2]], axis=0)
    rows = frame.index.get_indexer(wild)
    pull = {clip: np.median(model.boosters_[2].predict(design)[rows] - robust[rows]) for clip, model in fit.items()}
    # unclipped, the mean chases the wild prices; clipped, it stays near the absolute-error fit
    assert pull[0.0] > 0.15, pull
    assert pull[0.3] < pull[0.0] / 2, pull
    # the absolute-error boosters do not depend on the clip
    assert np.allclose(fit[0.0].boosters_[0].predict(design), fit[0.3].boosters_[0].predict(design))
    plain = AVMModel(*features, **{**params, "squared_error_share": 0.0})
    assert [b.loss for b in plain._boosters()] == ["absolute_error"] * 3
