"""Source freshness: a ``freshness`` check on every ingestion asset, from its contract's
``freshness: {warn_after_hours, error_after_hours}``.

The age of a source is the time since its newest loaded file (the ingestion ledger's
``finished_at``, on the warehouse's clock): past ``warn_after_hours`` the check fails with severity
WARN, past ``error_after_hours`` with severity ERROR, and every failure is sent to the
notification channel (the notifier resource: outbox, webhook or SNS). A source never delivered has
no age: the check passes and says so. The checks run hourly (``source_freshness_schedule``) and
after every ingestion run that includes the source.
"""

import dagster as dg

from orchestration.resources import LEDGER_ROLE, NotifierResource, WarehouseResource

FRESHNESS_CHECK = "freshness"


def evaluate(age_hours: float | None, warn_after_hours: float, error_after_hours: float) -> tuple[bool, str]:
    """(passed, severity) for a source ``age_hours`` old (None: never delivered)."""
    if age_hours is None or age_hours <= warn_after_hours:
        return True, "OK"
    return False, "ERROR" if age_hours > error_after_hours else "WARN"


def _ages(warehouse: WarehouseResource) -> dict[str, float]:
    with warehouse.connect(role=LEDGER_ROLE) as conn:
        if conn.execute("select to_regclass('ingestion_meta.load_ledger')").fetchone()[0] is None:
            return {}
        rows = conn.execute(
            "select contract, extract(epoch from now() - max(finished_at)) / 3600.0 "
            "from ingestion_meta.load_ledger where status = 'loaded' group by contract"
        ).fetchall()
    return {name: float(age) for name, age in rows}


def build_freshness_checks(contracts: list[str]) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(FRESHNESS_CHECK, asset=dg.AssetKey(["raw", name]),
                          description="hours since the newest loaded file, against the contract's "
                                      "freshness (warn_after_hours: WARN, error_after_hours: ERROR)")
        for name in contracts
    ]

    @dg.multi_asset_check(specs=specs, name="source_freshness", can_subset=True,
                          description="Freshness of every source from its contract; failures go to the notifier.")
    def source_freshness(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource,
                         notifier: NotifierResource):
        from ingestion.contract import load_contracts

        selected = sorted(context.selected_asset_check_keys, key=lambda k: k.asset_key.to_user_string())
        names = [key.asset_key.path[-1] for key in selected]
        settings = load_contracts(names=names)
        ages = _ages(warehouse)
        for key, name in zip(selected, names, strict=True):
            limits = settings[name].freshness
            age = ages.get(name)
            passed, level = evaluate(age, limits.warn_after_hours, limits.error_after_hours)
            metadata = {"age_hours": round(age, 2) if age is not None else "never delivered",
                        "warn_after_hours": limits.warn_after_hours, "error_after_hours": limits.error_after_hours}
            if not passed:
                notifier.send("freshness", {"source": name, "severity": level, **metadata})
            yield dg.AssetCheckResult(
                asset_key=key.asset_key, check_name=FRESHNESS_CHECK, passed=passed, metadata=metadata,
                severity=dg.AssetCheckSeverity.ERROR if level == "ERROR" else dg.AssetCheckSeverity.WARN,
            )

    return source_freshness


def build_freshness_job_and_schedule(checks: dg.AssetChecksDefinition):
    job = dg.define_asset_job("source_freshness_job", selection=dg.AssetSelection.checks(checks),
                              description="Every source's freshness check (failures go to the notifier).")
    schedule = dg.ScheduleDefinition(name="source_freshness_schedule", job=job, cron_schedule="17 * * * *",
                                     execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING)
    return job, schedule
