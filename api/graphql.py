"""GraphQL at ``/graphql`` over the same service layer as REST (Strawberry, camelCase names).

Nested lists load through DataLoaders (one statement per list, whatever the number of parents);
depth, token and alias limits bound a query's cost. Errors: a query that does not parse or
validate, or asks outside the key's scopes, gets a 4xx problem+json (field ``query``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import strawberry
from strawberry.dataloader import DataLoader
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.scalars import JSON

from api.service import DataService

MAX_DEPTH = 6


class Forbidden(Exception):
    def __init__(self, scope: str):
        super().__init__(f"this key lacks the {scope!r} scope")
        self.scope = scope


def _scope(info, scope: str) -> None:
    if scope not in info.context["key"].scopes:
        raise Forbidden(scope)


def _loader(service: DataService, method: str, default):
    async def load(keys: list[str]) -> list[Any]:
        found = await anyio.to_thread.run_sync(getattr(service, method), list(keys))
        return [found.get(k, default() if callable(default) else default) for k in keys]

    return DataLoader(load_fn=load)


def make_context(service: DataService, key) -> dict:
    return {
        "service": service, "key": key,
        "properties": _loader(service, "properties_many", None),
        "valuations": _loader(service, "valuations_many", None),
        "sales": _loader(service, "sales_many", list),
        "monthly": _loader(service, "market_monthly_many", list),
        "indices": _loader(service, "indices_many", list),
        "alerts": _loader(service, "alerts_many", list),
    }


_PLAIN: dict[type, list[str]] = {}


def _pick(cls, row: dict):
    """An instance of a Strawberry type from a service row (fields without resolvers)."""
    names = _PLAIN.get(cls)
    if names is None:
        names = _PLAIN[cls] = [f.python_name for f in cls.__strawberry_definition__.fields if f.base_resolver is None]
    return cls(**{n: row.get(n) for n in names})


@strawberry.type
class Sale:
    sale_id: str
    sale_date: str
    sale_price: float | None
    currency_code: str | None
    price_per_sqft: float | None
    is_arms_length: bool | None
    is_outlier: bool | None
    non_arms_length_reason: str | None


@strawberry.type
class Valuation:
    model_name: str
    model_version: str
    estimate: float
    estimate_lower: float
    estimate_upper: float
    interval_width_pct: float | None
    currency_code: str | None
    valuation_date: str
    scored_at: str | None


@strawberry.type
class MarketMonth:
    activity_month: str
    currency_code: str | None
    sales_count: int | None
    transfers_count: int | None
    median_sale_price: float | None
    median_price_per_sqft: float | None
    median_sale_price_yoy_pct: float | None
    active_listings_count: int | None
    months_of_supply: float | None
    terraminer_index_value: float | None


@strawberry.type
class IndexSeries:
    index_source: str
    series_id: str | None
    index_unit: str | None
    index_method: str | None
    points: JSON


@strawberry.type
class Alert:
    alert_id: str
    alert_type: str
    severity: str
    region_id: str | None
    subject_type: str | None
    subject_id: str | None
    property_id: str | None
    message: str | None
    metric_value: float | None
    detected_for_date: str


@strawberry.type
class Region:
    region_id: str

    @strawberry.field
    async def monthly(self, info: strawberry.Info) -> list[MarketMonth]:
        _scope(info, "markets")
        return [_pick(MarketMonth, r) for r in await info.context["monthly"].load(self.region_id)]

    @strawberry.field
    async def index(self, info: strawberry.Info) -> list[IndexSeries]:
        _scope(info, "markets")
        return [_pick(IndexSeries, r) for r in await info.context["indices"].load(self.region_id)]

    @strawberry.field
    async def alerts(self, info: strawberry.Info) -> list[Alert]:
        _scope(info, "alerts")
        return [_pick(Alert, r) for r in await info.context["alerts"].load(self.region_id)]


@strawberry.type
class Property:
    property_id: str
    source_system: str | None
    region_id: str | None
    submarket_id: str | None
    property_type: str | None
    address: str | None
    postcode: str | None
    currency_code: str | None
    living_sqft: int | None
    lot_sqft: int | None
    bedrooms: int | None
    bathrooms: float | None
    year_built: int | None
    latitude: float | None
    longitude: float | None
    last_transfer_price: float | None
    last_transfer_date: str | None

    @strawberry.field
    async def sales(self, info: strawberry.Info) -> list[Sale]:
        return [_pick(Sale, r) for r in await info.context["sales"].load(self.property_id)]

    @strawberry.field
    async def valuation(self, info: strawberry.Info) -> Valuation | None:
        _scope(info, "valuations")
        row = await info.context["valuations"].load(self.property_id)
        return _pick(Valuation, row) if row else None

    @strawberry.field
    def market(self) -> Region | None:
        return Region(region_id=self.region_id) if self.region_id else None


@strawberry.type
class PropertyPage:
    items: list[Property]
    next_cursor: str | None


@strawberry.type
class Query:
    @strawberry.field
    async def property(self, info: strawberry.Info, id: strawberry.ID) -> Property | None:
        _scope(info, "properties")
        if len(str(id)) > 64:
            raise ValueError("id: at most 64 characters")
        row = await info.context["properties"].load(str(id))
        return _pick(Property, row) if row else None

    @strawberry.field
    async def properties(self, info: strawberry.Info, region_id: str | None = None, postcode: str | None = None,
                         property_type: str | None = None, limit: int = 20,
                         cursor: str | None = None) -> PropertyPage:
        _scope(info, "properties")
        if not 1 <= limit <= 100:
            raise ValueError("limit: between 1 and 100")
        service: DataService = info.context["service"]
        page = await anyio.to_thread.run_sync(
            lambda: service.list_properties(region_id=region_id, postcode=postcode, property_type=property_type,
                                            limit=limit, cursor=cursor))
        return PropertyPage(items=[_pick(Property, r) for r in page["items"]], next_cursor=page["next_cursor"])

    @strawberry.field
    def region(self, info: strawberry.Info, id: strawberry.ID) -> Region:
        if len(str(id)) > 8:
            raise ValueError("id: at most 8 characters")
        return Region(region_id=str(id))

    @strawberry.field
    async def alerts(self, info: strawberry.Info, since: dt.date | None = None, limit: int = 100) -> list[Alert]:
        _scope(info, "alerts")
        if not 1 <= limit <= 1000:
            raise ValueError("limit: between 1 and 1000")
        service: DataService = info.context["service"]
        page = await anyio.to_thread.run_sync(lambda: service.alerts(since=since, limit=limit))
        return [_pick(Alert, r) for r in page["items"]]


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """Log only server faults: a caller's bad query or scope is answered, not logged."""
        unexpected = [e for e in errors if e.original_error is not None
                      and not isinstance(e.original_error, ValueError | Forbidden)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


schema = Schema(
    query=Query,
    extensions=[QueryDepthLimiter(max_depth=MAX_DEPTH), MaxTokensLimiter(max_token_count=2000),
                MaxAliasesLimiter(max_alias_count=20)],
)
