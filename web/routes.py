"""The pages under ``/app/``: each reads through the API's service layer with the caller's key and
scopes (a page outside the key's scopes answers 403), rendered server-side with Jinja2."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import plotly
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api.errors import ApiError
from api.routes.common import parse_month
from api.security import ApiKey
from api.service import NotFound
from web import auth, charts, metrics, reads

HERE = Path(__file__).parent
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/app", include_in_schema=False)
NAV = [("/app/", "Markets", "markets"), ("/app/properties", "Properties", "properties"),
       ("/app/estimate", "Estimate", "estimates"), ("/app/model", "Model", "valuations"),
       ("/app/data", "Data", "markets"), ("/app/alerts", "Alerts", "alerts")]
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                    "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


class LoginRequired(Exception):
    pass


class Forbidden(Exception):
    def __init__(self, scope: str):
        self.scope = scope


def _ctx(request: Request):
    return request.app.state.ctx


async def page_key(request: Request, scope: str) -> ApiKey:
    """The session's key (else a redirect to the login form), rate-limited, holding ``scope`` (else 403)."""
    ctx = _ctx(request)
    session = auth.read_session(ctx.settings, request.cookies.get(auth.COOKIE))
    if session is None:
        raise LoginRequired
    key = await run_in_threadpool(auth.key_from_session, ctx, *session)
    if key is None:
        raise LoginRequired
    decision = ctx.limiter.check(key.key_id, key.rate_limit, key.rate_window_s)
    if not decision.allowed:
        raise ApiError(429, "rate limit exceeded for this key", None, {"Retry-After": str(decision.retry_after_s)},
                       retry_after_s=decision.retry_after_s)
    if scope not in key.scopes:
        raise Forbidden(scope)
    return key


def render(request: Request, template: str, key: ApiKey | None, status: int = 200, **context) -> HTMLResponse:
    response = templates.TemplateResponse(request, template, {
        "key": key, "nav": NAV, "path": request.url.path, "scopes": key.scopes if key else frozenset(),
        **context}, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def _safe_next(value: str | None) -> str:
    if not value:
        return "/app/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/app/") or "\\" in value:
        return "/app/"
    return value


def _login_response(request: Request, session: tuple[str, str], target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(auth.COOKIE, auth.session_value(_ctx(request).settings, *session),
                        max_age=auth.SESSION_MAX_AGE_S, path="/app", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    response.headers.update(SECURITY_HEADERS)
    return response


# ------------------------------------------------------------------------------------- login
@router.get("/login")
async def login_form(request: Request, token: str | None = None, next: str | None = None):
    ctx = _ctx(request)
    if token:
        session = auth.redeem_login_token(ctx.settings, ctx.cache, token[:2000])
        if session and await run_in_threadpool(auth.key_from_session, ctx, *session):
            return _login_response(request, session, "/app/")
        return render(request, "login.html", None, 401, next=_safe_next(next),
                      error="This login link is invalid, expired or already used: sign in with an API key.")
    return render(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request):
    body = (await request.body())[:8192].decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(body).items()}
    target = _safe_next(form.get("next"))
    session = auth.key_session(form.get("api_key", ""))
    key = await run_in_threadpool(auth.key_from_session, _ctx(request), *session) if session else None
    if key is None:
        return render(request, "login.html", None, 401, next=target,
                      error="That API key is unknown, revoked or expired.")
    return _login_response(request, session, target)


@router.post("/logout")
async def logout(request: Request):
    response = RedirectResponse("/app/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/app", httponly=True, samesite="strict")
    return response


@router.get("/static/plotly.min.js")
def plotly_js():
    return FileResponse(PLOTLY_JS, media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/static/app.css")
def app_css():
    return FileResponse(HERE / "static" / "app.css", media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600"})


# ------------------------------------------------------------------------------------- pages
def _month(value) -> str:
    return str(value)[:7] if value else ""


@router.get("/")
async def home(request: Request):
    key = await page_key(request, "markets")
    service = _ctx(request).service

    def load():
        regions = reads.regions_latest(service)
        index_charts = []
        for region in regions[:12]:
            series = service.indices(region["region_id"])["items"]
            if len(series) < 2:  # TerraMiner's index only: no external index to compare with
                continue
            index_charts.append(charts.line(
                f"{region['region_id']}: TerraMiner index beside {', '.join(s['index_source'] for s in series[1:])}",
                {f"{s['index_source']} ({s['series_id']})": ([p["index_month"] for p in s["points"]],
                                                             [p["index_value_rebased"] for p in s["points"]])
                 for s in series}, "rebased index"))
        price = charts.bars("Latest median sale price by region", [r["region_id"] for r in regions],
                            {"median sale price": [r["median_sale_price"] for r in regions]}, "price")
        return regions, [price, *index_charts[:6]]

    regions, chart_list = await run_in_threadpool(load)
    return render(request, "home.html", key, regions=regions, charts=chart_list)


@router.get("/markets/{region_id}")
async def market(request: Request, region_id: str, start: str | None = None, end: str | None = None):
    key = await page_key(request, "markets")
    service = _ctx(request).service
    try:
        first, last = parse_month(start or None, "start"), parse_month(end or None, "end")
    except ApiError as err:
        return render(request, "error.html", key, 400, message=err.detail)

    def load():
        monthly = service.market_monthly(region_id, first, last)["items"]
        indices = service.indices(region_id)["items"]
        return monthly, indices

    try:
        if len(region_id) > 8 or not region_id.replace("_", "").replace("-", "").isalnum():
            raise NotFound(f"no region {region_id[:20]!r}", "region_id")
        monthly, indices = await run_in_threadpool(load)
    except NotFound as err:
        return render(request, "error.html", key, 404, message=str(err))
    months = [m["activity_month"] for m in monthly]
    col = lambda name: [m.get(name) for m in monthly]  # noqa: E731
    m = metrics.label
    chart_list = [
        charts.line(m("median_sale_price"), {m("median_sale_price"): (months, col("median_sale_price"))}, "price",
                    note=metrics.description("median_sale_price")),
        charts.line(f"{m('sales_count')} and listings", {m("sales_count"): (months, col("sales_count")),
                                                         m("new_listings_count"): (months, col("new_listings_count")),
                                                         "sold listings": (months, col("sold_listings_count"))},
                    "count", note=metrics.description("sales_count")),
        charts.line("Median days on market", {"days on market": (months, col("median_days_on_market"))}, "days"),
        charts.line(m("months_of_supply"), {m("months_of_supply"): (months, col("months_of_supply")),
                                            m("active_listings_count"): (months, col("active_listings_count"))},
                    "months / listings", note=metrics.description("months_of_supply")),
    ]
    in_range = indices
    chart_list.append(charts.line(f"{m('index_value')} beside external indices (rebased)", {
        f"{s['index_source']} ({s['series_id']})": (
            [p["index_month"] for p in s["points"] if (not first or p["index_month"] >= first.isoformat())
             and (not last or p["index_month"] <= last.isoformat())],
            [p["index_value_rebased"] for p in s["points"] if (not first or p["index_month"] >= first.isoformat())
             and (not last or p["index_month"] <= last.isoformat())])
        for s in in_range}, "rebased index", note=metrics.description("index_value")))
    return render(request, "market.html", key, region_id=region_id, monthly=monthly, charts=chart_list, m=m,
                  start=_month(first) or _month(months[0] if months else None),
                  end=_month(last) or _month(months[-1] if months else None))


@router.get("/properties")
async def property_search(request: Request, q: str | None = None, region_id: str | None = None,
                          cursor: str | None = None):
    key = await page_key(request, "properties")
    service = _ctx(request).service
    q = (q or "").strip()[:64]
    if q and ":" in q:
        return RedirectResponse(f"/app/properties/{quote(q, safe=':')}", status_code=303)
    filters = {}
    if q and q.replace(" ", "").isalnum() and len(q) <= 8:
        filters["postcode"] = q
    region = (region_id or "").strip()
    if region and region.replace("_", "").replace("-", "").isalnum() and len(region) <= 8:
        filters["region_id"] = region
    try:
        page = await run_in_threadpool(service.list_properties, limit=50, cursor=cursor or None, **filters)
    except ValueError:
        return render(request, "error.html", key, 400, message="cursor: not a cursor returned by this app")
    items = page["items"]
    if "valuations" not in key.scopes:
        items = [{k: v for k, v in i.items() if not k.startswith("estimate")} for i in items]
    return render(request, "search.html", key, q=q, region_id=region, items=items, next_cursor=page["next_cursor"])


@router.get("/properties/{property_id}")
async def property_page(request: Request, property_id: str):
    key = await page_key(request, "properties")
    service = _ctx(request).service
    if not (0 < len(property_id) <= 64):
        return render(request, "error.html", key, 404, message="no such property")
    try:
        detail = await run_in_threadpool(service.property_detail, property_id)
    except NotFound as err:
        return render(request, "error.html", key, 404, message=str(err))
    valuation = detail["valuation"] if "valuations" in key.scopes else None
    comps = detail["comparables"]
    located = await run_in_threadpool(service.properties_many, [c["property_id"] for c in comps]) if comps else {}
    sales = sorted(detail["sales"], key=lambda s: s["sale_date"])
    series = {"sales": ([s["sale_date"] for s in sales], [s["sale_price"] for s in sales])}
    chart_list = []
    history = charts.line("Sales history" + (" and current valuation" if valuation else ""), series, "price")
    if valuation:
        history = _history_with_valuation(sales, valuation)
    chart_list.append(history)
    groups = {}
    if detail.get("latitude") is not None:
        groups["this property"] = ([detail["longitude"]], [detail["latitude"]], [detail["address"] or property_id])
    pts = [(located[c["property_id"]], c) for c in comps if c["property_id"] in located
           and located[c["property_id"]].get("latitude") is not None]
    if pts:
        groups["comparable sales"] = ([p["longitude"] for p, _ in pts], [p["latitude"] for p, _ in pts],
                                      [f"{c['sale_date']}: {c['sale_price']:,.0f}" for _, c in pts])
    if groups:
        chart_list.append(charts.scatter("Comparable sales by location", groups, "longitude", "latitude"))
    return render(request, "property.html", key, p=detail, valuation=valuation, sales=detail["sales"],
                  comps=comps, charts=chart_list)


def _history_with_valuation(sales: list[dict], valuation: dict) -> charts.Chart:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_scatter(x=[s["sale_date"] for s in sales], y=[s["sale_price"] for s in sales], mode="lines+markers",
                    name="sales")
    est = valuation["estimate"]
    fig.add_scatter(x=[valuation["valuation_date"]], y=[est], mode="markers", name="valuation (80 % interval)",
                    marker={"size": 11, "symbol": "diamond"},
                    error_y={"type": "data", "symmetric": False, "array": [valuation["estimate_upper"] - est],
                             "arrayminus": [est - valuation["estimate_lower"]]})
    summary = (f"{len(sales)} sale{'s' if len(sales) != 1 else ''}"
               + (": " + "; ".join(f"{s['sale_date']} at {s['sale_price']:,.0f}" for s in sales[-5:]) if sales else "")
               + f". Valuation on {valuation['valuation_date']}: {est:,.0f}, 80 % interval "
               f"{valuation['estimate_lower']:,.0f} to {valuation['estimate_upper']:,.0f}.")
    return charts._render(fig, "Sales history and current valuation", "price", summary, len(sales) + 1)


ESTIMATE_FIELDS = ("region_id", "submarket_id", "property_type", "living_sqft", "lot_sqft", "bedrooms", "bathrooms",
                   "year_built", "quality_grade", "latitude", "longitude")


@router.get("/estimate")
async def estimate_form(request: Request):
    key = await page_key(request, "estimates")
    return render(request, "estimate.html", key, form={"property_type": "single_family"}, result=None, errors={})


@router.post("/estimate")
async def estimate(request: Request):
    from api.routes.estimates import PropertyDescription
    from api.service.estimates import NoModel

    key = await page_key(request, "estimates")
    body = (await request.body())[:8192].decode("utf-8", "replace")
    form = {k: v[0].strip() for k, v in parse_qs(body).items() if k in ESTIMATE_FIELDS and v[0].strip()}
    errors, result = {}, None
    try:
        description = PropertyDescription(**form)
    except ValidationError as err:
        for e in err.errors():
            errors[str(e["loc"][0]) if e["loc"] else "form"] = e["msg"]
        return render(request, "estimate.html", key, 422, form=form, result=None, errors=errors)
    ctx = _ctx(request)
    try:
        result = await run_in_threadpool(ctx.estimator.estimate, description.model_dump(exclude={"valuation_date"}),
                                         None)
    except NoModel as err:
        return render(request, "estimate.html", key, 503, form=form, result=None, errors={"model": str(err)})
    except ValueError as err:
        return render(request, "estimate.html", key, 422, form=form, result=None, errors={"form": str(err)})
    return render(request, "estimate.html", key, form=form, result=result, errors={})


@router.get("/model")
async def model(request: Request):
    key = await page_key(request, "valuations")
    rows = await run_in_threadpool(reads.avm_performance, _ctx(request).service)
    versions = sorted({r["model_version"] for r in rows}, key=lambda v: int(v) if str(v).isdigit() else 0)
    champion = versions[-1] if versions else None
    latest = [r for r in rows if r["model_version"] == champion]
    labels = [r["region_id"] for r in latest]
    chart_list = []
    if latest:
        m = metrics.label
        chart_list.append(charts.bars(f"{m('avm_mdape')} by region (model version {champion})", labels,
                                      {m("avm_mdape"): [r["mdape"] for r in latest]}, "median abs. % error",
                                      note=metrics.description("avm_mdape")))
        chart_list.append(charts.bars(f"{m('avm_ppe10')} and {m('avm_interval_coverage')} by region "
                                      f"(version {champion})", labels,
                                      {m("avm_ppe10"): [r["ppe10"] for r in latest],
                                       m("avm_interval_coverage"): [r["interval_coverage"] for r in latest]}, "share",
                                      note=f"{metrics.description('avm_ppe10')} "
                                           f"{metrics.description('avm_interval_coverage')}"))
        regions = sorted({r["region_id"] for r in rows})
        chart_list.append(charts.line(f"{m('avm_mdape')} per model version (the champion's history)", {
            region: ([f"v{r['model_version']}" for r in rows if r["region_id"] == region],
                     [r["mdape"] for r in rows if r["region_id"] == region]) for region in regions},
            "median abs. % error"))
    return render(request, "model.html", key, rows=rows, champion=champion, charts=chart_list)


@router.get("/data")
async def data(request: Request):
    key = await page_key(request, "markets")
    service = _ctx(request).service
    health = await run_in_threadpool(reads.data_health, service)
    fresh = await run_in_threadpool(service.health)
    build = reads.build_results()
    chart_list = []
    if health["loads"]:
        contracts = sorted({r["contract"] for r in health["loads"]})
        files = {(r["contract"], r["status"]): r["files"] for r in health["loads"]}
        chart_list.append(charts.bars("Files loaded and refused per source contract", contracts, {
            "loaded": [files.get((c, "loaded"), 0) for c in contracts],
            "refused": [files.get((c, "refused"), 0) for c in contracts]}, "files"))
    if build.get("available") and build["tests"]:
        statuses = sorted(build["tests"])
        chart_list.append(charts.bars("Last build's tests by status", statuses,
                                      {"tests": [build["tests"][s] for s in statuses]}, "tests"))
    return render(request, "data.html", key, health=health, fresh=fresh, build=build, charts=chart_list)


@router.get("/alerts")
async def alerts(request: Request):
    key = await page_key(request, "alerts")
    ctx = _ctx(request)
    since = dt.date.today() - dt.timedelta(days=3 * 365)
    feed = await run_in_threadpool(ctx.service.alerts, since=None, limit=1000)
    items = list(reversed(feed["items"]))
    subs = await run_in_threadpool(reads.subscriptions, ctx, key.key_id)
    by_month: dict[str, dict[str, int]] = {}
    for a in feed["items"]:
        by_month.setdefault(a["detected_for_date"][:7], {}).setdefault(a["alert_type"], 0)
        by_month[a["detected_for_date"][:7]][a["alert_type"]] += 1
    months = sorted(by_month)
    types = sorted({t for m in by_month.values() for t in m})
    chart_list = [charts.bars("Alerts per month by type", months,
                              {t: [by_month[m].get(t, 0) for m in months] for t in types}, "alerts")] if months else []
    return render(request, "alerts.html", key, items=items[:200], total=len(items), subs=subs, charts=chart_list,
                  since=since)


def install(app: FastAPI) -> None:
    """Mount the pages and their error handling on the API app."""
    app.include_router(router)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, err: LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/app/login?next={quote(_safe_next(target), safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, err: Forbidden):
        return render(request, "error.html", None, 403,
                      message=f"Your API key lacks the {err.scope!r} scope this page needs.")
