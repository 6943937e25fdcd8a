"""The few reads the pages need that the API has no endpoint for (regions at a glance, AVM quality,
data health, a key's subscriptions). They run through the API's :class:`DataService` (its pool as
the read-only ``terraminer_api`` role, its statement count, its Redis cache keyed by data version);
everything else the pages show comes from the service's own methods.

Data health reads the load ledger only (the API role is granted ``ingestion_meta.load_ledger``, not
``rejected_rows``, whose raw text may hold personal data): refused files with their reason and
rows rejected per contract. The last build's test results come from dbt's ``run_results.json``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from core.settings import project_dir

REGIONS_LATEST = """
with ranked as (
    select m.*, row_number() over (partition by region_id order by activity_month desc) as rn
    from marts.mart_market_monthly m
    where m.sales_count > 0
)
select region_id, activity_month, currency_code, sales_count, median_sale_price, median_sale_price_yoy_pct,
       months_of_supply, terraminer_index_value
from ranked where rn = 1 order by region_id
"""

AVM_PERFORMANCE = """
select model_name, model_version, region_id, valuations_count, properties_count, evaluated_count,
       mdape, ppe10, ppe20, interval_coverage
from marts.mart_avm_performance
order by model_version::int, region_id
"""

LOADS = """
select contract, status, count(*) as files, sum(rows_loaded) as rows_loaded, sum(rows_rejected) as rows_rejected,
       max(finished_at) as last_finished_at
from ingestion_meta.load_ledger
where superseded_at is null
group by contract, status
order by contract, status
"""

REFUSALS = """
select contract, file_key, file_version, error, finished_at
from ingestion_meta.load_ledger
where status = 'refused' and superseded_at is null
order by finished_at desc
limit 50
"""

SUBSCRIPTIONS = """
select subscription_id, url, region_ids, alert_types, active, created_at,
       (select count(*) from api_meta.deliveries d where d.subscription_id = s.subscription_id) as attempts,
       (select count(*) from api_meta.deliveries d where d.subscription_id = s.subscription_id and d.ok)
           as delivered
from api_meta.subscriptions s
where key_id = %s
order by subscription_id
"""


def regions_latest(service) -> list[dict]:
    return service.cached("web:regions", None, lambda: service._rows(REGIONS_LATEST))


def region_ids(service) -> list[str]:
    return [r["region_id"] for r in regions_latest(service)]


def avm_performance(service) -> list[dict]:
    return service.cached("web:avm", None, lambda: service._rows(AVM_PERFORMANCE))


def data_health(service) -> dict:
    def load():
        try:
            loads, refusals = service._rows(LOADS), service._rows(REFUSALS)
        except Exception as err:  # noqa: BLE001 - no ledger (Redshift without grants, a fresh stack)
            return {"available": False, "error": type(err).__name__, "loads": [], "refusals": [], "reasons": []}
        reasons = Counter(_reason(r["error"]) for r in refusals)
        return {"available": True, "loads": loads, "refusals": refusals,
                "reasons": [{"reason": k, "files": v} for k, v in reasons.most_common(10)]}

    return service.cached("web:data", None, load)


def _reason(error: str | None) -> str:
    text = (error or "unknown").strip().splitlines()[0]
    return text.split(":")[0][:120] if ":" in text else text[:120]


def subscriptions(ctx, key_id: str) -> list[dict]:
    from api.service.db import rows

    with ctx.pool.connection() as conn:
        return rows(conn, SUBSCRIPTIONS, (key_id,))


def run_results_path() -> Path:
    return Path(os.environ.get("TERRAMINER_RUN_RESULTS") or project_dir() / "target" / "run_results.json")


def build_results() -> dict:
    """The last dbt invocation's results: counts per status of tests and of models, failures listed."""
    path = run_results_path()
    if not path.exists():
        return {"available": False, "path": str(path)}
    data = json.loads(path.read_text())
    tests, models, failures = Counter(), Counter(), []
    for result in data.get("results", []):
        uid = result.get("unique_id", "")
        kind = uid.split(".")[0]
        status = result.get("status", "unknown")
        (tests if kind in ("test", "unit_test") else models)[status] += 1
        if status in ("fail", "error", "warn"):
            failures.append({"node": uid, "status": status, "message": (result.get("message") or "")[:300]})
    meta = data.get("metadata", {})
    return {"available": True, "path": str(path), "generated_at": meta.get("generated_at"),
            "command": " ".join(data.get("args", {}).get("invocation_command", "").split()[:6]),
            "tests": dict(tests), "models": dict(models), "failures": failures[:50],
            "elapsed_s": round(data.get("elapsed_time") or 0, 1)}
