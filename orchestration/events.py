"""The event-driven landing sensor: S3 event notifications → SQS → one run per batch.

Each tick (back to back: a long poll of up to 20 s inside it, which returns as soon as a message
arrives; the whole tick within ``tick_budget_seconds``, under the daemon's 60 s deadline):

1. messages of a batch whose run now exists (the daemon launched the run request of an earlier
   tick: a run tagged with its run key) are deleted; their receipt handles wait in the cursor, so
   they survive a daemon restart. Messages whose run never appears come back after the queue's
   visibility timeout and are batched again;
2. while a run of this sensor is queued or running, nothing is received: new objects wait in the
   queue and make the next batch bigger (no two runs rebuild the same models at once); the tick
   waits for the run's end within its budget, so the next batch starts at once;
3. the queue is read (one long poll, then short polls while it returns full pages, for at most
   ``receive_seconds``: a backlog is taken in slices, one batch per tick); test events,
   records of other buckets or prefixes and keys of no contract are deleted at once; a message that
   is not an S3 notification is held back and received again until the queue's redrive policy
   moves it to the dead-letter queue;
4. the announced keys are grouped per contract, each resolved to its current version
   (``head_object``: an event that arrives after a newer version of its object loads the newer
   one), versions the ledger already loaded are dropped (duplicates and re-deliveries change
   nothing), and one run request covers the rest: those files' ingestion (run config ``keys``: no
   bucket listing) and the dbt models downstream of their sources up to the marts and
   ``mart_alerts``, then the API's data version (features and the AVM stay with the daily refresh),
   with the essential checks only (``streaming_checks``: the ingestion's own and the key tests; the
   daily refresh runs the others).
"""

from __future__ import annotations

import hashlib
import json
import time

import dagster as dg

from orchestration.resources import LEDGER_ROLE, LandingResource, WarehouseResource

EVENTS_SENSOR_NAME = "landing_events_sensor"
EVENTS_JOB_NAME = "landing_events_job"
EVENTS_SENSOR_SECONDS = 1
STREAMING_EXCLUDED_GROUPS = ("features",)
STREAMING_TARGET_GROUPS = ("marts", "api")


class LandingEventsResource(dg.ConfigurableResource):
    """The SQS queue of the landing bucket's notifications (``TERRAMINER_LANDING_EVENTS``)."""

    queue: str | None = None
    """sqs://<queue-name> or a queue URL; default: the settings' landing_events"""
    wait_seconds: int = 20
    """long poll of each tick (SQS allows up to 20): it returns as soon as a message arrives, so an
    idle sensor hears a new object at once"""
    max_messages: int = 500
    """at most this many messages per tick (the rest make the next batch)"""
    tick_budget_seconds: int = 40
    """a tick ends within this many seconds (the daemon gives a sensor evaluation 60)"""
    reserve_seconds: int = 15
    """of the budget, kept for what follows the receive: one head_object per key, the ledger, the
    run request"""
    receive_seconds: int = 5
    """after the long poll, more pages are read for at most this long (a backlog is taken in
    slices, one batch per tick)"""
    run_poll_seconds: float = 0.5
    """while a run of the sensor is in progress, how often the tick looks whether it ended"""
    visibility_seconds: int = 300
    """how long received messages stay invisible while their run is launched"""
    poison_retry_seconds: int = 30
    """a message that is not an S3 notification is received again after this many seconds (until
    the redrive policy's maxReceiveCount moves it to the dead-letter queue)"""

    def configured(self) -> str | None:
        from core.settings import get_settings

        return self.queue or get_settings().landing_events

    def open(self):
        from core.settings import get_settings
        from ingestion.events import EventQueue, resolve_queue_url

        settings = get_settings()
        endpoint = settings.sqs_endpoint_url
        return EventQueue(resolve_queue_url(self.configured(), endpoint), endpoint)


def streaming_selection(contracts: list[str]) -> dg.AssetSelection:
    """The landed contracts' ingestion and what lies between them and the marts: downstream of the
    raw assets, upstream of a target group, nothing in or after an excluded group. Intermediate
    models whose only consumers are features (their inputs) are not on that path, so they wait for
    the daily refresh with the features.

    Plus the API's data version (``api_meta/data_version``) whenever the run rebuilds a mart the API
    reads: it also reads ``mart_property_valuations`` (after the features, so excluded above), yet
    cached answers must stop being served once streamed sales reach ``fct_sales``."""
    from orchestration.assets.api import API_DATA_VERSION, MARTS_READ_BY_THE_API

    raw = dg.AssetSelection.assets(*(dg.AssetKey(["raw", c]) for c in contracts))
    excluded = dg.AssetSelection.groups(*STREAMING_EXCLUDED_GROUPS).downstream()
    targets = raw.downstream() & dg.AssetSelection.groups(*STREAMING_TARGET_GROUPS) - excluded
    path = raw.downstream() & targets.upstream() - excluded
    rebuilt_marts = path & dg.AssetSelection.assets(*MARTS_READ_BY_THE_API)
    return path | (rebuilt_marts.downstream(depth=1) & dg.AssetSelection.assets(API_DATA_VERSION))


STREAMING_TEST_PREFIXES = ("primary_key_", "unique_")
"""dbt tests a streaming run keeps (names of dbt's generic tests start with the test's name): the
keys of what it writes stay unique and not null. The other tests of those models (not_null on other
columns, accepted values and ranges, relationships, row counts, singular tests) run in the daily
refresh (``daily_refresh``) and the weekly full-test run, over the streamed rows as well."""


def streaming_checks(asset_graph, keys) -> list[dg.AssetCheckKey]:
    """The asset checks of a streaming run over ``keys``: the ingestion asset's own checks
    (reconciliation, reject rate, refused files) and the essential dbt tests
    (``STREAMING_TEST_PREFIXES``) of the selected models; not the source freshness checks (their own
    schedule).

    Dagster writes a planned record per selected check when it creates a run (one SQLite commit
    each: 147 checks cost 8-13 s of every run on 2 cores); dagster-dbt then selects exactly these
    tests by name (``--indirect-selection empty``)."""
    from orchestration.assets.ingestion import ingestion_check_specs

    selected = set(keys)
    ingestion = {spec.key for key in selected if key.path[0] == "raw" for spec in ingestion_check_specs(key)}
    return sorted((check for check in asset_graph.asset_check_keys if check.asset_key in selected
                   and (check in ingestion or check.name.startswith(STREAMING_TEST_PREFIXES))),
                  key=lambda check: check.to_user_string())


def batch_run_key(versions: list[tuple[str, str, str]]) -> str:
    return hashlib.sha256(json.dumps(sorted(versions)).encode()).hexdigest()[:24]


def _run_exists(instance: dg.DagsterInstance, run_key: str) -> bool:
    return bool(instance.get_run_ids(dg.RunsFilter(tags={"dagster/run_key": run_key}), limit=1))


def _run_in_progress(instance: dg.DagsterInstance) -> bool:
    """A run of this sensor is queued, starting or running. (Dagster's IN_PROGRESS_RUN_STATUSES
    leaves out QUEUED and NOT_STARTED: a run waiting in the run queue would let the next tick launch
    a second one beside it.)"""
    from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES

    return bool(instance.get_run_ids(
        dg.RunsFilter(tags={"terraminer/trigger": "landing_events"}, statuses=NOT_FINISHED_STATUSES), limit=1))


def _loaded_versions(warehouse: WarehouseResource, items: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """(contract, key, version) triples the ingestion ledger holds as loaded."""
    if not items:
        return set()
    with warehouse.connect(role=LEDGER_ROLE) as conn:
        if conn.execute("select to_regclass('ingestion_meta.load_ledger')").fetchone()[0] is None:
            return set()
        rows = conn.execute(
            "select contract, file_key, file_version from ingestion_meta.load_ledger "
            "where status = 'loaded' and file_key = any(%s)", ([key for _c, key, _v in items],),
        ).fetchall()
    return {tuple(r) for r in rows}


def build_landing_events_job(contracts: list[str]) -> dg.UnresolvedAssetJobDefinition:
    """The job of the sensor's runs: one process (in-process executor), so a run pays one code
    location load (the run worker's), not one more per step; each run request selects the landed
    contracts' part of it."""
    return dg.define_asset_job(
        EVENTS_JOB_NAME, selection=streaming_selection(contracts), executor_def=dg.in_process_executor,
        description="Runs of the landing_events_sensor: the announced files' ingestion and the dbt models "
                    "downstream of their sources up to the marts and alerts, in one process.",
    )


def build_landing_events_sensor(contracts: list[str], job=None) -> dg.SensorDefinition:
    prefixes_all = {name: name.replace("__", "/", 1) + "/" for name in contracts}
    job = job or build_landing_events_job(contracts)

    @dg.sensor(
        name=EVENTS_SENSOR_NAME,
        minimum_interval_seconds=EVENTS_SENSOR_SECONDS,
        job=job,
        description="Long-polls the SQS queue of the S3 landing bucket's event notifications "
                    "(TERRAMINER_LANDING_EVENTS); one run per batch: those files' ingestion and the dbt "
                    "models downstream up to the marts and alerts. Messages are deleted once the run exists.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def landing_events_sensor(context: dg.SensorEvaluationContext, landing: LandingResource,
                              landing_events: LandingEventsResource, warehouse: WarehouseResource):
        from core.settings import get_settings
        from ingestion.events import landing_prefix_of, sort_messages

        if not landing_events.configured():
            return dg.SkipReason("TERRAMINER_LANDING_EVENTS is not set: the landing_sensor lists the landing zone")
        deadline = time.monotonic() + landing_events.tick_budget_seconds
        cursor = json.loads(context.cursor) if context.cursor else {}
        pending = cursor.get("pending", [])
        queue = landing_events.open()

        waiting = []
        for batch in pending:
            if _run_exists(context.instance, batch["run_key"]):
                errors = queue.delete(batch["receipts"])
                if errors:
                    context.log.warning(f"run {batch['run_key']}: {len(errors)} message(s) not deleted "
                                        f"(they come back; the ledger makes them no-ops): {errors[:3]}")
            elif time.time() - batch["at"] < landing_events.visibility_seconds:
                waiting.append(batch)
        cursor["pending"] = waiting
        if waiting:
            context.update_cursor(json.dumps(cursor))
            return dg.SkipReason(f"waiting for the launch of {len(waiting)} run(s) before deleting their messages")
        # one run at a time: while it is queued or running, new objects wait in the queue and make the
        # next batch bigger. The tick waits for its end (within its time budget) so the next batch
        # starts at once, not at the next tick.
        reserve = landing_events.reserve_seconds + landing_events.receive_seconds
        while _run_in_progress(context.instance):
            if time.monotonic() + landing_events.run_poll_seconds > deadline - reserve:
                context.update_cursor(json.dumps(cursor))
                return dg.SkipReason("a run of this sensor is in progress: new objects wait in the queue "
                                     "for the next batch")
            time.sleep(landing_events.run_poll_seconds)

        bucket, prefix = landing_prefix_of(landing.uri or get_settings().landing)
        # one long poll (it returns as soon as a message arrives), then more pages while the queue has
        # them, for receive_seconds at most: a backlog is taken in slices, one batch per tick
        wait = max(0, min(landing_events.wait_seconds, int(deadline - reserve - time.monotonic())))
        messages = queue.receive(max_messages=landing_events.max_messages, wait_seconds=wait,
                                 visibility_seconds=landing_events.visibility_seconds,
                                 more_seconds=landing_events.receive_seconds)
        batch = sort_messages(messages, bucket, prefix, prefixes_all)
        for message in batch.poison:
            context.log.warning(f"message {message.message_id} is not an S3 notification (receive "
                                f"#{message.receive_count}); it goes to the dead-letter queue after the "
                                f"redrive policy's maxReceiveCount: {message.body[:120]!r}")
            queue.hold_back(message, landing_events.poison_retry_seconds)
        if batch.skipped_keys:
            context.log.info(f"{len(batch.skipped_keys)} key(s) of no contract ignored: {batch.skipped_keys[:5]}")

        items = _current_versions(landing.open(), batch)
        fresh = sorted(set(items) - _loaded_versions(warehouse, items))
        if not fresh:
            queue.delete(batch.ignorable + batch.done)
            context.update_cursor(json.dumps(cursor))
            return dg.SkipReason(f"{len(messages)} message(s), no new file version "
                                 f"({len(items)} already loaded, {len(batch.poison)} poison)")
        queue.delete(batch.ignorable)

        run_key = batch_run_key(fresh)
        by_contract: dict[str, list[str]] = {}
        for contract, key, _version in fresh:
            by_contract.setdefault(contract, []).append(key)
        cursor["pending"] = [{"run_key": run_key, "receipts": batch.done, "at": time.time()}]
        cursor["batches"] = cursor.get("batches", 0) + 1
        context.update_cursor(json.dumps(cursor))
        graph = context.repository_def.asset_graph
        keys = sorted(streaming_selection(sorted(by_contract)).resolve(graph), key=lambda k: k.to_user_string())
        return dg.RunRequest(
            run_key=run_key,
            asset_selection=keys,
            asset_check_keys=streaming_checks(graph, keys),
            run_config={"ops": {
                **{f"ingest_{c}": {"config": {"keys": ks}} for c, ks in by_contract.items()},
                # only the tests selected as checks (dagster-dbt names them): no other test by indirection
                "terraminer_dbt": {"config": {"indirect_selection": "empty"}},
            }},
            tags={"terraminer/trigger": "landing_events", "terraminer/contracts": ",".join(sorted(by_contract))[:200],
                  "terraminer/files": str(len(fresh))},
        )

    return landing_events_sensor


HEAD_THREADS = 8


def _current_versions(store, batch) -> list[tuple[str, str, str]]:
    """(contract, key, current version) of every announced key that still exists: the
    ``head_object`` calls run side by side (a backlog of hundreds of keys stays well inside a tick)."""
    from concurrent.futures import ThreadPoolExecutor

    from ingestion.events import head, iter_keys

    pairs = list(iter_keys(batch))
    if len(pairs) <= 1:
        objects = [head(store, key) for _contract, key in pairs]
    else:
        with ThreadPoolExecutor(max_workers=min(HEAD_THREADS, len(pairs))) as pool:
            objects = list(pool.map(lambda pair: head(store, pair[1]), pairs))
    return [(contract, key, obj.version) for (contract, key), obj in zip(pairs, objects, strict=True)
            if obj is not None]
