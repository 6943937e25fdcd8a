"""The data API on the real stack: embedded PostgreSQL (marts from their contracts, roles, the API
reading as terraminer_api) and the stack's embedded Valkey server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.api.conftest import admin, as_api, bearer

XDIST_WEIGHT = 30
PID = "syn:PR010007"


def problem_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


# ------------------------------------------------------------------ keys & scopes
def test_without_or_with_a_bad_key_is_401(api_app, keys):
    assert problem_of(api_app.get("/v1/properties?limit=5"), 401)["field"] == "Authorization"
    problem_of(api_app.get("/v1/properties", headers={"Authorization": "Basic abc"}), 401)
    problem_of(api_app.get("/v1/properties", headers=bearer("tm_00000000_" + "x" * 43)), 401)
    good = keys["read"]
    tampered = good[:-1] + ("A" if good[-1] != "A" else "B")
    problem_of(api_app.get("/v1/properties", headers=bearer(tampered)), 401)


def test_outside_the_keys_scopes_is_403(api_app, keys):
    body = problem_of(api_app.get("/v1/properties?limit=5", headers=bearer(keys["markets"])), 403)
    assert body["required_scope"] == "properties"
    problem_of(api_app.get("/v1/alerts", headers=bearer(keys["read"])), 403)
    problem_of(api_app.post("/v1/estimates", headers=bearer(keys["read"]), json={}), 403)
    assert api_app.get("/v1/markets/R01/monthly", headers=bearer(keys["markets"])).status_code == 200
    # properties without valuations: attributes yes, valuation no
    body = api_app.get(f"/v1/properties/{PID}", headers=bearer(keys["props"])).json()
    assert body["valuation"] is None and body["living_sqft"] > 0


def test_keys_are_stored_hashed_and_revoked_or_expired_keys_fail(api_app, api_settings):
    from api.security import create_key, hash_key, revoke_key

    with as_api(api_settings) as conn:
        key = create_key(conn, "short-lived", ["markets"])
        expiring = create_key(conn, "expiring", ["markets"], expires_days=1e-6)
        stored = conn.execute("select key_hash from api_meta.api_keys where name = 'short-lived'").fetchone()[0]
        assert stored == hash_key(key) and key not in stored
        assert revoke_key(conn, "short-lived") == 1
    time.sleep(0.2)
    problem_of(api_app.get("/v1/indices/R01", headers=bearer(key)), 401)
    problem_of(api_app.get("/v1/indices/R01", headers=bearer(expiring)), 401)


def test_the_key_store_verifies_an_id_and_digest_as_a_web_session_holds_them(api_app, api_settings):
    """KeyStore.verify_digest: the public check web/auth.py makes (id + SHA-256, never the key)."""
    from api.security import KeyStore, create_key, hash_key, key_id_of, revoke_key

    with as_api(api_settings) as conn:
        key = create_key(conn, "digest-only", ["markets"])
    assert key_id_of(key) == key.split("_")[1] and key_id_of("tm_nothex!_" + "a" * 43) is None
    store = KeyStore(api_app.ctx.pool, ttl=60.0)
    key_id, digest = key_id_of(key), hash_key(key)
    found = store.verify_digest(key_id, digest)
    assert found is not None and found.name == "digest-only" and found == store.verify(key)
    assert store.verify_digest("00000000", digest) is None  # the digest of another id's key
    assert store.verify_digest(key_id, hash_key(key + "x")) is None
    with as_api(api_settings) as conn:
        revoke_key(conn, "digest-only")
    assert store.verify_digest(key_id, digest) is not None  # still cached within the TTL
    store.forget()
    assert store.verify_digest(key_id, digest) is None


def test_api_key_cli_prints_the_key_once_lists_and_revokes(api_app, api_settings):
    env = dict(os.environ, TERRAMINER_ENV="ci", TERRAMINER_HOME=str(api_settings.home_dir),
               TERRAMINER_DATABASE=api_settings.database)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "terraminer.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    made = cli("api-key", "create", "--name", "cli-key", "--scopes", "markets,alerts", "--expires", "30")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("tm_")
    assert api_app.get("/v1/alerts?limit=1", headers=bearer(key)).status_code == 200
    listed = cli("api-key", "list")
    assert "cli-key" in listed.stdout and "alerts,markets" in listed.stdout and key not in listed.stdout
    bad = cli("api-key", "create", "--name", "x", "--scopes", "markets,root")
    assert bad.returncode == 1 and "unknown scope" in bad.stderr
    assert cli("api-key", "revoke", "cli-key").returncode == 0
    assert cli("api-key", "revoke", "cli-key").returncode == 1


# ------------------------------------------------------------------ figures
def test_property_valuation_equals_its_mart_row(api_app, api_settings, keys):
    body = api_app.get(f"/v1/properties/{PID}", headers=bearer(keys["read"])).json()
    with admin(api_settings) as conn:
        row = conn.execute(
            "select estimate, estimate_lower, estimate_upper, model_version, valuation_date "
            "from marts.mart_property_valuations where property_id = %s", (PID,)).fetchone()
        sales = conn.execute("select count(*) from marts.fct_sales where property_id = %s", (PID,)).fetchone()[0]
    valuation = body["valuation"]
    assert (valuation["estimate"], valuation["estimate_lower"], valuation["estimate_upper"]) == (
        float(row[0]), float(row[1]), float(row[2]))
    assert valuation["model_version"] == row[3] and valuation["valuation_date"] == row[4].isoformat()
    assert valuation["interval_level"] == 0.8
    assert len(body["sales"]) == sales
    assert body["comparables"] and all(c["property_id"] != PID for c in body["comparables"])
    prov = body["provenance"]
    assert prov["source_systems"] == ["synthetic"]
    assert {f["file_key"] for f in prov["landing_files"]} >= {"recorder/sales/2024/01/01/sales_R01.csv.gz"}
    assert prov["valuation_run"]["model_version"] == "3" and prov["dbt_build"]["data_version"]


def test_property_list_pages_with_a_cursor(api_app, keys):
    seen, cursor = [], None
    for _ in range(10):
        url = "/v1/properties?region_id=R02&limit=15" + (f"&cursor={cursor}" if cursor else "")
        page = api_app.get(url, headers=bearer(keys["read"]))
        assert page.status_code == 200
        body = page.json()
        seen += [p["property_id"] for p in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 40 and all(p.startswith("syn:PR02") for p in seen)
    first = api_app.get("/v1/properties?limit=5", headers=bearer(keys["read"])).json()
    assert len(first["items"]) == 5 and first["next_cursor"] and "estimate" in first["items"][0]


def test_markets_indices_and_alerts(api_app, keys):
    monthly = api_app.get("/v1/markets/R01/monthly?from=2023-06&to=2023-08", headers=bearer(keys["all"])).json()
    assert [m["activity_month"] for m in monthly["items"]] == ["2023-06-01", "2023-07-01", "2023-08-01"]
    indices = api_app.get("/v1/indices/R01", headers=bearer(keys["all"])).json()["items"]
    assert [s["index_source"] for s in indices] == ["terraminer", "fhfa_hpi"] and len(indices[0]["points"]) == 24
    assert [s["index_source"] for s in api_app.get("/v1/indices/R02", headers=bearer(keys["all"])).json()["items"]] \
        == ["terraminer"]
    problem_of(api_app.get("/v1/indices/R99", headers=bearer(keys["all"])), 404)
    alerts = api_app.get("/v1/alerts?since=2024-10-01&limit=4", headers=bearer(keys["all"])).json()
    assert len(alerts["items"]) == 4 and alerts["next_cursor"]
    rest = api_app.get(f"/v1/alerts?since=2024-10-01&limit=100&cursor={alerts['next_cursor']}",
                       headers=bearer(keys["all"])).json()
    assert len(alerts["items"]) + len(rest["items"]) == 9 and rest["next_cursor"] is None  # 3 regions × 3 months


def test_estimates_without_a_champion_say_so(api_app, keys):
    body = problem_of(api_app.post("/v1/estimates", headers=bearer(keys["all"]),
                                   json={"region_id": "R01", "living_sqft": 1500}), 503)
    assert "champion" in body["detail"]


# ------------------------------------------------------------------ GraphQL
QUERY = """query($id: ID!) { property(id: $id) { propertyId livingSqft sales { salePrice saleDate }
  valuation { estimate estimateLower estimateUpper modelVersion } market { regionId monthly { activityMonth } } } }"""


def test_graphql_returns_the_same_figures_as_rest(api_app, keys):
    rest = api_app.get(f"/v1/properties/{PID}", headers=bearer(keys["read"])).json()
    gql = api_app.post("/graphql", headers=bearer(keys["read"]), json={"query": QUERY, "variables": {"id": PID}})
    assert gql.status_code == 200, gql.text
    prop = gql.json()["data"]["property"]
    assert prop["propertyId"] == PID and prop["livingSqft"] == rest["living_sqft"]
    assert prop["valuation"]["estimate"] == rest["valuation"]["estimate"]
    assert prop["valuation"]["estimateLower"] == rest["valuation"]["estimate_lower"]
    assert [s["salePrice"] for s in prop["sales"]] == [s["sale_price"] for s in rest["sales"]]
    assert len(prop["market"]["monthly"]) == 24


def test_graphql_batches_nested_lists(api_app, keys):
    service = api_app.ctx.service
    query = """{ properties(regionId: "R03", limit: 30) { items { propertyId sales { saleId }
        valuation { estimate } market { monthly { salesCount } index { indexSource } } } } }"""
    before = service.statements
    response = api_app.post("/graphql", headers=bearer(keys["read"]), json={"query": query})
    assert response.status_code == 200, response.text
    items = response.json()["data"]["properties"]["items"]
    assert len(items) == 30 and all(i["valuation"] for i in items)
    # the list, then one statement each for sales, valuations, monthly and indices (+ the data version)
    assert service.statements - before <= 6


def test_graphql_scopes_depth_and_bad_queries(api_app, keys):
    body = problem_of(api_app.post("/graphql", headers=bearer(keys["props"]), json={
        "query": QUERY, "variables": {"id": PID}}), 403)
    assert body["required_scope"] == "valuations"
    deep = "{ property(id: \"x\") { market { monthly { activityMonth } } } }"
    assert api_app.post("/graphql", headers=bearer(keys["read"]), json={"query": deep}).status_code == 200
    too_deep = "{ a: region(id: \"R01\") { b: monthly { activityMonth } } " + "".join(
        f"x{i}: region(id: \"R01\") {{ regionId }} " for i in range(25)) + "}"
    assert problem_of(api_app.post("/graphql", headers=bearer(keys["read"]), json={"query": too_deep}),
                      400)["field"] == "query"
    problem_of(api_app.post("/graphql", json={"query": "{ __typename }"}), 401)


# ------------------------------------------------------------------ cache
def test_a_new_data_version_is_visible_at_once(api_app, api_settings, keys):
    from api.service.version import bump_data_version

    pid = "syn:PR030011"
    url = f"/v1/properties/{pid}"
    cache = api_app.ctx.cache
    first = api_app.get(url, headers=bearer(keys["read"])).json()["valuation"]["estimate"]
    hits = cache.hits
    assert api_app.get(url, headers=bearer(keys["read"])).json()["valuation"]["estimate"] == first
    assert cache.hits == hits + 1  # served from Redis
    with admin(api_settings) as conn:
        conn.execute("update marts.mart_property_valuations set estimate = estimate + 1000, "
                     "scored_at = scored_at + interval '1 day' where property_id = %s", (pid,))
    # the build's bump (the Dagster asset after the valuation marts) publishes a new version
    with as_api(api_settings) as conn:
        version = bump_data_version(conn, cache)
    body = api_app.get(url, headers=bearer(keys["read"])).json()
    assert body["valuation"]["estimate"] == first + 1000
    assert body["provenance"]["dbt_build"]["data_version"] == version
    keys_now = cache.call(lambda c: c.keys(f"tm:{version}:property:*"))
    assert keys_now  # the new answer is cached under the new version


def test_redis_stopped_the_api_still_answers_and_health_says_so(api_app, api_settings, keys):
    from terraminer.cache_server import CacheServer

    health = api_app.get("/v1/health").json()
    assert health["cache"] == "up" and health["warehouse"]["status"] == "up"
    assert health["freshness"]["valuation_date"] == "2025-01-01"
    server = CacheServer(api_settings)
    server.down()
    try:
        assert not server.status().running
        started = time.perf_counter()
        for _ in range(5):
            response = api_app.get(f"/v1/properties/{PID}", headers=bearer(keys["read"]))
            assert response.status_code == 200 and response.json()["valuation"]
        assert time.perf_counter() - started < 5
        health = api_app.get("/v1/health")
        assert health.status_code == 200 and health.json()["cache"] == "down"
        assert health.json()["status"] == "degraded"
    finally:
        server.up()
    api_app.ctx.cache._down_until = 0.0
    assert api_app.get("/v1/health").json()["cache"] == "up"


# ------------------------------------------------------------------ rate limit
def test_the_101st_request_in_a_window_gets_429_with_retry_after(api_app, api_settings):
    from api.security import create_key

    with as_api(api_settings) as conn:
        key = create_key(conn, "hundred", ["markets"], rate_limit=100, rate_window_s=3600)
    for i in range(100):
        response = api_app.get("/v1/indices/R01", headers=bearer(key))
        assert response.status_code == 200, (i, response.text)
    limited = api_app.get("/v1/indices/R01", headers=bearer(key))
    body = problem_of(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 30 and body["retry_after_s"] == int(limited.headers["Retry-After"])
    # other keys are unaffected
    with as_api(api_settings) as conn:
        other = create_key(conn, "another", ["markets"], rate_limit=100, rate_window_s=3600)
    assert api_app.get("/v1/indices/R01", headers=bearer(other)).status_code == 200


def test_the_rate_limit_script_is_reloaded_after_a_script_flush(api_app, keys):
    cache = api_app.ctx.cache
    cache.call(lambda c: c.script_flush())
    assert api_app.get("/v1/indices/R01", headers=bearer(keys["markets"])).status_code == 200
    sha = api_app.ctx.limiter._script.sha
    assert cache.call(lambda c: c.script_exists(sha)) == [True]  # loaded again by the limiter
    assert cache.call(lambda c: c.keys("tm:rl:*"))  # and the bucket was counted


def test_hot_answers_are_kept_in_process_bounded_and_versioned(api_app, api_settings, keys):
    import asyncio

    from api.cache import Cache

    pid = "syn:PR030012"
    cache = api_app.ctx.cache
    first = api_app.get(f"/v1/properties/{pid}", headers=bearer(keys["read"]))
    assert api_app.get(f"/v1/properties/{pid}", headers=bearer(keys["read"])).content == first.content
    local = [k for k in cache._local if k.endswith(cache.key("v", "property", pid).split(":", 2)[2])]
    assert local, "the Redis hit is kept in the process"
    cache.call(lambda c: c.delete(*local))  # gone from Redis: this process still answers the same version
    hits = cache.hits
    assert api_app.get(f"/v1/properties/{pid}", headers=bearer(keys["read"])).content == first.content
    assert cache.hits == hits + 1
    # bounded: the least recently used entry goes first
    small = Cache(cache.client, local_entries=2)  # no URL: the blocking client, as in a worker thread
    for name in ("a", "b", "c"):
        cache.call(lambda c, name=name: c.set(f"tm:test:{name}", name.encode() * 10, ex=60))
        assert asyncio.run(small.apeek(f"tm:test:{name}")) == name.encode() * 10
    assert list(small._local) == ["tm:test:b", "tm:test:c"] and small._local_size == 20
    # a key under another data version is another key: nothing stale can be served
    assert asyncio.run(small.apeek("tm:other-version:test:a")) is None


# ------------------------------------------------------------------ bad input
BAD_GETS = [
    ("/v1/properties?limit=0", "limit"), ("/v1/properties?limit=-1", "limit"), ("/v1/properties?limit=abc", "limit"),
    ("/v1/properties?limit=99999999999999999999999", "limit"), ("/v1/properties?limit=1e3", "limit"),
    ("/v1/properties?cursor=%%%", "cursor"), ("/v1/properties?cursor=bm90IGpzb24", "cursor"),
    ("/v1/properties?cursor=WzEsMl0", "cursor"), ("/v1/properties?cursor=" + "A" * 600, "cursor"),
    ("/v1/properties?region_id=R01'%3B--", "region_id"), ("/v1/properties?region_id=" + "R" * 50, "region_id"),
    ("/v1/properties?postcode=%00", "postcode"), ("/v1/properties?property_type=DROP%20TABLE", "property_type"),
    ("/v1/properties/%20", "property_id"), ("/v1/properties/" + "x" * 65, "property_id"),
    ("/v1/properties/a%27b", "property_id"), ("/v1/properties/nope", "property_id"),
    ("/v1/markets/R01/monthly?from=2024-13", "from"), ("/v1/markets/R01/monthly?from=2024", "from"),
    ("/v1/markets/R01/monthly?to=2024-02-30x", "to"), ("/v1/markets/R01/monthly?from=2024-05&to=2024-01", "from"),
    ("/v1/markets/R01/monthly?from=99999-01", "from"), ("/v1/markets/%F0%9F%92%A5/monthly", "region_id"),
    ("/v1/markets/ZZ/monthly", "region_id"), ("/v1/indices/" + "9" * 20, "region_id"),
    ("/v1/alerts?since=yesterday", "since"), ("/v1/alerts?since=2024-02-30", "since"),
    ("/v1/alerts?limit=0", "limit"), ("/v1/alerts?alert_type=all", "alert_type"),
    ("/v1/alerts?cursor=WyIyMDI0LTEzLTAxIiwiYSJd", "cursor"), ("/v1/alerts?cursor=eyJhZnRlciI6MX0", "cursor"),
    ("/graphql?query=%7Bfoo%7D", "query"), ("/graphql?query=%7B", "query"),
    ("/graphql?query=%7B__typename%7D&variables=%7Bx", "variables"), ("/graphql", "query"),
    ("/v1/no-such-thing", "path"),
]

BAD_POSTS = [
    ("/v1/estimates", b"{", "body"), ("/v1/estimates", b"[]", None), ("/v1/estimates", b"null", None),
    ("/v1/estimates", b'{"region_id": "R01"}', "living_sqft"),
    ("/v1/estimates", b'{"region_id": "R01", "living_sqft": -5}', "living_sqft"),
    ("/v1/estimates", b'{"region_id": "R01", "living_sqft": "big"}', "living_sqft"),
    ("/v1/estimates", b'{"region_id": "R01", "living_sqft": 1e309}', "living_sqft"),
    ("/v1/estimates", b'{"region_id": "R01;--", "living_sqft": 1500}', "region_id"),
    ("/v1/estimates", b'{"region_id": "R01", "living_sqft": 1500, "valuation_date": "soon"}', "valuation_date"),
    ("/v1/estimates", b'{"region_id": "R01", "living_sqft": 1500, "latitude": 91}', "latitude"),
    ("/v1/estimates", b'{"region_id": "R01", "living_sqft": 1500, "owner": "x"}', "owner"),
    ("/graphql", b"not json", "body"), ("/graphql", b"[1, 2]", "body"), ("/graphql", b'{"query": 5}', "query"),
    ("/graphql", b'{"query": "{ property { propertyId } }"}', "query"),
    ("/graphql", b'{"query": "{ property(id: 5) { nope } }"}', "query"),
    ("/graphql", b'{"query": "{ __typename }", "variables": [1]}', "variables"),
    ("/graphql", b'{"query": "{ properties(limit: 100000) { nextCursor } }"}', "query"),
    ("/graphql", b'{"query": "{ properties(cursor: \\"zz\\") { nextCursor } }"}', "query"),
    ("/graphql", b'{"query": "query { a: __typename }", "operationName": 7}', "operationName"),
    ("/graphql", b'{"query": "' + b"{ region(id: \\\"R01\\\") { regionId } }" * 300 + b'"}', "query"),
]


def test_fuzzed_bad_input_gets_4xx_problem_json_naming_the_field(api_app, keys):
    import random
    from urllib.parse import quote

    headers = bearer(keys["all"])
    for url, field in BAD_GETS:
        response = api_app.get(url, headers=headers)
        assert 400 <= response.status_code < 500, (url, response.status_code, response.text)
        body = problem_of(response, response.status_code)
        assert body.get("field") == field, (url, body)
    for url, raw, field in BAD_POSTS:
        response = api_app.post(url, headers={**headers, "content-type": "application/json"}, content=raw)
        assert 400 <= response.status_code < 500, (url, raw[:80], response.status_code, response.text)
        body = problem_of(response, response.status_code)
        assert body.get("field"), (url, raw[:80], body)
        if field:
            assert body["field"] == field, (url, raw[:80], body)
    rng = random.Random(3)
    alphabet = "abc019-_/%'\";:{}[]()<>\\\x00\u00e9\U0001f4a5 "
    for _ in range(150):
        junk = quote("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30))), safe="")
        for url in (f"/v1/properties?region_id={junk}", f"/v1/markets/{junk}/monthly",
                    f"/v1/alerts?since={junk}", f"/v1/properties?cursor={junk}"):
            response = api_app.get(url, headers=headers)
            assert response.status_code < 500, (url, response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/problem+json"), url
                assert response.json().get("field"), (url, response.text)


def test_the_dagster_asset_bumps_the_version_and_warms_hot_keys(api_app, api_settings, keys, monkeypatch):
    import dagster as dg

    from orchestration.assets.api import api_data_version
    from orchestration.resources import WarehouseResource

    monkeypatch.setenv("TERRAMINER_ENV", "ci")
    monkeypatch.setenv("TERRAMINER_HOME", str(api_settings.home_dir))
    monkeypatch.setenv("TERRAMINER_DATABASE", api_settings.database)
    with admin(api_settings) as conn:
        conn.execute("update marts.mart_market_monthly set sales_count = sales_count + 1 "
                     "where region_id = 'R02' and activity_month = '2023-01-01'")
        expected = conn.execute("select sales_count from marts.mart_market_monthly "
                                "where region_id = 'R02' and activity_month = '2023-01-01'").fetchone()[0]
    result = dg.materialize([api_data_version], resources={"warehouse": WarehouseResource()})
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    version = meta["data_version"].value
    assert meta["warmed_keys"].value >= 10
    with as_api(api_settings) as conn:
        assert conn.execute("select version from api_meta.data_version").fetchone()[0] == version
    assert api_app.get("/v1/health").json()["data_version"] == version
    cache = api_app.ctx.cache
    hits, misses = cache.hits, cache.misses
    monthly = api_app.get("/v1/markets/R02/monthly", headers=bearer(keys["markets"])).json()["items"]
    assert monthly[0]["activity_month"] == "2023-01-01" and monthly[0]["sales_count"] == expected
    assert (cache.hits, cache.misses) == (hits + 2, misses)  # region check and figures: both warm


def test_openapi_docs_list_every_endpoint(api_app):
    assert api_app.get("/docs").status_code == 200
    paths = set(api_app.get("/openapi.json").json()["paths"])
    assert {"/v1/health", "/v1/properties", "/v1/properties/{property_id}", "/v1/estimates",
            "/v1/markets/{region_id}/monthly", "/v1/indices/{region_id}", "/v1/alerts", "/v1/subscriptions",
            "/v1/subscriptions/{subscription_id}/deliveries", "/graphql"} <= paths


def test_cached_lookups_are_served_before_the_router_identically_and_counted_once(api_app, api_settings):
    """api/fastpath.py: a cached property answer for a verified key bypasses routing; the bytes are
    the route's, every request is counted once, and what it does not serve falls through."""
    from api import fastpath
    from api.security import create_key

    with as_api(api_settings) as conn:
        key = create_key(conn, "fast", ["properties", "valuations"], rate_limit=5, rate_window_s=3600)
    served = []
    original = api_app.ctx.service.property_detail_cached

    async def spy(property_id):
        raw = await original(property_id)
        served.append(raw is not None)
        return raw

    api_app.ctx.service.property_detail_cached = spy
    try:
        first = api_app.get(f"/v1/properties/{PID}", headers=bearer(key))  # unknown key, then a cache miss
        second = api_app.get(f"/v1/properties/{PID}", headers=bearer(key))  # verified key, cached: fast path
        third = api_app.get(f"/v1/properties/{PID}?unused=1", headers=bearer(key))
        missing = api_app.get("/v1/properties/syn:NOPE", headers=bearer(key))  # a miss falls through: 404
    finally:
        api_app.ctx.service.property_detail_cached = original
    assert first.status_code == second.status_code == third.status_code == 200
    # one lookup each for the route (1st) and the fast path (2nd, 3rd); the miss is looked up by the
    # fast path, then by the route it falls through to
    assert served[1:] == [True, True, False, False] and fastpath._PATH.match(f"/v1/properties/{PID}")
    assert second.content == third.content and second.json() == first.json()
    assert second.headers["content-type"] == first.headers["content-type"] == "application/json"
    assert int(second.headers["content-length"]) == len(second.content)
    problem_of(missing, 404)
    # 4 requests counted, not 4 + the fall-throughs: the 5th passes, the 6th is limited
    assert api_app.get(f"/v1/properties/{PID}", headers=bearer(key)).status_code == 200
    limited = api_app.get(f"/v1/properties/{PID}", headers=bearer(key))
    assert problem_of(limited, 429)["retry_after_s"] == int(limited.headers["Retry-After"])


def test_an_expired_version_key_is_read_once_and_cached_answers_keep_flowing(api_app, api_settings, keys):
    """When the data version's key expires in Redis, concurrent cached lookups share one warehouse
    read of the version (api/service/core.py _refreshed_version) and are still answered from the
    cache, instead of each taking the uncached path."""
    import asyncio

    from api.cache import VERSION_KEY

    service = api_app.ctx.service
    assert api_app.get(f"/v1/properties/{PID}", headers=bearer(keys["read"])).status_code == 200  # cached
    reads = []
    original = service.load_version

    def counted():
        reads.append(1)
        return original()

    service.load_version = counted
    try:
        api_app.ctx.cache.call(lambda c: c.delete(VERSION_KEY))

        async def burst():
            return await asyncio.gather(*(service.property_detail_cached(PID) for _ in range(16)))

        answers = asyncio.run(burst())
    finally:
        service.load_version = original
    assert len(reads) == 1
    assert all(a is not None for a in answers) and len(set(answers)) == 1
    assert api_app.ctx.cache.call(lambda c: c.get(VERSION_KEY))  # published again for the other processes
