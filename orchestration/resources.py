"""Resources resolved from TerraMiner settings (TERRAMINER_ENV & co.) at run time, so one code
location serves local, ci, dev, staging and prod without code changes."""

from __future__ import annotations

import json
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg

from core.settings import Settings, get_settings


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse named by the settings (embedded Postgres locally, RDS / Redshift elsewhere)."""

    def settings(self) -> Settings:
        return get_settings()

    @contextmanager
    def connect(self):
        from core.warehouse import connect

        conn = connect(self.settings())
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
        settings = get_settings()
        message = {"kind": kind, "sent_at": datetime.now(UTC).isoformat(), **payload}
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
