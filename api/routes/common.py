"""Shared parameter types and conversions for the routers."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from api.errors import ApiError
from api.service import NotFound

REGION = r"^[A-Za-z0-9_-]{1,8}$"
RegionPath = Annotated[str, Path(pattern=REGION, description="region id, e.g. R01")]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")]
_MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def parse_month(value: str | None, field: str) -> dt.date | None:
    """``YYYY-MM`` or ``YYYY-MM-DD`` → the month's first day (400 naming ``field`` otherwise)."""
    if value is None:
        return None
    match = _MONTH.match(value)
    try:
        if not match:
            raise ValueError
        return dt.date(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise ApiError(400, f"{field}: expected YYYY-MM (or YYYY-MM-DD), got {value[:40]!r}", field) from None


def call(fn, *args, cursor_field: str = "cursor", **kwargs):
    """Run a service call, turning its NotFound / bad cursor into problem+json."""
    try:
        return JSONResponse(fn(*args, **kwargs))
    except NotFound as err:
        raise ApiError(404, str(err), err.field) from None
    except ValueError as err:
        raise ApiError(400, f"{cursor_field}: {err}", cursor_field) from None
