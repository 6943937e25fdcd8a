"""Streaming benchmark: S3 event notifications → SQS → the landing events sensor in a real Dagster
daemon → ingestion → dbt → ``marts.fct_sales`` and ``marts.mart_alerts`` (issue 19).

On a fresh embedded stack (``temporary_stack``, env ci) with a moto server in its own process: an S3
landing bucket notifies an SQS queue (with a dead-letter queue); synthetic feeds (``--scale``,
``--days``) are put to the bucket and loaded with a full build (``terraminer ingest``, ``dbt seed``,
``dbt build``: the demo warehouse), then ``dagster-daemon run`` starts with
``TERRAMINER_LANDING_EVENTS`` set (the setup's own events are purged first: those files are loaded). Then ``--files`` recorder files (a day of new deeds each, for parcels the warehouse knows)
are put to S3 every ``--interval`` seconds. For each file:

- landing → mart: from ``put_object`` to its rows being in ``marts.fct_sales`` (polled every 0.5 s);
- landing → alerts: from ``put_object`` to the end of the run that loaded it (the run rebuilds
  ``mart_alerts`` after ``fct_sales``; the Dagster instance's run record).

``lost``: files whose rows never reached ``fct_sales`` within ``--timeout``; ``duplicated``: files with
more than one loaded ledger row or more ``fct_sales`` rows than deeds.

Same-run baseline: after the daemon stops, one more file is put and taken through the same steps by
hand, without Dagster: ``terraminer ingest`` + ``dbt build`` of the streaming run's dbt selection
(timed together). ``p50 / baseline`` is what the event path (sensor interval, run launch, Dagster's
step processes) adds over the work itself. Last line:

    landing_to_mart_p50_s=A landing_to_mart_p95_s=B files=N lost=0 duplicated=0
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import moto_server, run_step, write_result  # noqa: E402

PREFIX = "landing"
START = dt.date(2022, 1, 1)
SEED = 19
DEEDS_PER_FILE = 7
# the dbt part of a streaming run for recorder files (orchestration/events.py streaming_selection):
# the models downstream of the source and upstream of a mart, without features
# (STREAMING_EXCLUDED_GROUPS) and ML, and their key tests (streaming_checks: primary_key / unique)
_PATH = "source:recorder+,+path:dbt_project/models/marts"
BASELINE_DBT = ["build", "--select", _PATH, "test_name:primary_key,source:recorder+",
                "test_name:unique,source:recorder+",
                "--exclude", "path:dbt_project/models/features+", "source:ml+",
                "--exclude-resource-type", "unit_test", "--indirect-selection", "empty", "--target", "ci"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def new_sales_file(parcels: list[str], day: dt.date, tag: str) -> tuple[str, bytes, list[str]]:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["document_number", "parcel_id", "sale_date", "recording_date", "sale_price", "deed_type",
                     "buyer_name", "seller_name"])
    documents = [f"S{tag}{i:03d}" for i in range(len(parcels))]
    for i, (document, parcel) in enumerate(zip(documents, parcels, strict=True)):
        writer.writerow([document, parcel, day.isoformat(), day.isoformat(), 300000 + 1000 * i, "WD", "NEW", "OLD"])
    key = f"recorder/sales/{day:%Y/%m/%d}/stream_{tag}.csv.gz"
    return key, gzip.compress(text.getvalue().encode()), documents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20, help="recorder files put one by one (20)")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between puts (15)")
    parser.add_argument("--scale", type=int, default=2, help="synthetic scale of the demo warehouse (2)")
    parser.add_argument("--days", type=int, default=1096, help="days of synthetic feeds in the demo warehouse (1096)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a file may take before it is lost")
    parser.add_argument("--keep", action="store_true",
                        help="copy the Dagster home, daemon log and step logs to /tmp/tmsb-kept-<time> before cleanup")
    args = parser.parse_args(argv)

    import boto3
    import psycopg

    from core.dbt import dbt_executable
    from core.settings import project_dir
    from ingestion.events import ensure_event_queue
    from ingestion.landing import open_landing
    from ingestion.synthetic import generate
    from terraminer import pipeline
    from terraminer.stack import temporary_stack

    python, dbt = sys.executable, dbt_executable()
    with moto_server() as endpoint, temporary_stack("tmsb-") as settings, \
            tempfile.TemporaryDirectory(prefix="tmsb-work-", dir="/tmp") as tmp:
        work = Path(tmp)
        bucket, queue_name = f"landing-{uuid.uuid4().hex[:10]}", f"events-{uuid.uuid4().hex[:8]}"
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=bucket)
        ensure_event_queue(bucket, queue_name, endpoint_url=endpoint, prefix=PREFIX)
        # the stack's own Dagster instance (terraminer/stack.py writes its dagster.yaml: SQLite storage,
        # the queued run coordinator as `terraminer up` configures it)
        dagster_home = settings.dagster_home
        env = {**os.environ, **settings.exports(), "TERRAMINER_LANDING_URI": f"s3://{bucket}/{PREFIX}",
               "TERRAMINER_S3_ENDPOINT_URL": endpoint, "TERRAMINER_LANDING_EVENTS": f"sqs://{queue_name}",
               "DAGSTER_HOME": str(dagster_home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
               "TERRAMINER_PROJECT_DIR": str(project_dir()), "PYTHONPATH": str(project_dir())}
        os.environ.update(env)  # this process's own reads (settings, landing) see the same stack
        pipeline.prepare_warehouse(settings)
        landing = open_landing(f"s3://{bucket}/{PREFIX}", endpoint_url=endpoint)

        def query(sql: str, params=None):
            with psycopg.connect(**settings.warehouse.conninfo()) as conn:
                return conn.execute(sql, params).fetchall()

        print(f"stack {settings.home_dir}, bucket {bucket}, queue {queue_name}", flush=True)
        generate(landing, scale=args.scale, seed=SEED, start=START, days=args.days)
        # the demo warehouse: every feed loaded and a full build (a streaming run rebuilds only what is
        # downstream of the delivered sources, so the rest must exist)
        setup_start = time.time()
        # (a small warehouse: the AVM's minimum training rows are not the point here)
        for name, cmd in (("ingest", [python, "-m", "terraminer.cli", "ingest", "--quiet"]),
                          ("dbt_seed", [dbt, "seed", "--target", "ci"]),
                          ("dbt_build", [dbt, "build", "--exclude-resource-type", "unit_test", "--target", "ci",
                                         "--vars", "{avm_min_training_rows: 0}"])):
            run_step(name, cmd, env=env, cwd=project_dir(), log_dir=work)
        print(f"warehouse built: {time.time() - setup_start:.0f} s", flush=True)
        # the code location's dbt manifest prepared in this stack's environment, as `terraminer demo`
        # does (its partial parse seeds each run's dbt step: orchestration/assets/dbt.py)
        from orchestration.project import prepare_manifest

        prepare_manifest()
        # the setup's own deliveries are loaded: their events go (the sensor would find each file in the
        # ledger; thousands of them in one tick also outlast the daemon's 60 s sensor evaluation deadline)
        sqs = boto3.client("sqs", endpoint_url=endpoint)
        sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"])
        with _instance(dagster_home):  # its SQLite storage created here, before the daemon opens it too
            pass
        log = open(work / "daemon.log", "w")  # noqa: SIM115 (closed after the daemon stops)
        daemon = subprocess.Popen([str(Path(python).parent / "dagster-daemon"), "run", "-m", "orchestration.definitions"],
                                  env=env, cwd=project_dir(), stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        started = time.time()
        try:
            # the sensor's first ticks (code server up); the setup's events were purged (already loaded)
            while not _sensor_ticked(dagster_home):
                if daemon.poll() is not None:
                    raise SystemExit(f"dagster-daemon exited: see {work / 'daemon.log'}")
                if time.time() - started > args.timeout:
                    raise SystemExit("the landing events sensor did not tick in time")
                time.sleep(2)
            daemon_ready_s = time.time() - started
            print(f"daemon up, landing events sensor ticking: {daemon_ready_s:.0f} s", flush=True)
            parcels = [r[0] for r in query("select parcel_id from raw.assessor__parcels group by parcel_id "
                                           f"order by parcel_id limit {DEEDS_PER_FILE}")]
            last_day = query("select max(sale_date) from raw.recorder__sales")[0][0]

            files: list[dict] = []
            stop = threading.Event()

            def poll():
                while not stop.is_set():
                    pending = [f for f in files if f.get("mart_at") is None]
                    if pending:
                        found = dict(query("select file_key, count(*) from marts.fct_sales where file_key = any(%s) "
                                           "group by file_key", ([f["key"] for f in pending],)))
                        now = time.time()
                        for f in pending:
                            if found.get(f["key"], 0) >= len(f["documents"]):
                                f["mart_at"] = now
                    stop.wait(0.5)

            poller = threading.Thread(target=poll, daemon=True)
            poller.start()
            for i in range(args.files):
                day = last_day + dt.timedelta(days=i + 1)
                key, body, documents = new_sales_file(parcels, day, f"{day:%Y%m%d}{i:03d}")
                put_at = time.time()
                s3.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=body)
                files.append({"key": key, "documents": documents, "put_at": put_at, "mart_at": None})
                print(f"put {key}", flush=True)
                time.sleep(args.interval)
            deadline = time.time() + args.timeout
            while any(f["mart_at"] is None for f in files) and time.time() < deadline:
                time.sleep(1)
            while _runs_in_progress(dagster_home) and time.time() < deadline:
                time.sleep(1)
            stop.set()
            poller.join(timeout=5)
            runs = _run_ends(dagster_home)
            timeline = _timeline(dagster_home, files)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
            log.close()

        for f in files:
            ends = [end for keys, end, status in runs if f["key"] in keys and status == "SUCCESS"]
            f["alerts_at"] = min(ends) if ends else None
        keys = [f["key"] for f in files]
        ledger = dict(query("select file_key, count(*) from ingestion_meta.load_ledger where status = 'loaded' "
                            "and file_key = any(%s) group by file_key", (keys,)))
        fct = dict(query("select file_key, count(*) from marts.fct_sales where file_key = any(%s) group by file_key",
                         (keys,)))
        lost = sum(1 for f in files if f["mart_at"] is None)
        duplicated = sum(1 for f in files if ledger.get(f["key"], 0) > 1 or fct.get(f["key"], 0) > len(f["documents"]))
        to_mart = [f["mart_at"] - f["put_at"] for f in files if f["mart_at"] is not None]
        to_alerts = [f["alerts_at"] - f["put_at"] for f in files if f["alerts_at"] is not None]

        # same-run baseline: one more file through the same work without Dagster
        day = last_day + dt.timedelta(days=args.files + 1)
        key, body, documents = new_sales_file(parcels, day, f"{day:%Y%m%d}base")
        s3.put_object(Bucket=bucket, Key=f"{PREFIX}/{key}", Body=body)
        base_start = time.perf_counter()
        run_step("baseline_ingest", [python, "-m", "terraminer.cli", "ingest", "--quiet"], env=env, cwd=project_dir(),
                 log_dir=work)
        run_step("baseline_dbt_build", [dbt, *BASELINE_DBT], env=env, cwd=project_dir(), log_dir=work)
        baseline_s = time.perf_counter() - base_start
        baseline_ok = query("select count(*) from marts.fct_sales where file_key = %s", (key,))[0][0] == len(documents)
        if args.keep:
            import shutil

            kept = Path(f"/tmp/tmsb-kept-{time.strftime('%H%M%S')}")
            shutil.copytree(work, kept, ignore=shutil.ignore_patterns("*.sock"))
            shutil.copytree(dagster_home, kept / "dagster", ignore=shutil.ignore_patterns("*.sock"))
            print(f"kept {work} as {kept}", flush=True)

    p50, p95 = statistics.median(to_mart) if to_mart else float("nan"), percentile(to_mart, 0.95)
    payload = {
        "files": len(files), "interval_s": args.interval, "scale": args.scale, "days": args.days,
        "daemon_ready_s": round(daemon_ready_s, 1), "lost": lost, "duplicated": duplicated,
        "landing_to_mart_p50_s": round(p50, 2), "landing_to_mart_p95_s": round(p95, 2),
        "landing_to_alerts_p50_s": round(statistics.median(to_alerts), 2) if to_alerts else None,
        "runs": len(runs), "baseline_ingest_plus_dbt_s": round(baseline_s, 2), "baseline_loaded": baseline_ok,
        "p50_over_baseline_ratio": round(p50 / baseline_s, 3) if to_mart else None,
        "where_the_time_goes": timeline["phases"],
        "per_file_s": [round(f["mart_at"] - f["put_at"], 2) if f["mart_at"] else None for f in files],
    }
    path = write_result("streaming", payload)
    for line in timeline["lines"]:
        print(line)
    print(f"runs launched by the sensor: {len(runs)}; landing → alerts p50 {payload['landing_to_alerts_p50_s']} s")
    print(f"baseline (terraminer ingest + dbt build of the same selection, no Dagster): {baseline_s:.1f} s; "
          f"p50 / baseline = {payload['p50_over_baseline_ratio']}")
    print(f"results: {path}")
    print(f"landing_to_mart_p50_s={p50:.1f} landing_to_mart_p95_s={p95:.1f} files={len(files)} "
          f"lost={lost} duplicated={duplicated}")
    return 0


def _sensor_ticked(dagster_home: Path) -> bool:
    """The landing events sensor has completed a tick in the daemon (skipped or requested)."""
    from dagster._core.scheduler.instigation import TickStatus

    with _instance(dagster_home) as instance:
        for state in instance.all_instigator_state():
            if state.name == "landing_events_sensor":
                ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=5)
                return any(t.status in (TickStatus.SKIPPED, TickStatus.SUCCESS) for t in ticks)
    return False


def _instance(dagster_home: Path):
    import dagster as dg

    return dg.DagsterInstance.from_config(str(dagster_home))


def _runs_in_progress(dagster_home: Path) -> bool:
    import dagster as dg
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    with _instance(dagster_home) as instance:
        return bool(instance.get_run_ids(dg.RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES), limit=1))


def _timeline(dagster_home: Path, files: list[dict]) -> dict:
    """Where the seconds go, from the Dagster run records and event logs: per run, the sensor's
    request (run created) after the oldest put it carries, the launch (run worker up), each step's
    worker start-up and work, and when ``fct_sales`` materialized; and the medians over runs."""
    import dagster as dg

    phases: dict[str, list[float]] = {}
    lines = ["where the time goes (per run, seconds; put = the oldest put the run carries):"]

    def add(name: str, value: float | None) -> str:
        if value is None:
            return f"{name} -"
        phases.setdefault(name, []).append(value)
        return f"{name} {value:.1f}"

    with _instance(dagster_home) as instance:
        records = instance.get_run_records(dg.RunsFilter(tags={"terraminer/trigger": "landing_events"}),
                                           ascending=True)
        for record in records:
            run = record.dagster_run
            ops = (run.run_config or {}).get("ops", {})
            keys = {k for op in ops.values() for k in (op.get("config") or {}).get("keys", [])}
            puts = [f["put_at"] for f in files if f["key"] in keys]
            events: dict[tuple[str, str | None], float] = {}
            fct_at = None
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event is None:
                    if "Running dbt command" in (entry.user_message or "") and ("dbt_cmd", None) not in events:
                        events[("dbt_cmd", None)] = entry.timestamp
                    continue
                events.setdefault((event.event_type.name, entry.step_key), entry.timestamp)
                if (event.event_type.name == "ASSET_MATERIALIZATION" and fct_at is None
                        and event.asset_key is not None and event.asset_key.path[-1] == "fct_sales"):
                    fct_at = entry.timestamp
            created = record.create_timestamp.timestamp()
            start = events.get(("RUN_START", None))
            parts = [f"run {run.run_id[:8]} files {len(keys)}:",
                     add("put_to_request", created - min(puts) if puts else None),
                     add("launch", start - created if start else None)]
            steps = sorted({step for (_kind, step) in events if step}, key=lambda s: events.get(("STEP_START", s), 0))
            for step in steps:
                name = "dbt" if "dbt" in step else "ingest" if step.startswith("ingest") else step
                begin = events.get(("STEP_WORKER_STARTING", step)) or start
                step_start, step_end = events.get(("STEP_START", step)), events.get(("STEP_SUCCESS", step))
                parts.append(add(f"{name}_worker", step_start - begin if step_start and begin else None))
                if name == "dbt" and ("dbt_cmd", None) in events and step_start:
                    parts.append(add("dbt_to_command", events[("dbt_cmd", None)] - step_start))
                    if fct_at:
                        parts.append(add("dbt_command_to_fct_sales", fct_at - events[("dbt_cmd", None)]))
                parts.append(add(f"{name}_step", step_end - step_start if step_start and step_end else None))
            end = record.end_time
            parts.append(add("run_total", end - created if end else None))
            if fct_at and puts:
                parts.append(add("put_to_fct_sales_event", fct_at - min(puts)))
            lines.append(", ".join(parts))
    medians = {name: round(statistics.median(values), 1) for name, values in phases.items()}
    lines.append("medians: " + ", ".join(f"{k} {v}" for k, v in medians.items()))
    return {"phases": medians, "lines": lines}


def _run_ends(dagster_home: Path) -> list[tuple[list[str], float, str]]:
    """(keys loaded, end time, status) of every run the landing events sensor launched."""
    import dagster as dg

    out = []
    with _instance(dagster_home) as instance:
        for record in instance.get_run_records(dg.RunsFilter(tags={"terraminer/trigger": "landing_events"})):
            ops = (record.dagster_run.run_config or {}).get("ops", {})
            keys = [k for op in ops.values() for k in (op.get("config") or {}).get("keys", [])]
            out.append((keys, record.end_time or 0.0, record.dagster_run.status.value))
    return out


if __name__ == "__main__":
    sys.exit(main())
