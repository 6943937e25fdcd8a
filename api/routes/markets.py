from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Service, require
from api.errors import ApiError
from api.routes.common import RegionPath, call, parse_month
from api.security import ApiKey

router = APIRouter(tags=["markets"])


@router.get("/markets/{region_id}/monthly", summary="monthly market figures of a region")
def market_monthly(
    service: Service,
    key: Annotated[ApiKey, require("markets")],
    region_id: RegionPath,
    from_: Annotated[str | None, Query(alias="from", max_length=10, description="YYYY-MM")] = None,
    to: Annotated[str | None, Query(max_length=10, description="YYYY-MM")] = None,
):
    start, end = parse_month(from_, "from"), parse_month(to, "to")
    if start and end and start > end:
        raise ApiError(400, "from: must not be after to", "from")
    return call(service.market_monthly, region_id, start, end)


@router.get("/indices/{region_id}",
            summary="TerraMiner's price index of a region beside the external indices it maps to")
def indices(service: Service, key: Annotated[ApiKey, require("markets")], region_id: RegionPath):
    return call(service.indices, region_id)
