from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Service

router = APIRouter(tags=["health"])


@router.get("/health", summary="warehouse, cache and model status, data freshness (no key)")
def health(service: Service):
    body = service.health()
    return JSONResponse(body, status_code=200 if body["warehouse"]["status"] == "up" else 503)
