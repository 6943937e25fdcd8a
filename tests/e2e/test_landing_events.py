"""Event-driven landing end to end: a moto S3 bucket notifies an SQS queue (moto's server delivers
S3 event notifications to SQS), the landing_events_sensor batches the announced files and its run
requests load them into a real embedded warehouse and on to marts.fct_sales.

- the first batch (every synthetic feed) and then 20 recorder files put over time (in two waves,
  with a duplicate put and an object overwritten before its event is read) reach fct_sales exactly
  once: one ledger row per file, one fct_sales row per deed;
- each streaming run bumps the API's data version (api_meta.data_version), so cached answers see
  the streamed sales;
- a re-delivered message (an old event body sent again) and test events change nothing;
- messages are deleted only once their run exists, and the cursor (what the daemon stores)
  carries them across a restart;
- a message that is not an S3 notification ends in the dead-letter queue after maxReceiveCount.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import uuid

import dagster as dg
import psycopg
import pytest

from tests.e2e.conftest import e2e_stack

XDIST_WEIGHT = 240
PREFIX = "landing"
MAX_RECEIVES = 2


@pytest.fixture(scope="module")
def env(s3_endpoint):
    import boto3

    from ingestion.events import ensure_event_queue

    bucket = f"landing-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    queue_name = f"events-{uuid.uuid4().hex[:8]}"
    queue_url, dlq_url = ensure_event_queue(bucket, queue_name, endpoint_url=s3_endpoint, max_receives=MAX_RECEIVES)
    with e2e_stack("tme-", TERRAMINER_LANDING_URI=f"s3://{bucket}/{PREFIX}", TERRAMINER_S3_ENDPOINT_URL=s3_endpoint,
                   TERRAMINER_LANDING_EVENTS=f"sqs://{queue_name}") as settings:
        from core.warehouse import connect
        from ml.warehouse import ensure_ml_tables
        from terraminer import roles

        with connect(settings) as conn:
            roles.apply_postgres(conn)
            ensure_ml_tables(conn)
        yield {"settings": settings, "bucket": bucket, "queue": queue_url, "dlq": dlq_url, "endpoint": s3_endpoint}


@pytest.fixture(scope="module")
def pipeline_env(env):
    """This module's stack under conftest's ``defs``: the landing zone on the notifying bucket."""
    return env["settings"]


@pytest.fixture(scope="module")
def landing(env):
    from ingestion.landing import open_landing

    return open_landing(f"s3://{env['bucket']}/{PREFIX}", endpoint_url=env["endpoint"])


def _scalar(env, query: str, params=None):
    with psycopg.connect(**env["settings"].warehouse.conninfo()) as conn:
        return conn.execute(query, params).fetchone()[0]


def _tick(defs, instance, cursor, **events_config):
    from orchestration.events import LandingEventsResource
    from orchestration.resources import LandingResource, WarehouseResource

    # every waiting message in one tick (no time slicing of the backlog: one batch per wave)
    config = {"wait_seconds": 1, "max_messages": 5000, "poison_retry_seconds": 0, "receive_seconds": 300,
              "tick_budget_seconds": 600, **events_config}
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, repository_def=defs.get_repository_def(),
        resources={"landing": LandingResource(), "warehouse": WarehouseResource(),
                   "landing_events": LandingEventsResource(**config)},
    )
    result = defs.get_repository_def().get_sensor_def("landing_events_sensor")(context)
    return result, context.cursor


def _launch(defs, instance, request: dg.RunRequest):
    """What the daemon does with a run request: a run of the sensor's job (in-process executor),
    tagged with its run key."""
    from orchestration.events import EVENTS_JOB_NAME

    job = defs.resolve_job_def(EVENTS_JOB_NAME).get_subset(
        asset_selection=set(request.asset_selection), asset_check_selection=set(request.asset_check_keys))
    result = job.execute_in_process(
        instance=instance, run_config=request.run_config,
        tags={**request.tags, "dagster/run_key": request.run_key}, raise_on_error=False,
    )
    assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
    return result


def _queue_depth(env, url: str) -> int:
    import boto3

    attributes = boto3.client("sqs", endpoint_url=env["endpoint"]).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    return sum(int(v) for v in attributes["Attributes"].values())


def _sales_file(day: dt.date, parcels: list[str], tag: str = "") -> tuple[str, bytes, list[str]]:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["document_number", "parcel_id", "sale_date", "recording_date", "sale_price", "deed_type",
                     "buyer_name", "seller_name"])
    documents = [f"EV{day:%Y%m%d}{tag}{i:03d}" for i in range(len(parcels))]
    for document, parcel in zip(documents, parcels, strict=True):
        writer.writerow([document, parcel, day.isoformat(), day.isoformat(), 398000, "WD", "NEW OWNER", "OLD OWNER"])
    return f"recorder/sales/{day:%Y/%m/%d}/sales_{day:%Y%m%d}_event.csv.gz", gzip.compress(text.getvalue().encode()), documents


@pytest.fixture(scope="module")
def first_batch(env, defs, instance, landing):
    """Every synthetic feed put to the bucket, one tick, one run. Streaming runs rebuild what is
    downstream of the delivered sources in a warehouse the pipeline job built: here, its seeds
    and its models over empty raw tables."""
    from ingestion.contract import load_contracts
    from ingestion.runner import ensure_raw_tables
    from ingestion.synthetic import generate
    from ingestion.writers import open_writer
    from terraminer.pipeline import dbt

    writer = open_writer(env["settings"], landing)
    try:
        writer.ensure_meta()
        ensure_raw_tables(writer, load_contracts())
    finally:
        writer.close()
    dbt(env["settings"], ["seed"])
    dbt(env["settings"], ["run"])

    summary = generate(landing, scale=1, seed=5, start=dt.date(2024, 1, 1), days=150)
    request, cursor = _tick(defs, instance, None)
    assert isinstance(request, dg.RunRequest), request
    # a restart before the daemon launched the run: the cursor keeps the receipts, nothing is
    # received or deleted meanwhile
    again, cursor = _tick(defs, instance, cursor)
    assert isinstance(again, dg.SkipReason) and "waiting for the launch" in again.skip_message
    assert json.loads(cursor)["pending"][0]["run_key"] == request.run_key
    _launch(defs, instance, request)
    return summary, request, cursor


def test_first_batch_loads_every_feed_and_stops_before_features(env, first_batch):
    summary, request, _cursor = first_batch
    selected = {k.to_user_string() for k in request.asset_selection}
    assert "raw/recorder__sales" in selected and "marts/fct_sales" in selected and "marts/mart_alerts" in selected
    assert "api_meta/data_version" in selected  # though it also reads a mart after the features
    assert not any(k.startswith(("features/", "ml/")) for k in selected)
    data_files = [k for k in summary.files if not k.startswith("_truth")]
    assert _scalar(env, "select count(*) from ingestion_meta.load_ledger where status = 'loaded'") == len(data_files)
    config = request.run_config["ops"]["ingest_recorder__sales"]["config"]["keys"]
    assert config and all(k.startswith("recorder/sales/") for k in config)
    assert _scalar(env, "select count(*) from marts.fct_sales") == _scalar(
        env, "select count(distinct document_number) from raw.recorder__sales")


def test_twenty_files_over_time_reach_fct_sales_exactly_once(env, defs, instance, landing, first_batch):
    import boto3

    _summary, _request, cursor = first_batch
    s3 = boto3.client("s3", endpoint_url=env["endpoint"])
    parcels = [r[0] for r in psycopg.connect(**env["settings"].warehouse.conninfo()).execute(
        "select parcel_id from raw.assessor__parcels group by parcel_id order by parcel_id limit 3").fetchall()]
    last = _scalar(env, "select max(sale_date) from raw.recorder__sales")
    days = [last + dt.timedelta(days=i + 1) for i in range(20)]
    expected: dict[str, list[str]] = {}
    old_event_body = None

    def put(day, tag=""):
        key, body, documents = _sales_file(day, parcels, tag)
        s3.put_object(Bucket=env["bucket"], Key=f"{PREFIX}/{key}", Body=body)
        expected[key] = documents

    for day in days[:12]:
        put(day)
    # the first run's messages are deleted on this tick (its run exists), then the wave is received
    request, cursor = _tick(defs, instance, cursor)
    assert isinstance(request, dg.RunRequest), request
    assert set(request.run_config["ops"]) == {"ingest_recorder__sales", "terraminer_dbt"}
    assert len(request.run_config["ops"]["ingest_recorder__sales"]["config"]["keys"]) == 12
    version_before = _scalar(env, "select version from api_meta.data_version")
    run = _launch(defs, instance, request)
    # the streamed sales bump the API's data version (cached answers of the previous build expire)
    version, detail = psycopg.connect(**env["settings"].warehouse.conninfo()).execute(
        "select version, detail from api_meta.data_version").fetchone()
    assert version != version_before and detail["dagster_run_id"] == run.run_id
    # the run's checks: the ingestion's own and the keys' dbt tests (the daily refresh runs the rest),
    # each evaluated (dbt ran exactly those tests) and passed
    checks = set(request.asset_check_keys)
    assert dg.AssetCheckKey(dg.AssetKey(["marts", "fct_sales"]), "primary_key_fct_sales_sale_id") in checks
    assert dg.AssetCheckKey(dg.AssetKey(["raw", "recorder__sales"]), "reconciliation") in checks
    assert not any(c.name.startswith(("not_null_", "accepted_", "relationships_", "freshness")) for c in checks)
    evaluations = [e.event_specific_data for e in run.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert {e.asset_check_key for e in evaluations} == checks and all(e.passed for e in evaluations)

    for day in days[12:]:
        put(day)
    # a duplicate put (same bytes: same version) and an overwrite of a file not yet read: its two
    # events come in one batch and only the newest version loads
    key_dup = next(iter(expected))
    s3.put_object(Bucket=env["bucket"], Key=f"{PREFIX}/{key_dup}",
                  Body=s3.get_object(Bucket=env["bucket"], Key=f"{PREFIX}/{key_dup}")["Body"].read())
    put(days[-1], tag="B")  # same key as days[-1]'s file, new content: the first version never loads
    del expected[_sales_file(days[-1], parcels)[0]]
    expected[_sales_file(days[-1], parcels, "B")[0]] = _sales_file(days[-1], parcels, "B")[2]
    import boto3 as _b

    sqs = _b.client("sqs", endpoint_url=env["endpoint"])
    request, cursor = _tick(defs, instance, cursor)
    assert isinstance(request, dg.RunRequest), request
    keys = request.run_config["ops"]["ingest_recorder__sales"]["config"]["keys"]
    assert len(keys) == 8 and key_dup not in keys
    _launch(defs, instance, request)
    skip, cursor = _tick(defs, instance, cursor)  # deletes the second wave's messages
    assert isinstance(skip, dg.SkipReason)
    assert _queue_depth(env, env["queue"]) == 0

    # a re-delivered message (an old event body again): nothing new, deleted, no run
    old_event_body = json.dumps({"Records": [{
        "eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": env["bucket"]},
                                                 "object": {"key": f"{PREFIX}/{key_dup}".replace("/", "%2F")}}}]})
    sqs.send_message(QueueUrl=env["queue"], MessageBody=old_event_body)
    sqs.send_message(QueueUrl=env["queue"], MessageBody=json.dumps(
        {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": env["bucket"]}))
    skip, cursor = _tick(defs, instance, cursor)
    assert isinstance(skip, dg.SkipReason) and "no new file version" in skip.skip_message
    assert _queue_depth(env, env["queue"]) == 0

    event_keys = list(expected)
    ledger = _scalar(env, "select count(*) from ingestion_meta.load_ledger where status = 'loaded' "
                          "and file_key = any(%s)", (event_keys,))
    assert ledger == 20
    documents = [d for ds in expected.values() for d in ds]
    assert _scalar(env, "select count(*) from marts.fct_sales where source_sale_id = any(%s)", (documents,)) \
        == len(documents) == 60
    assert _scalar(env, "select count(*) from marts.fct_sales where source_sale_id like %s",
                   (f"EV{days[-1]:%Y%m%d}0%",)) == 0  # the overwritten version never loaded
    assert _scalar(env, "select count(*) - count(distinct source_sale_id) from marts.fct_sales") == 0


def test_poison_message_goes_to_the_dead_letter_queue(env, defs, instance, first_batch):
    import boto3

    sqs = boto3.client("sqs", endpoint_url=env["endpoint"])
    sqs.send_message(QueueUrl=env["queue"], MessageBody="this is not an S3 notification")
    cursor = json.dumps({"pending": []})
    for _ in range(MAX_RECEIVES + 1):
        result, cursor = _tick(defs, instance, cursor)
        assert isinstance(result, dg.SkipReason)
    messages = sqs.receive_message(QueueUrl=env["dlq"], WaitTimeSeconds=1).get("Messages", [])
    assert [m["Body"] for m in messages] == ["this is not an S3 notification"]
    assert _queue_depth(env, env["queue"]) == 0


def test_folder_sensor_steps_aside_when_events_are_configured(env, defs, instance):
    from orchestration.resources import LandingResource

    context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                      resources={"landing": LandingResource()})
    result = defs.get_repository_def().get_sensor_def("landing_sensor")(context)
    assert isinstance(result, dg.SkipReason) and "landing_events_sensor" in result.skip_message


def test_a_stale_source_fails_its_freshness_check_and_a_notification_is_written(env, defs, instance, first_batch):
    from orchestration.freshness import evaluate

    assert evaluate(None, 72, 240) == (True, "OK") and evaluate(100, 72, 240) == (False, "WARN")
    assert evaluate(241, 72, 240) == (False, "ERROR")
    with psycopg.connect(**env["settings"].warehouse.conninfo()) as conn:  # recorder__sales: error after 240 h
        conn.execute("update ingestion_meta.load_ledger set finished_at = finished_at - interval '300 hours' "
                     "where contract = 'recorder__sales'")
        conn.execute("update ingestion_meta.load_ledger set finished_at = finished_at - interval '100 hours' "
                     "where contract = 'mls__listing_events'")  # warn after 72 h, error after 240 h
    result = defs.resolve_job_def("source_freshness_job").execute_in_process(instance=instance, raise_on_error=False)
    evaluations = {e.event_specific_data.asset_key.path[-1]: e.event_specific_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert len(evaluations) >= 9
    stale = evaluations["recorder__sales"]
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.ERROR
    assert not evaluations["mls__listing_events"].passed
    assert evaluations["mls__listing_events"].severity == dg.AssetCheckSeverity.WARN
    assert evaluations["assessor__parcels"].passed
    assert evaluations["king_county__sales"].passed  # never delivered: no age
    sent = [json.loads(line) for line in env["settings"].outbox_path.read_text().splitlines()]
    freshness = {m["source"]: m for m in sent if m["kind"] == "freshness"}
    assert freshness["recorder__sales"]["severity"] == "ERROR"
    assert freshness["mls__listing_events"]["severity"] == "WARN"
    assert "assessor__parcels" not in freshness


def test_a_queued_run_holds_the_next_batch_back(env, defs, instance, landing, first_batch):
    """A run of the sensor created but not started yet (NOT_STARTED, or QUEUED in the daemon's run
    queue: neither is in Dagster's IN_PROGRESS_RUN_STATUSES) counts as in progress: the next tick
    receives nothing and requests nothing (two runs never rebuild the same models side by side),
    and the object's event waits in the queue for the batch after it."""
    import boto3
    from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES, DagsterRun, DagsterRunStatus

    from orchestration.events import EVENTS_JOB_NAME

    parcels = [r[0] for r in psycopg.connect(**env["settings"].warehouse.conninfo()).execute(
        "select parcel_id from raw.assessor__parcels group by parcel_id order by parcel_id limit 2").fetchall()]
    key, body, _documents = _sales_file(dt.date(2031, 1, 1), parcels, "Q")
    boto3.client("s3", endpoint_url=env["endpoint"]).put_object(Bucket=env["bucket"], Key=f"{PREFIX}/{key}", Body=body)
    assert DagsterRunStatus.QUEUED in NOT_FINISHED_STATUSES  # what the sensor's guard asks for
    # (a QUEUED run needs the daemon's remote job origin to be created; NOT_STARTED is the same case)
    queued = instance.add_run(DagsterRun(job_name=EVENTS_JOB_NAME, run_id=str(uuid.uuid4()),
                                         status=DagsterRunStatus.NOT_STARTED,
                                         tags={"terraminer/trigger": "landing_events"}))
    try:
        # a budget too short to wait for the run's end: the tick gives up at once
        skip, cursor = _tick(defs, instance, json.dumps({"pending": []}), tick_budget_seconds=1)
        assert isinstance(skip, dg.SkipReason) and "in progress" in skip.skip_message, skip
        assert _queue_depth(env, env["queue"]) == 1
    finally:
        instance.delete_run(queued.run_id)
    request, _cursor = _tick(defs, instance, cursor)
    assert isinstance(request, dg.RunRequest)
    assert request.run_config["ops"]["ingest_recorder__sales"]["config"]["keys"] == [key]
