"""Live estimates from the champion AVM, loaded once per model version.

Features are built as ``feat_avm_properties`` builds them (macros/features.sql
``avm_feature_columns``): ages relative to the valuation date, ``has_waterfront`` as 0/1,
``neighborhood_id`` = the submarket; the point-in-time market columns are left out, as the model
does (ml/features.py).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from api.heap import settle_heap


class NoModel(Exception):
    """No champion model is registered (train one first)."""


class Estimator:
    def __init__(self, settings, recheck_s: float = 60.0):
        self.settings, self.recheck_s = settings, recheck_s
        self._lock = threading.Lock()
        self._model = None
        self._version: str | None = None
        self._checked = 0.0
        self._runs: dict[str, str | None] = {}
        self._error: str | None = None
        self.loads = 0

    def _client(self):
        from ml import tracking

        return tracking.configure(self.settings)

    def champion(self) -> tuple[Any, str]:
        """The champion model, reloaded only when the registry's champion version changes."""
        with self._lock:
            now = time.monotonic()
            if self._model is not None and now < self._checked + self.recheck_s:
                return self._model, self._version
            from ml import tracking

            try:
                current = tracking.champion_version(self._client())
            except Exception as err:  # noqa: BLE001 - registry unreachable
                self._error = type(err).__name__
                current = None
            self._checked = now
            if current is None:
                if self._model is not None:
                    return self._model, self._version
                raise NoModel("no champion AVM is registered: train one first (`terraminer avm train`)")
            if str(current.version) != self._version:
                import mlflow

                self._model = mlflow.sklearn.load_model(f"models:/{tracking.MODEL_NAME}/{current.version}")
                self._version = str(current.version)
                self._runs[self._version] = current.run_id
                self.loads += 1
                if self.loads == 1:  # mlflow, sklearn and the model join the start-up heap
                    settle_heap()
            return self._model, self._version

    def run_id(self, model_version: str) -> str | None:
        if model_version not in self._runs:
            try:
                from ml import tracking

                self._runs[model_version] = self._client().get_model_version(tracking.MODEL_NAME,
                                                                             model_version).run_id
            except Exception:  # noqa: BLE001 - provenance degrades to null
                self._runs[model_version] = None
        return self._runs[model_version]

    def status(self) -> dict:
        if self._version:
            return {"status": "loaded", "model_version": self._version}
        return {"status": "not_loaded", **({"error": self._error} if self._error else {})}

    def estimate(self, features: dict[str, Any], valuation_date: dt.date | None = None) -> dict:
        import numpy as np
        import pandas as pd

        model, version = self.champion()
        when = valuation_date or dt.date.today()
        row = dict(features)
        year = when.year
        row["age_years"] = year - row["year_built"] if row.get("year_built") else None
        row["years_since_renovation"] = year - row["year_renovated"] if row.get("year_renovated") else None
        if "is_waterfront" in row:
            waterfront = row.pop("is_waterfront")
            row["has_waterfront"] = None if waterfront is None else int(bool(waterfront))
        row["neighborhood_id"] = row.pop("submarket_id", None)
        row["valuation_date"] = pd.Timestamp(when)
        frame = pd.DataFrame([row])
        from ml.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES

        for col in NUMERIC_FEATURES:
            frame[col] = pd.to_numeric(frame.get(col), errors="coerce").astype("float64")
        for col in CATEGORICAL_FEATURES:
            if col not in frame:
                frame[col] = None
        log_pred = model.predict_at(frame, frame["valuation_date"].to_numpy())
        lower, upper = model.interval(log_pred)
        estimate = float(np.exp(log_pred[0]))
        if not np.isfinite(estimate):
            raise ValueError("the model gives no estimate for this description")
        return {"estimate": round(estimate, 2), "estimate_lower": round(float(lower[0]), 2),
                "estimate_upper": round(float(upper[0]), 2), "interval_level": 0.8,
                "model_name": tracking_name(), "model_version": version, "valuation_date": when.isoformat()}


def tracking_name() -> str:
    from ml import tracking

    return tracking.MODEL_NAME
