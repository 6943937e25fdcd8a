from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Service, require
from api.routes.common import REGION, Cursor, call
from api.security import ApiKey

router = APIRouter(tags=["alerts"])


@router.get("/alerts", summary="market alerts, oldest first, keyset-paginated")
def list_alerts(
    service: Service,
    key: Annotated[ApiKey, require("alerts")],
    since: Annotated[dt.date | None, Query(description="YYYY-MM-DD: alerts detected on or after")] = None,
    region_id: Annotated[str | None, Query(pattern=REGION)] = None,
    alert_type: Annotated[str | None, Query(pattern=r"^(market_move|price_cut|suspicious_sale|fast_flip)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Cursor = None,
):
    return call(service.alerts, since=since, region_ids=[region_id] if region_id else None,
                alert_type=alert_type, limit=limit, cursor=cursor)
