from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from api.deps import Service, require
from api.errors import ApiError
from api.routes.common import REGION, Cursor, Limit, call
from api.security import ApiKey
from api.service import NotFound

router = APIRouter(tags=["properties"])


@router.get("/properties", summary="properties with their current valuation, keyset-paginated")
def list_properties(
    service: Service,
    key: Annotated[ApiKey, require("properties")],
    region_id: Annotated[str | None, Query(pattern=REGION)] = None,
    postcode: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9 ]{1,8}$")] = None,
    property_type: Annotated[str | None, Query(pattern=r"^[a-z_]{1,32}$")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
):
    response = call(service.list_properties, region_id=region_id, postcode=postcode,
                    property_type=property_type, limit=limit, cursor=cursor)
    if "valuations" not in key.scopes:
        import json

        body = json.loads(response.body)
        for item in body["items"]:
            for name in ("estimate", "estimate_lower", "estimate_upper", "valuation_date", "model_version"):
                item.pop(name, None)
        return JSONResponse(body)
    return response


@router.get("/properties/{property_id}",
            summary="attributes, sales, valuation with its 80 % interval, comparables and provenance")
async def get_property(
    service: Service,
    key: Annotated[ApiKey, require("properties")],
    property_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")],
):
    # the hot path: a cached answer is sent as stored (two Redis reads, no thread hop, no JSON work)
    if "valuations" in key.scopes:
        raw = service.property_detail_cached(property_id)
        if raw is not None:
            return Response(raw, media_type="application/json")
    try:
        body = await run_in_threadpool(service.property_detail, property_id)
    except NotFound as err:
        raise ApiError(404, str(err), err.field) from None
    if "valuations" not in key.scopes:  # the valuation needs its own scope
        body = {**body, "valuation": None, "provenance": {**body["provenance"], "valuation_run": None}}
    return JSONResponse(body)
