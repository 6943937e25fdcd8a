"""The web app (/app/) on a small real warehouse: the API's seeded marts (tests/api/conftest.py)
plus AVM performance rows, a load ledger and a dbt run_results.json, served by `web.server`
(what `terraminer api` serves) in a real uvicorn server on 127.0.0.1.

Headless Chromium (Debian's `chromium`, as tests/e2e/test_ui.py drives it over the DevTools
protocol) opens the one-time login URL, then every page: each must render its charts with data
points and its tables with rows, with no console error, no failed request and no request to any
host but 127.0.0.1; a screenshot per page goes to test-output/. The session and scope checks run
without a browser.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from core.settings import Settings, project_dir
from tests.api.conftest import MARTS, _insert, bearer, seed
from tests.e2e.browser import CHROMIUM, OUTPUT, Browser, chromium_page, free_port, http_get

XDIST_WEIGHT = 40
WEB_MARTS = (*MARTS, "mart_avm_performance", "mart_avm_performance_by_price_band")


def _contracts() -> dict[str, list[tuple[str, str]]]:
    found = {}
    for path in Path(project_dir(), "dbt_project/models/marts").rglob("_*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            if model["name"] in WEB_MARTS:
                found[model["name"]] = [(c["name"], c["data_type"]) for c in model["columns"]]
    return found


def _seed_more(conn: psycopg.Connection) -> None:
    perf = []
    for version, base in (("1", 0.09), ("2", 0.075), ("3", 0.06)):
        for k, region in enumerate(("R01", "R02", "R03")):
            perf.append({"model_name": "terraminer_avm", "model_version": version, "region_id": region,
                         "valuations_count": 40, "properties_count": 40, "evaluated_count": 25,
                         "mdape": base + 0.01 * k, "ppe10": 0.6 - 0.05 * k, "ppe20": 0.85,
                         "interval_coverage": 0.78 + 0.01 * k})
    _insert(conn, "mart_avm_performance", perf)
    bands = []
    for version in ("1", "2", "3"):
        for k, region in enumerate(("R01", "R02", "R03")):
            for order, band, lower, upper in ((3, "500k-750k", 500000, 750000), (1, "under 250k", 0, 250000),
                                              (2, "250k-500k", 250000, 500000)):
                bands.append({"model_name": "terraminer_avm", "model_version": version, "region_id": region,
                              "price_band": band, "price_band_order": order, "price_band_lower": lower,
                              "price_band_upper": upper, "valuations_count": 10 + order, "evaluated_count": 5 + order,
                              "mdape": 0.05 + 0.02 * order + 0.01 * k - 0.01 * int(version), "ppe10": 0.7 - 0.1 * order,
                              "ppe20": 0.9, "interval_coverage": 0.75 + 0.02 * order})
    _insert(conn, "mart_avm_performance_by_price_band", bands)
    conn.execute("update marts.mart_market_monthly set new_listings_count = sales_count + 5, "
                 "sold_listings_count = sales_count, active_listings_count = 2 * sales_count + 10, "
                 "median_days_on_market = 20 + extract(month from activity_month)::int, "
                 "months_of_supply = round((2 * sales_count + 10)::numeric / sales_count, 2), "
                 "median_price_per_sqft = round(median_sale_price / 1800, 2)")
    conn.execute("update marts.dim_properties set latitude = 47.5 + (hashtext(property_id) % 1000) / 20000.0, "
                 "longitude = -122.3 + (hashtext(property_id || 'x') % 1000) / 20000.0")
    now = dt.datetime(2025, 1, 2, 3, 0, tzinfo=dt.UTC)
    ledger = [("sales", f"recorder/sales/2024/01/0{d}/sales.csv.gz", "loaded", 1000, 3, None) for d in range(1, 4)]
    ledger += [("listings", "mls/listings/2024/01/01/listings.csv", "loaded", 500, 0, None),
               ("listings", "mls/listings/2024/01/02/listings.csv", "refused", 0, 0,
                "header mismatch: expected 14 columns, got 12"),
               ("sales", "recorder/sales/2024/01/04/sales.csv.gz", "refused", 0, 0, "not gzip: bad magic number")]
    with conn.transaction():
        for i, (contract, key, status, loaded, rejected, error) in enumerate(ledger):
            conn.execute("insert into ingestion_meta.load_ledger (contract, file_key, file_version, status, rows_read, "
                         "rows_loaded, rows_rejected, error, started_at, finished_at) "
                         "values (%s, %s, 'v1', %s, %s, %s, %s, %s, %s, %s)",
                         (contract, key, status, loaded + rejected, loaded, rejected, error,
                          now + dt.timedelta(minutes=i), now + dt.timedelta(minutes=i, seconds=5)))


@pytest.fixture(scope="module")
def web_settings(stack_settings: Settings) -> Iterator[Settings]:
    from ingestion.writers.postgres import META_DDL
    from terraminer import roles
    from tests.conftest import _create_database, _drop_database

    db = _create_database(stack_settings)
    results = Path(tempfile.mkdtemp(prefix="tmw-", dir="/tmp")) / "run_results.json"
    results.write_text(json.dumps({
        "metadata": {"generated_at": "2025-01-02T03:04:05Z"}, "elapsed_time": 42.0,
        "args": {"invocation_command": "dbt build --target ci"},
        "results": [{"unique_id": f"test.terraminer.t{i}", "status": "pass"} for i in range(20)]
        + [{"unique_id": "test.terraminer.warned", "status": "warn", "message": "Got 2 results"}]
        + [{"unique_id": f"model.terraminer.m{i}", "status": "success"} for i in range(8)]}))
    previous = os.environ.get("TERRAMINER_RUN_RESULTS")
    os.environ["TERRAMINER_RUN_RESULTS"] = str(results)
    with db.connect(autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute("create schema if not exists ingestion_meta")
        conn.execute(META_DDL)
        for table, columns in _contracts().items():
            conn.execute(f"create table marts.{table} ({', '.join(f'{n} {t}' for n, t in columns)})")
        roles.apply_postgres(conn)
        seed(conn)
        _seed_more(conn)
    try:
        yield db.settings.model_copy(update={"api_version_ttl_s": 5.0, "api_rate_limit": 10_000})
    finally:
        if previous is None:
            os.environ.pop("TERRAMINER_RUN_RESULTS", None)
        else:
            os.environ["TERRAMINER_RUN_RESULTS"] = previous
        shutil.rmtree(results.parent, ignore_errors=True)
        _drop_database(db)


@pytest.fixture(scope="module")
def web_keys(web_settings: Settings) -> dict[str, str]:
    from api.security import SCOPES, create_key

    with psycopg.connect(**web_settings.warehouse.conninfo(user=web_settings.api_pg_user), autocommit=True) as conn:
        keys = {"all": create_key(conn, "web-all", list(SCOPES))}
        for scope in SCOPES:
            keys[scope] = create_key(conn, f"web-{scope}", [scope])
        return keys


@pytest.fixture(scope="module")
def web_client(web_settings: Settings):
    from fastapi.testclient import TestClient

    from api.main import build_context
    from web.server import create_app

    context = build_context(web_settings)
    context.cache.call(lambda c: c.flushdb())
    with TestClient(create_app(web_settings, context), raise_server_exceptions=False,
                    follow_redirects=False) as client:
        client.ctx = context
        yield client
    context.pool.close()


PAGES = {  # path → the scope it needs
    "/app/": "markets",
    "/app/markets/R01": "markets",
    "/app/properties": "properties",
    "/app/properties/syn:PR010004": "properties",
    "/app/estimate": "estimates",
    "/app/model": "valuations",
    "/app/data": "markets",
    "/app/alerts": "alerts",
}


def _login(client, key: str):
    client.cookies.clear()
    response = client.post("/app/login", content=f"api_key={key}&next=/app/",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 303, response.text
    return response


def test_without_a_session_every_page_redirects_to_the_login_form(web_client):
    web_client.cookies.clear()
    for path in PAGES:
        response = web_client.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/app/login?next="), path
    form = web_client.get("/app/login")
    assert form.status_code == 200 and 'name="api_key"' in form.text
    web_client.cookies.set("tm_session", "forged.value.sig", path="/app")
    assert web_client.get("/app/").status_code == 303
    web_client.cookies.clear()


def test_the_session_cookie_is_signed_httponly_and_samesite_strict(web_client, web_keys):
    response = _login(web_client, web_keys["all"])
    cookie = response.headers["set-cookie"]
    parts = {p.strip().split("=")[0].lower() for p in cookie.split(";")}
    assert cookie.startswith("tm_session=") and "httponly" in parts and "samesite=strict" in cookie.lower()
    assert web_keys["all"] not in cookie  # the key itself never travels in the cookie
    assert web_client.get("/app/").status_code == 200
    tampered = cookie.split(";")[0].split("=", 1)[1][:-2] + "xx"
    web_client.cookies.clear()
    web_client.cookies.set("tm_session", tampered, path="/app")
    assert web_client.get("/app/").status_code == 303
    bad = web_client.post("/app/login", content="api_key=tm_00000000_" + "a" * 43,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert bad.status_code == 401 and "set-cookie" not in bad.headers


def test_a_key_without_a_pages_scope_gets_403(web_client, web_keys):
    for scope in ("markets", "properties", "valuations", "estimates", "alerts"):
        _login(web_client, web_keys[scope])
        for path, needed in PAGES.items():
            status = web_client.get(path).status_code
            assert status == (200 if needed == scope else 403), (scope, path, status)
    web_client.cookies.clear()


def test_the_one_time_login_link_works_once_and_a_revoked_key_ends_the_session(web_client, web_settings):
    from api.security import create_key, revoke_key
    from web.auth import login_token

    with psycopg.connect(**web_settings.warehouse.conninfo(user=web_settings.api_pg_user), autocommit=True) as conn:
        key = create_key(conn, "web-once", ["markets"])
    token = login_token(web_settings, key)
    web_client.cookies.clear()
    first = web_client.get(f"/app/login?token={token}")
    assert first.status_code == 303 and "tm_session=" in first.headers["set-cookie"]
    assert web_client.get("/app/").status_code == 200
    web_client.cookies.clear()
    assert web_client.get(f"/app/login?token={token}").status_code == 401  # used
    assert web_client.get(f"/app/login?token={token[:-3]}abc").status_code == 401  # forged
    _login(web_client, key)
    with psycopg.connect(**web_settings.warehouse.conninfo(user=web_settings.api_pg_user), autocommit=True) as conn:
        revoke_key(conn, "web-once")
    web_client.ctx.keys.forget()  # the key store's TTL, skipped
    assert web_client.get("/app/").status_code == 303
    web_client.cookies.clear()


def test_login_never_redirects_off_the_app(web_client, web_keys):
    for target in ("https://evil.example/", "//evil.example/app/", "/v1/health", "/app/\\evil"):
        web_client.cookies.clear()
        response = web_client.post("/app/login", content=f"api_key={web_keys['all']}&next={target}",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.headers["location"] == "/app/", target
    web_client.cookies.clear()


def test_plotly_js_is_served_by_the_app(web_client):
    js = web_client.get("/app/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()


# ---------------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def live_server(web_settings: Settings) -> Iterator[str]:
    import uvicorn

    from web.server import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(web_settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            http_get(f"{base}/v1/health")
            break
        except OSError:
            time.sleep(0.2)
    yield base
    server.should_exit = True
    thread.join(timeout=10)


# what each page must show: texts, and how many chart figures / table rows at least
BROWSER_PAGES = [
    ("home", "/app/", ["Regions at a glance", "R01", "R02", "R03"], 2, 3),
    ("market", "/app/markets/R01", ["Market R01", "Median sale price", "Months of supply"], 5, 20),
    ("market_range", "/app/markets/R02?start=2023-06&end=2024-03", ["Market R02"], 5, 10),
    ("search", "/app/properties?region_id=R02", ["Properties", "syn:PR02"], 0, 10),
    ("property", "/app/properties/syn:PR010004", ["Valuation", "80 % interval", "Comparable sales"], 2, 3),
    ("estimate", "/app/estimate", ["Live estimate", "Living area"], 0, 0),
    ("model", "/app/model", ["AVM quality", "MdAPE", "by price band", "250k-500k"], 5, 18),
    ("data", "/app/data", ["Data health", "refused", "header mismatch", "Last dbt build"], 2, 3),
    ("alerts", "/app/alerts", ["Alerts", "alert 0 in R01", "No subscriptions"], 1, 10),
]

CHECK = """(() => {
  const figs = [...document.querySelectorAll('figure.chart')];
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const drawn = plots.filter(p => p.querySelector('.main-svg') && (p.data || []).some(
      t => Array.isArray(t.y) && t.y.some(v => v !== null && v !== undefined)));
  const wide = plots.filter(p => p.getBoundingClientRect().right > p.closest('figure').getBoundingClientRect().right + 1);
  const rows = [...document.querySelectorAll('table.data tbody tr')].filter(r => !r.querySelector('td[colspan]'));
  const summaries = figs.filter(f => (f.querySelector('figcaption .summary') || {}).textContent.trim().length > 10);
  return {figs: figs.length, plots: plots.length, drawn: drawn.length, rows: rows.length,
          summaries: summaries.length, wide: wide.length, text: document.body.innerText.slice(0, 4000),
          overflow: document.documentElement.scrollWidth - window.innerWidth};
})()"""


async def _session(ws_url: str, base: str, login_url: str) -> dict:
    import websockets

    events: dict[str, list] = {"console": [], "failed": [], "requests": [], "http_errors": []}
    async with websockets.connect(ws_url, max_size=64 * 1024 * 1024) as ws:
        browser = Browser(ws)
        original_recv = ws.recv

        async def recv():  # every protocol event passes here: keep the ones the test asserts on
            message = await original_recv()
            data = json.loads(message)
            method, params = data.get("method"), data.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                events["console"].append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                events["console"].append(params["exceptionDetails"].get("text") + " "
                                         + str(params["exceptionDetails"].get("exception", {}).get("description")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                events["console"].append(params["entry"].get("text"))
            elif method == "Network.requestWillBeSent":
                events["requests"].append(params["request"]["url"])
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                events["failed"].append(params.get("errorText"))
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                events["http_errors"].append((params["response"]["status"], params["response"]["url"]))
            return message

        ws.recv = recv
        for domain in ("Page", "Runtime", "Network", "Log"):
            await browser.call(f"{domain}.enable")
        results = {}
        await browser.call("Page.navigate", url=login_url)
        await browser.wait_for("location.pathname === '/app/' && !!document.querySelector('table.data tbody tr')", 30)
        results["cookie_visible_to_js"] = await browser.evaluate("document.cookie")
        for width, suffix in ((1400, ""), (390, "_phone")):
            await browser.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                               mobile=width < 600)
            for name, path, _texts, charts_min, _rows in BROWSER_PAGES:
                if suffix and name not in ("home", "market", "property"):
                    continue
                await browser.call("Page.navigate", url=base + path)
                await browser.wait_for(
                    f"document.readyState === 'complete' && document.querySelectorAll('.js-plotly-plot .main-svg')"
                    f".length >= {charts_min}", 30)
                await asyncio.sleep(0.3)
                state = await browser.evaluate(CHECK)
                shot = (await browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True))["data"]
                (OUTPUT / f"webapp_{name}{suffix}.png").write_bytes(base64.b64decode(shot))
                results[name + suffix] = state
    results["events"] = events
    return results


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_every_page_renders_with_data_in_chromium(live_server, web_settings, web_keys):
    from web.auth import login_token

    OUTPUT.mkdir(exist_ok=True)
    login_url = f"{live_server}/app/login?token={login_token(web_settings, web_keys['all'])}"
    with chromium_page("--disable-default-apps", "--disable-extensions") as ws_url:
        results = asyncio.run(_session(ws_url, live_server, login_url))

    events = results.pop("events")
    assert results.pop("cookie_visible_to_js") == ""  # HttpOnly: scripts never see the session
    for name, _path, texts, charts_min, rows_min in BROWSER_PAGES:
        state = results[name]
        missing = [t for t in texts if t not in state["text"]]
        assert not missing, (name, missing, state["text"][:1500])
        assert state["figs"] == state["plots"] == state["drawn"] >= charts_min, (name, state)
        assert state["summaries"] == state["figs"], (name, state)  # a text summary per chart
        assert state["wide"] == 0, (name, state)  # every chart fits its card
        assert state["rows"] >= rows_min, (name, state)
    for name in ("home_phone", "market_phone", "property_phone"):
        assert results[name]["overflow"] <= 1, (name, results[name]["overflow"])  # no sideways scrolling
        assert results[name]["drawn"] == results[name]["figs"] > 0, name
    assert events["console"] == [], events["console"]
    assert events["failed"] == [], events["failed"]
    assert events["http_errors"] == [], events["http_errors"]
    off_host = [u for u in events["requests"] if not u.startswith(("http://127.0.0.1:", "data:", "about:"))]
    assert off_host == [], off_host
    for name, *_ in BROWSER_PAGES:
        image = (OUTPUT / f"webapp_{name}.png").read_bytes()
        assert image[:8] == b"\x89PNG\r\n\x1a\n" and len(image) > 10_000, name


def test_the_page_figures_are_the_apis(web_client, web_keys):
    """The market page's table shows the service's figures (the same call /v1 makes)."""
    _login(web_client, web_keys["all"])
    page = web_client.get("/app/markets/R01").text
    api = web_client.get("/v1/markets/R01/monthly", headers=bearer(web_keys["all"])).json()["items"]
    last = api[-1]
    assert f'data-month="{last["activity_month"][:7]}"' in page
    assert f'data-value="{last["median_sale_price"]}"' in page
    web_client.cookies.clear()


def test_terraminer_api_prints_a_one_time_login_url_for_the_local_user(web_client, web_settings, capsys):
    """What `terraminer api` prints before serving: a fresh all-scope key `web-local` and its link."""
    from urllib.parse import urlsplit

    from web.auth import LOCAL_KEY_NAME, local_login_url

    first = local_login_url(web_settings, "http://127.0.0.1:8000")
    url = local_login_url(web_settings, "http://127.0.0.1:8000")  # a restart replaces the key
    assert url.startswith("http://127.0.0.1:8000/app/login?token=")
    web_client.cookies.clear()
    parts = urlsplit(first)
    assert web_client.get(f"{parts.path}?{parts.query}").status_code == 401  # its key was revoked
    parts = urlsplit(url)
    response = web_client.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 303 and response.headers["location"] == "/app/"
    for path in PAGES:
        assert web_client.get(path).status_code == 200, path
    with psycopg.connect(**web_settings.warehouse.conninfo(user=web_settings.api_pg_user), autocommit=True) as conn:
        active = conn.execute("select count(*) from api_meta.api_keys where name = %s and revoked_at is null",
                              (LOCAL_KEY_NAME,)).fetchone()[0]
    assert active == 1
    web_client.cookies.clear()


def test_pages_describe_metrics_with_the_semantic_layers_definitions(web_client, web_keys):
    """A metric's label and description come from the semantic layer, not from the page."""
    from markupsafe import escape

    from web import metrics

    _login(web_client, web_keys["all"])
    market, model = web_client.get("/app/markets/R01").text, web_client.get("/app/model").text
    for name in ("median_sale_price", "sales_count", "months_of_supply", "index_value"):
        assert escape(metrics.label(name)) in market and escape(metrics.description(name)) in market, name
    for name in ("avm_mdape", "avm_ppe10", "avm_interval_coverage", "avm_price_band_mdape",
                 "avm_price_band_interval_coverage"):
        assert escape(metrics.label(name)) in model and escape(metrics.description(name)) in model, name
    web_client.cookies.clear()


def test_the_model_page_shows_error_by_price_band(web_client, web_keys):
    """/app/model: the champion's MdAPE and coverage per price band of the estimate (bands in their
    order, not by name), as a chart with a text summary and as a table (issue 18)."""
    import re

    _login(web_client, web_keys["valuations"])
    page = web_client.get("/app/model")
    assert page.status_code == 200
    text = page.text
    table = text[text.index('id="price-bands"'):]
    table = table[:table.index("</table>")]
    bands = re.findall(r'data-region="(R0\d)" data-band="([^"]+)"', table)
    assert bands == [(region, band) for region in ("R01", "R02", "R03")
                     for band in ("under 250k", "250k-500k", "500k-750k")]
    assert ">3<" in table and ">2<" not in table  # the champion's rows only (version 3)
    assert "AVM MdAPE by price band of the estimate (version 3)" in text
    # the screen-reader summary names each band with its error and sample size
    assert "R01 (version 3): under 250k 4.0% (n 6), 250k-500k 6.0% (n 7), 500k-750k 8.0% (n 8)." in text
    web_client.cookies.clear()


def test_the_model_page_shows_each_markets_own_champion(web_client, web_settings, web_keys):
    """Champions are per market (issue 20): a region valued only by version 4 shows version 4, the
    others keep version 3, and the page says so instead of naming one champion."""
    from html import unescape

    with psycopg.connect(**web_settings.warehouse.conninfo(), autocommit=True) as conn:
        _insert(conn, "mart_avm_performance", [{
            "model_name": "terraminer_avm", "model_version": "4", "region_id": "R09", "valuations_count": 5,
            "properties_count": 5, "evaluated_count": 3, "mdape": 0.2, "ppe10": 0.3, "ppe20": 0.5,
            "interval_coverage": 0.7}])
        _insert(conn, "mart_avm_performance_by_price_band", [{
            "model_name": "terraminer_avm", "model_version": "4", "region_id": "R09", "price_band": "2m and over",
            "price_band_order": 6, "price_band_lower": 2000000, "price_band_upper": None, "valuations_count": 5,
            "evaluated_count": 3, "mdape": 0.2, "ppe10": 0.3, "ppe20": 0.5, "interval_coverage": 0.7}])
    web_client.ctx.cache.call(lambda c: c.flushdb())
    try:
        _login(web_client, web_keys["valuations"])
        text = unescape(web_client.get("/app/model").text)
        assert "Champion: R01 version 3, R02 version 3, R03 version 3, R09 version 4." in text
        assert "by price band of the estimate (each region's latest version)" in text
        assert "R09 (version 4): 2m and over 20.0% (n 3)." in text
        assert 'data-region="R09" data-band="2m and over"' in text
        assert "R01 (version 3): under 250k 4.0% (n 6)" in text
    finally:
        with psycopg.connect(**web_settings.warehouse.conninfo(), autocommit=True) as conn:
            for table in ("mart_avm_performance", "mart_avm_performance_by_price_band"):
                conn.execute(f"delete from marts.{table} where model_version = '4'")
        web_client.ctx.cache.call(lambda c: c.flushdb())
        web_client.cookies.clear()
