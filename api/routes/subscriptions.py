from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.deps import Context, require
from api.errors import ApiError
from api.security import ApiKey
from api.service import notifications as n

router = APIRouter(tags=["subscriptions"])


class SubscriptionIn(BaseModel):
    """A webhook for new alerts: every alert of these regions and types is POSTed to ``url``, signed."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="http(s) URL that receives POSTed alerts")
    region_ids: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,8}$")]] | None = Field(default=None,
                                                                                         max_length=200)
    alert_types: list[str] | None = Field(default=None, max_length=10)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL with a host")
        return value

    @field_validator("alert_types")
    @classmethod
    def _types(cls, value):
        unknown = [t for t in value or [] if t not in n.ALERT_TYPES]
        if unknown:
            raise ValueError(f"unknown alert type(s) {unknown}: choose from {', '.join(n.ALERT_TYPES)}")
        return value


@router.post("/subscriptions", status_code=201,
             summary="subscribe a webhook to new alerts (the signing secret is shown once)")
def create_subscription(ctx: Context, key: Annotated[ApiKey, require("alerts")], body: SubscriptionIn):
    with ctx.pool.connection() as conn:
        created = n.create_subscription(conn, key.key_id, body.url, body.region_ids, body.alert_types)
    return JSONResponse(created, status_code=201)


@router.get("/subscriptions/{subscription_id}/deliveries", summary="every delivery attempt, newest first")
def list_deliveries(ctx: Context, key: Annotated[ApiKey, require("alerts")],
                    subscription_id: Annotated[int, Path(ge=1, le=2**62)]):
    with ctx.pool.connection() as conn:
        if n.subscription_owner(conn, subscription_id) != key.key_id:
            raise ApiError(404, f"no subscription {subscription_id} for this key", "subscription_id")
        items = n.deliveries(conn, subscription_id)
    return JSONResponse({"items": items, "next_cursor": None})
