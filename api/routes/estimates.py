from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Context, require
from api.errors import ApiError
from api.security import ApiKey
from api.service.estimates import NoModel

router = APIRouter(tags=["estimates"])


class PropertyDescription(BaseModel):
    """A property to value: the attributes the AVM uses (unknown ones may be left out)."""

    model_config = ConfigDict(extra="forbid")

    region_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,8}$")
    property_type: str = Field(default="single_family", pattern=r"^[a-z_]{1,32}$")
    submarket_id: str | None = Field(default=None, max_length=64)
    living_sqft: int = Field(ge=100, le=100_000)
    lot_sqft: int | None = Field(default=None, ge=0, le=100_000_000)
    above_grade_sqft: int | None = Field(default=None, ge=0, le=100_000)
    basement_sqft: int | None = Field(default=None, ge=0, le=100_000)
    bedrooms: int | None = Field(default=None, ge=0, le=50)
    bathrooms: float | None = Field(default=None, ge=0, le=50)
    stories: float | None = Field(default=None, ge=0, le=100)
    year_built: int | None = Field(default=None, ge=1600, le=2100)
    year_renovated: int | None = Field(default=None, ge=1600, le=2100)
    quality_grade: int | None = Field(default=None, ge=1, le=13)
    condition_code: int | None = Field(default=None, ge=1, le=5)
    view_score: int | None = Field(default=None, ge=0, le=4)
    is_waterfront: bool | None = None
    nearby_living_sqft: int | None = Field(default=None, ge=0, le=100_000)
    nearby_lot_sqft: int | None = Field(default=None, ge=0, le=100_000_000)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    valuation_date: dt.date | None = None


@router.post("/estimates", summary="a live estimate from the champion AVM, with its 80 % interval")
def estimate(ctx: Context, key: Annotated[ApiKey, require("estimates")], body: PropertyDescription):
    if ctx.estimator is None:
        raise ApiError(503, "estimates are off in this process")
    features = body.model_dump(exclude={"valuation_date"})
    try:
        return JSONResponse(ctx.estimator.estimate(features, body.valuation_date))
    except NoModel as err:
        raise ApiError(503, str(err)) from None
    except ValueError as err:
        raise ApiError(422, str(err), "body") from None
