"""The one service layer under REST and GraphQL: every read goes through :class:`DataService`."""

from api.service.core import DataService, NotFound

__all__ = ["DataService", "NotFound"]
