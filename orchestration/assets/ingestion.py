"""One asset per ingestion contract, keyed ``["raw", "<source>__<entity>"]``: the upstreams of the
dbt sources (whose ``meta.dagster.asset_key`` names them), so the lineage graph is connected.

The asset list comes from the prepared dbt manifest (no file scans at import): every dbt source
whose asset key starts with ``raw`` is an ingestion asset, and the run loads that contract.

Daily feeds (a contract with ``partitions: daily``) are partitioned by the landing date in their
keys (``<prefix><yyyy>/<mm>/<dd>/<file>``): a run of one partition loads that day's pending files,
a backfill of a date range runs once (single-run backfill policy) and loads exactly those days'
files, and a re-run of a loaded day is a no-op (the ledger) unless a file of that day was
re-delivered, whose rows then replace its own. A run without a partition (the landing sensors, the
pipeline and daily refresh jobs) loads every pending file of the contract, whatever its date.
"""


from pathlib import Path

import dagster as dg

from orchestration.resources import LandingResource, WarehouseResource
from orchestration.retries import retry_transient

INGESTION_GROUP = "ingestion"
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(start_date="2000-01-01", end_offset=1)
"""Landing dates from the synthetic feeds' first possible day; today's partition is open (files
land during the day)."""


def daily_contracts(names: list[str]) -> set[str]:
    """Contracts among ``names`` whose YAML says ``partitions: daily`` (read as plain YAML: loading
    the code location stays free of the contract models)."""
    import yaml

    import ingestion

    directory = Path(ingestion.__file__).parent / "contracts"
    daily = set()
    for name in names:
        path = directory / f"{name}.yml"
        if path.exists() and (yaml.safe_load(path.read_text()) or {}).get("partitions") == "daily":
            daily.add(name)
    return daily


def raw_contracts(manifest: dict) -> list[str]:
    names = set()
    for source in manifest.get("sources", {}).values():
        key = (source.get("meta") or {}).get("dagster", {}).get("asset_key")
        if key and key[0] == "raw":
            names.add(key[1])
    return sorted(names)


def ingestion_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("reconciliation", asset=key, blocking=True,
                          description="every ledger row: rows_read = rows_loaded + rows_rejected, and raw holds rows_loaded rows per file"),
        dg.AssetCheckSpec("reject_rate", asset=key, blocking=True,
                          description="rejected rows of this run under the contract's reject_threshold"),
        dg.AssetCheckSpec("no_refused_files", asset=key,
                          description="no file of this run was refused (warns: the other files still load)"),
    ]


class IngestConfig(dg.Config):
    keys: list[str] = []
    """Load only these landing keys (the landing events sensor's batch: no listing of the landing
    zone); empty: every pending file of the contract."""


def build_ingestion_asset(contract_name: str, daily: bool = False) -> dg.AssetsDefinition:
    key = dg.AssetKey(["raw", contract_name])
    partitioning = ({"partitions_def": DAILY_PARTITIONS, "backfill_policy": dg.BackfillPolicy.single_run()}
                    if daily else {})

    @dg.multi_asset(
        name=f"ingest_{contract_name}",
        specs=[dg.AssetSpec(key, group_name=INGESTION_GROUP, kinds={"python", "postgres"},
                            description=f"Landing files of contract {contract_name} loaded into raw.{contract_name} "
                                        "(exactly once, rejected rows kept)")],
        check_specs=ingestion_check_specs(key),
        op_tags={"terraminer/contract": contract_name},
        **partitioning,
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource,
                config: IngestConfig):
        from ingestion.contract import load_contracts
        from ingestion.runner import ingest
        from ingestion.writers import open_writer

        contracts = load_contracts(names=[contract_name])
        contract = contracts[contract_name]
        with retry_transient(context, f"ingest {contract_name}"):
            store = landing.open()
            if config.keys:
                from ingestion.events import KeyedLanding

                store = KeyedLanding(store, config.keys)
            days = _landing_days(context)
            if days is not None:
                from ingestion.landing import DatedLanding

                store = DatedLanding(store, *days)
                context.log.info(f"landing dates {days[0]} to {days[1]} (exclusive)")
            writer = open_writer(warehouse.settings(), store)
            try:
                _, report = ingest(writer, contracts, store,
                                   on_file_done=lambda r: context.log.info(
                                       f"{r.status} {r.file_key}: read {r.rows_read}, loaded {r.rows_loaded}, "
                                       f"rejected {r.rows_rejected} ({r.seconds:.2f} s)"))
                mismatches, total_rows = _reconcile(writer.conn, contract)
                loaded = sum(r.rows_loaded for r in report.results)
                if warehouse.settings().warehouse.kind == "postgres" and _large_share(loaded, total_rows):
                    _analyze(writer.conn, contract)
                    context.log.info(f"analyzed raw.{contract.raw_table}: {loaded} of its {total_rows} rows are new")
            finally:
                writer.close()
        totals = report.totals()
        rate = totals["rows_rejected"] / totals["rows_read"] if totals["rows_read"] else 0.0
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "files": totals["files"],
                "files_refused": totals["refused_files"],
                "rows_read": totals["rows_read"],
                "rows_loaded": totals["rows_loaded"],
                "rows_rejected": totals["rows_rejected"],
                "seconds": round(sum(r.seconds for r in report.results), 3),
                "table_rows": total_rows,
                **({"landing_dates": f"{days[0]}..{days[1]}"} if days is not None else {}),
                "dagster/row_count": total_rows,
            },
        )
        yield dg.AssetCheckResult(
            asset_key=key, check_name="reconciliation", passed=not mismatches,
            metadata={"mismatched_files": [m[0] for m in mismatches][:20]},
        )
        yield dg.AssetCheckResult(
            asset_key=key, check_name="reject_rate", passed=rate <= contract.reject_threshold,
            metadata={"reject_rate": round(rate, 6), "threshold": contract.reject_threshold},
        )
        yield dg.AssetCheckResult(
            asset_key=key, check_name="no_refused_files", passed=not report.refused,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"refused": [f"{r.file_key}: {r.error}" for r in report.refused][:20]},
        )

    return _ingest


def _landing_days(context: dg.AssetExecutionContext):
    """[first, end) landing dates of a partitioned run (one day or a backfill's range), else None."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    window = context.partition_time_window
    return window.start.date(), window.end.date()


STATISTICS_SHARE = 0.1


def _large_share(loaded: int, total: int) -> bool:
    """A bulk load worth fresh planner statistics now (autovacuum's analyze threshold, applied at once)."""
    return loaded > 0 and loaded >= STATISTICS_SHARE * max(total, 1)


def _analyze(conn, contract) -> None:
    """``analyze`` the raw table (and the change table of a merge feed) on PostgreSQL."""
    tables = [contract.raw_table] + ([contract.changes_table] if contract.load.mode == "merge" else [])
    cur = conn.cursor()
    for table in tables:
        cur.execute("select to_regclass(%s)", (f'raw."{table}"',))
        if cur.fetchone()[0] is not None:
            cur.execute(f'analyze raw."{table}"')
    conn.commit()


def _reconcile(conn, contract) -> tuple[list[tuple], int]:
    """Ledger rows whose counts do not reconcile, and the raw table's row count (DB-API cursor:
    works on PostgreSQL and Redshift)."""
    table = contract.changes_table if contract.load.mode == "merge" else contract.raw_table
    cur = conn.cursor()
    cur.execute(
        "select count(*) from information_schema.tables where table_schema = 'raw' and table_name in (%s, %s)",
        (table, contract.raw_table),
    )
    if cur.fetchone()[0] == 0:
        return [], 0
    cur.execute(
        "select l.file_key, l.rows_read, l.rows_loaded, l.rows_rejected, coalesce(r.n, 0) "
        "from ingestion_meta.load_ledger l left join ("
        f'  select _file_key, count(*) as n from raw."{table}" group by _file_key'
        ") r on r._file_key = l.file_key "
        "where l.contract = %s and l.status = 'loaded' and l.superseded_at is null "
        "and (l.rows_read <> l.rows_loaded + l.rows_rejected or l.rows_loaded <> coalesce(r.n, 0))",
        (contract.name,),
    )
    mismatches = cur.fetchall()
    cur.execute(f'select count(*) from raw."{contract.raw_table}"')
    total = cur.fetchone()[0]
    conn.commit()
    return mismatches, total
