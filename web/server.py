"""The API service with the web app mounted under ``/app/`` (what ``terraminer api`` serves)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from api.main import create_app as create_api_app
from core.settings import Settings


def create_app(settings: Settings | None = None, context=None) -> FastAPI:
    from web import routes

    app = create_api_app(settings, context)
    routes.install(app)

    @app.get("/app", include_in_schema=False)
    def _app_root():
        return RedirectResponse("/app/", status_code=307)

    return app
