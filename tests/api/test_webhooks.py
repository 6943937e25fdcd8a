"""Alert webhooks end to end: a subscription made through the API, the alerts sensor delivering to a
real HTTP receiver on 127.0.0.1, signatures checked, a failing receiver retried, attempts logged."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from api.service.notifications import SIGNATURE_HEADER, Deliverer, verify
from tests.api.conftest import admin, as_api, bearer

XDIST_WEIGHT = 20


class Receiver:
    """A real HTTP server that records every POST; the first ``fail_first`` requests get 500."""

    def __init__(self, fail_first: int = 0):
        self.received: list[tuple[dict, bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = 500 if len(receiver.received) <= receiver.fail_first else 204
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def flaky():
    r = Receiver(fail_first=2)
    yield r
    r.close()


def subscribe(api_app, key, **body) -> dict:
    response = api_app.post("/v1/subscriptions", headers=bearer(key), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_alerts_sensor_delivers_each_new_alert_once_signed(api_app, api_settings, keys, receiver, monkeypatch):
    import dagster as dg

    from orchestration.resources import NotifierResource, WarehouseResource
    from orchestration.sensors import alerts_sensor

    sub = subscribe(api_app, keys["all"], url=receiver.url, region_ids=["R02"], alert_types=["market_move"])
    other = subscribe(api_app, keys["all"], url=receiver.url + "/other", region_ids=["R03"])
    assert sub["secret"].startswith("whsec_")
    monkeypatch.setenv("TERRAMINER_ENV", "ci")
    monkeypatch.setenv("TERRAMINER_HOME", str(api_settings.home_dir))
    monkeypatch.setenv("TERRAMINER_DATABASE", api_settings.database)
    with admin(api_settings) as conn:
        expected = {r[0] for r in conn.execute(
            "select alert_id from marts.mart_alerts where region_id = 'R02' and alert_type = 'market_move'")}
        r03 = conn.execute("select count(*) from marts.mart_alerts where region_id = 'R03'").fetchone()[0]
    resources = {"warehouse": WarehouseResource(), "notifier": NotifierResource()}
    with dg.build_sensor_context(resources=resources) as context:
        alerts_sensor(context)
        cursor = context.cursor
    mine = [(h, b) for h, b in receiver.received if not json.loads(b)["subscription_id"] == other["subscription_id"]]
    assert {json.loads(b)["alert"]["alert_id"] for _, b in mine} == expected and len(mine) == len(expected)
    for headers, body in mine:
        assert verify(sub["secret"], body, headers[SIGNATURE_HEADER.lower()])
        assert not verify(sub["secret"], body + b" ", headers[SIGNATURE_HEADER.lower()])
        assert not verify(other["secret"], body, headers[SIGNATURE_HEADER.lower()])
    assert len(receiver.received) - len(mine) == r03
    # the next tick: no new alert, nothing sent again
    before = len(receiver.received)
    with dg.build_sensor_context(resources=resources, cursor=cursor) as context:
        alerts_sensor(context)
    assert len(receiver.received) == before
    log = api_app.get(f"/v1/subscriptions/{sub['subscription_id']}/deliveries", headers=bearer(keys["all"])).json()
    assert len(log["items"]) == len(expected) and all(d["ok"] and d["status_code"] == 204 for d in log["items"])
    # another key may not read this subscription's log
    assert api_app.get(f"/v1/subscriptions/{sub['subscription_id']}/deliveries",
                       headers=bearer(keys["read"])).status_code == 403
    with as_api(api_settings) as conn:
        from api.security import create_key

        alerts_key = create_key(conn, "other-alerts", ["alerts"])
    assert api_app.get(f"/v1/subscriptions/{sub['subscription_id']}/deliveries",
                       headers=bearer(alerts_key)).status_code == 404


def test_a_failing_receiver_is_retried_with_backoff_and_every_attempt_logged(api_app, api_settings, keys, flaky):
    sub = subscribe(api_app, keys["all"], url=flaky.url, region_ids=["R01"], alert_types=["price_cut"])
    sleeps = []
    with as_api(api_settings) as conn:
        alerts = conn.execute("select alert_id, alert_type, region_id, detected_for_date from marts.mart_alerts "
                              "where region_id = 'R01' and alert_type = 'price_cut' order by alert_id limit 1"
                              ).fetchall()
        rows = [dict(zip(("alert_id", "alert_type", "region_id", "detected_for_date"), r, strict=True))
                for r in alerts]
        result = Deliverer(conn, attempts=3, backoff_s=0.05, sleep=sleeps.append).deliver(rows)
        # a later call sends nothing more
        again = Deliverer(conn, attempts=3, backoff_s=0.05, sleep=sleeps.append).deliver(rows)
    assert result["sent"] == 1 and again["sent"] == 1 and len(flaky.received) == 3
    assert sleeps == [0.05, 0.1]  # exponential backoff between the three attempts
    bodies = {b for _, b in flaky.received}
    assert len(bodies) == 1  # the same body every attempt
    log = api_app.get(f"/v1/subscriptions/{sub['subscription_id']}/deliveries", headers=bearer(keys["all"])).json()
    attempts = sorted((d["attempt"], d["ok"], d["status_code"]) for d in log["items"])
    assert attempts == [(1, False, 500), (2, False, 500), (3, True, 204)]


def test_an_unreachable_receiver_is_logged_and_retried_later(api_app, api_settings, keys):
    dead = Receiver()
    url = dead.url
    dead.close()
    sub = subscribe(api_app, keys["all"], url=url, region_ids=["R03"], alert_types=["price_cut"])
    with as_api(api_settings) as conn:
        row = conn.execute("select alert_id, alert_type, region_id from marts.mart_alerts where region_id = 'R03' "
                           "and alert_type = 'price_cut' order by alert_id limit 1").fetchone()
        alert = dict(zip(("alert_id", "alert_type", "region_id"), row, strict=True))
        first = Deliverer(conn, attempts=2, backoff_s=0, sleep=lambda s: None).deliver([alert])
        later = Deliverer(conn, attempts=2, backoff_s=0, sleep=lambda s: None).deliver([])
    assert first["failed"] == 1 and later["retried"] == 0
    log = api_app.get(f"/v1/subscriptions/{sub['subscription_id']}/deliveries", headers=bearer(keys["all"])).json()
    assert len(log["items"]) == 4 and not any(d["ok"] for d in log["items"])
    assert all("Error" in d["error"] for d in log["items"])


def test_bad_subscriptions_are_4xx_naming_the_field(api_app, keys):
    for body, field in (({"url": "ftp://x"}, "url"), ({"url": "http://"}, "url"), ({}, "url"),
                        ({"url": "http://127.0.0.1/x", "alert_types": ["nope"]}, "alert_types"),
                        ({"url": "http://127.0.0.1/x", "region_ids": ["R01;--"]}, "region_ids.0"),
                        ({"url": "http://127.0.0.1/x", "secret": "mine"}, "secret")):
        response = api_app.post("/v1/subscriptions", headers=bearer(keys["all"]), json=body)
        assert response.status_code == 400 and response.json()["field"] == field, (body, response.text)
    assert api_app.post("/v1/subscriptions", headers=bearer(keys["read"]),
                        json={"url": "http://127.0.0.1/x"}).status_code == 403
    for path in ("/v1/subscriptions/0/deliveries", "/v1/subscriptions/abc/deliveries",
                 "/v1/subscriptions/99999999999999999999999/deliveries"):
        assert api_app.get(path, headers=bearer(keys["all"])).status_code == 400, path
