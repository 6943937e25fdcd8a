"""Alert webhooks: subscriptions (a URL and a filter), HMAC-signed deliveries, retries with
backoff, every attempt in ``api_meta.deliveries``.

Signature (Stripe-style): ``X-TerraMiner-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with the subscription's secret>``; receivers recompute it and reject old timestamps.
Each (subscription, alert) is delivered successfully at most once (a unique index on the ok rows);
failures are retried within the call (``attempts`` with exponential backoff) and again by later
calls until ``max_total_attempts``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from psycopg.rows import dict_row

from api.service.db import jsonable

SIGNATURE_HEADER = "X-TerraMiner-Signature"
ALERT_TYPES = ("market_move", "price_cut", "suspicious_sale", "fast_flip")
ALERT_COLUMNS = ("alert_id, alert_type, severity, region_id, subject_type, subject_id, property_id, message, "
                 "metric_value, threshold_value, detected_for_date")


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, tolerance_s: int = 300, now: float | None = None) -> bool:
    """What a receiver does: recompute the signature, compare in constant time, check the age."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


def create_subscription(conn: psycopg.Connection, key_id: str, url: str, region_ids: list[str] | None,
                        alert_types: list[str] | None) -> dict:
    secret = "whsec_" + secrets.token_urlsafe(32)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "insert into api_meta.subscriptions (key_id, url, secret, region_ids, alert_types) "
            "values (%s, %s, %s, %s, %s) returning subscription_id, url, region_ids, alert_types, created_at",
            (key_id, url, secret, region_ids or None, alert_types or None))
        row = {k: jsonable(v) for k, v in cur.fetchone().items()}
    return {**row, "secret": secret}


def subscription_owner(conn: psycopg.Connection, subscription_id: int) -> str | None:
    row = conn.execute("select key_id from api_meta.subscriptions where subscription_id = %s",
                       (subscription_id,)).fetchone()
    return row[0] if row else None


def deliveries(conn: psycopg.Connection, subscription_id: int, limit: int = 200) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("select delivery_id, alert_id, attempt, ok, status_code, error, seconds, attempted_at "
                    "from api_meta.deliveries where subscription_id = %s order by delivery_id desc limit %s",
                    (subscription_id, limit))
        return [{k: jsonable(v) for k, v in row.items()} for row in cur.fetchall()]


def _post(url: str, body: bytes, headers: dict, timeout: float) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _matches(sub: dict, alert: dict) -> bool:
    return ((not sub["region_ids"] or alert.get("region_id") in sub["region_ids"])
            and (not sub["alert_types"] or alert.get("alert_type") in sub["alert_types"]))


class Deliverer:
    def __init__(self, conn: psycopg.Connection, attempts: int = 3, backoff_s: float = 0.2, timeout_s: float = 5.0,
                 max_total_attempts: int = 9, sleep: Callable[[float], None] = time.sleep):
        self.conn, self.attempts, self.backoff_s, self.timeout_s = conn, attempts, backoff_s, timeout_s
        self.max_total_attempts, self.sleep = max_total_attempts, sleep

    def _subscriptions(self) -> list[dict]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute("select subscription_id, url, secret, region_ids, alert_types from api_meta.subscriptions "
                        "where active order by subscription_id")
            return cur.fetchall()

    def _attempts_so_far(self, sub_id: int, alert_id: str) -> tuple[bool, int]:
        row = self.conn.execute("select coalesce(bool_or(ok), false), count(*) from api_meta.deliveries "
                                "where subscription_id = %s and alert_id = %s", (sub_id, alert_id)).fetchone()
        return bool(row[0]), int(row[1])

    def _log(self, sub_id: int, alert_id: str, attempt: int, ok: bool, status: int | None, error: str | None,
             seconds: float) -> None:
        self.conn.execute(
            "insert into api_meta.deliveries (subscription_id, alert_id, attempt, ok, status_code, error, seconds) "
            "values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            (sub_id, alert_id, attempt, ok, status, error, round(seconds, 3)))

    def _deliver_one(self, sub: dict, alert: dict) -> bool:
        done, tried = self._attempts_so_far(sub["subscription_id"], alert["alert_id"])
        if done or tried >= self.max_total_attempts:
            return done
        body = json.dumps({"kind": "alert", "subscription_id": sub["subscription_id"],
                           "sent_at": datetime.now(UTC).isoformat(), "alert": alert},
                          separators=(",", ":"), default=str).encode()
        for attempt in range(tried + 1, min(tried + self.attempts, self.max_total_attempts) + 1):
            timestamp = int(time.time())
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(sub["secret"], body, timestamp),
                       "X-TerraMiner-Delivery": f"{sub['subscription_id']}:{alert['alert_id']}",
                       "User-Agent": "TerraMiner-Webhooks/1"}
            started = time.perf_counter()
            status, error = None, None
            try:
                status = _post(sub["url"], body, headers, self.timeout_s)
            except (OSError, ValueError) as err:
                error = f"{type(err).__name__}: {err}"[:500]
            ok = status is not None and 200 <= status < 300
            if not ok and error is None:
                error = f"HTTP {status}"
            self._log(sub["subscription_id"], alert["alert_id"], attempt, ok, status, error,
                      time.perf_counter() - started)
            if ok:
                return True
            if attempt < min(tried + self.attempts, self.max_total_attempts):
                self.sleep(self.backoff_s * 2 ** (attempt - tried - 1))
        return False

    def deliver(self, alerts: list[dict]) -> dict:
        """Send each alert to every matching subscription (once), then retry earlier failures."""
        sent = failed = 0
        subs = self._subscriptions()
        for alert in alerts:
            alert = {k: jsonable(v) for k, v in alert.items()}
            for sub in subs:
                if _matches(sub, alert):
                    if self._deliver_one(sub, alert):
                        sent += 1
                    else:
                        failed += 1
        retried = self.retry_failed(subs, {a["alert_id"] for a in alerts})
        return {"sent": sent, "failed": failed, "retried": retried}

    def retry_failed(self, subs: list[dict], skip: set[str]) -> int:
        pending = self.conn.execute(
            "select subscription_id, alert_id from api_meta.deliveries group by 1, 2 "
            "having not bool_or(ok) and count(*) < %s", (self.max_total_attempts,)).fetchall()
        by_id = {s["subscription_id"]: s for s in subs}
        todo = [(by_id[s], a) for s, a in pending if s in by_id and a not in skip]
        if not todo:
            return 0
        with self.conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"select {ALERT_COLUMNS} from marts.mart_alerts where alert_id = any(%s)",
                        ([a for _, a in todo],))
            alerts = {r["alert_id"]: {k: jsonable(v) for k, v in r.items()} for r in cur.fetchall()}
        return sum(self._deliver_one(sub, alerts[a]) for sub, a in todo if a in alerts)


def deliver_new_alerts(settings, alert_ids: list[str], **options) -> dict:
    """The alerts sensor's hook: deliver these alerts (read back from marts.mart_alerts) as the API's
    role. No api_meta yet (roles not applied): nothing to do."""
    from core.warehouse import connect

    with connect(settings, conninfo={"user": settings.api_pg_user}, autocommit=True) as conn:
        if conn.execute("select to_regclass('api_meta.subscriptions')").fetchone()[0] is None:
            return {"sent": 0, "failed": 0, "retried": 0}
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(f"select {ALERT_COLUMNS} from marts.mart_alerts where alert_id = any(%s) "
                        "order by detected_for_date, alert_id", (list(alert_ids),))
            alerts = cur.fetchall()
        return Deliverer(conn, **options).deliver(alerts)
