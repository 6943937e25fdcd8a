"""Batch scoring: each market's champion values that market's properties of
``feat_avm_properties`` into ``ml.property_valuations`` (COPY), replacing that model version's rows
for the valuation date. Models are loaded only after their SHA-256 checks out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psycopg

from core.errors import TerraMinerError
from ml.features import PROPERTIES_TABLE, load_properties
from ml.warehouse import ensure_ml_tables


def load_champion(settings, market: str):
    """``market``'s champion, loaded only after its artifact's SHA-256 checks out.

    Returns ``(model, version, trained_on)``."""
    from ml import tracking

    client = tracking.configure(settings)
    champion = tracking.champion_version(client, market)
    if champion is None:
        raise TerraMinerError(
            f"no '{tracking.alias(tracking.CHAMPION, market)}' alias on model {tracking.MODEL_NAME}: "
            f"train {market!r} first (`terraminer avm train --dataset {market}`)"
        )
    model = tracking.load_verified(client, champion)
    return model, str(champion.version), (champion.tags or {}).get(tracking.MARKET_TAG)


def markets_with_champion(settings, conn: psycopg.Connection) -> tuple[list[str], list[str]]:
    """(markets of feat_avm_properties that have a champion, those that have none)."""
    from ml import tracking

    with conn.cursor() as cur:
        cur.execute(f"select distinct source_system from {PROPERTIES_TABLE} order by 1")
        markets = [row[0] for row in cur.fetchall()]
    client = tracking.configure(settings)
    ready = [m for m in markets if tracking.champion_version(client, m) is not None]
    return ready, [m for m in markets if m not in ready]


def score_all(settings, conn: psycopg.Connection, *, log=print) -> dict:
    """Value every market with its own champion; markets without one are skipped (and named)."""
    ready, missing = markets_with_champion(settings, conn)
    if missing:
        log(f"no champion yet for {', '.join(missing)}: not scored (train them first)")
    results = {market: score(settings, conn, dataset=market, log=log) for market in ready}
    return {"rows": sum(r["rows"] for r in results.values()), "markets": results, "unscored_markets": missing,
            "model_version": ",".join(f"{m}:v{r['model_version']}" for m, r in results.items()),
            "valuation_date": max((r["valuation_date"] for r in results.values() if r["valuation_date"]),
                                  default=None)}


def score(settings, conn: psycopg.Connection, *, dataset: str, log=print) -> dict:
    """Value every property of ``dataset`` with that market's champion."""
    model, version, trained_on = load_champion(settings, dataset)
    if trained_on and trained_on != dataset:
        raise TerraMinerError(
            f"the {dataset!r} champion (v{version}) is tagged as trained on {trained_on!r}: refusing to score"
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
