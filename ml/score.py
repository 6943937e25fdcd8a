"""Batch scoring: the champion values every property of ``feat_avm_properties`` into
``ml.property_valuations`` (COPY), replacing that model version's rows for the valuation date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg

from core.errors import TerraMinerError
from ml.features import load_properties
from ml.warehouse import ensure_ml_tables


def load_champion(settings):
    import mlflow

    from ml import tracking

    client = tracking.configure(settings)
    champion = tracking.champion_version(client)
    if champion is None:
        raise TerraMinerError(
            f"no '{tracking.CHAMPION}' alias on model {tracking.MODEL_NAME}: train first (`terraminer avm train`)"
        )
    model = mlflow.sklearn.load_model(f"models:/{tracking.MODEL_NAME}@{tracking.CHAMPION}")
    run = client.get_run(champion.run_id)
    return model, str(champion.version), run.data.params.get("dataset")


def score(settings, conn: psycopg.Connection, *, dataset: str, log=print) -> dict:
    model, version, trained_on = load_champion(settings)
    if trained_on and trained_on != dataset:
        raise TerraMinerError(
            f"the champion (v{version}) was trained on {trained_on!r}, not {dataset!r}: "
            f"train a model on {dataset!r} first or score {trained_on!r}"
        )
    ensure_ml_tables(conn)
    props = load_properties(conn, dataset)
    if props.empty:
        log(f"no properties of {dataset!r} in feat_avm_properties: nothing to score")
        return {"rows": 0, "model_version": version, "valuation_date": None}
    valuation_date = pd.Timestamp(props["valuation_date"].max()).date()
    log_pred = model.predict_at(props, props["valuation_date"].to_numpy())
    lower, upper = model.interval(log_pred)
    estimate = np.exp(log_pred)
    ok = np.isfinite(estimate)
    rows = pd.DataFrame({
        "property_id": props["property_id"], "valuation_date": props["valuation_date"].dt.date,
        "estimate": np.round(estimate, 2), "lower": np.round(lower, 2), "upper": np.round(upper, 2),
    })[ok]
    with conn.transaction():
        conn.execute("create temp table _scored (property_id varchar(64), valuation_date date) on commit drop")
        with conn.cursor().copy("copy _scored (property_id, valuation_date) from stdin") as cp:
            for row in rows[["property_id", "valuation_date"]].itertuples(index=False):
                cp.write_row(row)
        conn.execute(
            "delete from ml.property_valuations v using _scored s where v.property_id = s.property_id "
            "and v.valuation_date = s.valuation_date and v.model_version = %s", (version,),
        )
        columns = "property_id, valuation_date, estimate, lower, upper, model_name, model_version"
        with conn.cursor().copy(f"copy ml.property_valuations ({columns}) from stdin") as cp:
            for row in rows.itertuples(index=False):
                cp.write_row((*row, "terraminer_avm", version))
    log(f"scored {len(rows):,} properties of {dataset!r} with champion v{version} as of {valuation_date}"
        + (f" ({int((~ok).sum())} without an estimate)" if (~ok).any() else ""))
    return {"rows": int(len(rows)), "model_version": version, "valuation_date": str(valuation_date),
            "unscored": int((~ok).sum())}
