"""Resources resolved from TerraMiner settings (TERRAMINER_ENV & co.) at run time, so one code
location serves local, ci, dev, staging and prod without code changes."""

from __future__ import annotations

import json
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property

import dagster as dg
from dagster_dbt import DbtCliResource

from core.settings import Settings, get_settings

# Each asset group's job runs as its warehouse role (docs/ARCHITECTURE.md §9); dbt runs as the
# transformer through DBT_PGUSER (core.settings.Settings.dbt_env), sensors read marts as bi.
GROUP_ROLES = {"ingestion": "terraminer_loader", "ml": "terraminer_ml", "api": "terraminer_api"}
OUTSIDE_ASSETS_ROLE = "terraminer_bi"
# the ingestion ledger's readers outside ingestion assets (the landing-events sensor, the source
# freshness checks): the loader owns it, bi may not read it
LEDGER_ROLE = GROUP_ROLES["ingestion"]


def current_role() -> str:
    """The role of the asset being materialized (by its group), else bi (sensors, schedules)."""
    try:
        context = dg.OpExecutionContext.get()
    except Exception:  # noqa: BLE001 - no op is running (a sensor's tick)
        context = None
    if context is None:
        return OUTSIDE_ASSETS_ROLE
    try:
        groups = {context.assets_def.group_names_by_key.get(key) for key in context.selected_asset_keys}
    except Exception:  # noqa: BLE001 - an op without assets
        groups = set()
    roles = {GROUP_ROLES.get(group or "") for group in groups} - {None}
    if len(roles) != 1:
        raise dg.Failure(f"no single warehouse role for asset groups {sorted(g or '' for g in groups)}")
    return roles.pop()


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse named by the settings (embedded Postgres locally, RDS / Redshift elsewhere),
    connected as the running asset's role (:func:`current_role`)."""

    def settings(self, role: str | None = None) -> Settings:
        return get_settings().as_role(role or current_role())

    @contextmanager
    def connect(self, role: str | None = None):
        """A connection as ``role``, else as the running asset's role (:func:`current_role`)."""
        from core.warehouse import connect

        conn = connect(self.settings(role))
        try:
            yield conn
        finally:
            conn.close()


class LandingResource(dg.ConfigurableResource):
    """The landing zone (a local folder by default, S3 elsewhere)."""

    uri: str | None = None

    def open(self):
        from ingestion.landing import open_landing

        settings = get_settings()
        return open_landing(self.uri or settings.landing, endpoint_url=settings.endpoint_url)


class NotifierResource(dg.ConfigurableResource):
    """Where alerts and failures go: a local JSONL outbox by default, a webhook or SNS by settings."""

    def send(self, kind: str, payload: dict) -> str:
        from core.redact import redact_payload

        settings = get_settings()
        # nothing personal leaves the warehouse: quoted source values next to a personal column go
        message = {"kind": kind, "sent_at": datetime.now(UTC).isoformat(), **redact_payload(payload)}
        channel = settings.notify_channel
        if channel == "webhook":
            if not settings.notify_target:
                raise dg.Failure("TERRAMINER_NOTIFY_TARGET must be the webhook URL when TERRAMINER_NOTIFY_CHANNEL=webhook")
            request = urllib.request.Request(
                settings.notify_target, data=json.dumps(message, default=str).encode(),
                headers={"Content-Type": "application/json"}, method="POST",
            )
            with urllib.request.urlopen(request, timeout=10):
                pass
            return settings.notify_target
        if channel == "sns":
            import boto3

            if not settings.notify_target:
                raise dg.Failure("TERRAMINER_NOTIFY_TARGET must be the SNS topic ARN when TERRAMINER_NOTIFY_CHANNEL=sns")
            boto3.client("sns").publish(TopicArn=settings.notify_target, Message=json.dumps(message, default=str))
            return settings.notify_target
        path = settings.outbox_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(message, default=str) + "\n")
        return str(path)


class TerraMinerDbtCliResource(DbtCliResource):
    """``DbtCliResource`` without two start-up costs of every dbt step that TerraMiner has no use for
    (a streaming run pays them on every event):

    - the dbt version from ``dbt --version`` in a subprocess (2-4 s: it imports dbt): the
      executable is this environment's dbt-core (``core.dbt.dbt_executable``), so its installed
      version is the answer;
    - an in-process dbt adapter (loads the project and profile and parses dbt's base macros: 5-15 s
      on 2 cores), which dagster-dbt uses only for ``fetch_row_counts`` / ``fetch_column_metadata``,
      never called here. Everything else (selection, events, asset checks) is unchanged.

    Both override dagster-dbt internals (0.29); tests/unit/test_dbt_resource.py fails when an
    upgrade renames them."""

    @cached_property
    def _cli_version(self):
        from importlib.metadata import version as installed_version

        from packaging import version

        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - dagster-dbt's signature
        return None
