import numpy as np
import pandas as pd
import pytest


def synthetic_sales(n: int = 3000, seed: int = 0, months: int = 24, drift_per_month: float = 0.01) -> pd.DataFrame:
    """Feature rows with a known hedonic price function, two regions and a rising market."""
    rng = np.random.default_rng(seed)
    days = np.sort(rng.integers(0, months * 30, n))
    sale_date = pd.Timestamp("2022-01-01") + pd.to_timedelta(days, unit="D")
    region = np.where(rng.random(n) < 0.5, "R01", "R02")
    hood = np.array([f"{r}-{k}" for r, k in zip(region, rng.integers(0, 6, n), strict=True)])
    premium = {h: rng.normal(0, 0.15) for h in np.unique(hood)}
    sqft = rng.integers(600, 4000, n).astype(float)
    beds = rng.integers(1, 6, n).astype(float)
    grade = rng.integers(4, 12, n).astype(float)
    log_value = (np.log(180.0) + 0.8 * np.log(sqft) + 0.05 * beds + 0.07 * (grade - 7)
                 + np.array([premium[h] for h in hood]) + drift_per_month * days / 30)
    price = np.round(np.exp(log_value + rng.normal(0, 0.08, n)), -2)
    return pd.DataFrame({
        "sale_id": [f"S{i:06d}" for i in range(n)], "property_id": [f"P{i:06d}" for i in range(n)],
        "source_system": "synthetic", "region_id": region, "neighborhood_id": hood, "property_type": "single_family",
        "sale_date": sale_date, "sale_price": price, "living_sqft": sqft, "bedrooms": beds,
        "quality_grade": grade, "latitude": 40 + rng.random(n), "longitude": -100 + rng.random(n),
        "true_value": np.exp(log_value),
    })


@pytest.fixture
def sales() -> pd.DataFrame:
    return synthetic_sales()


SERVED_COLUMNS = ["living_sqft", "bedrooms", "quality_grade", "latitude", "longitude", "neighborhood_id", "region_id"]


def ask_served_model(server, port: int, rows: pd.DataFrame, wait_s: float = 180) -> pd.DataFrame:
    """POST ``rows`` (``SERVED_COLUMNS``) to an ``mlflow models serve`` process on ``port`` once it
    answers; its predictions as a frame. Fails with the server's output if it exits or never answers."""
    import json
    import time
    import urllib.request

    payload = json.dumps({"dataframe_split": {"columns": SERVED_COLUMNS,
                                              "data": rows[SERVED_COLUMNS].astype(object).values.tolist()}}).encode()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=payload,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                return pd.DataFrame(json.loads(response.read())["predictions"])
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                output = server.stdout.read().decode(errors="replace") if server.stdout else ""
                pytest.fail(f"mlflow models serve did not answer:\n{output[-3000:]}")
            time.sleep(1)


def assert_only_earlier_prices_count(model, test: pd.DataFrame, same_day: bool = True) -> pd.Timestamp:
    """Perturbing every price from a cut day on (the middle of ``test``) must not change any
    prediction before that day, and must change later ones (the control); with ``same_day``, a
    sale's own price (and its day's) never reaches its estimate either. Returns the cut day."""
    from ml.train import predict_online

    cut = test["sale_date"].iloc[len(test) // 2]
    before = predict_online(model, test)
    shaken = test.copy()
    later = (shaken["sale_date"] >= cut).to_numpy()
    shaken.loc[later, "sale_price"] = shaken.loc[later, "sale_price"] * np.random.default_rng(2).uniform(
        0.3, 3, later.sum())
    after = predict_online(model, shaken)
    assert np.array_equal(before[~later], after[~later])
    assert not np.array_equal(before[later], after[later])
    if same_day:
        one_day = test[test["sale_date"] == cut].copy()
        alone = predict_online(model, one_day)
        one_day["sale_price"] *= 5
        assert np.array_equal(alone, predict_online(model, one_day))
    return cut
