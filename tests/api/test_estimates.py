"""POST /v1/estimates with a real champion: a small AVM trained and registered in a throw-away
MLflow store, loaded once per model version, features built as the feature tables build them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from tests.api.conftest import bearer
from tests.ml.conftest import synthetic_sales

XDIST_WEIGHT = 70  # seconds on 2 cores (training the small champion)


@pytest.fixture(scope="module")
def champion():
    from ml.train import train

    home = Path(tempfile.mkdtemp(prefix="tme-", dir="/tmp"))
    settings = Settings(env="ci", home=home)
    frame = synthetic_sales(n=600, seed=5)
    result = train(settings, frame.drop(columns=["true_value"]), dataset="synthetic", log=lambda m: None)
    assert result.promoted and result.model_version == "1"
    try:
        yield settings, frame
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def with_estimator(api_app, champion):
    from api.service.estimates import Estimator

    estimator = Estimator(champion[0])
    previous = api_app.ctx.estimator
    api_app.ctx.estimator = api_app.ctx.service.estimator = estimator
    yield estimator
    api_app.ctx.estimator = api_app.ctx.service.estimator = previous


def test_a_live_estimate_is_the_champions_prediction_with_its_interval(api_app, keys, champion, with_estimator):
    import mlflow

    settings, frame = champion
    row = frame.iloc[-1]
    body = {"region_id": row["region_id"], "submarket_id": row["neighborhood_id"], "property_type": row["property_type"],
            "living_sqft": int(row["living_sqft"]), "bedrooms": int(row["bedrooms"]),
            "quality_grade": int(row["quality_grade"]), "latitude": float(row["latitude"]),
            "longitude": float(row["longitude"]), "valuation_date": str(row["sale_date"].date())}
    answers = [api_app.post("/v1/estimates", headers=bearer(keys["all"]), json=body) for _ in range(3)]
    assert all(a.status_code == 200 for a in answers), answers[0].text
    got = answers[0].json()
    assert got["model_version"] == "1" and got["interval_level"] == 0.8
    assert got["estimate_lower"] < got["estimate"] < got["estimate_upper"]
    assert {a.json()["estimate"] for a in answers} == {got["estimate"]}
    assert with_estimator.loads == 1  # loaded once for the version, not per request
    # the same features through the model directly
    from ml import tracking

    tracking.configure(settings)
    model = mlflow.sklearn.load_model(f"models:/{tracking.MODEL_NAME}/1")
    direct = pd.DataFrame([row]).drop(columns=["sale_price", "true_value"])
    expected = float(np.exp(model.predict_at(direct, direct["sale_date"].to_numpy())[0]))
    assert got["estimate"] == pytest.approx(expected, rel=1e-6)
    health = api_app.get("/v1/health").json()
    assert health["model"] == {"status": "loaded", "model_version": "1"}
