"""Sensors: new landing files → ingestion + everything downstream; new alerts and failed runs →
the notification channel (a local JSONL outbox by default, webhook or SNS by settings)."""

import hashlib
import json

import dagster as dg

from orchestration.resources import LandingResource, NotifierResource, WarehouseResource

LANDING_SENSOR_SECONDS = 60
ALERTS_SENSOR_SECONDS = 300


def landing_digests(landing, contracts: list[str]) -> dict[str, str]:
    """Per contract: a digest of every (key, version) under its prefix (empty prefix → no entry)."""
    digests = {}
    for name in contracts:
        prefix = name.replace("__", "/", 1) + "/"
        objects = landing.list(prefix)
        if objects:
            text = "\n".join(f"{o.key}\t{o.version}" for o in objects)
            digests[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    return digests


def changed_contracts(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    return sorted(name for name, digest in current.items() if previous.get(name) != digest)


def build_landing_sensor(contracts: list[str]) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_sensor",
        minimum_interval_seconds=LANDING_SENSOR_SECONDS,
        asset_selection=dg.AssetSelection.all(),
        description="Watches the landing zone (cursor: a digest per contract of its files and versions); "
                    "new or changed files start a run of those ingestion assets and everything downstream.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
        from core.settings import get_settings

        if get_settings().landing_events:
            return dg.SkipReason("TERRAMINER_LANDING_EVENTS is set: the landing_events_sensor follows the landing zone")
        previous = json.loads(context.cursor) if context.cursor else {}
        current = landing_digests(landing.open(), contracts)
        changed = changed_contracts(previous, current)
        if not changed:
            return dg.SkipReason(f"no new or changed files for {len(contracts)} contracts")
        raw_keys = [dg.AssetKey(["raw", name]) for name in changed]
        selection = dg.AssetSelection.assets(*raw_keys).downstream()
        keys = sorted(selection.resolve(context.repository_def.asset_graph), key=lambda k: k.to_user_string())
        context.update_cursor(json.dumps(current, sort_keys=True))
        return dg.RunRequest(
            run_key=hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:24],
            asset_selection=keys,
            tags={"terraminer/trigger": "landing", "terraminer/contracts": ",".join(changed)[:200]},
        )

    return landing_sensor


def pending_alerts(rows: list[tuple], cursor: dict) -> tuple[list[tuple], dict]:
    """Alerts not yet sent. ``rows`` are (alert_id, detected_for_date, ...) sorted by date, id;
    the cursor keeps the newest date sent and the ids already sent on that date."""
    watermark = cursor.get("date")
    sent_today = set(cursor.get("ids", []))
    fresh = [r for r in rows if watermark is None or str(r[1]) > watermark
             or (str(r[1]) == watermark and r[0] not in sent_today)]
    if not fresh:
        return [], cursor
    newest = max(str(r[1]) for r in fresh)
    ids = sorted({r[0] for r in rows if str(r[1]) == newest})
    return fresh, {"date": newest, "ids": ids[-5000:]}


@dg.sensor(
    name="alerts_sensor",
    minimum_interval_seconds=ALERTS_SENSOR_SECONDS,
    description="Sends new rows of marts.mart_alerts to the notification channel.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def alerts_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource, notifier: NotifierResource):
    with warehouse.connect() as conn:
        if conn.execute("select to_regclass('marts.mart_alerts')").fetchone()[0] is None:
            return dg.SkipReason("marts.mart_alerts does not exist yet")
        rows = conn.execute(
            "select alert_id, detected_for_date, alert_type, severity, region_id, message "
            "from marts.mart_alerts order by detected_for_date, alert_id"
        ).fetchall()
    cursor = json.loads(context.cursor) if context.cursor else {}
    fresh, new_cursor = pending_alerts(rows, cursor)
    if not fresh:
        return dg.SkipReason("no new alerts")
    for alert_id, date, alert_type, severity, region_id, message in fresh:
        notifier.send("alert", {"alert_id": alert_id, "date": str(date), "alert_type": alert_type,
                                "severity": severity, "region_id": region_id, "message": message})
    # the API's webhook subscriptions (api_meta): signed, retried, every attempt logged
    from api.service.notifications import deliver_new_alerts

    try:
        hooks = deliver_new_alerts(warehouse.settings(), [row[0] for row in fresh])
        webhooks = f"{hooks['sent']} delivered, {hooks['failed']} failed, {hooks['retried']} retried"
    except Exception as err:  # the outbox has them; webhooks must not stall the cursor
        context.log.warning(f"webhook deliveries skipped: {type(err).__name__}: {err}")
        webhooks = f"skipped ({type(err).__name__})"
    context.update_cursor(json.dumps(new_cursor))
    return dg.SkipReason(f"sent {len(fresh)} alert(s); webhooks: {webhooks}")


@dg.run_failure_sensor(
    name="run_failure_notifier",
    description="Every failed run goes to the notification channel.",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def run_failure_notifier(context: dg.RunFailureSensorContext, notifier: NotifierResource):
    notifier.send("run_failure", {
        "run_id": context.dagster_run.run_id,
        "job": context.dagster_run.job_name,
        "error": (context.failure_event.message or "")[:2000],
    })
