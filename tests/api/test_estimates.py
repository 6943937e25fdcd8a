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
    # predict (what mlflow serves) gives estimate, lower, upper: the API answers the same three
    served = model.predict(direct)
    assert list(served.columns) == ["estimate", "lower", "upper"]
    assert [got["estimate"], got["estimate_lower"], got["estimate_upper"]] == pytest.approx(
        served.iloc[0].tolist(), rel=1e-6)
    health = api_app.get("/v1/health").json()
    assert health["model"] == {"status": "loaded", "model_version": "1"}


def test_the_estimate_page_form_shows_the_champions_estimate_and_interval(api_app, api_settings, keys, champion,
                                                                          with_estimator):
    """/app/estimate with a trained champion: sign in, read the form's fields from the page, submit
    it as a browser would (urlencoded, the fields the page names) and find the estimate and its
    80 % interval on the answer, lower <= estimate <= upper, equal to POST /v1/estimates (issue 18)."""
    import re
    from html import unescape

    from fastapi.testclient import TestClient

    from web.server import create_app

    _settings, frame = champion
    row = frame.iloc[-1]
    with TestClient(create_app(api_settings, api_app.ctx), raise_server_exceptions=False,
                    follow_redirects=False) as web:
        login = web.post("/app/login", data={"api_key": keys["all"], "next": "/app/estimate"})
        assert login.status_code == 303 and login.headers["location"] == "/app/estimate"
        page = web.get("/app/estimate")
        assert page.status_code == 200, page.text[:500]
        form = page.text[page.text.index('<form method="post" action="/app/estimate"'):]
        fields = re.findall(r'<input id="[^"]+" name="([^"]+)"', form[:form.index("</form>")])
        values = {"region_id": row["region_id"], "submarket_id": row["neighborhood_id"],
                  "property_type": row["property_type"], "living_sqft": int(row["living_sqft"]),
                  "bedrooms": int(row["bedrooms"]), "quality_grade": int(row["quality_grade"]),
                  "latitude": float(row["latitude"]), "longitude": float(row["longitude"])}
        assert set(values) <= set(fields), fields
        answer = web.post("/app/estimate", data={name: str(values.get(name, "")) for name in fields})
        assert answer.status_code == 200, answer.text[-2000:]
        result = answer.text[answer.text.index('id="estimate-result"'):]
        result = unescape(result[:result.index("</section>")])
        estimate = re.search(r'<p class="big">([\d,]+)</p>', result)
        interval = re.search(r"80 % interval ([\d,]+) – ([\d,]+)", result)
        assert estimate and interval, result
        number = lambda text: int(text.replace(",", ""))  # noqa: E731
        low, mid, high = number(interval.group(1)), number(estimate.group(1)), number(interval.group(2))
        assert 0 < low <= mid <= high and low < high
        assert "version 1" in result
        # the same figures as the API's live estimate for the same description
        api = api_app.post("/v1/estimates", headers=bearer(keys["all"]), json=values)
        assert api.status_code == 200, api.text
        body = api.json()
        assert (low, mid, high) == tuple(round(body[k]) for k in ("estimate_lower", "estimate", "estimate_upper"))
        # a form the model cannot take says why, with no estimate
        bad = web.post("/app/estimate", data={**{name: str(values.get(name, "")) for name in fields},
                                              "living_sqft": "12"})
        assert bad.status_code == 422 and 'id="estimate-result"' not in bad.text and "living_sqft" in bad.text
